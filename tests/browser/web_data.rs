//! fMRI ingest and bundle assembly in the browser: a representative subset of the native
//! fixture tests, through the same code, in headless Chromium.
#![cfg(target_family = "wasm")]

use std::collections::BTreeMap;

use brainclip::data::bundle::{Bundle, Manifest};
use brainclip::data::fmri::{Mask, ReadOptions};
use brainclip::data::{Normalization, read_fmri};
use wasm_bindgen_test::*;

const EXPECTED: &str = include_str!("../fixtures/fmri/expected.json");

macro_rules! fixture {
    ($name:literal) => {
        (
            $name,
            include_bytes!(concat!("../fixtures/fmri/", $name)).as_slice(),
        )
    };
}

fn expected_values(key: &str) -> Vec<f32> {
    let all: serde_json::Value = serde_json::from_str(EXPECTED).unwrap();
    serde_json::from_value(all[key]["values"].clone()).unwrap()
}

#[wasm_bindgen_test]
fn representative_formats_read_as_numpy_does() {
    let mask = Mask {
        file_name: "mask.nii.gz".into(),
        bytes: include_bytes!("../fixtures/fmri/mask.nii.gz").to_vec(),
    };
    let cases = [
        (fixture!("float16_be_F_v3.npy"), None, false),
        (fixture!("float64_le_C_v1.npy"), None, false),
        (fixture!("int16_be_F_v2.npy"), None, false),
        (fixture!("uint8_na_C_v1.npy"), None, false),
        (fixture!("deflated_single.npz"), None, false),
        (fixture!("stored_single.npz"), None, false),
        (fixture!("series4d_float32.nii.gz"), None, true),
        (fixture!("series4d_be_float64.nii"), None, true),
        (fixture!("volume3d_int16_scaled.nii"), None, true),
    ];
    for ((name, bytes), array, with_mask) in cases {
        let options = ReadOptions {
            array: array.map(str::to_string),
            mask: with_mask.then(|| mask.clone()),
            ..Default::default()
        };
        let batch = read_fmri(bytes, name, &options).unwrap_or_else(|e| panic!("{name}: {e}"));
        let key = if with_mask {
            format!("{name}+mask")
        } else {
            name.to_string()
        };
        let want = expected_values(&key);
        assert_eq!(batch.values().len(), want.len(), "{key}");
        for (got, want) in batch.values().iter().zip(&want) {
            assert!(
                (got - want).abs() <= 1e-6 * want.abs().max(1.0),
                "{key}: {got} vs {want}"
            );
        }
    }
}

#[wasm_bindgen_test]
fn bad_input_gets_typed_errors_in_the_browser() {
    let cases = [
        (fixture!("bad_nan.npy"), "non_finite"),
        (fixture!("bad_truncated.npy"), "truncated_file"),
        (fixture!("bad_huge_header.npy"), "too_large"),
        (fixture!("bad_three_dims.npy"), "unsupported_shape"),
        (fixture!("bad_complex.npy"), "unsupported_dtype"),
        (fixture!("bad_ambiguous.npz"), "ambiguous_array"),
        (fixture!("bad_not_an_array.txt"), "unsupported_format"),
    ];
    for ((name, bytes), code) in cases {
        let err = read_fmri(bytes, name, &ReadOptions::default()).unwrap_err();
        assert_eq!(err.code(), code, "{name}: {err}");
    }
    let options = ReadOptions {
        expected_voxels: Some(4_466),
        ..Default::default()
    };
    let (name, bytes) = fixture!("float32_le_C_v1.npy");
    let err = read_fmri(bytes, name, &options).unwrap_err();
    assert!(
        err.to_string()
            .contains("fMRI has 5 voxels; this model expects 4,466")
    );
}

#[wasm_bindgen_test]
fn bundles_assemble_and_validate_in_the_browser() {
    let manifest = Manifest::parse(
        br#"{"format": "brainclip-bundle", "format_version": 1, "name": "t",
             "provenance": "test", "license": "CC0-1.0", "voxels": 2,
             "normalization": {"mode": "batch"},
             "components": {"mapper": {"kind": "mapper", "config": {}, "weights": "m.safetensors"}}}"#,
    )
    .unwrap();
    let err = Bundle::from_parts(manifest.clone(), BTreeMap::new()).unwrap_err();
    assert_eq!(err.code(), "bundle_file_missing");
    let header = br#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
    let mut weights = (header.len() as u64).to_le_bytes().to_vec();
    weights.extend_from_slice(header);
    weights.extend_from_slice(&1.5f32.to_le_bytes());
    let files = BTreeMap::from([("m.safetensors".to_string(), weights)]);
    let bundle = Bundle::from_parts(manifest, files).unwrap();
    assert_eq!(bundle.normalization().unwrap(), Normalization::Batch);
}
