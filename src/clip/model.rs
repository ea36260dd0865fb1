//! `CLIPModel`: both towers and their projections into the joint space, loadable from a
//! Hugging Face checkpoint (`config.json` + `model.safetensors`, f32 or f16).

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::store::{BurnToPyTorchAdapter, ModuleSnapshot, SafetensorsStore};
use burn::tensor::{Device, Tensor, TensorData};

use crate::clip::config::ClipConfig;
use crate::clip::text::{ClipTextTransformer, TokenBatch};
use crate::clip::tokenizer;
use crate::clip::vision::ClipVisionTransformer;
use crate::data::bundle::{LoadOptions, StoredDtype, load_module, read_f32, recast_safetensors};
use crate::device::ComputeDevice;
use crate::error::{Error, Result, thousands};
use crate::matrix::Matrix;

/// The parameters, named exactly as in Hugging Face's `CLIPModel` state dict.
#[derive(Module, Debug)]
pub struct ClipModel {
    pub text_model: ClipTextTransformer,
    pub vision_model: ClipVisionTransformer,
    pub visual_projection: Linear,
    pub text_projection: Linear,
}

impl ClipModel {
    /// A skeleton whose weights are drawn only if used: loading replaces them unread.
    pub fn new(config: &ClipConfig, device: &Device) -> Self {
        Self::build(config, device)
    }

    /// Random weights, drawn now; reproducible from `seed` when one is given.
    pub fn random(config: &ClipConfig, device: &Device, seed: Option<u64>) -> Self {
        crate::device::init_seeded(device, seed, || Self::build(config, device))
    }

    fn build(config: &ClipConfig, device: &Device) -> Self {
        let projection = |from: usize| {
            LinearConfig::new(from, config.projection_dim)
                .with_bias(false)
                .with_initializer(crate::clip::encoder::normal((from as f64).powf(-0.5)))
                .init(device)
        };
        ClipModel {
            text_model: ClipTextTransformer::new(&config.text, device),
            vision_model: ClipVisionTransformer::new(&config.vision, device),
            visual_projection: projection(config.vision.hidden_size),
            text_projection: projection(config.text.hidden_size),
        }
    }
}

/// Texts per forward pass; bounds memory for long label lists.
const TEXT_BATCH: usize = 64;
/// Images per forward pass.
const IMAGE_BATCH: usize = 16;

/// A ready CLIP: configuration, weights and the learned temperature.
#[derive(Debug, Clone)]
pub struct Clip {
    pub config: ClipConfig,
    pub model: ClipModel,
    /// `exp(logit_scale)` multiplies cosine similarities to make logits (≈100 for OpenAI).
    pub logit_scale: f32,
}

impl Clip {
    /// Randomly initialised weights (training starts here; benchmarks use it too).
    pub fn new(config: ClipConfig, device: &Device) -> Result<Self> {
        config.validate()?;
        Ok(Clip {
            model: ClipModel::random(&config, device, None),
            logit_scale: config.logit_scale_init.exp(),
            config,
        })
    }

    /// Loads a Hugging Face checkpoint: `config.json` bytes and `model.safetensors` bytes.
    /// Every tensor's presence and shape is checked, and errors name the key.
    pub fn from_hf(
        config_json: &[u8],
        weights: Vec<u8>,
        file_name: &str,
        device: &Device,
    ) -> Result<Self> {
        let config = ClipConfig::from_hf_json(config_json)?;
        Self::from_safetensors(config, weights, file_name, device)
    }

    /// Loads HF-layout weights for a known configuration.
    pub fn from_safetensors(
        config: ClipConfig,
        weights: Vec<u8>,
        file_name: &str,
        device: &Device,
    ) -> Result<Self> {
        config.validate()?;
        // logit_scale is a 0-d tensor, which burn modules cannot hold; read it directly.
        let logit_scale = match read_f32(file_name, &weights, "logit_scale") {
            Ok(v) if v.len() == 1 => v[0].exp(),
            Ok(v) => {
                return Err(Error::BundleTensor {
                    file: file_name.into(),
                    key: "logit_scale".into(),
                    reason: format!("has {} values, expected a scalar", v.len()),
                });
            }
            Err(err) => return Err(err),
        };
        let options = LoadOptions {
            key_remapping: Vec::new(),
            pytorch_layout: true,
            skip_enum_variants: false,
        };
        let model = load_module(
            ClipModel::new(&config, device),
            file_name,
            weights,
            &options,
        )?;
        Ok(Clip {
            config,
            model,
            logit_scale,
        })
    }

    /// The CLIP a bundle carries: its first component of kind `clip` (a Hugging Face
    /// `config.json` as its config, `model.safetensors` as its weights), or None.
    pub fn from_bundle(
        bundle: &crate::data::bundle::Bundle,
        device: &Device,
    ) -> Result<Option<Self>> {
        let Some((name, _)) = bundle
            .manifest
            .components
            .iter()
            .find(|(_, c)| c.kind == "clip")
        else {
            return Ok(None);
        };
        let (component, weights) = bundle.component(name)?;
        let config = serde_json::to_vec(&component.config).expect("JSON value serialises");
        Self::from_hf(&config, weights.to_vec(), &component.weights, device).map(Some)
    }

