//! fMRI ingest against fixtures written by numpy/nibabel (`tools/reference/fmri_fixtures.py`).
#![cfg(not(target_family = "wasm"))]

use std::path::{Path, PathBuf};

use brainclip::data::fmri::{Mask, ReadOptions};
use brainclip::data::{FmriBatch, read_fmri};
use brainclip::error::Error;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fmri")
}

fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn mask() -> Mask {
    Mask {
        file_name: "mask.nii.gz".into(),
        bytes: bytes("mask.nii.gz"),
    }
}

fn read(name: &str, options: &ReadOptions) -> Result<FmriBatch, Error> {
    read_fmri(&bytes(name), name, options)
}

fn read_err(name: &str, options: &ReadOptions) -> Error {
    match read(name, options) {
        Ok(batch) => panic!(
            "{name} was accepted: {} × {}",
            batch.trials(),
            batch.voxels()
        ),
        Err(err) => err,
    }
}

/// Each key of expected.json is a file name, optionally with `+mask` (use mask.nii.gz),
/// `#array` (pick that .npz array) or `@replaced` (replace non-finite values).
#[test]
fn every_fixture_variant_reads_as_numpy_does() {
    let expected: Value =
        serde_json::from_slice(&bytes("expected.json")).expect("expected.json is JSON");
    let cases = expected.as_object().unwrap();
    assert!(cases.len() >= 100, "only {} cases", cases.len());
    for (key, want) in cases {
        let mut options = ReadOptions::default();
        let mut file = key.as_str();
        if let Some(stripped) = file.strip_suffix("+mask") {
            file = stripped;
            options.mask = Some(mask());
        }
        if let Some(stripped) = file.strip_suffix("@replaced") {
            file = stripped;
            options.replace_non_finite = true;
        }
        if let Some((name, array)) = file.split_once('#') {
            file = name;
            options.array = Some(array.to_string());
        }
        let batch = read(file, &options).unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!(
            batch.trials() as u64,
            want["trials"].as_u64().unwrap(),
            "{key} trials"
        );
        assert_eq!(
            batch.voxels() as u64,
            want["voxels"].as_u64().unwrap(),
            "{key} voxels"
        );
        assert_eq!(
            batch.source.dtype,
            want["dtype"].as_str().unwrap(),
            "{key} dtype"
        );
        let shape: Vec<usize> = serde_json::from_value(want["shape"].clone()).unwrap();
        assert_eq!(batch.source.shape, shape, "{key} shape");
        if let Some(array) = want["array"].as_str() {
            assert_eq!(
                batch.source.array_name.as_deref(),
                Some(array),
                "{key} array"
            );
        }
        let values: Vec<f32> = serde_json::from_value(want["values"].clone()).unwrap();
        assert_eq!(batch.values().len(), values.len(), "{key} value count");
        for (i, (got, want)) in batch.values().iter().zip(&values).enumerate() {
            assert!(
                (got - want).abs() <= 1e-6 * want.abs().max(1.0),
                "{key}[{i}]: got {got}, numpy says {want}"
            );
        }
    }
}

fn assert_error(err: &Error, code: &str, needles: &[&str]) {
    let message = err.to_string();
    assert_eq!(err.code(), code, "{message}");
    for needle in needles {
        assert!(
            message.contains(needle),
            "'{message}' should mention '{needle}'"
        );
    }
}

#[test]
fn voxel_count_mismatch_names_both_numbers() {
    let options = ReadOptions {
        expected_voxels: Some(4_466),
        ..Default::default()
    };
    let err = read_err("float32_le_C_v1.npy", &options);
    assert_error(
        &err,
        "voxel_count_mismatch",
        &["fMRI has 5 voxels", "expects 4,466"],
    );
}

#[test]
fn non_finite_values_are_refused_with_count_and_position() {
    let err = read_err("bad_nan.npy", &ReadOptions::default());
    assert_error(
        &err,
        "non_finite",
        &["2 non-finite values", "trial 2, voxel 3"],
    );
}

#[test]
fn empty_arrays_are_refused() {
    let err = read_err("bad_empty.npy", &ReadOptions::default());
    assert_error(&err, "empty_array", &["0 × 5"]);
}

