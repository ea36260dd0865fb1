#!/usr/bin/env python3
"""Writes tests/fixtures/metrics/reference.safetensors: image pairs with PixCorr and SSIM as
MindEye computes them (numpy's corrcoef on flattened RGB; skimage's rgb2gray and
structural_similarity with gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
data_range=1).

    ../ref-venv/bin/pip install numpy scikit-image safetensors
    ../ref-venv/bin/python tools/reference/metric_fixtures.py
"""
import pathlib

import numpy as np
import skimage
from safetensors.numpy import save_file
from skimage.color import rgb2gray
from skimage.metrics import structural_similarity

OUT = pathlib.Path("tests/fixtures/metrics")


def smooth(rng, h, w):
    """A smooth random image with some structure, in [0, 1]."""
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    image = np.stack([np.sin(6 * x * rng.uniform(0.5, 2) + rng.uniform(0, 6))
                      * np.cos(5 * y * rng.uniform(0.5, 2) + rng.uniform(0, 6))
                      for _ in range(3)], axis=-1)
    return (image + 1) / 2


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    tensors = {}
    pairs = [(64, 64), (64, 64), (23, 37)]
    for i, (h, w) in enumerate(pairs):
        a = smooth(rng, h, w)
        # The second: the first blurred, shifted and noised (i = 0), or unrelated (i = 1, 2).
        if i == 0:
            b = np.clip(np.roll(a, 3, axis=1) * 0.8 + 0.1 + rng.normal(0, 0.05, a.shape), 0, 1)
        else:
            b = np.clip(smooth(rng, h, w) + rng.normal(0, 0.1, a.shape), 0, 1)
        a = a.astype(np.float32)
        b = b.astype(np.float32)
        pixcorr = np.corrcoef(a.reshape(-1), b.reshape(-1))[0, 1]
        ssim = structural_similarity(rgb2gray(a.astype(np.float64)), rgb2gray(b.astype(np.float64)),
                                     gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False, data_range=1.0)
        tensors[f"a{i}"] = a
        tensors[f"b{i}"] = b
        tensors[f"pixcorr{i}"] = np.array([pixcorr], dtype=np.float64)
        tensors[f"ssim{i}"] = np.array([ssim], dtype=np.float64)
        print(i, (h, w), f"pixcorr {pixcorr:.6f} ssim {ssim:.6f}")
    save_file(tensors, str(OUT / "reference.safetensors"),
              metadata={"skimage": skimage.__version__, "numpy": np.__version__})


if __name__ == "__main__":
    main()
