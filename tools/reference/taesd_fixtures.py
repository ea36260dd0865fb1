#!/usr/bin/env python3
"""Writes the tiny-autoencoder parity fixtures in tests/fixtures/taesd/ from diffusers'
`AutoencoderTiny` (random weights; no hub access needed).

    python3 -m venv ../ref-venv
    ../ref-venv/bin/pip install torch diffusers safetensors numpy
    HF_HUB_OFFLINE=1 ../ref-venv/bin/python tools/reference/taesd_fixtures.py

Outputs, per configuration:
  <name>/config.json, <name>/diffusion_pytorch_model.safetensors   as save_pretrained writes them
  <name>/reference.safetensors   images (in [-1, 1]), latents = encode(images).latents,
                                 decoded = decode(latents).sample, and
                                 decoded_wide = decode(wide_latents) for N(0, 3²) latents
                                 (many beyond the ±3 soft clamp)
Configurations:
  published   diffusers' defaults (the released taesd: 64 channels, 4 latent channels),
              stored in float16 as the released file is, 64×64
  narrow16    16 channels, 16 latent channels (as taesd3/taef1), gelu, bilinear upsampling,
              other block counts, shift/scaling factors, float32, 32×48
"""
import json
import os
import pathlib

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from diffusers import AutoencoderTiny
from safetensors.torch import save_file

OUT = pathlib.Path("tests/fixtures/taesd")


def randomize(model, seed):
    """diffusers' default init leaves biases small; spread every weight so that a wrong
    layer order or key shows up in the outputs."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            fan_in = p[0].numel() if p.dim() > 1 else 1
            scale = (1.2 / fan_in) ** 0.5 if p.dim() > 1 else 0.05
            p.copy_(torch.randn(p.shape, generator=g) * scale)


def build(name, config, size, seed, half=False):
    torch.manual_seed(seed)
    model = AutoencoderTiny(**config).eval()
    randomize(model, seed)
    folder = OUT / name
    folder.mkdir(parents=True, exist_ok=True)
    if half:
        model = model.half()
        model.save_pretrained(folder, safe_serialization=True)
        model = model.float()
    else:
        model.save_pretrained(folder, safe_serialization=True)
    g = torch.Generator().manual_seed(seed + 1)
    h, w = size
    images = torch.rand((2, config.get("in_channels", 3), h, w), generator=g) * 2 - 1
    with torch.no_grad():
        latents = model.encode(images).latents
        decoded = model.decode(latents).sample
        wide_latents = torch.randn(latents.shape, generator=g) * 3
        decoded_wide = model.decode(wide_latents).sample
    save_file(
        {
            "images": images.contiguous(),
            "latents": latents.contiguous(),
            "decoded": decoded.contiguous(),
            "wide_latents": wide_latents.contiguous(),
            "decoded_wide": decoded_wide.contiguous(),
        },
        str(folder / "reference.safetensors"),
    )
    print(name, tuple(latents.shape), tuple(decoded.shape),
          f"latent range {latents.min():.2f}..{latents.max():.2f}")


def main():
    build("published", {}, (64, 64), seed=7, half=True)
    build(
        "narrow16",
        {
            "encoder_block_out_channels": (16, 16, 16),
            "decoder_block_out_channels": (16, 16, 16),
            "num_encoder_blocks": (1, 2, 1),
            "num_decoder_blocks": (1, 2, 1),
            "latent_channels": 16,
            "act_fn": "gelu",
            "upsample_fn": "bilinear",
            "scaling_factor": 1.5305,
            "shift_factor": 0.0609,
        },
        (32, 48),
        seed=11,
    )
    # The config diffusers wrote is what brainclip reads; record the library version.
    (OUT / "VERSIONS.json").write_text(
        json.dumps({"torch": torch.__version__,
                    "diffusers": __import__("diffusers").__version__}, indent=1) + "\n"
    )


if __name__ == "__main__":
    main()
