#!/usr/bin/env python3
"""Writes the fMRI ingest fixtures in tests/fixtures/fmri/ and their expected values.

Every variant brainclip claims to read is produced here by numpy / nibabel themselves, and
the expected [trials, voxels] float32 matrix is what a Python user would get from the same
file (`np.load(...)`, `img.get_fdata()[mask > 0]`). Needs numpy and nibabel:

    python3 -m venv ../ref-venv && ../ref-venv/bin/pip install numpy nibabel
    ../ref-venv/bin/python tools/reference/fmri_fixtures.py
"""
import gzip
import io
import json
import pathlib
import zipfile

import nibabel as nib
import numpy as np

OUT = pathlib.Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "fmri"
rng = np.random.default_rng(20261128)
expected = {}


def record(name, matrix, dtype, shape, array=None):
    """matrix: what brainclip must return, as [trials, voxels]."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim == 1:
        m = m[None, :]
    expected[name] = {
        "trials": int(m.shape[0]),
        "voxels": int(m.shape[1]),
        "dtype": dtype,
        "shape": [int(s) for s in shape],
        "array": array,
        "values": [float(v) for v in m.astype(np.float32).ravel()],
    }


def write_npy(name, arr, version):
    with open(OUT / name, "wb") as f:
        np.lib.format.write_array(f, arr, version=version)


def sample(dtype, shape):
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return rng.normal(0.0, 2.0, size=shape).astype(dtype)
    info = np.iinfo(dt)
    lo, hi = max(info.min, -1000), min(info.max, 1000)
    return rng.integers(lo, hi, size=shape, endpoint=True).astype(dtype)


# --- .npy: every dtype x byte order x memory order x format version -----------------------
NUMPY_NAMES = {"f2": "float16", "f4": "float32", "f8": "float64", "i1": "int8", "i2": "int16",
               "i4": "int32", "i8": "int64", "u1": "uint8", "u2": "uint16"}
for code, dtype_name in NUMPY_NAMES.items():
    orders = ["<", ">"] if code[1] != "1" else ["|"]
    for endian in orders:
        for order in ["C", "F"]:
            for version in [(1, 0), (2, 0), (3, 0)]:
                arr = sample(endian + code if endian != "|" else code, (3, 5))
                arr = np.asfortranarray(arr) if order == "F" else np.ascontiguousarray(arr)
                tag = {"<": "le", ">": "be", "|": "na"}[endian]
                name = f"{dtype_name}_{tag}_{order}_v{version[0]}.npy"
                write_npy(name, arr, version)
                record(name, arr, dtype_name, arr.shape)

one_trial = sample("<f4", (7,))
write_npy("one_trial_1d.npy", one_trial, (1, 0))
record("one_trial_1d.npy", one_trial, "float32", one_trial.shape)

# NSD-like: float64 with a realistic (small) shape and z-scored float16.
nsd = rng.normal(size=(4, 16)).astype("<f8")
write_npy("nsd_like_float64.npy", nsd, (1, 0))
record("nsd_like_float64.npy", nsd, "float64", nsd.shape)

# --- .npz: stored and deflated, single and several arrays --------------------------------
betas = rng.normal(size=(6, 11)).astype("<f4")
labels = np.arange(6, dtype="<i8")
np.savez(OUT / "stored_single.npz", betas=betas)
record("stored_single.npz", betas, "float32", betas.shape, array="betas")
np.savez_compressed(OUT / "deflated_single.npz", betas)  # unnamed -> "arr_0"
record("deflated_single.npz", betas, "float32", betas.shape, array="arr_0")
np.savez_compressed(OUT / "deflated_several.npz", betas=betas, labels=labels)
record("deflated_several.npz#betas", betas, "float32", betas.shape, array="betas")
record("deflated_several.npz#labels", labels, "int64", labels.shape, array="labels")

# --- NIfTI-1: 3-D volume, 4-D series, masks, scaling, gzip, big endian -------------------
shape3 = (4, 5, 6)
mask = (rng.random(shape3) > 0.6).astype(np.uint8)
mask_img = nib.Nifti1Image(mask, np.eye(4))
nib.save(mask_img, OUT / "mask.nii.gz")


def nifti(name, data, dtype, slope=None, inter=None, big_endian=False, mask_for_expect=None):
    img = nib.Nifti1Image(data.astype(dtype), np.eye(4))
    img.header.set_data_dtype(dtype)
    if slope is not None:
        img.header.set_slope_inter(slope, inter)
    raw = img.to_bytes() if not big_endian else None
    if big_endian:
        hdr = img.header.as_byteswapped(">")
        img = nib.Nifti1Image(data.astype(dtype), np.eye(4), header=hdr)
        img.header.set_data_dtype(np.dtype(dtype).newbyteorder(">"))
        if slope is not None:
            img.header.set_slope_inter(slope, inter)
        raw = img.to_bytes()
    payload = gzip.compress(raw, mtime=0) if name.endswith(".gz") else raw
    (OUT / name).write_bytes(payload)
    # Read back through nibabel exactly as a user would.
    loaded = nib.Nifti1Image.from_bytes(raw)
    full = loaded.get_fdata(dtype=np.float64)
    return full


vol3 = rng.integers(-300, 300, size=shape3)
full = nifti("volume3d_int16_scaled.nii", vol3, np.int16, slope=0.5, inter=10.0)
record("volume3d_int16_scaled.nii", full.reshape(-1), "int16", shape3)
record("volume3d_int16_scaled.nii+mask", full[mask > 0], "int16", shape3)

series = rng.normal(size=shape3 + (3,))
full = nifti("series4d_float32.nii.gz", series, np.float32)
record("series4d_float32.nii.gz+mask", full[mask > 0].T, "float32", shape3 + (3,))
record("series4d_float32.nii.gz", full.reshape(-1, 3, order="C").T, "float32", shape3 + (3,))

full = nifti("series4d_be_float64.nii", series, np.float64, big_endian=True)
record("series4d_be_float64.nii+mask", full[mask > 0].T, "float64", shape3 + (3,))

vol_u8 = rng.integers(0, 255, size=shape3)
full = nifti("volume3d_uint8.nii.gz", vol_u8, np.uint8, slope=2.0, inter=-1.0)
record("volume3d_uint8.nii.gz+mask", full[mask > 0], "uint8", shape3)

# --- inputs that must be refused with a typed error ---------------------------------------
write_npy("bad_three_dims.npy", sample("<f4", (2, 3, 4)), (1, 0))
write_npy("bad_complex.npy", np.ones((2, 3), dtype="<c16"), (1, 0))
write_npy("bad_strings.npy", np.array([["a", "b"]], dtype="<U3"), (1, 0))
write_npy("bad_empty.npy", np.zeros((0, 5), dtype="<f4"), (1, 0))
nan = sample("<f4", (4, 6))
nan[2, 3] = np.nan
nan[3, 0] = np.inf
write_npy("bad_nan.npy", nan, (1, 0))
record("bad_nan.npy@replaced", np.nan_to_num(nan, nan=0.0, posinf=0.0, neginf=0.0), "float32", nan.shape)
full_bytes = (OUT / "nsd_like_float64.npy").read_bytes()
(OUT / "bad_truncated.npy").write_bytes(full_bytes[: len(full_bytes) - 100])
# A header that declares ~8 TB of data behind a few bytes.
hdr = "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000, 1000000), }"
hdr = hdr + " " * (63 - (10 + len(hdr)) % 64) + "\n"
(OUT / "bad_huge_header.npy").write_bytes(b"\x93NUMPY\x01\x00" + len(hdr).to_bytes(2, "little") + hdr.encode() + b"\0" * 64)
(OUT / "bad_not_an_array.txt").write_bytes(b"voxel,value\n1,0.5\n")
np.savez(OUT / "bad_ambiguous.npz", betas=betas, other=betas)
nib.save(nib.Nifti1Image(np.ones((4, 5, 7), dtype=np.uint8), np.eye(4)), OUT / "bad_mask_shape.nii")
nib.save(nib.Nifti1Image(np.zeros(shape3, dtype=np.uint8), np.eye(4)), OUT / "bad_mask_empty.nii")

# Any-rank arrays (e.g. pixel tensors for the CLI): the same values in both memory orders.
tensor = sample("<f4", (2, 3, 4, 5))
write_npy("tensor4d_C.npy", np.ascontiguousarray(tensor), (1, 0))
write_npy("tensor4d_F.npy", np.asfortranarray(tensor), (1, 0))

(OUT / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
print(f"wrote {len(list(OUT.iterdir()))} files to {OUT}")
