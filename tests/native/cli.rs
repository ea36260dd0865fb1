//! The command-line tool end to end, as the README's worked example runs it: simulate a
//! planted dataset, train a mapper, evaluate and decode with it.
#![cfg(not(target_family = "wasm"))]

use std::path::Path;
use std::process::Command;

fn brainclip(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_brainclip"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "brainclip {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn simulate_train_evaluate_and_decode() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    brainclip(
        d,
        &[
            "sim", "planted", "--out", ".", "--voxels", "120", "--dim", "16",
        ],
    );
    let train = brainclip(
        d,
        &[
            "train-mapper",
            "--fmri",
            "train_fmri.npy",
            "--image-embeddings",
            "train_image_embeddings.npy",
            "--text-embeddings",
            "train_text_embeddings.npy",
            "--out",
            "mapper",
            "--simulated",
            "--hidden",
            "128",
            "--latent",
            "32",
            "--epochs",
            "12",
            "--batch-size",
            "64",
            "--label-set",
            "test-categories=novel_categories.json",
        ],
    );
    // One JSON line per epoch on stdout.
    let epochs: Vec<serde_json::Value> = String::from_utf8(train.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(epochs.len(), 12);
    assert!(
        epochs[11]["val_text_top1"].as_f64().unwrap()
            > epochs[11]["val_text_chance"].as_f64().unwrap()
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("mapper/manifest.json")).unwrap()).unwrap();
    let novel: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("novel_categories.json")).unwrap()).unwrap();
    assert_eq!(manifest["labels"]["test-categories"], novel);

    let eval = brainclip(
        d,
        &[
            "eval",
            "--bundle",
            "mapper",
            "--fmri",
            "test_fmri.npy",
            "--labels",
            "test_labels.json",
            "--candidates",
            "novel_categories.json",
            "--label-embeddings",
            "novel_category_embeddings.npy",
            "--image-embeddings",
            "test_image_embeddings.npy",
            "--json",
        ],
    );
    let report: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    let metrics = report["metrics"].as_array().unwrap();
    let names: Vec<&str> = metrics
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    // 300-way identification over 50 stimuli would repeat top-1: left out, with a note.
    assert_eq!(
        names,
        [
            "category top-1 of 10 labels",
            "category top-5 of 10 labels",
            "fMRI → image top-1 of 50",
            "image → fMRI top-1 of 50",
            "2-way identification (image)",
        ]
    );
    assert!(
        report["notes"][0]
            .as_str()
            .unwrap()
            .contains("is top-1 among all of them"),
        "{report}"
    );
    for m in metrics {
        let (value, chance) = (m["value"].as_f64().unwrap(), m["chance"].as_f64().unwrap());
        assert!(value > chance, "{m}");
        // Every headline is read against the controls train-mapper ships by default: the
        // label-shuffled mapper stays near chance, and the mapper is compared with ridge.
        let shuffled = m["controls"]["shuffled labels"].as_f64().unwrap();
        assert!(shuffled < value, "{m}");
        assert!(m["controls"]["ridge"].as_f64().unwrap() > chance, "{m}");
    }
    assert!(
        metrics[0]["value"].as_f64().unwrap() >= 0.5,
        "zero-shot top-1 {}",
        metrics[0]
    );

    let decode = brainclip(
        d,
        &[
            "decode",
            "--bundle",
            "mapper",
            "--fmri",
            "test_fmri.npy",
            "--labels-file",
            "novel_categories.json",
            "--label-embeddings",
            "novel_category_embeddings.npy",
            "--top-k",
            "3",
        ],
    );
    let text = String::from_utf8(decode.stdout).unwrap();
    assert_eq!(text.lines().count(), 50);
    assert!(text.starts_with("trial 0: object "), "{text}");

    // Attribution speaks eval's language: a bundle without a CLIP, the candidates'
    // embeddings, a label per trial, every trial in one run → [trials, voxels].
    let npy = |name: &str| {
        let bytes = std::fs::read(d.join(name)).unwrap();
        brainclip::data::npy::read_npy_array(&bytes, name, u64::MAX, |_| Ok(())).unwrap()
    };
    let attribute = |trials: &[&str], out: &str| {
        let mut args = vec![
            "attribute",
            "--bundle",
            "mapper",
            "--fmri",
            "test_fmri.npy",
            "--labels",
            "test_labels.json",
            "--candidates",
            "novel_categories.json",
            "--label-embeddings",
            "novel_category_embeddings.npy",
            "--steps",
            "8",
            "--out",
            out,
        ];
        args.extend_from_slice(trials);
        serde_json::from_slice::<serde_json::Value>(&brainclip(d, &args).stdout).unwrap()
    };
    let all = attribute(&["--trials", "all"], "maps.npy");
    let maps = npy("maps.npy");
    assert_eq!(maps.shape, [50, 120]);
    assert_eq!(all["trials"].as_array().unwrap().len(), 50);
    // Row 7 is trial 7 explained alone, against its own label.
    let one = attribute(&["--trial", "7"], "map7.npy");
    let map7 = npy("map7.npy");
    assert_eq!(map7.shape, [120]);
    assert_eq!(one["trial"], 7);
    assert_eq!(&maps.values[7 * 120..8 * 120], map7.values.as_slice());
    assert_ne!(&maps.values[6 * 120..7 * 120], map7.values.as_slice());

    // Bad input: a file with the wrong voxel count is refused with both numbers.
    let wrong = Command::new(env!("CARGO_BIN_EXE_brainclip"))
        .current_dir(d)
        .args([
            "eval",
            "--bundle",
            "mapper",
            "--fmri",
            "novel_category_embeddings.npy",
            "--labels",
            "test_labels.json",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    let err: serde_json::Value = serde_json::from_slice(&wrong.stdout).unwrap();
    assert_eq!(err["error"]["code"], "voxel_count_mismatch");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("fMRI has 16 voxels; this model expects 120")
    );
}

