//! The BrainCLIP mapping network: an fMRI pattern `[voxels]` → a CLIP image embedding and a
//! CLIP text embedding, both L2-normalised.
//!
//! Variants (`vae` is the default, the others exist for ablations):
//! - `linear`: two linear heads straight from voxels (a ridge-regression-like baseline);
//! - `mlp`:    voxels → hidden → residual blocks → latent → two heads;
//! - `vae`:    as `mlp`, but the latent is a Gaussian (μ, log σ²), sampled with the
//!   reparameterisation trick in training and taken at μ at inference.
//!
//! The weights file uses PyTorch layouts and names (`trunk.weight` is `[hidden, voxels]`,
//! LayerNorm `weight`/`bias`), so a mapper trained in PyTorch with the same module names can
//! be dropped in.

use burn::module::{Module, Param, ParamId};
use burn::nn::{LayerNorm, LayerNormConfig, Linear};
use burn::tensor::activation::gelu;
use burn::tensor::{Device, Shape, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::clip::l2_normalize;
use crate::data::bundle::{LoadOptions, load_module};
use crate::device::ComputeDevice;
use crate::error::{Error, Result, thousands};
use crate::matrix::Matrix;

/// Which of CLIP's spaces a prediction (and a retrieval) is in: the mapper has one head each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Space {
    /// Candidates are CLIP image embeddings; queries are the predicted image embeddings.
    #[default]
    Image,
    /// Candidates are CLIP text embeddings; queries are the predicted text embeddings.
    Text,
}

/// Which network maps voxels to CLIP space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MapperVariant {
    Linear,
    Mlp,
    #[default]
    Vae,
}

impl MapperVariant {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "linear" => Ok(MapperVariant::Linear),
            "mlp" => Ok(MapperVariant::Mlp),
            "vae" => Ok(MapperVariant::Vae),
            other => Err(Error::InvalidConfig {
                what: "mapper variant".into(),
                reason: format!("'{other}' is not one of linear, mlp, vae"),
            }),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MapperVariant::Linear => "linear",
            MapperVariant::Mlp => "mlp",
            MapperVariant::Vae => "vae",
        }
    }
}

fn default_logit_scale() -> f32 {
    // CLIP's initial temperature, 1/0.07.
    1.0 / 0.07
}

/// Sizes and regularisation of a mapper. Stored verbatim as the bundle component's config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapperConfig {
    pub variant: MapperVariant,
    /// Input size: voxels per trial.
    pub voxels: usize,
    /// Width of the trunk and residual blocks (unused by `linear`).
    pub hidden: usize,
    /// Number of residual MLP blocks (unused by `linear`).
    pub blocks: usize,
    /// Latent size Z (unused by `linear`).
    pub latent: usize,
    /// CLIP image-embedding size of the image head.
    pub image_dim: usize,
    /// CLIP text-embedding size of the text head.
    pub text_dim: usize,
    /// Dropout on the voxels (training only).
    #[serde(default)]
    pub input_dropout: f64,
    /// Dropout inside the residual blocks (training only).
    #[serde(default)]
    pub dropout: f64,
    /// Multiplies cosine similarities into logits; learned or fixed in training.
    #[serde(default = "default_logit_scale")]
    pub logit_scale: f32,
}

impl MapperConfig {
    /// Defaults that suit both GOD-scale (~4,500 voxels) and NSD-scale (~15,724 voxels)
    /// inputs: the trunk grows with the voxel count, everything after it is fixed.
    pub fn new(variant: MapperVariant, voxels: usize, image_dim: usize, text_dim: usize) -> Self {
        MapperConfig {
            variant,
            voxels,
            hidden: 1024,
            blocks: 2,
            latent: 512,
            image_dim,
            text_dim,
            input_dropout: 0.2,
            dropout: 0.3,
            logit_scale: default_logit_scale(),
        }
    }

