//! The command-line paths the demo is built with, on small generated data: a simulated world,
//! a CLIP pretrained on it (`train-clip`), its image embeddings (`embed-images`), a mapper
//! supervised by captions through that CLIP and shipped with it in f16 with a label set
//! (`train-mapper --captions --clip --stimulus-ids --bundle-clip --f16 --label-set`), its
//! evaluation against labels embedded by a separate CLIP (`eval --clip`), `inspect`,
//! `forward`, and the run-aware tools (`sim blocks`, `--groups`, `cv`).
#![cfg(not(target_family = "wasm"))]

use std::path::Path;
use std::process::{Command, Output};

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_brainclip"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn brainclip(dir: &Path, args: &[&str]) -> Output {
    let out = run(dir, args);
    assert!(
        out.status.success(),
        "brainclip {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json_file(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn npy(path: &Path) -> (Vec<f32>, Vec<usize>) {
    let array = brainclip::data::npy::read_npy_array(
        &std::fs::read(path).unwrap(),
        "x.npy",
        1 << 30,
        |_| Ok(()),
    )
    .unwrap();
    (array.values, array.shape)
}

/// One world, CLIP and mapper shared by the checks below (each step takes seconds).
/// Broke once on purpose: with `--bundle-clip` ignored (no CLIP written into the bundle),
/// the manifest check and `eval` without label embeddings fail.
#[test]
fn the_demo_pipeline_runs_end_to_end_on_a_small_world() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    brainclip(
        d,
        &[
            "sim",
            "world",
            "--out",
            "w",
            "--subjects",
            "1",
            "--voxels",
            "200",
            "--train-images",
            "2",
            "--test-repeats",
            "4",
        ],
    );
    // The development split: one held-out seen colour per shape.
    let dev = json_file(&d.join("w/dev_categories.json"));
    assert_eq!(dev.as_array().unwrap().len(), 25);
    let (_, dev_shape) = npy(&d.join("w/sub-01/dev_test_fmri.npy"));
    assert_eq!(dev_shape, [50, 200]);

    // A CLIP at 32 px, pretrained for one epoch on two images per category.
    let mut config = brainclip::clip::ClipConfig::tiny();
    config.vision.image_size = 32;
    std::fs::write(
        d.join("clip32.json"),
        serde_json::to_vec(&config.to_hf_json()).unwrap(),
    )
    .unwrap();
    let trained = brainclip(
        d,
        &[
            "train-clip",
            "--out",
            "clip",
            "--config",
            "clip32.json",
            "--images-per-category",
            "2",
            "--epochs",
            "1",
            "--batch-size",
            "100",
        ],
    );
    let summary = String::from_utf8(trained.stdout).unwrap();
    assert!(summary.contains("evaluation"), "{summary}");
    let evaluation = json_file(&d.join("clip/evaluation.json"));
    assert_eq!(evaluation["images"], 1000);
    assert!(evaluation["colour_correct"].as_f64().is_some());
    assert_eq!(json_file(&d.join("clip/config.json"))["model_type"], "clip");
    let history = json_file(&d.join("clip/history.json"));
    assert_eq!(history.as_array().unwrap().len(), 1);

    // Stimulus embeddings: unit rows, one per trial.
    for split in ["train", "test"] {
        brainclip(
            d,
            &[
                "embed-images",
                "--clip",
                "clip",
                "--ids",
                &format!("w/{split}_stimulus_ids.json"),
                "--dir",
                "w/stimuli",
                "--out",
                &format!("{split}_images.npy"),
            ],
        );
    }
    let (values, shape) = npy(&d.join("train_images.npy"));
    assert_eq!(shape, [300, 64]);
    for row in values.chunks(64) {
        let norm: f32 = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{norm}");
    }

    // A mapper supervised by images and captions, shipped with its CLIP in f16.
    brainclip(
        d,
        &[
            "train-mapper",
            "--fmri",
            "w/sub-01/train_fmri.npy",
            "--image-embeddings",
            "train_images.npy",
            "--captions",
            "w/train_captions.json",
            "--clip",
            "clip",
            "--stimulus-ids",
            "w/train_stimulus_ids.json",
            "--bundle-clip",
            "--f16",
            "--label-set",
            "test-categories=w/novel_categories.json",
            "--hidden",
            "32",
            "--latent",
            "16",
            "--epochs",
            "2",
            "--simulated",
            "--out",
            "m",
        ],
    );
    let manifest = json_file(&d.join("m/manifest.json"));
    assert_eq!(manifest["dtype"], "f16");
    assert_eq!(manifest["simulated"], true);
    assert_eq!(
        manifest["labels"]["test-categories"],
        json_file(&d.join("w/novel_categories.json"))
    );
    let components = &manifest["components"];
    assert_eq!(components["clip"]["kind"], "clip");
    assert_eq!(components["mapper"]["kind"], "mapper");
    assert_eq!(components["shuffled"]["control"], "shuffled labels");
    assert_eq!(components["ridge"]["control"], "ridge");
    assert_eq!(components["ridge"]["config"]["variant"], "linear");
    for file in ["clip", "mapper", "shuffled", "ridge", "normalization"] {
        assert!(d.join(format!("m/{file}.safetensors")).exists(), "{file}");
    }

    // Evaluation with the bundle's CLIP, and with a separate one (--clip).
    for extra in [&[][..], &["--clip", "clip"][..]] {
        let mut args = vec![
            "eval",
            "--bundle",
            "m",
            "--fmri",
            "w/sub-01/test_fmri.npy",
            "--labels",
            "w/test_labels.json",
            "--candidates",
            "w/novel_categories.json",
            "--image-embeddings",
            "test_images.npy",
            "--json",
        ];
        args.extend_from_slice(extra);
        let report: serde_json::Value =
            serde_json::from_slice(&brainclip(d, &args).stdout).unwrap();
        let top1 = &report["metrics"][0];
        assert_eq!(top1["id"], "category_top1");
        assert_eq!(top1["chance"], 0.02);
        // The simulated world's labels bring the single-attribute ceilings.
        let controls = top1["controls"].as_object().unwrap();
        let keys: Vec<&str> = controls.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["colour only", "ridge", "shape only", "shuffled labels"]
        );
        assert!((controls["shape only"].as_f64().unwrap() - 0.5).abs() < 1e-9);
        assert_eq!(
            report["perTrial"]["categoryRank"].as_array().unwrap().len(),
            50
        );
    }
    let table = String::from_utf8(
        brainclip(
            d,
            &[
                "eval",
                "--bundle",
                "m",
                "--fmri",
                "w/sub-01/test_fmri.npy",
                "--labels",
                "w/test_labels.json",
            ],
        )
        .stdout,
    )
    .unwrap();
    let header = table.lines().next().unwrap();
    for column in [
        "value",
        "chance",
        "shuffled labels",
        "ridge",
        "colour only",
        "shape only",
    ] {
        assert!(header.contains(column), "{header}");
    }

    // inspect reads what sim wrote.
    let inspected: serde_json::Value = serde_json::from_slice(
        &brainclip(d, &["inspect", "w/sub-01/train_fmri.npy", "--json"]).stdout,
    )
    .unwrap();
    assert_eq!(
        (inspected["trials"].clone(), inspected["voxels"].clone()),
        (300.into(), 200.into())
    );

    // forward writes what the library computes (unnormalised features).
    brainclip(
        d,
        &[
            "forward",
            "--component",
            "clip-text",
            "--model",
            "clip",
            "--text",
            "an image of a red star.",
            "a blue ring",
            "--output",
            "text.npy",
        ],
    );
    let (text, shape) = npy(&d.join("text.npy"));
    assert_eq!(shape, [2, 64]);
    let device = brainclip::ComputeDevice::cpu(None);
    let clip = brainclip::clip::Clip::from_hf_dir(&d.join("clip"), &device.device).unwrap();
    let want = clip
        .text_features(&clip.tokenize(&["an image of a red star.", "a blue ring"]))
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    assert_eq!(text, want);
    let pixels = vec![0.1f32; 3 * 32 * 32];
    std::fs::write(
        d.join("pixels.npy"),
        brainclip::data::npy::write_npy_f32(&pixels, &[1, 3, 32, 32]).unwrap(),
    )
    .unwrap();
    brainclip(
        d,
        &[
            "forward",
            "--component",
            "clip-image",
            "--model",
            "clip",
            "--input",
            "pixels.npy",
            "--output",
            "image.npy",
        ],
    );
    assert_eq!(npy(&d.join("image.npy")).1, [1, 64]);
}

