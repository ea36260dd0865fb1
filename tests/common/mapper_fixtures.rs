//! Mappers saved from PyTorch by tools/reference/mapper_fixtures.py, with PyTorch's outputs:
//! shared by the native and the browser parity tests.

/// Name, config.json, weights (`state_dict()` as safetensors), and `io.safetensors` holding
/// the `input` and PyTorch's `image` and `text` outputs.
pub type MapperFixture = (&'static str, &'static [u8], &'static [u8], &'static [u8]);

pub const MAPPERS: [MapperFixture; 3] = [
    (
        "torch_vae",
        include_bytes!("../fixtures/mapper/torch_vae/config.json"),
        include_bytes!("../fixtures/mapper/torch_vae/mapper.safetensors"),
        include_bytes!("../fixtures/mapper/torch_vae/io.safetensors"),
    ),
    (
        "torch_mlp",
        include_bytes!("../fixtures/mapper/torch_mlp/config.json"),
        include_bytes!("../fixtures/mapper/torch_mlp/mapper.safetensors"),
        include_bytes!("../fixtures/mapper/torch_mlp/io.safetensors"),
    ),
    (
        "torch_linear",
        include_bytes!("../fixtures/mapper/torch_linear/config.json"),
        include_bytes!("../fixtures/mapper/torch_linear/mapper.safetensors"),
        include_bytes!("../fixtures/mapper/torch_linear/io.safetensors"),
    ),
];