    pub fn validate(&self) -> Result<()> {
        let invalid = |reason: String| {
            Err(Error::InvalidConfig {
                what: "mapper config".into(),
                reason,
            })
        };
        let mut sizes = vec![
            ("voxels", self.voxels),
            ("image_dim", self.image_dim),
            ("text_dim", self.text_dim),
        ];
        if self.variant != MapperVariant::Linear {
            sizes.extend([("hidden", self.hidden), ("latent", self.latent)]);
        }
        if let Some((name, _)) = sizes.iter().find(|(_, v)| *v == 0) {
            return invalid(format!("{name} must be positive"));
        }
        for (name, p) in [
            ("input_dropout", self.input_dropout),
            ("dropout", self.dropout),
        ] {
            if !(0.0..1.0).contains(&p) {
                return invalid(format!("{name} is {p}; expected a probability in [0, 1)"));
            }
        }
        if !(self.logit_scale.is_finite() && self.logit_scale > 0.0) {
            return invalid(format!(
                "logit_scale is {}; expected a positive number",
                self.logit_scale
            ));
        }
        Ok(())
    }

    /// Number of trainable parameters this configuration has.
    pub fn parameter_count(&self) -> usize {
        let linear = |i: usize, o: usize| i * o + o;
        match self.variant {
            MapperVariant::Linear => {
                linear(self.voxels, self.image_dim) + linear(self.voxels, self.text_dim)
            }
            MapperVariant::Mlp | MapperVariant::Vae => {
                let heads = if self.variant == MapperVariant::Vae {
                    2
                } else {
                    1
                };
                linear(self.voxels, self.hidden)
                    + self.blocks * (2 * self.hidden + 2 * linear(self.hidden, self.hidden))
                    + 2 * self.hidden
                    + heads * linear(self.hidden, self.latent)
                    + linear(self.latent, self.image_dim)
                    + linear(self.latent, self.text_dim)
            }
        }
    }
}

/// Pre-norm residual MLP block: `x + dropout(fc2(gelu(fc1(norm(x)))))`.
#[derive(Module, Debug)]
pub struct ResidualBlock {
    pub norm: LayerNorm,
    pub fc1: Linear,
    pub fc2: Linear,
}

impl ResidualBlock {
    fn forward(&self, x: Tensor<2>, noise: &mut dyn TrainingNoise, dropout: f64) -> Tensor<2> {
        let h = self
            .fc2
            .forward(gelu(self.fc1.forward(self.norm.forward(x.clone()))));
        x + noise.dropout(h, dropout)
    }
}

/// The parameters. Module names are the keys in the weights file.
#[derive(Module, Debug)]
pub struct MapperModel {
    /// voxels → hidden (`mlp`, `vae`).
    pub trunk: Option<Linear>,
    pub blocks: Vec<ResidualBlock>,
    /// Final LayerNorm of the trunk (`mlp`, `vae`).
    pub norm: Option<LayerNorm>,
    /// hidden → latent mean (`mlp`: the latent itself).
    pub mu: Option<Linear>,
    /// hidden → latent log-variance (`vae`).
    pub logvar: Option<Linear>,
    /// latent (or voxels, for `linear`) → CLIP image space.
    pub image_head: Linear,
    /// latent (or voxels, for `linear`) → CLIP text space.
    pub text_head: Linear,
}

/// Randomness used only in training: dropout masks and the VAE's reparameterisation noise.
/// Inference passes [`NoNoise`]; the trainer passes a seeded source so runs are reproducible
/// regardless of any other random number use in the process.
pub trait TrainingNoise {
    /// Zeroes each element with probability `p` and rescales the rest by `1/(1-p)`.
    fn dropout(&mut self, x: Tensor<2>, p: f64) -> Tensor<2>;
    /// Standard normal noise shaped like `like`.
    fn normal_like(&mut self, like: &Tensor<2>) -> Option<Tensor<2>>;
}

/// Deterministic inference: no dropout, VAE at its mean.
pub struct NoNoise;

impl TrainingNoise for NoNoise {
    fn dropout(&mut self, x: Tensor<2>, _p: f64) -> Tensor<2> {
        x
    }
    fn normal_like(&mut self, _like: &Tensor<2>) -> Option<Tensor<2>> {
        None
    }
}

/// Everything one forward pass produces.
pub struct MapperOutput {
    /// Predicted CLIP image embedding, L2-normalised: `[batch, image_dim]`.
    pub image: Tensor<2>,
    /// Predicted CLIP text embedding, L2-normalised: `[batch, text_dim]`.
    pub text: Tensor<2>,
    /// Latent mean (`vae`) — for the KL term.
    pub mu: Option<Tensor<2>>,
    /// Latent log-variance (`vae`) — for the KL term.
    pub logvar: Option<Tensor<2>>,
}

