//! A small complete bundle (a mapper with fixed pseudo-random weights and the tiny CLIP
//! fixture) and an fMRI batch for it, shared by the native and the browser decoder tests.
// Each test binary that includes this uses only some of it.
#![allow(dead_code)]

use std::collections::BTreeMap;

use brainclip::data::bundle::{Bundle, Manifest};
use brainclip::data::{FmriBatch, FmriSource, SourceFormat};
use brainclip::mapper::{Mapper, MapperConfig, MapperModel, MapperVariant};

pub const VOXELS: usize = 40;
pub const LABELS: [&str; 6] = ["dog", "cat", "red car", "tree", "house", "violin"];

/// A deterministic generator in [0, 1) (no randomness crate needed in the browser test).
pub fn lcg(seed: u64) -> impl FnMut() -> f32 {
    let mut state = seed;
    move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 40) as f32 / (1u64 << 24) as f32
    }
}

pub fn bundle(with_clip: bool) -> Bundle {
    let clip_config: serde_json::Value =
        serde_json::from_slice(include_bytes!("../fixtures/clip/tiny_gelu/config.json")).unwrap();
    let mut config = MapperConfig::new(MapperVariant::Vae, VOXELS, 24, 24);
    config.hidden = 32;
    config.blocks = 1;
    config.latent = 16;
    let device = burn::tensor::Device::flex();
    let model = MapperModel::new(&config, &mut lcg(17), &device).unwrap();
    let weights = Mapper {
        config: config.clone(),
        model,
    }
    .to_safetensors()
    .unwrap();
    let mut components = serde_json::json!({
        "mapper": { "kind": "mapper", "config": config, "weights": "mapper.safetensors" }
    });
    let mut files = BTreeMap::new();
    files.insert("mapper.safetensors".to_string(), weights);
    if with_clip {
        components["clip"] = serde_json::json!({ "kind": "clip", "config": clip_config, "weights": "clip.safetensors" });
        files.insert(
            "clip.safetensors".to_string(),
            include_bytes!("../fixtures/clip/tiny_gelu/model.safetensors").to_vec(),
        );
    }
    let manifest = serde_json::json!({
        "format": "brainclip-bundle", "format_version": 1, "name": "decoder-test",
        "provenance": "tests/common/decoder_bundle.rs", "license": "MIT", "simulated": true,
        "voxels": VOXELS, "normalization": { "mode": "batch" }, "components": components,
    });
    let manifest = Manifest::parse(manifest.to_string().as_bytes()).unwrap();
    Bundle::from_parts(manifest, files).unwrap()
}

pub fn fmri(trials: usize, voxels: usize) -> FmriBatch {
    let mut next = lcg(99);
    let values: Vec<f32> = (0..trials * voxels).map(|_| next() * 4.0 - 2.0).collect();
    FmriBatch::new(
        values,
        trials,
        voxels,
        FmriSource {
            file_name: "trials.npy".into(),
            format: SourceFormat::Npy,
            array_name: None,
            mask_name: None,
            dtype: "float32".into(),
            shape: vec![trials, voxels],
        },
    )
    .unwrap()
}

pub fn labels() -> Vec<String> {
    LABELS.iter().map(|s| s.to_string()).collect()
}

/// Adds seeded noise (from [`lcg`]) to every weight: fresh adaLN-Zero denoisers predict zero.
struct Perturb(Box<dyn FnMut() -> f32>);

impl burn::module::ModuleMapper for Perturb {
    fn map_float<const D: usize>(
        &mut self,
        param: burn::module::Param<burn::tensor::Tensor<D>>,
    ) -> burn::module::Param<burn::tensor::Tensor<D>> {
        let next = &mut self.0;
        param.map(|tensor| {
            let dims = tensor.dims();
            let noise: Vec<f32> = (0..dims.iter().product::<usize>())
                .map(|_| (next() - 0.5) * 0.6)
                .collect();
            let device = tensor.device();
            tensor
                + burn::tensor::Tensor::from_data(
                    burn::tensor::TensorData::new(noise, dims),
                    &device,
                )
        })
    }
}

/// [`bundle`] with an image decoder: a 4-channel-wide autoencoder (64×64 ↔ 8×8×4) and a
/// small denoiser conditioned on the mapper's 24-d image embeddings, weights fixed by seed.
pub fn bundle_with_decoder() -> Bundle {
    use brainclip::data::bundle::{Component, StoredDtype};
    use brainclip::diffusion::{
        Autoencoder, AutoencoderTinyConfig, DenoiserConfig, DenoiserModel, Schedule,
    };
    use burn::module::Module;
    let device = burn::tensor::Device::flex();
    let ae_config = AutoencoderTinyConfig {
        encoder_block_out_channels: vec![4; 4],
        decoder_block_out_channels: vec![4; 4],
        num_encoder_blocks: vec![1; 4],
        num_decoder_blocks: vec![1; 4],
        ..AutoencoderTinyConfig::default()
    };
    let model = brainclip::device::init_seeded(&device, Some(5), || {
        brainclip::diffusion::autoencoder::AutoencoderTinyModel::new(&ae_config, &device)
    });
    let autoencoder = Autoencoder {
        config: ae_config,
        model: model.map(&mut Perturb(Box::new(lcg(5)))),
    };
    let denoiser_config = DenoiserConfig {
        hidden_size: 16,
        depth: 1,
        num_heads: 2,
        frequency_embedding_size: 8,
        ..DenoiserConfig::world(4, 8, 24)
    };
    let denoiser = brainclip::device::init_seeded(&device, Some(6), || {
        DenoiserModel::new(&denoiser_config, &device)
    })
    .map(&mut Perturb(Box::new(lcg(6))));
    bundle(false)
        .with_component(
            "autoencoder",
            Component {
                kind: "autoencoder".into(),
                config: autoencoder.config.to_json(),
                weights: "autoencoder.safetensors".into(),
                control: None,
            },
            autoencoder.to_safetensors(StoredDtype::F32).unwrap(),
        )
        .unwrap()
        .with_component(
            "denoiser",
            Component {
                kind: "denoiser".into(),
                config: serde_json::json!({
                    "model": denoiser_config,
                    "schedule": Schedule::rectified_flow(vec![4], 2.0),
                }),
                weights: "denoiser.safetensors".into(),
                control: None,
            },
            denoiser.to_safetensors(StoredDtype::F32).unwrap(),
        )
        .unwrap()
}
