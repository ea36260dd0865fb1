//! CLIP parity with Hugging Face transformers and open_clip, on the random-weight
//! checkpoints and reference outputs written by `tools/reference/clip_fixtures.py`.
#![cfg(not(target_family = "wasm"))]

use std::path::{Path, PathBuf};

use brainclip::clip::tokenizer::{CONTEXT_LENGTH, tokenize_padded};
use brainclip::clip::{Clip, TokenBatch, preprocess};
use brainclip::data::bundle::read_f32;
use brainclip::device::{BackendPreference, ComputeDevice, select_device};
use brainclip::tasks::max_abs_diff;
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::SafeTensors;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/clip")
}

fn cpu() -> ComputeDevice {
    pollster::block_on(select_device(BackendPreference::Cpu)).unwrap()
}

/// A reference tensor and its shape.
fn reference(model: &str, key: &str) -> (Vec<f32>, Vec<usize>) {
    let bytes = std::fs::read(fixtures().join(model).join("reference.safetensors")).unwrap();
    let shape = SafeTensors::deserialize(&bytes)
        .unwrap()
        .tensor(key)
        .unwrap()
        .shape()
        .to_vec();
    (
        read_f32("reference.safetensors", &bytes, key).unwrap(),
        shape,
    )
}

fn prompts(model: &str) -> (Vec<String>, Vec<Vec<u32>>) {
    let json: Value = serde_json::from_slice(
        &std::fs::read(fixtures().join(model).join("prompts.json")).unwrap(),
    )
    .unwrap();
    (
        serde_json::from_value(json["prompts"].clone()).unwrap(),
        serde_json::from_value(json["input_ids"].clone()).unwrap(),
    )
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec().unwrap()
}

fn pixels(model: &str, device: &Device) -> Tensor<4> {
    let (data, shape) = reference(model, "pixel_values");
    Tensor::from_data(
        TensorData::new(data, [shape[0], shape[1], shape[2], shape[3]]),
        device,
    )
}