/// A parameter of `shape` that holds no values until something reads it (then zeros).
fn lazy_zeros<const D: usize>(shape: [usize; D], device: &Device) -> Param<Tensor<D>> {
    Param::uninitialized(
        ParamId::new(),
        move |device, _| Tensor::zeros(shape, device),
        device.clone(),
        false,
        Shape::from(shape),
    )
}

impl MapperModel {
    /// Randomly initialised with PyTorch's default `nn.Linear` scheme, U(±1/√fan_in),
    /// drawn from `uniform` (values in [0, 1)) so initialisation is reproducible.
    pub fn new(
        config: &MapperConfig,
        uniform: &mut dyn FnMut() -> f32,
        device: &Device,
    ) -> Result<Self> {
        config.validate()?;
        let mut random_linear = |d_in: usize, d_out: usize| -> Linear {
            let bound = (1.0 / d_in as f32).sqrt();
            let mut draw = |n: usize| -> Vec<f32> {
                (0..n).map(|_| (uniform() * 2.0 - 1.0) * bound).collect()
            };
            let weight = draw(d_in * d_out);
            let bias = draw(d_out);
            Linear {
                weight: Param::from_tensor(Tensor::from_data(
                    TensorData::new(weight, [d_in, d_out]),
                    device,
                )),
                bias: Some(Param::from_tensor(Tensor::from_data(
                    TensorData::new(bias, [d_out]),
                    device,
                ))),
            }
        };
        Ok(Self::with_linears(config, device, &mut random_linear))
    }

    /// The model's shape with no values: parameters are made only if something reads them
    /// before weights are loaded over them, so loading a file holds the weights once.
    pub fn skeleton(config: &MapperConfig, device: &Device) -> Result<Self> {
        config.validate()?;
        let mut lazy_linear = |d_in: usize, d_out: usize| -> Linear {
            Linear {
                weight: lazy_zeros([d_in, d_out], device),
                bias: Some(lazy_zeros([d_out], device)),
            }
        };
        Ok(Self::with_linears(config, device, &mut lazy_linear))
    }

    fn with_linears(
        config: &MapperConfig,
        device: &Device,
        linear: &mut dyn FnMut(usize, usize) -> Linear,
    ) -> Self {
        let norm = |size: usize| {
            LayerNormConfig::new(size)
                .with_epsilon(LAYER_NORM_EPSILON)
                .init(device)
        };
        match config.variant {
            MapperVariant::Linear => MapperModel {
                trunk: None,
                blocks: Vec::new(),
                norm: None,
                mu: None,
                logvar: None,
                image_head: linear(config.voxels, config.image_dim),
                text_head: linear(config.voxels, config.text_dim),
            },
            MapperVariant::Mlp | MapperVariant::Vae => {
                let trunk = linear(config.voxels, config.hidden);
                let blocks = (0..config.blocks)
                    .map(|_| ResidualBlock {
                        norm: norm(config.hidden),
                        fc1: linear(config.hidden, config.hidden),
                        fc2: linear(config.hidden, config.hidden),
                    })
                    .collect();
                let mu = linear(config.hidden, config.latent);
                let logvar = (config.variant == MapperVariant::Vae)
                    .then(|| linear(config.hidden, config.latent));
                MapperModel {
                    trunk: Some(trunk),
                    blocks,
                    norm: Some(norm(config.hidden)),
                    mu: Some(mu),
                    logvar,
                    image_head: linear(config.latent, config.image_dim),
                    text_head: linear(config.latent, config.text_dim),
                }
            }
        }
    }

    /// One forward pass over `x: [batch, voxels]`.
    pub fn forward(
        &self,
        x: Tensor<2>,
        config: &MapperConfig,
        noise: &mut dyn TrainingNoise,
    ) -> MapperOutput {
        let x = noise.dropout(x, config.input_dropout);
        let (z, mu, logvar) = match &self.trunk {
            None => (x, None, None),
            Some(trunk) => {
                let mut h = trunk.forward(x);
                for block in &self.blocks {
                    h = block.forward(h, noise, config.dropout);
                }
                if let Some(norm) = &self.norm {
                    h = norm.forward(h);
                }
                let h = gelu(h);
                let mu = self
                    .mu
                    .as_ref()
                    .expect("mlp and vae mappers have a latent layer")
                    .forward(h.clone());
                match &self.logvar {
                    None => (mu, None, None),
                    Some(logvar_layer) => {
                        let logvar = logvar_layer.forward(h);
                        let z = match noise.normal_like(&mu) {
                            Some(eps) => mu.clone() + eps * logvar.clone().mul_scalar(0.5).exp(),
                            None => mu.clone(),
                        };
                        (z, Some(mu), Some(logvar))
                    }
                }
            }
        };
        MapperOutput {
            image: l2_normalize(self.image_head.forward(z.clone())),
            text: l2_normalize(self.text_head.forward(z)),
            mu,
            logvar,
        }
    }
}

