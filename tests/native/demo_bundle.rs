//! The shipped demo as a visitor downloads it: within the 25 MB budget, and loading every
//! model the page uses — the mapper and its CLIP, and the image decoder with its low-level
//! head — at the sizes the page expects.
#![cfg(not(target_family = "wasm"))]

use std::path::Path;

use brainclip::ComputeDevice;
use brainclip::data::bundle::Bundle;
use brainclip::tasks::Decoder;

const BUDGET_BYTES: u64 = 25 * 1024 * 1024;

fn bytes_under(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                bytes_under(&entry.path())
            } else {
                meta.len()
            }
        })
        .sum()
}

#[test]
fn the_demo_fits_its_budget_and_carries_an_image_decoder() {
    let www = Path::new(env!("CARGO_MANIFEST_DIR")).join("www");
    let shipped = bytes_under(&www.join("models")) + bytes_under(&www.join("samples"));
    assert!(
        shipped <= BUDGET_BYTES,
        "models and samples weigh {shipped} bytes; the budget is {BUDGET_BYTES}"
    );
    let bundle = Bundle::load_dir(&www.join("models/demo")).unwrap();
    let decoder = Decoder::from_bundle(&bundle, ComputeDevice::cpu(None)).unwrap();
    assert!(decoder.clip.is_some(), "the page embeds labels and images");
    let reconstructor = decoder.reconstructor.get().expect("the page reconstructs");
    assert_eq!(reconstructor.image_size(), 64, "the sample stimuli's size");
    assert!(
        reconstructor.low_level.is_some(),
        "the page draws the low-level image"
    );
    assert_eq!(
        (
            reconstructor.schedule.steps.as_slice(),
            reconstructor.schedule.guidance
        ),
        (&[4][..], 1.0),
        "the 4-step student, its guidance baked in"
    );
    assert_eq!(
        reconstructor.step_choices(),
        [4, 2, 1],
        "the 2- and 1-step students beside it"
    );
    for steps in [2, 1] {
        let (schedule, denoiser) = reconstructor.denoiser_for(steps);
        assert_eq!(
            (schedule.steps.as_slice(), schedule.guidance),
            (&[steps][..], 1.0)
        );
        assert!(!std::ptr::eq(denoiser, &reconstructor.denoiser));
    }
}

#[test]
fn every_simulated_subject_ships_with_its_mapper_sheet_sample_and_evaluation() {
    let www = Path::new(env!("CARGO_MANIFEST_DIR")).join("www");
    let dir = www.join("models/demo");
    let default = Bundle::load_dir(&dir).unwrap();
    assert_eq!(default.subjects, ["sub-01", "sub-02", "sub-03"]);
    let mut voxel_counts = Vec::new();
    for (index, subject) in default.subjects.iter().enumerate() {
        let bundle = Bundle::load_dir_for(&dir, Some(subject)).unwrap();
        let voxels = bundle.manifest.voxels;
        voxel_counts.push(voxels);
        let decoder = Decoder::from_bundle(&bundle, ComputeDevice::cpu(None)).unwrap();
        assert_eq!(decoder.mapper.config.voxels, voxels, "{subject}");
        assert_eq!(
            decoder.controls.len(),
            2,
            "{subject}: shuffled labels and ridge"
        );
        let reconstructor = decoder.reconstructor.get().unwrap();
        assert!(reconstructor.low_level.is_some(), "{subject}");
        assert_eq!(bundle.voxel_sheet().unwrap().unwrap().config.voxels, voxels);
        // The page's sample recording fits this subject's mapper...
        let sample = www.join(format!("samples/{subject}-test-fmri.npy"));
        let bytes = std::fs::read(&sample).unwrap();
        let npy = npyz::NpyFile::new(bytes.as_slice()).unwrap();
        assert_eq!(npy.shape(), [50, voxels as u64], "{}", sample.display());
        // ...and its evaluation is where the page's tests look for it.
        let eval = if index == 0 {
            dir.join("eval.json")
        } else {
            dir.join(subject).join("eval.json")
        };
        let eval: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&eval).unwrap()).unwrap();
        assert_eq!(eval["trials"], 50, "{subject}");
    }
    voxel_counts.dedup();
    assert_eq!(voxel_counts.len(), 3, "the subjects differ in size");
}

/// The demo's manifest records the size and SHA-256 of every file of every subject (what
/// loading checks and the page's cache keys the files by).
#[test]
fn the_demo_manifest_records_every_files_integrity() {
    use brainclip::data::bundle::{FileIntegrity, MANIFEST_FILE, Manifest};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("www/models/demo");
    let manifest = Manifest::parse(&std::fs::read(dir.join(MANIFEST_FILE)).unwrap()).unwrap();
    let mut files = std::collections::BTreeSet::new();
    for subject in std::iter::once(None).chain(manifest.subjects.keys().map(|s| Some(s.as_str()))) {
        for (file, _) in manifest.for_subject(subject).unwrap().required_files() {
            files.insert(file);
        }
    }
    assert_eq!(
        manifest
            .integrity
            .keys()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>(),
        files
    );
    for (file, recorded) in &manifest.integrity {
        assert_eq!(
            &FileIntegrity::of(&std::fs::read(dir.join(file)).unwrap()),
            recorded,
            "{file}"
        );
    }
}

