//! Model bundles: manifest validation, file presence, tensor checks, f16 widening, and
//! loading weights into burn modules.
#![cfg(not(target_family = "wasm"))]

use std::collections::BTreeMap;
use std::path::Path;

use brainclip::data::Normalization;
use brainclip::data::bundle::{Bundle, LoadOptions, Manifest, load_module};
use brainclip::error::Error;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::tensor::TensorView;
use serde_json::json;

/// Serialises named tensors; `f16` stores them as half precision.
fn safetensors_bytes(tensors: &[(&str, Vec<usize>, Vec<f32>)], f16: bool) -> Vec<u8> {
    let raw: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, shape, values)| {
            let bytes = if f16 {
                values
                    .iter()
                    .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
                    .collect()
            } else {
                values.iter().flat_map(|v| v.to_le_bytes()).collect()
            };
            (name.to_string(), shape.clone(), bytes)
        })
        .collect();
    let dtype = if f16 {
        safetensors::Dtype::F16
    } else {
        safetensors::Dtype::F32
    };
    let views: Vec<(String, TensorView)> = raw
        .iter()
        .map(|(n, s, b)| (n.clone(), TensorView::new(dtype, s.clone(), b).unwrap()))
        .collect();
    safetensors::serialize(views, None).unwrap()
}

fn manifest(voxels: usize) -> serde_json::Value {
    json!({
        "format": "brainclip-bundle",
        "format_version": 1,
        "name": "test",
        "provenance": "written by tests/bundle.rs",
        "license": "CC0-1.0",
        "simulated": true,
        "voxels": voxels,
        "normalization": {"mode": "stats", "file": "normalization.safetensors"},
        "dtype": "f16",
        "labels": {"test": ["cat", "dog"]},
        "components": {
            "mapper": {"kind": "mapper", "config": {"hidden": 4}, "weights": "mapper.safetensors"}
        }
    })
}

fn write_bundle(dir: &Path, manifest: &serde_json::Value, stats: &[(&str, Vec<usize>, Vec<f32>)]) {
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec_pretty(manifest).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join("normalization.safetensors"),
        safetensors_bytes(stats, true),
    )
    .unwrap();
    let weights = safetensors_bytes(&[("weight", vec![2, 3], vec![0.0; 6])], false);
    std::fs::write(dir.join("mapper.safetensors"), weights).unwrap();
}

fn good_stats() -> Vec<(&'static str, Vec<usize>, Vec<f32>)> {
    vec![
        ("mean", vec![3], vec![0.5, -1.25, 2.0]),
        ("std", vec![3], vec![1.0, 0.5, 0.0]),
    ]
}

fn load_err(manifest: serde_json::Value, stats: &[(&str, Vec<usize>, Vec<f32>)]) -> Error {
    let dir = tempfile::tempdir().unwrap();
    write_bundle(dir.path(), &manifest, stats);
    Bundle::load_dir(dir.path()).expect_err("bundle should be refused")
}

#[test]
fn a_valid_bundle_loads_and_widens_f16_statistics() {
    let dir = tempfile::tempdir().unwrap();
    write_bundle(dir.path(), &manifest(3), &good_stats());
    let bundle = Bundle::load_dir(dir.path()).unwrap();
    assert_eq!(bundle.manifest.voxels, 3);
    assert!(bundle.manifest.simulated);
    assert_eq!(bundle.manifest.labels["test"], ["cat", "dog"]);
    match bundle.normalization().unwrap() {
        Normalization::Stats { mean, std } => {
            // These values are exact in f16, so widening must reproduce them exactly.
            assert_eq!(mean, [0.5, -1.25, 2.0]);
            assert_eq!(std, [1.0, 0.5, 0.0]);
        }
        other => panic!("expected stats, got {other:?}"),
    }
    let (component, weights) = bundle.component("mapper").unwrap();
    assert_eq!(component.kind, "mapper");
    assert!(!weights.is_empty());
}

#[test]
fn a_newer_format_version_is_refused_with_both_versions() {
    let mut m = manifest(3);
    m["format_version"] = json!(2);
    let err = load_err(m, &good_stats());
    assert_eq!(err.code(), "bundle_manifest");
    let message = err.to_string();
    assert!(
        message.contains("format_version")
            && message.contains("is 2")
            && message.contains("version 1"),
        "{message}"
    );
}

#[test]
fn missing_fields_and_bad_values_are_named() {
    let mut m = manifest(3);
    m.as_object_mut().unwrap().remove("license");
    let err = load_err(m, &good_stats());
    assert_eq!(err.code(), "bundle_manifest");
    assert!(err.to_string().contains("license"), "{err}");

    let mut m = manifest(3);
    m["components"]["mapper"]["kind"] = json!("transformer");
    let err = load_err(m, &good_stats());
    assert!(err.to_string().contains("components.mapper.kind"), "{err}");

    let mut m = manifest(3);
    m["components"]["mapper"]["weights"] = json!("../../etc/passwd");
    let err = load_err(m, &good_stats());
    assert!(
        err.to_string().contains("components.mapper.weights"),
        "{err}"
    );

    let err = Manifest::parse(b"{ not json").unwrap_err();
    assert_eq!(err.code(), "bundle_manifest");
}