/// The LayerNorms' epsilon (burn's and PyTorch's default), which the explicit backward pass
/// needs too.
const LAYER_NORM_EPSILON: f64 = 1e-5;

/// The exact GELU's derivative, Φ(a) + a·φ(a).
fn gelu_derivative(a: Tensor<2>) -> Tensor<2> {
    let cdf = a
        .clone()
        .div_scalar(std::f64::consts::SQRT_2)
        .erf()
        .add_scalar(1.0)
        .mul_scalar(0.5);
    let pdf = a
        .clone()
        .powi_scalar(2)
        .mul_scalar(-0.5)
        .exp()
        .mul_scalar(1.0 / (2.0 * std::f64::consts::PI).sqrt());
    cdf + a * pdf
}

/// A LayerNorm's input gradient from its output gradient `dy`, given its input `x`.
fn layer_norm_backward(norm: &LayerNorm, x: Tensor<2>, dy: Tensor<2>) -> Tensor<2> {
    let centred = x.clone() - x.mean_dim(1);
    let inverse_std = centred
        .clone()
        .powi_scalar(2)
        .mean_dim(1)
        .add_scalar(LAYER_NORM_EPSILON)
        .sqrt()
        .recip();
    let normalized = centred * inverse_std.clone();
    let dn = dy * norm.gamma.val().unsqueeze::<2>();
    let dn_mean = dn.clone().mean_dim(1);
    let dn_x_mean = (dn.clone() * normalized.clone()).mean_dim(1);
    (dn - dn_mean - normalized * dn_x_mean) * inverse_std
}

/// A Linear layer's input gradient (burn stores the weight `[inputs, outputs]`).
fn linear_backward(linear: &Linear, dy: Tensor<2>) -> Tensor<2> {
    dy.matmul(linear.weight.val().transpose())
}

impl MapperModel {
    /// Inference (no dropout, VAE at its mean) of `x` `[rows, voxels]` to the cosine
    /// similarity `[rows, 1]` of each row's prediction in `space` with `target` `[dim, 1]`
    /// (unit length), and its gradient with respect to `x`, by an explicit backward pass.
    /// Written out rather than taken from burn's autodiff, which would add a quarter of a
    /// megabyte to the CPU browser build and differentiates GELU by its tanh approximation.
    pub fn similarity_backward(
        &self,
        x: Tensor<2>,
        target: &Tensor<2>,
        space: Space,
    ) -> (Tensor<2>, Tensor<2>) {
        // Forward, keeping what the backward pass needs.
        let mut blocks = Vec::with_capacity(self.blocks.len());
        let mut before_norm = None;
        let mut latent_pre_activation = None;
        let z = match &self.trunk {
            None => x,
            Some(trunk) => {
                let mut h = trunk.forward(x);
                for block in &self.blocks {
                    let pre_activation = block.fc1.forward(block.norm.forward(h.clone()));
                    let out = block.fc2.forward(gelu(pre_activation.clone()));
                    blocks.push((h.clone(), pre_activation));
                    h = h + out;
                }
                if let Some(norm) = &self.norm {
                    before_norm = Some(h.clone());
                    h = norm.forward(h);
                }
                latent_pre_activation = Some(h.clone());
                self.mu
                    .as_ref()
                    .expect("mlp and vae mappers have a latent layer")
                    .forward(gelu(h))
            }
        };
        let head = match space {
            Space::Image => &self.image_head,
            Space::Text => &self.text_head,
        };
        let out = head.forward(z);
        let length = out
            .clone()
            .powi_scalar(2)
            .sum_dim(1)
            .sqrt()
            .clamp_min(1e-12);
        let predicted = out / length.clone();
        let cosine = predicted.clone().matmul(target.clone());
        // Backward: d cos / d out = (t − cos · p) / |out|.
        let d_out = (target.clone().transpose() - predicted * cosine.clone()) / length;
        let mut grad = linear_backward(head, d_out);
        if let Some(pre_activation) = latent_pre_activation {
            let mu = self
                .mu
                .as_ref()
                .expect("mlp and vae mappers have a latent layer");
            grad = linear_backward(mu, grad) * gelu_derivative(pre_activation);
            if let (Some(norm), Some(input)) = (&self.norm, before_norm) {
                grad = layer_norm_backward(norm, input, grad);
            }
            for (block, (input, pre_activation)) in self.blocks.iter().zip(blocks).rev() {
                let inner =
                    linear_backward(&block.fc2, grad.clone()) * gelu_derivative(pre_activation);
                let normed = linear_backward(&block.fc1, inner);
                grad = grad + layer_norm_backward(&block.norm, input, normed);
            }
            let trunk = self.trunk.as_ref().expect("set with the latent layer");
            grad = linear_backward(trunk, grad);
        }
        (cosine, grad)
    }
}

