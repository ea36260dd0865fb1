//! Model parity in the browser, on WebGPU and on the CPU backend, against the same reference
//! outputs the native tests use: CLIP against transformers, the mapper against PyTorch.
//! (One file: each browser test file is a separate wasm binary to build and load.)
#![cfg(target_family = "wasm")]

use brainclip::clip::tokenizer::{CONTEXT_LENGTH, tokenize_padded};
use brainclip::clip::{Clip, preprocess};
use brainclip::data::bundle::read_f32;
use brainclip::device::{BackendKind, BackendPreference, ComputeDevice, select_device};
use brainclip::mapper::{Mapper, MapperConfig};
use brainclip::tasks::max_abs_diff;
use burn::tensor::{Tensor, TensorData};
use safetensors::SafeTensors;
use wasm_bindgen_test::*;

struct Checkpoint {
    name: &'static str,
    config: &'static [u8],
    weights: &'static [u8],
    reference: &'static [u8],
    prompts: &'static str,
    tolerance: f32,
}

const CHECKPOINTS: [Checkpoint; 3] = [
    Checkpoint {
        name: "tiny_quick_gelu",
        config: include_bytes!("../fixtures/clip/tiny_quick_gelu/config.json"),
        weights: include_bytes!("../fixtures/clip/tiny_quick_gelu/model.safetensors"),
        reference: include_bytes!("../fixtures/clip/tiny_quick_gelu/reference.safetensors"),
        prompts: include_str!("../fixtures/clip/tiny_quick_gelu/prompts.json"),
        tolerance: 1e-4,
    },
    Checkpoint {
        name: "tiny_gelu",
        config: include_bytes!("../fixtures/clip/tiny_gelu/config.json"),
        weights: include_bytes!("../fixtures/clip/tiny_gelu/model.safetensors"),
        reference: include_bytes!("../fixtures/clip/tiny_gelu/reference.safetensors"),
        prompts: include_str!("../fixtures/clip/tiny_gelu/prompts.json"),
        tolerance: 1e-4,
    },
    Checkpoint {
        name: "tiny_gelu_fp16",
        config: include_bytes!("../fixtures/clip/tiny_gelu_fp16/config.json"),
        weights: include_bytes!("../fixtures/clip/tiny_gelu_fp16/model.safetensors"),
        reference: include_bytes!("../fixtures/clip/tiny_gelu/reference.safetensors"),
        prompts: include_str!("../fixtures/clip/tiny_gelu/prompts.json"),
        tolerance: 1e-2,
    },
];

fn reference(bytes: &[u8], key: &str) -> (Vec<f32>, Vec<usize>) {
    let shape = SafeTensors::deserialize(bytes)
        .unwrap()
        .tensor(key)
        .unwrap()
        .shape()
        .to_vec();
    (
        read_f32("reference.safetensors", bytes, key).unwrap(),
        shape,
    )
}

async fn check_backend(device: &ComputeDevice) {
    for checkpoint in &CHECKPOINTS {
        let clip = Clip::from_hf(
            checkpoint.config,
            checkpoint.weights.to_vec(),
            "model.safetensors",
            &device.device,
        )
        .unwrap();
        let prompts: serde_json::Value = serde_json::from_str(checkpoint.prompts).unwrap();
        let texts: Vec<String> = serde_json::from_value(prompts["prompts"].clone()).unwrap();
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let text = clip.text_features(&clip.tokenize(&texts)).unwrap();
        let text = device.read_f32(text).await.unwrap();
        let (pixels, shape) = reference(checkpoint.reference, "pixel_values");
        let pixels = Tensor::<4>::from_data(
            TensorData::new(pixels, [shape[0], shape[1], shape[2], shape[3]]),
            &device.device,
        );
        let image = device
            .read_f32(clip.image_features(pixels).unwrap())
            .await
            .unwrap();
        let text_diff = max_abs_diff(&text, &reference(checkpoint.reference, "text_features").0);
        let image_diff = max_abs_diff(&image, &reference(checkpoint.reference, "image_features").0);
        web_sys::console::log_1(
            &format!(
                "clip {} on {}: text features max abs diff {text_diff:.2e}, image {image_diff:.2e}",
                checkpoint.name, device.backend
            )
            .into(),
        );
        assert!(
            text_diff <= checkpoint.tolerance,
            "{} text on {}: {text_diff}",
            checkpoint.name,
            device.backend
        );
        assert!(
            image_diff <= checkpoint.tolerance,
            "{} image on {}: {image_diff}",
            checkpoint.name,
            device.backend
        );
    }
}

#[wasm_bindgen_test]
async fn clip_matches_transformers_on_webgpu() {
    let device = select_device(BackendPreference::WebGpu)
        .await
        .expect("WebGPU (see webdriver.json)");
    assert_eq!(device.backend, BackendKind::WebGpu);
    check_backend(&device).await;
}

