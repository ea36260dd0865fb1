//! The brain view's data: a bundle's voxel sheet (where each voxel lies on the flattened
//! cortex) and one trial's pattern as the mapper reads it.
#![cfg(not(target_family = "wasm"))]
use std::path::{Path, PathBuf};

use brainclip::data::ReadOptions;
use brainclip::data::bundle::Bundle;
use brainclip::tasks::Decoder;

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("www/models/demo")
}

fn brainclip(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_brainclip"))
        .args(args)
        .output()
        .unwrap()
}

/// The demo bundle places each of its voxels on the simulated sheet, in the two labelled
/// areas; a trial's pattern is the bundle-normalised row of the recording.
#[test]
fn the_demo_bundle_places_every_voxel_and_a_pattern_is_the_normalised_trial() {
    let bundle = Bundle::load_dir(&demo()).unwrap();
    let sheet = bundle
        .voxel_sheet()
        .unwrap()
        .expect("the demo ships a voxel sheet");
    assert_eq!(sheet.config.voxels, bundle.manifest.voxels);
    let names: Vec<&str> = sheet.config.areas.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["early visual", "higher visual"]);
    // Every voxel lies inside one of the areas (early voxels first, then higher ones).
    let inside = |area: usize, x: f32, y: f32| {
        let [x0, y0, x1, y1] = sheet.config.areas[area].bounds;
        (x0 - 1e-3..=x1 + 1e-3).contains(&(x as f64)) && (y0..=y1).contains(&(y as f64))
    };
    let early = sheet
        .coordinates
        .chunks(2)
        .filter(|c| inside(0, c[0], c[1]))
        .count();
    let higher = sheet
        .coordinates
        .chunks(2)
        .filter(|c| inside(1, c[0], c[1]))
        .count();
    assert_eq!(early + higher, sheet.config.voxels);
    assert!(
        early > 2000 && higher > 1000,
        "{early} early, {higher} higher"
    );

    let decoder =
        Decoder::from_bundle(&bundle, brainclip::device::ComputeDevice::cpu(None)).unwrap();
    let fmri = brainclip::data::read_fmri_path(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("www/samples/sub-01-test-fmri.npy"),
        &ReadOptions::default(),
    )
    .unwrap();
    let pattern = decoder.voxel_pattern(&fmri, 7).unwrap();
    let normalized = decoder.normalized(&fmri).unwrap();
    let voxels = normalized.voxels();
    assert_eq!(pattern, normalized.values()[7 * voxels..8 * voxels]);
    assert_ne!(
        pattern,
        fmri.values()[7 * voxels..8 * voxels],
        "normalised, not raw"
    );
    let err = decoder.voxel_pattern(&fmri, 50).unwrap_err();
    assert!(err.to_string().contains("0 to 49"), "{err}");
}

/// `add-voxel-sheet` refuses coordinates that do not fit the bundle, naming both sizes, and
/// leaves the bundle as it was; a sheet it accepts loads back.
#[test]
fn add_voxel_sheet_checks_the_coordinates_against_the_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    // The demo's default subject as a one-subject bundle, as stored.
    Bundle::load_dir(&demo())
        .unwrap()
        .write_dir(&bundle)
        .unwrap();
    std::fs::remove_file(bundle.join("voxel_sheet.safetensors")).unwrap();
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("manifest.json")).unwrap()).unwrap();
    manifest["components"]
        .as_object_mut()
        .unwrap()
        .remove("voxel_sheet");
    std::fs::write(bundle.join("manifest.json"), manifest.to_string()).unwrap();
    let voxels = manifest["voxels"].as_u64().unwrap() as usize;
    let write_npy = |path: &Path, rows: usize, value: f32| {
        let bytes =
            brainclip::data::npy::write_npy_f32(&vec![value; rows * 2], &[rows, 2]).unwrap();
        std::fs::write(path, bytes).unwrap();
    };
    let path = |p: &Path| p.to_str().unwrap().to_string();
    let short = dir.path().join("short.npy");
    write_npy(&short, voxels - 1, 0.5);
    let before = std::fs::read(bundle.join("manifest.json")).unwrap();
    let output = brainclip(&[
        "add-voxel-sheet",
        "--bundle",
        &path(&bundle),
        "--coordinates",
        &path(&short),
    ]);
    let report = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        report.contains("4465 × 2") && report.contains("4466 × 2"),
        "{report}"
    );
    assert_eq!(std::fs::read(bundle.join("manifest.json")).unwrap(), before);

    let outside = dir.path().join("outside.npy");
    write_npy(&outside, voxels, 1.5);
    let output = brainclip(&[
        "add-voxel-sheet",
        "--bundle",
        &path(&bundle),
        "--coordinates",
        &path(&outside),
    ]);
    let report = String::from_utf8_lossy(&output.stderr);
    assert!(report.contains("must lie in [0, 1]"), "{report}");

    let fine = dir.path().join("fine.npy");
    write_npy(&fine, voxels, 0.25);
    let areas = dir.path().join("areas.json");
    std::fs::write(&areas, r#"[{"name": "V1", "bounds": [0, 0, 0.5, 0.5]}]"#).unwrap();
    let output = brainclip(&[
        "add-voxel-sheet",
        "--bundle",
        &path(&bundle),
        "--coordinates",
        &path(&fine),
        "--areas",
        &path(&areas),
        "--f16",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let sheet = Bundle::load_dir(&bundle)
        .unwrap()
        .voxel_sheet()
        .unwrap()
        .unwrap();
    assert_eq!(sheet.config.areas[0].name, "V1");
    assert!(sheet.coordinates.iter().all(|&v| v == 0.25));
}