/// Trials per forward pass at inference; bounds memory for large uploads.
const INFERENCE_BATCH: usize = 256;

/// A ready mapper: configuration and weights.
#[derive(Debug, Clone)]
pub struct Mapper {
    pub config: MapperConfig,
    pub model: MapperModel,
}

/// Predicted embeddings for a batch of trials.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedEmbeddings {
    /// `[trials, image_dim]`, L2-normalised.
    pub image: Matrix,
    /// `[trials, text_dim]`, L2-normalised.
    pub text: Matrix,
}

impl Mapper {
    /// Loads weights saved by [`Mapper::to_safetensors`] (or a PyTorch mapper with the same
    /// module names), checking every tensor's presence and shape.
    pub fn from_safetensors(
        config: MapperConfig,
        weights: Vec<u8>,
        file_name: &str,
        device: &Device,
    ) -> Result<Self> {
        // Only shapes: the file's values are the first the parameters hold.
        let skeleton = MapperModel::skeleton(&config, device)?;
        let options = LoadOptions {
            key_remapping: Vec::new(),
            pytorch_layout: true,
            skip_enum_variants: false,
        };
        let model = load_module(skeleton, file_name, weights, &options)?;
        Ok(Mapper { config, model })
    }

    /// Loads the mapper component of a bundle.
    pub fn from_bundle(
        bundle: &crate::data::bundle::Bundle,
        component: &str,
        device: &Device,
    ) -> Result<Self> {
        let (entry, bytes) = bundle.component(component)?;
        let config: MapperConfig =
            serde_json::from_value(entry.config.clone()).map_err(|err| Error::BundleManifest {
                file: crate::data::bundle::MANIFEST_FILE.into(),
                field: format!("components.{component}.config"),
                reason: err.to_string(),
            })?;
        if config.voxels != bundle.manifest.voxels {
            return Err(Error::BundleManifest {
                file: crate::data::bundle::MANIFEST_FILE.into(),
                field: format!("components.{component}.config.voxels"),
                reason: format!(
                    "is {}, but the bundle's voxels is {}",
                    thousands(config.voxels),
                    thousands(bundle.manifest.voxels)
                ),
            });
        }
        Self::from_safetensors(config, bytes.to_vec(), &entry.weights, device)
    }

    /// The weights as safetensors bytes in PyTorch layout.
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        crate::data::weights::save_module(&self.model, crate::data::bundle::StoredDtype::F32, false)
    }

    /// Maps normalised fMRI `[trials, voxels]` (row-major) into CLIP space, batched.
    pub async fn embed(
        &self,
        device: &ComputeDevice,
        fmri: &[f32],
        voxels: usize,
    ) -> Result<MappedEmbeddings> {
        if voxels != self.config.voxels {
            return Err(Error::VoxelCountMismatch {
                file: "fMRI".into(),
                got: voxels,
                expected: self.config.voxels,
            });
        }
        if fmri.is_empty() || !fmri.len().is_multiple_of(voxels) {
            return Err(Error::ShapeMismatch {
                what: "fMRI values".into(),
                got: thousands(fmri.len()),
                expected: format!("a positive multiple of {} voxels", thousands(voxels)),
            });
        }
        let trials = fmri.len() / voxels;
        let mut image = Vec::with_capacity(trials * self.config.image_dim);
        let mut text = Vec::with_capacity(trials * self.config.text_dim);
        for chunk in fmri.chunks(INFERENCE_BATCH * voxels) {
            let x = Tensor::<2>::from_data(
                TensorData::new(chunk.to_vec(), [chunk.len() / voxels, voxels]),
                &device.device,
            );
            let out = self.model.forward(x, &self.config, &mut NoNoise);
            image.extend(device.read_f32(out.image).await?);
            text.extend(device.read_f32(out.text).await?);
            device.yield_point().await;
        }
        Ok(MappedEmbeddings {
            image: Matrix::new(image, trials, self.config.image_dim)?,
            text: Matrix::new(text, trials, self.config.text_dim)?,
        })
    }
}

