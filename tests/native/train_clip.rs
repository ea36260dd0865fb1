//! CLIP pretraining and Hugging Face export: the trainer learns, resumes exactly, and what
//! it writes loads back as the same model.
#![cfg(not(target_family = "wasm"))]

use brainclip::clip::{Clip, ClipConfig};
use brainclip::data::bundle::StoredDtype;
use brainclip::device::ComputeDevice;
use brainclip::train::clip::{
    ClipEpochReport, ClipTrainConfig, ClipTrainingData, WorldImages, train_clip,
};

/// The tiny preset with a smaller vision input keeps these tests fast.
fn small_config() -> ClipConfig {
    let mut config = ClipConfig::tiny();
    config.vision.image_size = 32;
    config
}

fn features(clip: &Clip, device: &ComputeDevice, images: &[Vec<f32>]) -> (Vec<f32>, Vec<f32>) {
    let texts =
        pollster::block_on(clip.embed_text(device, &["an image of a red star.", "a blue ring"]))
            .unwrap();
    let images = pollster::block_on(clip.embed_images(device, images)).unwrap();
    (texts.into_values(), images.into_values())
}

#[test]
fn exported_weights_load_back_as_the_same_model() {
    let device = ComputeDevice::cpu(None);
    let clip = Clip::new(small_config(), &device.device).unwrap();
    let data = ClipTrainingData::from_world(&WorldImages::new(0, 2, 1, 32)).unwrap();
    let (texts, images) = features(&clip, &device, &data.images);
    let config = serde_json::to_vec(&clip.config.to_hf_json()).unwrap();
    for (dtype, tolerance) in [(StoredDtype::F32, 0.0), (StoredDtype::F16, 2e-2)] {
        let bytes = clip.to_hf_safetensors(dtype).unwrap();
        let loaded =
            Clip::from_hf(&config, bytes.clone(), "model.safetensors", &device.device).unwrap();
        assert_eq!(loaded.config, clip.config);
        assert!((loaded.logit_scale - clip.logit_scale).abs() <= clip.logit_scale * 1e-3);
        let (loaded_texts, loaded_images) = features(&loaded, &device, &data.images);
        for (a, b) in texts
            .iter()
            .zip(&loaded_texts)
            .chain(images.iter().zip(&loaded_images))
        {
            assert!((a - b).abs() <= tolerance, "{dtype:?}: {a} vs {b}");
        }
        // Byte-reproducible: the same weights always give the same file.
        assert_eq!(clip.to_hf_safetensors(dtype).unwrap(), bytes);
    }
    let json = clip.config.to_hf_json();
    assert_eq!(json["model_type"], "clip");
    assert_eq!(json["text_config"]["hidden_act"], "quick_gelu");
}

fn train_config(epochs: usize) -> ClipTrainConfig {
    ClipTrainConfig {
        epochs,
        batch_size: 16,
        learning_rate: 1e-2,
        holdout_every: 4,
        seed: 3,
        ..ClipTrainConfig::default()
    }
}

#[test]
fn training_lowers_the_contrastive_loss_and_resumes_exactly() {
    let data = ClipTrainingData::from_world(&WorldImages::new(0, 8, 8, 32)).unwrap();
    assert_eq!(data.images.len(), 64);
    assert_eq!(data.class_prompts[7], "an image of a pink circle.");
    let config = small_config();
    let run = |epochs: usize, dir: Option<&std::path::Path>, resume: bool, stop_after: usize| {
        let mut seen = 0;
        train_clip(
            &config,
            &data,
            &train_config(epochs),
            dir,
            resume,
            &mut |_: &ClipEpochReport| {
                seen += 1;
                seen < stop_after
            },
            &mut |_, _| {},
        )
        .unwrap()
    };
    let full = run(12, None, false, usize::MAX);
    let losses: Vec<f64> = full.history.iter().map(|r| r.loss).collect();
    assert!(
        losses[11] < losses[0] * 0.85,
        "loss did not fall: {losses:?}"
    );
    assert!(full.history.iter().all(|r| r.chance == 1.0 / 8.0));

    let dir = tempfile::tempdir().unwrap();
    let interrupted = run(12, Some(dir.path()), false, 2);
    assert_eq!(interrupted.history.len(), 2);
    let resumed = run(12, Some(dir.path()), true, usize::MAX);
    assert_eq!(resumed.history.len(), 12);
    for (a, b) in resumed.history.iter().zip(&full.history) {
        assert_eq!(
            (a.loss, a.zero_shot_top1),
            (b.loss, b.zero_shot_top1),
            "epoch {}",
            a.epoch
        );
    }
    // Other settings refuse to resume this checkpoint.
    let err = train_clip(
        &config,
        &data,
        &train_config(13),
        Some(dir.path()),
        true,
        &mut |_| true,
        &mut |_, _| {},
    )
    .err()
    .unwrap();
    assert_eq!(err.code(), "invalid_config");
    assert!(err.to_string().contains("different settings"), "{err}");
}

#[test]
fn inconsistent_training_data_is_refused() {
    let mut data = ClipTrainingData::from_world(&WorldImages::new(0, 2, 2, 32)).unwrap();
    data.captions.pop();
    let err = train_clip(
        &small_config(),
        &data,
        &train_config(1),
        None,
        false,
        &mut |_| true,
        &mut |_, _| {},
    )
    .err()
    .unwrap();
    assert!(
        err.to_string().contains("4 images but 3 caption lists"),
        "{err}"
    );
}