/// `sim world` writes arrays, labels, captions and images that line up trial by trial and
/// read back through the same ingest as real data.
#[test]
fn simulated_world_is_written_like_real_data() {
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
            "2",
            "--voxels",
            "150",
            "--train-images",
            "2",
            "--test-repeats",
            "3",
        ],
    );
    let w = d.join("w");
    let json = |name: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(w.join(name)).unwrap()).unwrap()
    };
    let world = json("world.json");
    assert_eq!(world["simulated"], true);
    assert_eq!(world["subjects"].as_array().unwrap().len(), 2);
    let labels = json("train_labels.json");
    let captions = json("train_captions.json");
    let ids = json("train_stimulus_ids.json");
    assert_eq!(labels.as_array().unwrap().len(), 300);
    assert_eq!(captions.as_array().unwrap().len(), 300);
    for i in 0..300 {
        let label = labels[i].as_str().unwrap();
        assert_eq!(captions[i][0], format!("an image of a {label}."));
        assert!(captions[i][1].as_str().unwrap().contains(label));
        let id = ids[i].as_str().unwrap();
        assert!(
            id.starts_with(&format!("train-{}-", label.replace(' ', "-"))),
            "{id}"
        );
        assert!(
            w.join("stimuli").join(format!("{id}.png")).exists(),
            "{id}.png"
        );
    }
    let unique: std::collections::HashSet<_> = ids.as_array().unwrap().iter().collect();
    assert_eq!(unique.len(), 300);
    let novel = json("novel_categories.json");
    let test_labels = json("test_labels.json");
    assert_eq!(novel.as_array().unwrap().len(), 50);
    assert!(
        test_labels
            .as_array()
            .unwrap()
            .iter()
            .all(|l| novel.as_array().unwrap().contains(l))
    );
    for subject in ["sub-01", "sub-02"] {
        let options = brainclip::data::fmri::ReadOptions {
            expected_voxels: Some(150),
            ..Default::default()
        };
        let train =
            brainclip::data::read_fmri_path(&w.join(subject).join("train_fmri.npy"), &options)
                .unwrap();
        let test =
            brainclip::data::read_fmri_path(&w.join(subject).join("test_fmri.npy"), &options)
                .unwrap();
        assert_eq!((train.trials(), test.trials()), (300, 50));
    }
    assert!(!w.join("sub-03").exists());
    let image = std::fs::read(
        w.join("stimuli")
            .join(format!("{}.png", ids[0].as_str().unwrap())),
    )
    .unwrap();
    assert!(image.starts_with(b"\x89PNG"));
}

#[test]
fn a_world_without_voxels_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_brainclip"))
        .current_dir(dir.path())
        .args(["sim", "world", "--out", "w", "--voxels", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("invalid_config") && stderr.contains("at least 1 voxel"),
        "{stderr}"
    );
    assert!(!dir.path().join("w").exists(), "nothing is written");
}
