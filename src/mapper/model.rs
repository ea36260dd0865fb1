//! The mapping network's parameters (PyTorch module names) and its forward pass.

use burn::module::{Module, Param, ParamId};
use burn::nn::{LayerNorm, LayerNormConfig, Linear};
use burn::tensor::activation::gelu;
use burn::tensor::{Device, Shape, Tensor, TensorData};

use super::config::{MapperConfig, MapperVariant};
use crate::clip::l2_normalize;
use crate::error::Result;

/// The LayerNorms' epsilon (burn's and PyTorch's default), which the explicit backward pass
/// needs too.
pub(super) const LAYER_NORM_EPSILON: f64 = 1e-5;

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