#[test]
fn a_missing_file_names_the_file_and_the_field() {
    let dir = tempfile::tempdir().unwrap();
    write_bundle(dir.path(), &manifest(3), &good_stats());
    std::fs::remove_file(dir.path().join("mapper.safetensors")).unwrap();
    let err = Bundle::load_dir(dir.path()).unwrap_err();
    assert_eq!(err.code(), "bundle_file_missing");
    let message = err.to_string();
    assert!(
        message.contains("mapper.safetensors") && message.contains("components.mapper.weights"),
        "{message}"
    );
}

#[test]
fn misshapen_or_missing_statistics_name_the_tensor() {
    let stats = vec![
        ("mean", vec![3], vec![0.0; 3]),
        ("std", vec![4], vec![1.0; 4]),
    ];
    let err = load_err(manifest(3), &stats);
    assert_eq!(err.code(), "bundle_tensor");
    let message = err.to_string();
    assert!(
        message.contains("normalization.safetensors")
            && message.contains("'std'")
            && message.contains("has shape 4, expected 3"),
        "{message}"
    );

    let stats = vec![("mean", vec![3], vec![0.0; 3])];
    let err = load_err(manifest(3), &stats);
    assert!(err.to_string().contains("'std': missing"), "{err}");
}

#[test]
fn weights_load_into_a_burn_module_with_pytorch_layout_and_f16() {
    let device = Device::flex();
    // PyTorch nn.Linear(3, 2): weight is [out, in].
    let weight = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let bytes = safetensors_bytes(
        &[
            ("proj.weight", vec![2, 3], weight),
            ("proj.bias", vec![2], vec![0.5, -0.5]),
        ],
        true,
    );
    let options = LoadOptions {
        key_remapping: vec![("^proj\\.".into(), "".into())],
        pytorch_layout: true,
        skip_enum_variants: false,
    };
    let linear: Linear = LinearConfig::new(3, 2).init(&device);
    let linear = load_module(linear, "proj.safetensors", bytes, &options).unwrap();
    let x = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 1.0, 1.0], [1, 3]), &device);
    let y: Vec<f32> = linear.forward(x).into_data().try_to_vec().unwrap();
    assert_eq!(y, [6.5, 14.5]);
}

#[test]
fn missing_or_misshapen_module_weights_name_the_key() {
    let device = Device::flex();
    let options = LoadOptions {
        key_remapping: Vec::new(),
        pytorch_layout: true,
        skip_enum_variants: false,
    };
    let only_weight = safetensors_bytes(&[("weight", vec![2, 3], vec![0.0; 6])], false);
    let linear: Linear = LinearConfig::new(3, 2).init(&device);
    let err = load_module(linear, "m.safetensors", only_weight, &options).unwrap_err();
    assert_eq!(err.code(), "bundle_tensor");
    assert!(err.to_string().contains("bias"), "{err}");

    let wrong = safetensors_bytes(
        &[
            ("weight", vec![2, 4], vec![0.0; 8]),
            ("bias", vec![2], vec![0.0; 2]),
        ],
        false,
    );
    let linear: Linear = LinearConfig::new(3, 2).init(&device);
    let err = load_module(linear, "m.safetensors", wrong, &options).unwrap_err();
    println!("{err}");
    assert!(err.to_string().contains("'weight'"), "{err}");
}

#[test]
fn bundles_assemble_from_fetched_parts() {
    let manifest_bytes = serde_json::to_vec(&manifest(3)).unwrap();
    let manifest = Manifest::parse(&manifest_bytes).unwrap();
    let mut files = BTreeMap::new();
    files.insert(
        "normalization.safetensors".to_string(),
        safetensors_bytes(&good_stats(), false),
    );
    let err = Bundle::from_parts(manifest.clone(), files.clone()).unwrap_err();
    assert_eq!(err.code(), "bundle_file_missing");
    files.insert("mapper.safetensors".to_string(), b"garbage".to_vec());
    let err = Bundle::from_parts(manifest.clone(), files.clone()).unwrap_err();
    assert_eq!(err.code(), "bundle_tensor");
    assert!(err.to_string().contains("mapper.safetensors"), "{err}");
}

/// A bundle written by `write_dir`, so its manifest records every file's size and SHA-256.
fn sealed_bundle() -> tempfile::TempDir {
    let source = tempfile::tempdir().unwrap();
    write_bundle(source.path(), &manifest(3), &good_stats());
    let dir = tempfile::tempdir().unwrap();
    Bundle::load_dir(source.path())
        .unwrap()
        .write_dir(dir.path())
        .unwrap();
    dir
}

