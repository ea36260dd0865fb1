"""Parity fixtures for the BrainCLIP mapper: a PyTorch module with the module names brainclip
uses, random weights, and its outputs on a random input.

brainclip must load these weights as a PyTorch user would save them (`model.state_dict()`
through safetensors) and reproduce the outputs. Run from the repository root:

    python tools/reference/mapper_fixtures.py

Needs torch and safetensors (not needed by CI; the fixtures are committed).
"""

import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

OUT = os.path.join("tests", "fixtures", "mapper")


class ResidualBlock(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.fc1 = nn.Linear(hidden, hidden)
        self.fc2 = nn.Linear(hidden, hidden)

    def forward(self, x):
        return x + self.fc2(F.gelu(self.fc1(self.norm(x))))


class Mapper(nn.Module):
    """The inference path of brainclip's mapper (dropout off, VAE at its mean)."""

    def __init__(self, variant, voxels, hidden, blocks, latent, image_dim, text_dim):
        super().__init__()
        self.variant = variant
        if variant == "linear":
            self.image_head = nn.Linear(voxels, image_dim)
            self.text_head = nn.Linear(voxels, text_dim)
            return
        self.trunk = nn.Linear(voxels, hidden)
        self.blocks = nn.ModuleList([ResidualBlock(hidden) for _ in range(blocks)])
        self.norm = nn.LayerNorm(hidden)
        self.mu = nn.Linear(hidden, latent)
        if variant == "vae":
            self.logvar = nn.Linear(hidden, latent)
        self.image_head = nn.Linear(latent, image_dim)
        self.text_head = nn.Linear(latent, text_dim)

    def forward(self, x):
        if self.variant == "linear":
            z = x
        else:
            h = self.trunk(x)
            for block in self.blocks:
                h = block(h)
            z = self.mu(F.gelu(self.norm(h)))
        return (
            F.normalize(self.image_head(z), dim=-1),
            F.normalize(self.text_head(z), dim=-1),
        )


def make(name, variant, seed):
    torch.manual_seed(seed)
    config = dict(
        variant=variant,
        voxels=50,
        hidden=32,
        blocks=2,
        latent=16,
        image_dim=12,
        text_dim=10,
        input_dropout=0.2,
        dropout=0.3,
        logit_scale=14.285714,
    )
    model = Mapper(
        variant,
        config["voxels"],
        config["hidden"],
        config["blocks"],
        config["latent"],
        config["image_dim"],
        config["text_dim"],
    ).eval()
    # LayerNorm starts at weight 1, bias 0; perturb so the test sees their layout too.
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.LayerNorm):
                module.weight.add_(0.1 * torch.randn_like(module.weight))
                module.bias.add_(0.1 * torch.randn_like(module.bias))
    x = torch.randn(5, config["voxels"])
    with torch.no_grad():
        image, text = model(x)
    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              os.path.join(folder, "mapper.safetensors"))
    save_file({"input": x, "image": image, "text": text},
              os.path.join(folder, "io.safetensors"))
    print(f"wrote {folder}: {sum(p.numel() for p in model.parameters())} parameters")


if __name__ == "__main__":
    make("torch_vae", "vae", 0)
    make("torch_mlp", "mlp", 1)
    make("torch_linear", "linear", 2)