    /// Loads a Hugging Face model directory (`config.json` + `model.safetensors`).
    #[cfg(not(target_family = "wasm"))]
    pub fn from_hf_dir(dir: &std::path::Path, device: &Device) -> Result<Self> {
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|err| Error::Io {
                path: dir.join(name).display().to_string(),
                reason: err.to_string(),
            })
        };
        Self::from_hf(
            &read("config.json")?,
            read("model.safetensors")?,
            "model.safetensors",
            device,
        )
    }

    /// The weights as a Hugging Face `model.safetensors` (PyTorch layouts and key names,
    /// `logit_scale` included), stored as `dtype`.
    pub fn to_hf_safetensors(&self, dtype: StoredDtype) -> Result<Vec<u8>> {
        let failed = |err: String| Error::InvalidConfig {
            what: "CLIP weights".into(),
            reason: format!("could not serialise: {err}"),
        };
        let mut store = SafetensorsStore::from_bytes(None)
            .clear_metadata()
            .with_to_adapter(BurnToPyTorchAdapter);
        self.model
            .save_into(&mut store)
            .map_err(|err| failed(err.to_string()))?;
        let bytes = store.get_bytes().map_err(|err| failed(err.to_string()))?;
        recast_safetensors(
            &bytes,
            dtype,
            &[("logit_scale", Vec::new(), vec![self.logit_scale.ln()])],
        )
    }

    /// Tokenises for this model's context length, cutting the batch to its longest prompt.
    pub fn tokenize(&self, texts: &[&str]) -> TokenBatch {
        tokenizer::batch(
            texts,
            self.config.text.max_position_embeddings,
            self.config.text.eos_token_id,
        )
    }

    /// Projected, unnormalised text features (`get_text_features`): `[batch, projection_dim]`.
    pub fn text_features(&self, tokens: &TokenBatch) -> Result<Tensor<2>> {
        let vocab = self.config.text.vocab_size as u32;
        if let Some(bad) = tokens.ids.iter().find(|&&id| id >= vocab) {
            return Err(Error::ShapeMismatch {
                what: "token id".into(),
                got: thousands(*bad),
                expected: format!("ids below the vocabulary size {}", thousands(vocab)),
            });
        }
        if tokens.seq > self.config.text.max_position_embeddings {
            return Err(Error::ShapeMismatch {
                what: "token sequence length".into(),
                got: tokens.seq.to_string(),
                expected: format!("at most {}", self.config.text.max_position_embeddings),
            });
        }
        Ok(self
            .model
            .text_projection
            .forward(self.model.text_model.forward(tokens)))
    }

    /// Projected, unnormalised image features (`get_image_features`) of normalised pixels
    /// `[batch, 3, size, size]`.
    pub fn image_features(&self, pixels: Tensor<4>) -> Result<Tensor<2>> {
        let [_, channels, h, w] = pixels.dims();
        let v = &self.config.vision;
        if channels != v.num_channels || h != v.image_size || w != v.image_size {
            return Err(Error::ShapeMismatch {
                what: "pixel tensor".into(),
                got: format!("{channels} × {h} × {w}"),
                expected: format!("{} × {} × {}", v.num_channels, v.image_size, v.image_size),
            });
        }
        Ok(self
            .model
            .visual_projection
            .forward(self.model.vision_model.forward(pixels)))
    }

    /// L2-normalised text embeddings, `[texts, projection_dim]`, batched.
    pub async fn embed_text(&self, device: &ComputeDevice, texts: &[&str]) -> Result<Matrix> {
        self.embed_batched(device, texts, TEXT_BATCH, |chunk| {
            self.text_features(&self.tokenize(chunk))
        })
        .await
    }

    /// L2-normalised image embeddings of preprocessed images (each `[3, size, size]`
    /// flattened), `[images, projection_dim]`, batched.
    pub async fn embed_images(
        &self,
        device: &ComputeDevice,
        images: &[Vec<f32>],
    ) -> Result<Matrix> {
        let size = self.config.vision.image_size;
        let channels = self.config.vision.num_channels;
        let per_image = channels * size * size;
        if let Some(bad) = images.iter().find(|img| img.len() != per_image) {
            return Err(Error::ShapeMismatch {
                what: "preprocessed image".into(),
                got: format!("{} values", thousands(bad.len())),
                expected: format!(
                    "{channels} × {size} × {size} = {} values",
                    thousands(per_image)
                ),
            });
        }
        self.embed_batched(device, images, IMAGE_BATCH, |chunk| {
            let flat: Vec<f32> = chunk.iter().flatten().copied().collect();
            let pixels = Tensor::<4>::from_data(
                TensorData::new(flat, [chunk.len(), channels, size, size]),
                &device.device,
            );
            self.image_features(pixels)
        })
        .await
    }

    async fn embed_batched<T>(
        &self,
        device: &ComputeDevice,
        items: &[T],
        batch: usize,
        features: impl Fn(&[T]) -> Result<Tensor<2>>,
    ) -> Result<Matrix> {
        let dim = self.config.projection_dim;
        let mut values = Vec::with_capacity(items.len() * dim);
        for chunk in items.chunks(batch) {
            let normalized = l2_normalize(features(chunk)?);
            values.extend(device.read_f32(normalized).await?);
            device.yield_point().await;
        }
        Matrix::new(values, items.len(), dim)
    }
}

/// Divides each row by its L2 norm (rows of zeros stay zero).
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12);
    x / norm
}