/// Embeddings given on the command line are L2-normalised; an all-zero row is an error
/// that names the file. Broke once: with `read_embeddings` reading the matrix as given,
/// the zero row trains silently and this test fails.
#[test]
fn embeddings_given_on_the_command_line_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    brainclip(
        d,
        &[
            "sim", "planted", "--out", ".", "--voxels", "40", "--dim", "8",
        ],
    );
    let (mut values, shape) = npy(&d.join("train_image_embeddings.npy"));
    values[8..16].iter_mut().for_each(|v| *v = 0.0);
    std::fs::write(
        d.join("zero_row.npy"),
        brainclip::data::npy::write_npy_f32(&values, &shape).unwrap(),
    )
    .unwrap();
    let out = run(
        d,
        &[
            "train-mapper",
            "--fmri",
            "train_fmri.npy",
            "--image-embeddings",
            "zero_row.npy",
            "--out",
            "m",
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("zero_row.npy") && stderr.contains("row 1 is all zeros"),
        "{stderr}"
    );
}

/// A block design: validation by trial is flagged, by run it is not, and `cv` reports the
/// mapper beside ridge for every held-out run. Broke once: with `near_copies` counting only
/// correlations above 0.9 (not the neighbour in the file), the warning does not appear.
#[test]
fn block_designs_are_validated_and_cross_validated_by_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    brainclip(
        d,
        &[
            "sim",
            "blocks",
            "--out",
            "b",
            "--runs",
            "4",
            "--categories",
            "4",
            "--volumes-per-block",
            "4",
            "--voxels",
            "120",
            "--snr",
            "1",
        ],
    );
    assert_eq!(
        json_file(&d.join("b/runs.json")).as_array().unwrap().len(),
        64
    );
    // Label captions need a CLIP that tells the labels apart: the demo bundle's.
    let clip = Path::new(env!("CARGO_MANIFEST_DIR")).join("www/models/demo");
    let clip = clip.to_str().unwrap();
    let common = [
        "--fmri",
        "b/fmri.npy",
        "--labels",
        "b/labels.json",
        "--clip",
        clip,
        "--hidden",
        "32",
        "--latent",
        "16",
        "--epochs",
        "15",
        "--batch-size",
        "16",
        "--val-fraction",
        "0.25",
    ];
    let train = |extra: &[&str]| {
        let mut args = vec!["train-mapper", "--out", "m", "--no-controls"];
        args.extend_from_slice(&common);
        args.extend_from_slice(extra);
        String::from_utf8(brainclip(d, &args).stderr).unwrap()
    };
    let by_trial = train(&[]);
    assert!(
        by_trial.contains("warning:") && by_trial.contains("--groups"),
        "{by_trial}"
    );
    let by_run = train(&["--groups", "b/runs.json"]);
    assert!(!by_run.contains("warning:"), "{by_run}");

    let mut args = vec!["cv", "--groups", "b/runs.json", "--json"];
    args.extend_from_slice(&common);
    let report: serde_json::Value = serde_json::from_slice(&brainclip(d, &args).stdout).unwrap();
    assert_eq!(report["folds"].as_array().unwrap().len(), 4);
    assert_eq!(report["chance"], 0.25);
    for fold in report["folds"].as_array().unwrap() {
        assert_eq!(fold["trials"], 16);
        for model in ["mapper", "ridge"] {
            let v = fold[model].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v), "{fold}");
        }
    }
    // The folds decode held-out runs (ridge, the robust one at this tiny size — 48 training
    // volumes per fold — well above chance), and the summary is the mean of the folds.
    assert!(report["ridge"]["mean"].as_f64().unwrap() > 0.4, "{report}");
    for model in ["mapper", "ridge"] {
        let folds: Vec<f64> = report["folds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f[model].as_f64().unwrap())
            .collect();
        let mean = folds.iter().sum::<f64>() / folds.len() as f64;
        assert!((report[model]["mean"].as_f64().unwrap() - mean).abs() < 1e-12);
    }
}