#[test]
fn more_than_two_dimensions_are_refused() {
    let err = read_err("bad_three_dims.npy", &ReadOptions::default());
    assert_error(
        &err,
        "unsupported_shape",
        &["2 × 3 × 4", "[trials, voxels]"],
    );
}

#[test]
fn unsupported_dtypes_are_named() {
    let err = read_err("bad_complex.npy", &ReadOptions::default());
    assert_error(&err, "unsupported_dtype", &["complex128", "float16/32/64"]);
    let err = read_err("bad_strings.npy", &ReadOptions::default());
    assert_error(&err, "unsupported_dtype", &["unicode string"]);
}

#[test]
fn truncated_files_say_how_much_is_missing() {
    let err = read_err("bad_truncated.npy", &ReadOptions::default());
    // 4 × 16 float64 = 512 bytes declared; the fixture cut 100 bytes off the end.
    assert_error(&err, "truncated_file", &["512 bytes", "412 bytes"]);
}

#[test]
fn corrupt_files_are_refused() {
    let mut npy = bytes("float32_le_C_v1.npy");
    npy.truncate(20);
    let err = read_fmri(&npy, "cut.npy", &ReadOptions::default()).unwrap_err();
    assert_error(&err, "corrupt_file", &["cut.npy", "header"]);

    let err = read_fmri(b"not numpy at all", "betas.npy", &ReadOptions::default()).unwrap_err();
    assert_error(&err, "corrupt_file", &["betas.npy"]);

    let err = read_fmri(&[], "empty.npy", &ReadOptions::default()).unwrap_err();
    assert_error(&err, "corrupt_file", &["0 bytes"]);

    let mut gz = bytes("series4d_float32.nii.gz");
    gz.truncate(gz.len() / 2);
    let err = read_fmri(&gz, "cut.nii.gz", &ReadOptions::default()).unwrap_err();
    assert!(
        matches!(err.code(), "corrupt_file" | "truncated_file"),
        "{err}"
    );

    let mut zip = bytes("deflated_single.npz");
    zip.truncate(zip.len() - 30);
    let err = read_fmri(&zip, "cut.npz", &ReadOptions::default()).unwrap_err();
    assert_error(&err, "corrupt_file", &["cut.npz"]);
}

#[test]
fn unknown_formats_list_what_is_supported() {
    let err = read_err("bad_not_an_array.txt", &ReadOptions::default());
    assert_error(&err, "unsupported_format", &[".npy", ".npz", ".nii"]);
}

#[test]
fn oversized_headers_are_refused_before_allocating() {
    let err = read_err("bad_huge_header.npy", &ReadOptions::default());
    assert_error(
        &err,
        "too_large",
        &["1,000,000 × 1,000,000", "1,073,741,824 bytes"],
    );
    let options = ReadOptions {
        max_bytes: 100,
        ..Default::default()
    };
    let err = read_err("nsd_like_float64.npy", &options);
    assert_error(&err, "too_large", &["512 bytes", "the limit is 100 bytes"]);
    let err = read_err("series4d_float32.nii.gz", &options);
    assert_error(&err, "too_large", &["4 × 5 × 6 × 3"]);
}

/// Fuzzer findings: a format 3.0 header declaring a 2.4 GB header length in a 61-byte
/// file, as `.npy` and as an archive name; both must be refused before allocating.
#[test]
fn header_lengths_beyond_the_file_are_refused() {
    let found = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions/npz/oom-a6bd0443de570feba4da575ec3215dc4f6dbe3ce");
    let bytes = std::fs::read(found).unwrap();
    for name in ["fuzzed.npz", "fuzzed.npy"] {
        let err = read_fmri(&bytes, name, &ReadOptions::default()).unwrap_err();
        assert_error(
            &err,
            "corrupt_file",
            &[name, "header", "only 49 bytes follow"],
        );
    }
}