#[wasm_bindgen_test]
async fn clip_matches_transformers_on_cpu() {
    let device = select_device(BackendPreference::Cpu).await.unwrap();
    check_backend(&device).await;
}

#[wasm_bindgen_test]
fn tokenizer_and_preprocessing_match_in_the_browser() {
    let corpus: Vec<serde_json::Value> =
        serde_json::from_str(include_str!("../fixtures/clip/tokenizer_corpus.json")).unwrap();
    for entry in &corpus {
        let text = entry["text"].as_str().unwrap();
        let want: Vec<u32> = serde_json::from_value(entry["ids"].clone()).unwrap();
        assert_eq!(
            tokenize_padded(&[text], CONTEXT_LENGTH)[0],
            want,
            "{text:?}"
        );
    }
    let png = include_bytes!("../fixtures/clip/preprocess/rgba_300x300.png");
    let reference_bytes = include_bytes!("../fixtures/clip/preprocess/reference.safetensors");
    let got = preprocess::from_encoded(png, "rgba_300x300.png", 64).unwrap();
    let want = read_f32(
        "reference.safetensors",
        reference_bytes,
        "rgba_300x300.png@64",
    )
    .unwrap();
    assert!(max_abs_diff(&got, &want) <= 1e-2);
}

#[path = "../common/mapper_fixtures.rs"]
mod mapper_fixtures;

async fn check_mappers(device: &ComputeDevice) {
    for (name, config, weights, io) in mapper_fixtures::MAPPERS {
        let config: MapperConfig = serde_json::from_slice(config).unwrap();
        let voxels = config.voxels;
        let mapper = Mapper::from_safetensors(
            config,
            weights.to_vec(),
            "mapper.safetensors",
            &device.device,
        )
        .unwrap();
        let read = |key: &str| read_f32("io.safetensors", io, key).unwrap();
        let out = mapper.embed(device, &read("input"), voxels).await.unwrap();
        let image_diff = max_abs_diff(out.image.values(), &read("image"));
        let text_diff = max_abs_diff(out.text.values(), &read("text"));
        web_sys::console::log_1(
            &format!(
                "mapper {name} on {}: max abs diff vs PyTorch: image {image_diff:.2e}, text {text_diff:.2e}",
                device.backend
            )
            .into(),
        );
        assert!(
            image_diff <= 1e-4,
            "{name} image on {}: {image_diff}",
            device.backend
        );
        assert!(
            text_diff <= 1e-4,
            "{name} text on {}: {text_diff}",
            device.backend
        );
    }
}

#[wasm_bindgen_test]
async fn mapper_matches_pytorch_on_webgpu() {
    let device = select_device(BackendPreference::WebGpu)
        .await
        .expect("WebGPU (see webdriver.json)");
    assert_eq!(device.backend, BackendKind::WebGpu);
    check_mappers(&device).await;
}

#[wasm_bindgen_test]
async fn mapper_matches_pytorch_on_cpu() {
    let device = select_device(BackendPreference::Cpu).await.unwrap();
    check_mappers(&device).await;
}

#[path = "../common/decoder_bundle.rs"]
mod decoder_bundle;

/// The decoding pipeline (bundle → Decoder → category decoding and retrieval) in the browser:
/// WebGPU and CPU rank the same and agree on probabilities.
#[wasm_bindgen_test]
async fn decoding_agrees_between_webgpu_and_cpu() {
    use brainclip::tasks::{Decoder, Space};
    let fmri = decoder_bundle::fmri(6, decoder_bundle::VOXELS);
    let labels = decoder_bundle::labels();
    let mut results = Vec::new();
    for preference in [BackendPreference::WebGpu, BackendPreference::Cpu] {
        let device = select_device(preference).await.unwrap();
        let backend = device.backend;
        let decoder = Decoder::from_bundle(&decoder_bundle::bundle(true), device).unwrap();
        let ranked = decoder
            .decode_categories(&fmri, &labels, &[], 0)
            .await
            .unwrap();
        let images = decoder.embed(&fmri).await.unwrap().image;
        let retrieved = decoder
            .retrieve(&fmri, &images, Space::Image, 1)
            .await
            .unwrap();
        // Each trial's own predicted embedding is its best match.
        for (trial, r) in retrieved.iter().enumerate() {
            assert_eq!(r[0].index, trial);
        }
        results.push((backend, ranked));
    }
    assert_eq!(results[0].0, BackendKind::WebGpu);
    let (gpu, cpu) = (&results[0].1, &results[1].1);
    let mut max_diff = 0f32;
    for (g, c) in gpu.iter().zip(cpu) {
        for (a, b) in g.iter().zip(c) {
            assert_eq!(a.index, b.index, "rankings differ between backends");
            max_diff = max_diff.max((a.probability - b.probability).abs());
        }
    }
    web_sys::console::log_1(
        &format!("decoding webgpu vs cpu: max abs diff of label probabilities {max_diff:.2e}")
            .into(),
    );
    assert!(max_diff <= 1e-4, "{max_diff}");
}