/// A written bundle records every file's size and SHA-256; a file that no longer matches
/// is refused by name, whether it changed length or only content.
#[test]
fn written_bundles_record_and_check_every_files_integrity() {
    let dir = sealed_bundle();
    let bundle = Bundle::load_dir(dir.path()).unwrap();
    let recorded = &bundle.manifest.integrity;
    let files: Vec<String> = bundle
        .manifest
        .required_files()
        .into_iter()
        .map(|(file, _)| file)
        .collect();
    assert_eq!(recorded.keys().cloned().collect::<Vec<_>>(), {
        let mut sorted = files.clone();
        sorted.sort();
        sorted
    });
    let mapper = dir.path().join("mapper.safetensors");
    let original = std::fs::read(&mapper).unwrap();
    assert_eq!(recorded["mapper.safetensors"].bytes, original.len() as u64);

    // Same length, one bit flipped in the last weight.
    let mut flipped = original.clone();
    *flipped.last_mut().unwrap() ^= 1;
    std::fs::write(&mapper, &flipped).unwrap();
    let err = Bundle::load_dir(dir.path()).unwrap_err();
    assert_eq!(err.code(), "corrupt_file");
    let message = err.to_string();
    assert!(
        message.contains("mapper.safetensors") && message.contains("SHA-256"),
        "{message}"
    );

    // A component replaced in memory carries its new record: writing and loading it again
    // works (`add-decoder` replaces the autoencoder of a sealed bundle this way).
    std::fs::write(&mapper, &original).unwrap();
    let sealed = Bundle::load_dir(dir.path()).unwrap();
    let (component, _) = sealed.component("mapper").unwrap();
    let mut replaced = original.clone();
    *replaced.last_mut().unwrap() ^= 2;
    let updated = sealed
        .with_component("mapper", component.clone(), replaced.clone())
        .unwrap();
    let again = tempfile::tempdir().unwrap();
    updated.write_dir(again.path()).unwrap();
    let reloaded = Bundle::load_dir(again.path()).unwrap();
    assert_eq!(
        reloaded.stored_file("mapper.safetensors").unwrap(),
        replaced
    );

    // A file the record does not know (a manifest edited by hand after sealing).
    let manifest_path = dir.path().join("manifest.json");
    let sealed_manifest = std::fs::read(&manifest_path).unwrap();
    let mut unrecorded = Manifest::parse(&sealed_manifest).unwrap();
    unrecorded.integrity.remove("mapper.safetensors");
    std::fs::write(&manifest_path, serde_json::to_vec(&unrecorded).unwrap()).unwrap();
    let message = Bundle::load_dir(dir.path()).unwrap_err().to_string();
    assert!(
        message.contains("records no size or SHA-256 for mapper.safetensors"),
        "{message}"
    );
    std::fs::write(&manifest_path, sealed_manifest).unwrap();

    // One byte short.
    std::fs::write(&mapper, &original[..original.len() - 1]).unwrap();
    let message = Bundle::load_dir(dir.path()).unwrap_err().to_string();
    assert!(
        message.contains(&format!(
            "it is {} bytes; the manifest records {}",
            original.len() - 1,
            original.len()
        )),
        "{message}"
    );
}

/// A caller that has checked files against the manifest's record (the browser does, before
/// caching them) passes their names, and only the others are hashed again: a damaged file it
/// did not name is still refused, and one it named is taken as checked.
#[test]
fn files_the_caller_checked_are_not_hashed_again() {
    let dir = sealed_bundle();
    let manifest =
        Manifest::parse(&std::fs::read(dir.path().join("manifest.json")).unwrap()).unwrap();
    let mut files: BTreeMap<String, Vec<u8>> = manifest
        .required_files()
        .into_iter()
        .map(|(file, _)| {
            let bytes = std::fs::read(dir.path().join(&file)).unwrap();
            (file, bytes)
        })
        .collect();
    // Same length, one bit flipped in the mapper's last weight: only a hash can tell.
    *files
        .get_mut("mapper.safetensors")
        .unwrap()
        .last_mut()
        .unwrap() ^= 1;
    let load = |checked: &[&str]| {
        let checked = checked.iter().map(|f| f.to_string()).collect();
        Bundle::from_checked_parts(
            manifest.clone(),
            None,
            Default::default(),
            files.clone(),
            &checked,
        )
    };
    let err = load(&["normalization.safetensors"]).unwrap_err();
    assert!(err.to_string().contains("mapper.safetensors"), "{err}");
    assert!(
        load(&["mapper.safetensors"]).is_ok(),
        "a named file is not hashed again"
    );
}