#[test]
fn tokenizer_matches_open_clip_on_the_corpus() {
    let corpus: Vec<Value> =
        serde_json::from_slice(&std::fs::read(fixtures().join("tokenizer_corpus.json")).unwrap())
            .unwrap();
    assert!(corpus.len() >= 300, "corpus has {} strings", corpus.len());
    let mut mismatches = Vec::new();
    for entry in &corpus {
        let text = entry["text"].as_str().unwrap();
        let want: Vec<u32> = serde_json::from_value(entry["ids"].clone()).unwrap();
        let got = tokenize_padded(&[text], CONTEXT_LENGTH).remove(0);
        if got != want {
            mismatches.push(format!(
                "{text:?}: got {:?}…, open_clip {:?}…",
                &got[..8],
                &want[..8]
            ));
        }
    }
    println!(
        "tokenizer: {} / {} strings identical to open_clip",
        corpus.len() - mismatches.len(),
        corpus.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

fn check_model(model: &str, checkpoint: &str, tolerance: f32) {
    let device = Device::flex();
    let clip = Clip::from_hf_dir(&fixtures().join(checkpoint), &device).unwrap();
    let (texts, ids) = prompts(model);
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    // Our tokenizer gives open_clip's ids, and the batch is cut to the longest prompt.
    let tokens = clip.tokenize(&texts);
    for (row, want) in ids.iter().enumerate() {
        let got = &tokens.ids[row * tokens.seq..(row + 1) * tokens.seq];
        assert_eq!(got, &want[..tokens.seq], "{model}: ids of prompt {row}");
    }
    let (want, _) = reference(model, "text_features");
    let got = values(clip.text_features(&tokens).unwrap());
    let text_diff = max_abs_diff(&got, &want);
    let (want, _) = reference(model, "image_features");
    let got = values(clip.image_features(pixels(model, &device)).unwrap());
    let image_diff = max_abs_diff(&got, &want);
    println!(
        "{checkpoint}: text features max abs diff {text_diff:.2e}, image features {image_diff:.2e}"
    );
    assert!(text_diff <= tolerance, "{checkpoint} text: {text_diff}");
    assert!(image_diff <= tolerance, "{checkpoint} image: {image_diff}");
}

#[test]
fn quick_gelu_checkpoint_matches_transformers() {
    check_model("tiny_quick_gelu", "tiny_quick_gelu", 1e-4);
}

#[test]
fn gelu_checkpoint_with_legacy_eos_matches_transformers() {
    check_model("tiny_gelu", "tiny_gelu", 1e-4);
}

#[test]
fn fp16_checkpoint_loads_and_matches_within_half_precision() {
    check_model("tiny_gelu", "tiny_gelu_fp16", 1e-2);
}

#[test]
fn layer_zero_states_match_for_debugging() {
    let device = Device::flex();
    for model in ["tiny_quick_gelu", "tiny_gelu"] {
        let clip = Clip::from_hf_dir(&fixtures().join(model), &device).unwrap();
        let (_, ids) = prompts(model);
        // The reference ran on the full 77-long padded rows.
        let tokens = TokenBatch::from_rows(&ids[..2], clip.config.text.eos_token_id);
        let text = &clip.model.text_model;
        for (layers, key) in [(0, "text_embeddings"), (1, "text_layer0")] {
            let (want, _) = reference(model, key);
            let diff = max_abs_diff(&values(text.hidden_states(&tokens, layers)), &want);
            assert!(diff <= 1e-4, "{model} {key}: {diff}");
        }
        let vision = &clip.model.vision_model;
        for (layers, key) in [(0, "vision_embeddings"), (1, "vision_layer0")] {
            let (want, _) = reference(model, key);
            let pixels = pixels(model, &device).narrow(0, 0, 1);
            let diff = max_abs_diff(&values(vision.hidden_states(pixels, layers)), &want);
            assert!(diff <= 1e-4, "{model} {key}: {diff}");
        }
    }
}

#[test]
fn normalised_embeddings_are_unit_length_and_batched_like_single_calls() {
    let device = cpu();
    let clip = Clip::from_hf_dir(&fixtures().join("tiny_quick_gelu"), &device.device).unwrap();
    let texts = [
        "an image of a goldfish.",
        "a",
        "The quick brown fox jumps over the lazy dog",
    ];
    let all = pollster::block_on(clip.embed_text(&device, &texts)).unwrap();
    for (i, text) in texts.iter().enumerate() {
        let one = pollster::block_on(clip.embed_text(&device, &[text])).unwrap();
        assert!(max_abs_diff(one.row(0), all.row(i)) <= 1e-5, "{text}");
        let norm: f32 = all.row(i).iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
    }
}

/// Rewrites model.safetensors with one tensor dropped or reshaped.
fn tampered(drop_key: Option<&str>, reshape_key: Option<&str>) -> Vec<u8> {
    let bytes = std::fs::read(fixtures().join("tiny_gelu/model.safetensors")).unwrap();
    let tensors = SafeTensors::deserialize(&bytes).unwrap();
    let mut kept: Vec<(String, safetensors::tensor::TensorView)> = Vec::new();
    for (name, view) in tensors.tensors() {
        if Some(name.as_str()) == drop_key {
            continue;
        }
        if Some(name.as_str()) == reshape_key {
            let mut shape = view.shape().to_vec();
            shape[0] /= 2;
            let row_bytes = view.data().len() / view.shape()[0];
            let data = &view.data()[..shape[0] * row_bytes];
            kept.push((
                name,
                safetensors::tensor::TensorView::new(view.dtype(), shape, data).unwrap(),
            ));
        } else {
            kept.push((name, view));
        }
    }
    safetensors::serialize(kept, None).unwrap()
}

#[test]
fn missing_or_misshapen_tensors_are_named() {
    let config = std::fs::read(fixtures().join("tiny_gelu/config.json")).unwrap();
    let device = Device::flex();
    let key = "vision_model.encoder.layers.0.mlp.fc1.weight";
    let err = Clip::from_hf(
        &config,
        tampered(Some(key), None),
        "model.safetensors",
        &device,
    )
    .unwrap_err();
    assert_eq!(err.code(), "bundle_tensor");
    assert!(err.to_string().contains(key), "{err}");

    let key = "text_model.embeddings.position_embedding.weight";
    let err = Clip::from_hf(
        &config,
        tampered(None, Some(key)),
        "model.safetensors",
        &device,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains(key)
            && err
                .to_string()
                .contains("has shape 38 × 8, expected 77 × 8"),
        "{err}"
    );

    let err = Clip::from_hf(
        &config,
        tampered(Some("logit_scale"), None),
        "model.safetensors",
        &device,
    )
    .unwrap_err();
    assert!(err.to_string().contains("logit_scale"), "{err}");
}

#[test]
fn preprocessing_matches_clip_image_processor() {
    let dir = fixtures().join("preprocess");
    let bytes = std::fs::read(dir.join("reference.safetensors")).unwrap();
    let tensors = SafeTensors::deserialize(&bytes).unwrap();
    let mut worst = 0f32;
    for (key, _) in tensors.tensors() {
        let (name, size) = key.split_once('@').unwrap();
        let size: usize = size.parse().unwrap();
        let png = std::fs::read(dir.join(name)).unwrap();
        let got = preprocess::from_encoded(&png, name, size).unwrap();
        let want = read_f32("reference.safetensors", &bytes, &key).unwrap();
        let diff = max_abs_diff(&got, &want);
        println!("preprocess {key}: max abs diff {diff:.4}");
        worst = worst.max(diff);
    }
    assert!(worst <= 1e-2, "max abs diff {worst}");
}