/// Rows of `[rows, voxels]` gradients per forward-and-backward pass in [`Mapper::similarity_gradients`]:
/// the backward pass keeps every activation, so fewer rows than inference.
const GRADIENT_BATCH: usize = 64;

/// For each row of inputs: the cosine similarity of its predicted embedding (in `space`)
/// with a target, and that similarity's gradient with respect to every input voxel.
pub struct SimilarityGradients {
    /// `[rows]`.
    pub similarities: Vec<f32>,
    /// `[rows, voxels]`, row-major.
    pub gradients: Vec<f32>,
}

impl Mapper {
    /// The cosine similarity between each normalised fMRI row's predicted embedding in `space`
    /// and `target` (L2-normalised here), with its gradient with respect to the input.
    pub async fn similarity_gradients(
        &self,
        device: &ComputeDevice,
        inputs: &[f32],
        target: &[f32],
        space: Space,
    ) -> Result<SimilarityGradients> {
        let voxels = self.config.voxels;
        if inputs.is_empty() || !inputs.len().is_multiple_of(voxels) {
            return Err(Error::ShapeMismatch {
                what: "fMRI values".into(),
                got: thousands(inputs.len()),
                expected: format!("a positive multiple of {} voxels", thousands(voxels)),
            });
        }
        let dim = match space {
            Space::Image => self.config.image_dim,
            Space::Text => self.config.text_dim,
        };
        if target.len() != dim {
            return Err(Error::ShapeMismatch {
                what: format!("target embedding ({space:?} space)"),
                got: target.len().to_string(),
                expected: format!("{dim} (the mapper's head size)"),
            });
        }
        let mut target = target.to_vec();
        if target.iter().any(|v| !v.is_finite()) || crate::matrix::l2_normalize(&mut target) == 0.0
        {
            return Err(Error::InvalidConfig {
                what: "target embedding".into(),
                reason: "is all zeros or holds NaN/Inf; a similarity to it is undefined".into(),
            });
        }
        let target = Tensor::<2>::from_data(TensorData::new(target, [dim, 1]), &device.device);
        let rows = inputs.len() / voxels;
        let mut similarities = Vec::with_capacity(rows);
        let mut gradients = Vec::with_capacity(inputs.len());
        for chunk in inputs.chunks(GRADIENT_BATCH * voxels) {
            let x = Tensor::<2>::from_data(
                TensorData::new(chunk.to_vec(), [chunk.len() / voxels, voxels]),
                &device.device,
            );
            let (cosine, grad) = self.model.similarity_backward(x, &target, space);
            similarities.extend(device.read_f32(cosine).await?);
            gradients.extend(device.read_f32(grad).await?);
            device.yield_point().await;
        }
        Ok(SimilarityGradients {
            similarities,
            gradients,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_count_matches_the_module() {
        let device = Device::flex();
        for variant in [
            MapperVariant::Linear,
            MapperVariant::Mlp,
            MapperVariant::Vae,
        ] {
            let mut config = MapperConfig::new(variant, 37, 16, 12);
            config.hidden = 24;
            config.latent = 8;
            let model = MapperModel::new(&config, &mut || 0.25, &device).unwrap();
            assert_eq!(model.num_params(), config.parameter_count(), "{variant:?}");
        }
    }

    #[test]
    fn invalid_configs_are_rejected_with_the_field_named() {
        let mut config = MapperConfig::new(MapperVariant::Vae, 100, 512, 512);
        config.dropout = 1.5;
        let err = config.validate().unwrap_err();
        assert_eq!(err.code(), "invalid_config");
        assert!(err.to_string().contains("dropout is 1.5"), "{err}");
        config.dropout = 0.1;
        config.latent = 0;
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("latent")
        );
    }
}