/// Fuzzer finding: a header of 125 nested brackets sent the header parser into
/// exponential backtracking (over 15 s); it is refused before parsing.
#[test]
fn deeply_nested_headers_are_refused() {
    let found = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions/npy/timeout-17c87f04325a44442cc020f0eb64912812e2c96c");
    let bytes = std::fs::read(found).unwrap();
    let err = read_fmri(&bytes, "nested.npy", &ReadOptions::default()).unwrap_err();
    assert_error(
        &err,
        "corrupt_file",
        &["nested.npy", "nest more than 6 deep"],
    );
}

/// Fuzzer finding: a shape whose dimensions multiply past 64 bits made the header reader
/// overflow (a panic with overflow checks, a wrapped element count without); it is refused
/// as too large, by name, whatever the build.
#[test]
fn shapes_beyond_64_bits_are_refused() {
    let found = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions/npy/crash-bb72fa864981504f6a6873288954eb818b8cf67a");
    let bytes = std::fs::read(found).unwrap();
    let err = read_fmri(&bytes, "vast.npy", &ReadOptions::default()).unwrap_err();
    assert_error(
        &err,
        "too_large",
        &["vast.npy", "more bytes than can be counted", "× 5"],
    );
}

#[test]
fn npz_arrays_are_chosen_by_name() {
    let err = read_err("bad_ambiguous.npz", &ReadOptions::default());
    assert_error(&err, "ambiguous_array", &["betas, other", "--array"]);
    let options = ReadOptions {
        array: Some("nope".into()),
        ..Default::default()
    };
    let err = read_err("bad_ambiguous.npz", &options);
    assert_error(&err, "array_not_found", &["'nope'", "betas, other"]);
}

#[test]
fn masks_must_match_the_volume_grid_and_select_something() {
    let options = ReadOptions {
        mask: Some(Mask {
            file_name: "bad_mask_shape.nii".into(),
            bytes: bytes("bad_mask_shape.nii"),
        }),
        ..Default::default()
    };
    let err = read_err("volume3d_int16_scaled.nii", &options);
    assert_error(&err, "mask_shape_mismatch", &["4 × 5 × 7", "4 × 5 × 6"]);
    let options = ReadOptions {
        mask: Some(Mask {
            file_name: "bad_mask_empty.nii".into(),
            bytes: bytes("bad_mask_empty.nii"),
        }),
        ..Default::default()
    };
    let err = read_err("volume3d_int16_scaled.nii", &options);
    assert_error(&err, "empty_mask", &["120"]);
}

/// NSD scale: 2,000 trials × 15,724 voxels of float64, written at test time.
#[test]
fn nsd_scale_float64_reads_correctly() {
    let (trials, voxels) = (2_000usize, 15_724usize);
    let value = |t: usize, v: usize| ((t * 31 + v * 7) % 1_000) as f64 / 100.0 - 5.0;
    let mut file = Vec::new();
    use npyz::WriterBuilder;
    let mut writer = npyz::WriteOptions::<f64>::new()
        .default_dtype()
        .shape(&[trials as u64, voxels as u64])
        .writer(&mut file)
        .begin_nd()
        .unwrap();
    for t in 0..trials {
        for v in 0..voxels {
            writer.push(&value(t, v)).unwrap();
        }
    }
    writer.finish().unwrap();
    let started = std::time::Instant::now();
    let batch = read_fmri(&file, "nsd_betas.npy", &ReadOptions::default()).unwrap();
    println!(
        "read {trials} × {voxels} float64 ({} MB) in {:.0} ms",
        file.len() / 1_000_000,
        started.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!((batch.trials(), batch.voxels()), (trials, voxels));
    for (t, v) in [(0, 0), (1, 2), (1_999, 15_723), (1_234, 5_678)] {
        assert_eq!(batch.values()[t * voxels + v], value(t, v) as f32);
    }
}

#[test]
fn any_rank_arrays_read_in_c_order_from_either_memory_order() {
    use brainclip::data::npy::read_npy_array;
    let c = read_npy_array(&bytes("tensor4d_C.npy"), "c", 1 << 20, |_| Ok(())).unwrap();
    let f = read_npy_array(&bytes("tensor4d_F.npy"), "f", 1 << 20, |_| Ok(())).unwrap();
    assert_eq!(c.shape, [2, 3, 4, 5]);
    assert_eq!(c, f);
}