/// The page decodes before the image decoder has downloaded: a decoder loaded from the
/// decoding part of the bundle, given the image-decoder part later, draws what the whole
/// bundle draws; until then it says what it lacks.
#[test]
fn an_image_decoder_added_later_reconstructs_as_the_whole_bundle() {
    use brainclip::data::bundle::{BundleParts, MANIFEST_FILE, Manifest};
    use brainclip::tasks::ReconstructRequest;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("www/models/demo");
    let manifest = Manifest::parse(&std::fs::read(dir.join(MANIFEST_FILE)).unwrap()).unwrap();
    let files: std::collections::BTreeMap<String, Vec<u8>> = manifest
        .for_subject(None)
        .unwrap()
        .required_files()
        .into_iter()
        .map(|(file, _)| {
            let bytes = std::fs::read(dir.join(&file)).unwrap();
            (file, bytes)
        })
        .collect();
    let part = |parts| Bundle::from_parts_with(manifest.clone(), None, parts, files.clone());
    let decoding = part(BundleParts::Decoding).unwrap();
    assert_eq!(
        decoding.not_loaded,
        [
            "autoencoder",
            "denoiser",
            "denoiser-1",
            "denoiser-2",
            "low_level"
        ]
    );
    let decoder = Decoder::from_bundle(&decoding, ComputeDevice::cpu(None)).unwrap();
    let fmri = brainclip::data::read_fmri_path(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("www/samples/sub-01-test-fmri.npy"),
        &Default::default(),
    )
    .unwrap();
    let request = ReconstructRequest {
        trials: vec![0, 7],
        steps: Some(2),
        seed: 3,
        ..Default::default()
    };
    let missing = pollster::block_on(decoder.reconstruct(&fmri, &request, None)).unwrap_err();
    assert!(
        missing.to_string().contains("no image decoder"),
        "{missing}"
    );

    let image_decoder = part(BundleParts::ImageDecoder).unwrap();
    assert!(image_decoder.not_loaded.contains(&"mapper".to_string()));
    decoder.add_image_decoder(&image_decoder).unwrap();
    let twice = decoder.add_image_decoder(&image_decoder).unwrap_err();
    assert!(twice.to_string().contains("already"), "{twice}");
    let late = pollster::block_on(decoder.reconstruct(&fmri, &request, None)).unwrap();

    let whole =
        Decoder::from_bundle(&Bundle::load_dir(&dir).unwrap(), ComputeDevice::cpu(None)).unwrap();
    let at_once = pollster::block_on(whole.reconstruct(&fmri, &request, None)).unwrap();
    assert_eq!(late, at_once);
}

/// The attribution check on the shipped sub-01 (a few trials): the model's maps lean towards
/// the voxels the truth says carry a colour or a shape; the shuffled-label control's do not.
#[test]
fn attribution_favours_the_truly_selective_voxels_over_the_shuffled_control() {
    use brainclip::sim::subject::Subject;
    use brainclip::tasks::AttributionMethod;
    use brainclip::tasks::attribution_check::attribution_auc;

    let www = Path::new(env!("CARGO_MANIFEST_DIR")).join("www");
    let bundle = Bundle::load_dir_for(&www.join("models/demo"), Some("sub-01")).unwrap();
    let decoder = Decoder::from_bundle(&bundle, ComputeDevice::cpu(None)).unwrap();
    let bytes = std::fs::read(www.join("samples/sub-01-test-fmri.npy")).unwrap();
    let fmri =
        brainclip::data::read::read_fmri(&bytes, "sub-01-test-fmri.npy", &Default::default())
            .unwrap();
    let categories: Vec<String> =
        serde_json::from_slice(&std::fs::read(www.join("samples/test-labels.json")).unwrap())
            .unwrap();
    let roles = Subject::named("sub-01").unwrap().voxel_roles();
    let trials: Vec<usize> = (0..12).collect();
    let rows = pollster::block_on(attribution_auc(
        &decoder,
        &roles,
        &fmri,
        &categories,
        &trials,
        AttributionMethod::IntegratedGradients,
        &["shuffled labels"],
    ))
    .unwrap();
    assert_eq!(rows.len(), 4, "two label kinds × model and control");
    for kind in ["colour", "shape"] {
        let row = |mapper: &str| {
            rows.iter()
                .find(|r| r.mapper == mapper && serde_json::to_value(r.kind).unwrap() == kind)
                .unwrap()
        };
        let (model, control) = (row("model"), row("shuffled labels"));
        assert!(
            model.signed_auc > 0.58 && (control.signed_auc - 0.5).abs() < 0.05,
            "{kind}: model {:.3}, shuffled-label control {:.3}",
            model.signed_auc,
            control.signed_auc
        );
    }
}
