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
