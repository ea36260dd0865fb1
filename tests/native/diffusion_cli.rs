//! The reconstruction decoder's training commands, end to end at toy sizes: train-autoencoder
//! → train-denoiser → distill (two rounds), and resuming a finished distillation.
#![cfg(not(target_family = "wasm"))]

use std::path::Path;

fn brainclip(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_brainclip"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(output: std::process::Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A one-subject copy of a bundle (its default subject) without its image decoder
/// (autoencoder, denoiser, low-level head).
fn copy_without_decoder(from: &Path, to: &Path) {
    brainclip::data::bundle::Bundle::load_dir(from)
        .unwrap()
        .write_dir(to)
        .unwrap();
    let mut kept: serde_json::Value =
        serde_json::from_slice(&std::fs::read(to.join("manifest.json")).unwrap()).unwrap();
    kept["components"].as_object_mut().unwrap().retain(|_, c| {
        let decoder =
            ["autoencoder", "denoiser", "low_level"].contains(&c["kind"].as_str().unwrap());
        if decoder {
            std::fs::remove_file(to.join(c["weights"].as_str().unwrap())).unwrap();
        }
        !decoder
    });
    std::fs::write(
        to.join("manifest.json"),
        serde_json::to_vec_pretty(&kept).unwrap(),
    )
    .unwrap();
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn autoencoder_denoiser_and_students_train_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ae-config.json");
    std::fs::write(
        &config,
        r#"{"encoder_block_out_channels": [4, 4, 4, 4], "decoder_block_out_channels": [4, 4, 4, 4],
            "num_encoder_blocks": [1, 1, 1, 1], "num_decoder_blocks": [1, 1, 1, 1]}"#,
    )
    .unwrap();
    let ae = dir.path().join("ae");
    ok(brainclip(&[
        "train-autoencoder",
        "--out",
        path(&ae),
        "--config",
        path(&config),
        "--epochs",
        "1",
        "--images-per-epoch",
        "8",
        "--batch-size",
        "4",
        "--validation-images",
        "4",
    ]));
    for file in [
        "config.json",
        "diffusion_pytorch_model.safetensors",
        "history.json",
    ] {
        assert!(ae.join(file).exists(), "{file}");
    }
    // What train-autoencoder writes is a diffusers directory that forward reads.
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ae.join("config.json")).unwrap()).unwrap();
    assert_eq!(written["_class_name"], "AutoencoderTiny");
    assert_ne!(
        written["scaling_factor"], 1.0,
        "set from the latents' spread"
    );

    let clip = Path::new(env!("CARGO_MANIFEST_DIR")).join("www/models/demo");
    let data_args = |args: &mut Vec<String>| {
        for a in [
            "--autoencoder",
            path(&ae),
            "--clip",
            path(&clip),
            "--images",
            "16",
            "--epochs",
            "1",
            "--batch-size",
            "8",
        ] {
            args.push(a.to_string());
        }
    };
    let teacher = dir.path().join("teacher");
    let mut args: Vec<String> = ["train-denoiser", "--out", path(&teacher)]
        .map(String::from)
        .to_vec();
    data_args(&mut args);
    args.extend(["--hidden-size", "16", "--depth", "1", "--guidance", "3"].map(String::from));
    ok(brainclip(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    let schedule: serde_json::Value =
        serde_json::from_slice(&std::fs::read(teacher.join("schedule.json")).unwrap()).unwrap();
    assert_eq!(schedule["guidance"], 3.0);

    let students = dir.path().join("students");
    let mut args: Vec<String> = [
        "distill",
        "--teacher",
        path(&teacher),
        "--out",
        path(&students),
        "--teacher-steps",
        "4",
        "--steps",
        "1",
    ]
    .map(String::from)
    .to_vec();
    data_args(&mut args);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(brainclip(&refs));
    for steps in [2, 1] {
        let schedule: serde_json::Value = serde_json::from_slice(
            &std::fs::read(students.join(format!("steps-{steps}/schedule.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(schedule["steps"], serde_json::json!([steps]));
        assert_eq!(schedule["guidance"], 1.0, "baked in");
    }
    // Resuming skips the finished rounds.
    let mut resumed = refs.clone();
    resumed.push("--resume");
    let output = brainclip(&resumed);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    ok(output);
    assert!(stderr.contains("2 steps: already distilled"), "{stderr}");

    // The 1-step student and the autoencoder join a copy of the demo bundle (whose mapper
    // predicts embeddings of the CLIP the denoiser was conditioned on), its own decoder
    // left out.
    let plain = dir.path().join("plain");
    copy_without_decoder(&clip, &plain);
    let bundle = dir.path().join("bundle");
    copy_without_decoder(&clip, &bundle);
    ok(brainclip(&[
        "add-decoder",
        "--bundle",
        path(&bundle),
        "--autoencoder",
        path(&ae),
        "--denoiser",
        path(&students.join("steps-1")),
        "--f16",
    ]));
    let fmri = Path::new(env!("CARGO_MANIFEST_DIR")).join("www/samples/sub-01-test-fmri.npy");
    let grid = dir.path().join("grid.png");
    let run = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "reconstruct",
            "--bundle",
            path(&bundle),
            "--fmri",
            path(&fmri),
            "--out",
            path(out),
        ];
        args.extend_from_slice(extra);
        ok(brainclip(&args))
    };
    run(
        &grid,
        &[
            "--trial",
            "0",
            "--trial",
            "7",
            "--trial",
            "12",
            "--steps",
            "2",
            "--previews",
        ],
    );
    let image = image::open(&grid).unwrap();
    // Three 64-pixel images in a row with 2-pixel gaps.
    assert_eq!(
        (image.width(), image.height()),
        (3 * 64 + 4 * 2, 64 + 2 * 2)
    );
    assert!(
        dir.path().join("grid-step-1.png").exists(),
        "a preview per step"
    );
    let again = dir.path().join("again.png");
    run(
        &again,
        &[
            "--trial", "0", "--trial", "7", "--trial", "12", "--steps", "2",
        ],
    );
    assert_eq!(
        std::fs::read(&grid).unwrap(),
        std::fs::read(&again).unwrap(),
        "the same seed draws the same images"
    );
    let reseeded = dir.path().join("reseeded.png");
    run(
        &reseeded,
        &[
            "--trial", "0", "--trial", "7", "--trial", "12", "--steps", "2", "--seed", "1",
        ],
    );
    assert_ne!(
        std::fs::read(&grid).unwrap(),
        std::fs::read(&reseeded).unwrap()
    );

    // The library call behind it: a preview after every step, the last one the result, and a
    // trial's image independent of the others requested with it.
    use brainclip::data::bundle::Bundle;
    use brainclip::tasks::{Decoder, ReconstructRequest};
    let decoder = Decoder::from_bundle(
        &Bundle::load_dir(&bundle).unwrap(),
        brainclip::device::ComputeDevice::cpu(None),
    )
    .unwrap();
    let batch = brainclip::data::read_fmri_path(&fmri, &Default::default()).unwrap();
    let request = ReconstructRequest {
        trials: vec![3, 5],
        steps: Some(3),
        ..Default::default()
    };
    let mut previews = Vec::new();
    let result = pollster::block_on(decoder.reconstruct(
        &batch,
        &request,
        Some(&mut |step, steps, images| {
            assert_eq!(steps, 3);
            previews.push((step, images.to_vec()));
        }),
    ))
    .unwrap();
    assert_eq!(
        previews.iter().map(|p| p.0).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(previews[2].1, result.images);
    assert_eq!(result.images.len(), 2);
    assert_eq!(result.images[0].len(), 64 * 64 * 4);
    let alone = pollster::block_on(decoder.reconstruct(
        &batch,
        &ReconstructRequest {
            trials: vec![5],
            ..request.clone()
        },
        None,
    ))
    .unwrap();
    let differing = alone.images[0]
        .iter()
        .zip(&result.images[1])
        .filter(|(a, b)| a != b)
        .count();
    // Exact: the toy decoder's images vary little with the noise, so even a trial drawn with
    // another trial's noise differs in only a few hundred bytes (checked: 319).
    assert_eq!(differing, 0, "trial 5 alone vs beside trial 3");
    let err = pollster::block_on(decoder.reconstruct(
        &batch,
        &ReconstructRequest {
            trials: vec![50],
            ..request
        },
        None,
    ))
    .unwrap_err();
    assert!(err.to_string().contains("0 to 49"), "{err}");

    // img2img needs a low-level head; train-low-level fits one (ridge, penalty chosen on
    // held-out stimuli) and then both the blurry path and strength < 1 work.
    let output = brainclip(&[
        "reconstruct",
        "--bundle",
        path(&bundle),
        "--fmri",
        path(&fmri),
        "--out",
        path(&dir.path().join("img2img.png")),
        "--strength",
        "0.5",
    ]);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("no low-level head"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("www/samples");
    let fit_head = |strength: &str| {
        brainclip(&[
            "train-low-level",
            "--bundle",
            path(&bundle),
            "--fmri",
            path(&fmri),
            "--stimuli",
            path(&samples.join("stimuli")),
            "--stimulus-ids",
            path(&samples.join("test-stimulus-ids.json")),
            "--strength",
            strength,
        ])
    };
    let manifest = || std::fs::read_to_string(bundle.join("manifest.json")).unwrap();
    let before = manifest();
    let output = fit_head("1.5");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success());
    assert!(
        report.contains("strength 1.5 must be in (0, 1]"),
        "{report}"
    );
    assert_eq!(
        manifest(),
        before,
        "a refused head leaves the bundle as it was"
    );
    // Strength 1 (from noise) keeps the default behaviour the checks below rely on.
    let fit: serde_json::Value = serde_json::from_str(&ok(fit_head("1"))).unwrap();
    let written: serde_json::Value = serde_json::from_str(&manifest()).unwrap();
    assert_eq!(
        written["components"]["low_level"]["config"]["strength"],
        1.0
    );
    assert_eq!(fit["held_out_trials"], 10, "every 5th of 50 stimuli");
    assert_eq!(fit["lambda_scores"].as_array().unwrap().len(), 9);
    let blurry = dir.path().join("blurry.png");
    run(&blurry, &["--low-level", "--trial", "0", "--trial", "1"]);
    assert_eq!(image::open(&blurry).unwrap().width(), 2 * 64 + 3 * 2);
    run(
        &dir.path().join("img2img.png"),
        &["--strength", "0.5", "--trial", "0", "--steps", "2"],
    );

    // eval --reconstruct scores the reconstructions against the seen images, drawn from
    // fMRI, from the seen images' own CLIP embeddings, by the low-level head alone, or as the
    // seen images through the autoencoder.
    let embeddings = dir.path().join("seen.npy");
    ok(brainclip(&[
        "embed-images",
        "--clip",
        path(&bundle),
        "--ids",
        path(&samples.join("test-stimulus-ids.json")),
        "--dir",
        path(&samples.join("stimuli")),
        "--out",
        path(&embeddings),
    ]));
    let evaluate = |from: &str| {
        brainclip(&[
            "eval",
            "--bundle",
            path(&bundle),
            "--fmri",
            path(&fmri),
            "--labels",
            path(&samples.join("test-labels.json")),
            "--reconstruct",
            "--reconstruct-from",
            from,
            "--image-embeddings",
            path(&embeddings),
            "--stimuli",
            path(&samples.join("stimuli")),
            "--stimulus-ids",
            path(&samples.join("test-stimulus-ids.json")),
            "--steps",
            "1",
            "--json",
        ])
    };
    let mut pixcorr = Vec::new();
    for from in ["fmri", "seen", "low-level", "autoencoder"] {
        let evaluation: serde_json::Value = serde_json::from_str(&ok(evaluate(from))).unwrap();
        let metrics = evaluation["reconstruction"].as_array().unwrap();
        let ids: Vec<&str> = metrics.iter().map(|m| m["id"].as_str().unwrap()).collect();
        assert_eq!(
            ids,
            [
                "pixcorr",
                "ssim",
                "clip_two_way",
                "depicted_category",
                "depicted_colour",
                "depicted_shape",
                "latent_two_way"
            ],
            "{from}"
        );
        for m in metrics {
            assert_eq!(m["trials"], 50);
            let (value, chance) = (m["value"].as_f64().unwrap(), m["chance"].as_f64().unwrap());
            assert!(value.is_finite() && chance.is_finite(), "{m}");
        }
        assert_eq!(metrics[2]["chance"], 0.5);
        assert_eq!(
            metrics[3]["chance"],
            1.0 / 50.0,
            "50 distinct test categories"
        );
        pixcorr.push(metrics[0]["value"].as_f64().unwrap());
    }
    // The toy denoiser barely heeds its condition (fMRI and seen embeddings draw the same
    // bytes; the library test checks the seen path row by row), but the low-level path is
    // another image altogether.
    assert_ne!(pixcorr[0], pixcorr[2], "low-level vs sampled: {pixcorr:?}");

    let output = brainclip(&[
        "reconstruct",
        "--bundle",
        path(&plain),
        "--fmri",
        path(&fmri),
        "--out",
        path(&dir.path().join("none.png")),
    ]);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("no image decoder"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // Step counts that halving cannot reach are refused before any work.
    let mut bad = refs.clone();
    let at = bad.iter().position(|a| *a == "--teacher-steps").unwrap();
    bad[at + 1] = "6";
    bad[at + 3] = "4";
    let output = brainclip(&bad);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("power of two"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
