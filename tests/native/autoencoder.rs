//! The tiny autoencoder against diffusers' `AutoencoderTiny`, on the random-weight
//! directories written by `tools/reference/taesd_fixtures.py`.
#![cfg(not(target_family = "wasm"))]

use std::path::{Path, PathBuf};

use brainclip::data::bundle::StoredDtype;
use brainclip::device::{BackendPreference, ComputeDevice, select_device};
use brainclip::diffusion::{Autoencoder, AutoencoderTinyConfig};
use burn::tensor::Device;
use safetensors::SafeTensors;

use crate::taesd_fixtures;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/taesd")
}

fn cpu() -> ComputeDevice {
    pollster::block_on(select_device(BackendPreference::Cpu)).unwrap()
}

#[test]
fn encode_and_decode_match_diffusers() {
    let found = pollster::block_on(taesd_fixtures::parity(&cpu()));
    assert_eq!(found.len(), 6);
    for (name, what, diff) in found {
        println!("{name} {what}: {diff:.2e}");
        assert!(diff <= taesd_fixtures::TOLERANCE, "{name} {what}: {diff}");
    }
}

#[test]
fn a_diffusers_directory_loads_and_our_weights_round_trip_under_its_keys() {
    let device = Device::flex();
    for name in ["published", "narrow16"] {
        let dir = fixtures().join(name);
        let autoencoder = Autoencoder::from_dir(&dir, &device).unwrap();
        let original = std::fs::read(dir.join("diffusion_pytorch_model.safetensors")).unwrap();
        let saved = autoencoder.to_safetensors(StoredDtype::F32).unwrap();
        let keys = |bytes: &[u8]| {
            let mut keys: Vec<String> = SafeTensors::deserialize(bytes)
                .unwrap()
                .names()
                .into_iter()
                .map(str::to_string)
                .collect();
            keys.sort();
            keys
        };
        assert_eq!(keys(&saved), keys(&original), "{name}: diffusers' keys");
        let again = Autoencoder::from_safetensors(
            autoencoder.config.clone(),
            saved,
            "saved.safetensors",
            &device,
        )
        .unwrap();
        assert_eq!(
            format!("{:?}", again.config),
            format!("{:?}", autoencoder.config)
        );
    }
    let published = AutoencoderTinyConfig::from_json(
        &std::fs::read(fixtures().join("published/config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(published, AutoencoderTinyConfig::default());
    assert_eq!(published.downscale(), 8);
}

#[test]
fn bad_configs_shapes_and_weights_are_refused_by_name() {
    let device = Device::flex();
    let err =
        AutoencoderTinyConfig::from_json(br#"{"encoder_block_out_channels": [32, 64, 64, 64]}"#)
            .unwrap_err();
    assert_eq!(err.code(), "invalid_config");
    assert!(err.to_string().contains("must all be equal"), "{err}");
    let err = AutoencoderTinyConfig::from_json(br#"{"upsample_fn": "area"}"#).unwrap_err();
    assert!(err.to_string().contains("area"), "{err}");

    let dir = fixtures().join("narrow16");
    let config =
        AutoencoderTinyConfig::from_json(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    let mut wrong = config.clone();
    wrong.latent_channels = 4;
    let err = Autoencoder::from_safetensors(
        wrong,
        std::fs::read(dir.join("diffusion_pytorch_model.safetensors")).unwrap(),
        "diffusion_pytorch_model.safetensors",
        &device,
    )
    .unwrap_err();
    assert_eq!(err.code(), "bundle_tensor");
    assert!(
        err.to_string().contains("encoder.layers.7.weight"),
        "the last encoder conv is named: {err}"
    );

    let autoencoder = Autoencoder::new(config, &device).unwrap();
    let odd = burn::tensor::Tensor::<4>::zeros([1, 3, 30, 48], &device);
    let err = autoencoder.encode(odd).unwrap_err();
    assert!(
        err.to_string().contains("multiples of 4"),
        "30 rows do not divide into 4-pixel cells: {err}"
    );
    let err = autoencoder
        .decode(burn::tensor::Tensor::<4>::zeros([1, 4, 8, 8], &device))
        .unwrap_err();
    assert!(err.to_string().contains("[n ≥ 1, 16, h, w]"), "{err}");
}

/// `brainclip forward --component ae-encode|ae-decode` on a diffusers directory of another
/// width and latent size writes what diffusers computes.
#[test]
fn forward_runs_either_half_from_the_command_line() {
    use brainclip::data::bundle::read_f32;
    use brainclip::data::npy::write_npy_f32;
    let dir = fixtures().join("narrow16");
    let reference = std::fs::read(dir.join("reference.safetensors")).unwrap();
    let tensor = |key: &str| {
        let shape = SafeTensors::deserialize(&reference)
            .unwrap()
            .tensor(key)
            .unwrap()
            .shape()
            .to_vec();
        (read_f32("reference", &reference, key).unwrap(), shape)
    };
    let work = std::env::temp_dir().join(format!("brainclip-ae-forward-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    for (component, input, expected) in [
        ("ae-encode", "images", "latents"),
        ("ae-decode", "latents", "decoded"),
    ] {
        let (values, shape) = tensor(input);
        let input_path = work.join(format!("{input}.npy"));
        std::fs::write(&input_path, write_npy_f32(&values, &shape).unwrap()).unwrap();
        let output_path = work.join(format!("{component}.npy"));
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_brainclip"))
            .args(["forward", "--component", component, "--model"])
            .arg(&dir)
            .arg("--input")
            .arg(&input_path)
            .arg("--output")
            .arg(&output_path)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let bytes = std::fs::read(&output_path).unwrap();
        let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
        let (want, want_shape) = tensor(expected);
        assert_eq!(
            npy.shape().iter().map(|&d| d as usize).collect::<Vec<_>>(),
            want_shape
        );
        let got: Vec<f32> = npy.into_vec().unwrap();
        let diff = taesd_fixtures::scaled_diff(&got, &want);
        assert!(diff <= taesd_fixtures::TOLERANCE, "{component}: {diff}");
    }
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_brainclip"))
        .args(["forward", "--component", "ae-decode", "--model"])
        .arg(&dir)
        .arg("--output")
        .arg(work.join("none.npy"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--input"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::remove_dir_all(&work).ok();
}
