//! Tiny autoencoders saved by diffusers (tools/reference/taesd_fixtures.py) with diffusers'
//! encode/decode outputs; one parity check shared by the native and the browser tests.

use brainclip::data::bundle::read_f32;
use brainclip::device::ComputeDevice;
use brainclip::diffusion::{Autoencoder, AutoencoderTinyConfig};
use burn::tensor::{Tensor, TensorData};
use safetensors::SafeTensors;

/// Name, config.json, diffusion_pytorch_model.safetensors, reference.safetensors.
pub type TaesdFixture = (&'static str, &'static [u8], &'static [u8], &'static [u8]);

pub const AUTOENCODERS: [TaesdFixture; 2] = [
    (
        "published",
        include_bytes!("../fixtures/taesd/published/config.json"),
        include_bytes!("../fixtures/taesd/published/diffusion_pytorch_model.safetensors"),
        include_bytes!("../fixtures/taesd/published/reference.safetensors"),
    ),
    (
        "narrow16",
        include_bytes!("../fixtures/taesd/narrow16/config.json"),
        include_bytes!("../fixtures/taesd/narrow16/diffusion_pytorch_model.safetensors"),
        include_bytes!("../fixtures/taesd/narrow16/reference.safetensors"),
    ),
];

/// Parity bound: 1e-4, relative to the value's size where it exceeds 1.
pub const TOLERANCE: f32 = 1e-4;

pub fn reference(bytes: &[u8], key: &str, device: &burn::tensor::Device) -> Tensor<4> {
    let shape = SafeTensors::deserialize(bytes)
        .unwrap()
        .tensor(key)
        .unwrap()
        .shape()
        .to_vec();
    let values = read_f32("reference.safetensors", bytes, key).unwrap();
    Tensor::from_data(
        TensorData::new(values, [shape[0], shape[1], shape[2], shape[3]]),
        device,
    )
}

/// The largest |ours − diffusers'| / max(1, |diffusers'|).
pub fn scaled_diff(ours: &[f32], theirs: &[f32]) -> f32 {
    assert_eq!(ours.len(), theirs.len());
    ours.iter()
        .zip(theirs)
        .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
        .fold(0.0, f32::max)
}

/// Encodes and decodes every fixture on `device`; returns (name, what, scaled difference).
pub async fn parity(device: &ComputeDevice) -> Vec<(&'static str, &'static str, f32)> {
    let mut found = Vec::new();
    for (name, config, weights, reference_bytes) in AUTOENCODERS {
        let config = AutoencoderTinyConfig::from_json(config).unwrap();
        let autoencoder = Autoencoder::from_safetensors(
            config,
            weights.to_vec(),
            "diffusion_pytorch_model.safetensors",
            &device.device,
        )
        .unwrap();
        let read = |key| reference(reference_bytes, key, &device.device);
        let expected = |key| read_f32("reference.safetensors", reference_bytes, key).unwrap();
        let latents = autoencoder.encode(read("images")).unwrap();
        let latents = device.read_f32(latents).await.unwrap();
        found.push((name, "encode", scaled_diff(&latents, &expected("latents"))));
        for (what, input, output) in [
            ("decode", "latents", "decoded"),
            ("decode beyond ±3", "wide_latents", "decoded_wide"),
        ] {
            let decoded = autoencoder.decode(read(input)).unwrap();
            let decoded = device.read_f32(decoded).await.unwrap();
            found.push((name, what, scaled_diff(&decoded, &expected(output))));
        }
    }
    found
}