#[path = "../common/taesd_fixtures.rs"]
mod taesd_fixtures;

async fn check_autoencoders(device: &ComputeDevice) {
    for (name, what, diff) in taesd_fixtures::parity(device).await {
        web_sys::console::log_1(
            &format!(
                "taesd {name} {what} on {}: scaled max diff {diff:.2e}",
                device.backend
            )
            .into(),
        );
        assert!(
            diff <= taesd_fixtures::TOLERANCE,
            "taesd {name} {what} on {}: {diff}",
            device.backend
        );
    }
}

#[wasm_bindgen_test]
async fn autoencoder_matches_diffusers_on_webgpu() {
    let device = select_device(BackendPreference::WebGpu)
        .await
        .expect("WebGPU (see webdriver.json)");
    check_autoencoders(&device).await;
}

#[wasm_bindgen_test]
async fn autoencoder_matches_diffusers_on_cpu() {
    let device = select_device(BackendPreference::Cpu).await.unwrap();
    check_autoencoders(&device).await;
}

/// The same reconstruction on WebGPU and on the CPU backend: same noise (drawn on the host),
/// pixels within a few levels, a preview after every step.
#[wasm_bindgen_test]
async fn reconstruction_agrees_between_webgpu_and_cpu() {
    use brainclip::tasks::{Decoder, ReconstructRequest};
    let bundle = decoder_bundle::bundle_with_decoder();
    let fmri = decoder_bundle::fmri(3, decoder_bundle::VOXELS);
    let request = ReconstructRequest {
        trials: vec![0, 2],
        steps: Some(4),
        seed: 7,
        ..Default::default()
    };
    let mut results = Vec::new();
    for preference in [BackendPreference::WebGpu, BackendPreference::Cpu] {
        let device = select_device(preference).await.unwrap();
        let backend = device.backend;
        let decoder = Decoder::from_bundle(&bundle, device).unwrap();
        let mut steps_seen = Vec::new();
        let started = js_sys::Date::now();
        let result = decoder
            .reconstruct(
                &fmri,
                &request,
                Some(&mut |step, _, images| {
                    assert_eq!(images.len(), 2);
                    steps_seen.push(step);
                }),
            )
            .await
            .unwrap();
        web_sys::console::log_1(
            &format!(
                "reconstruction of 2 trials, 4 steps, on {backend}: {:.0} ms",
                js_sys::Date::now() - started
            )
            .into(),
        );
        assert_eq!(steps_seen, vec![1, 2, 3, 4]);
        assert_eq!(result.images[0].len(), 64 * 64 * 4);
        results.push(result.images);
    }
    let largest = results[0]
        .iter()
        .flatten()
        .zip(results[1].iter().flatten())
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap();
    web_sys::console::log_1(
        &format!("reconstruction WebGPU vs CPU: largest pixel difference {largest} of 255").into(),
    );
    assert!(largest <= 2, "{largest} levels apart");
}

/// Prints how long a 4-step reconstruction of one trial takes in the browser at the world's
/// size (random weights: the time does not depend on them), natively measured by
/// `brainclip bench reconstruct`. A printed number, not a timed assertion.
#[wasm_bindgen_test]
async fn reconstruction_speed_at_world_size_is_printed() {
    use brainclip::diffusion::{
        Autoencoder, DenoiserConfig, DenoiserModel, FlowSampler, SamplerSettings,
    };
    for preference in [BackendPreference::Cpu, BackendPreference::WebGpu] {
        let device = select_device(preference).await.unwrap();
        let d = &device.device;
        let config = brainclip::diffusion::AutoencoderTinyConfig::world();
        let model = brainclip::device::init_seeded(d, Some(1), || {
            brainclip::diffusion::autoencoder::AutoencoderTinyModel::new(&config, d)
        });
        let autoencoder = Autoencoder { config, model };
        let denoiser = brainclip::device::init_seeded(d, Some(2), || {
            DenoiserModel::new(&DenoiserConfig::world(4, 8, 64), d)
        });
        let condition = Tensor::<2>::zeros([1, 64], d);
        let settings = SamplerSettings {
            steps: 4,
            guidance: 1.0,
            strength: 1.0,
            seed: 0,
        };
        let mut times = Vec::new();
        // The first run compiles kernels (WebGPU); the second is what a user waits for again.
        for _ in 0..2 {
            let started = js_sys::Date::now();
            let mut sampler =
                FlowSampler::new(&denoiser, condition.clone(), None, &[0], &settings).unwrap();
            while let Some(estimate) = sampler.step() {
                device
                    .read_f32(autoencoder.decode(estimate).unwrap())
                    .await
                    .unwrap();
            }
            times.push(js_sys::Date::now() - started);
        }
        web_sys::console::log_1(
            &format!(
                "reconstruction at 64×64, 4 steps with a decoded preview each, one trial, on {}: first {:.0} ms, then {:.0} ms",
                device.backend, times[0], times[1]
            )
            .into(),
        );
    }
}
