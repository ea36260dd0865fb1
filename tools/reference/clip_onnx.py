#!/usr/bin/env python3
"""Writes the models `make bench-web` compares brainclip with onnxruntime-web on: one random
CLIP ViT-B/32 (transformers' default CLIPConfig), as a Hugging Face directory (what brainclip
loads) and as ONNX image and text encoders exported from the same weights (what
onnxruntime-web runs). Outside CI; no hub access needed.

    python3 -m venv ../ref-venv
    ../ref-venv/bin/pip install torch transformers safetensors onnx
    ../ref-venv/bin/python tools/reference/clip_onnx.py target/bench-web/vit-b-32

Writes <out>/config.json, <out>/model.safetensors, <out>/image.onnx (pixel_values
[n, 3, 224, 224] → L2-normalised image embeddings [n, 512]) and <out>/text.onnx (input_ids
[n, tokens ≤ 77] → L2-normalised text embeddings [n, 512]).
"""
import os
import pathlib
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from transformers import CLIPConfig, CLIPModel

out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/bench-web/vit-b-32")
out.mkdir(parents=True, exist_ok=True)
torch.manual_seed(20261130)

# transformers' defaults are OpenAI's ViT-B/32: 224 px, patch 32, 12 + 12 layers, 512-d space.
model = CLIPModel(CLIPConfig()).eval()
model.save_pretrained(out, safe_serialization=True)


class ImageEncoder(torch.nn.Module):
    def __init__(self, clip):
        super().__init__()
        self.clip = clip

    def forward(self, pixel_values):
        pooled = self.clip.vision_model(pixel_values=pixel_values).pooler_output
        features = self.clip.visual_projection(pooled)
        return features / features.norm(dim=-1, keepdim=True)


class TextEncoder(torch.nn.Module):
    def __init__(self, clip):
        super().__init__()
        self.clip = clip

    def forward(self, input_ids):
        pooled = self.clip.text_model(input_ids=input_ids).pooler_output
        features = self.clip.text_projection(pooled)
        return features / features.norm(dim=-1, keepdim=True)


with torch.no_grad():
    torch.onnx.export(
        ImageEncoder(model), (torch.zeros(1, 3, 224, 224),), out / "image.onnx",
        input_names=["pixel_values"], output_names=["image_embeds"],
        dynamic_axes={"pixel_values": {0: "batch"}, "image_embeds": {0: "batch"}},
        opset_version=17, dynamo=False,
    )
    ids = torch.zeros(1, 77, dtype=torch.int64)
    ids[0, 0], ids[0, 1] = 49406, 49407
    torch.onnx.export(
        TextEncoder(model), (ids,), out / "text.onnx",
        input_names=["input_ids"], output_names=["text_embeds"],
        dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "text_embeds": {0: "batch"}},
        opset_version=17, dynamo=False,
    )
print(f"{out}: config.json, model.safetensors, image.onnx, text.onnx")
