//! The conditional denoiser: a small DiT over autoencoder latents (patch 1, so an 8×8
//! latent is 64 tokens) with adaLN-Zero blocks. The CLIP image embedding is projected and
//! added to the time embedding, as unCLIP / Stable unCLIP condition on it; an all-zero
//! embedding is the unconditional input that classifier-free guidance contrasts with (the
//! trainer drops the condition to zeros for a fraction of samples).
//!
//! It predicts the rectified-flow velocity `ε − x₀` (see [`super::schedule`]).

use burn::module::Module;
use burn::nn::attention::{MhaInput, MultiHeadAttention, MultiHeadAttentionConfig};
use burn::nn::{Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor, activation};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The denoiser's `config.json` in a bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DenoiserConfig {
    /// Latent channels (the autoencoder's `latent_channels`).
    pub latent_channels: usize,
    /// Latent side (64-pixel images through an 8× autoencoder: 8).
    pub latent_size: usize,
    /// Size of the conditioning embedding (the CLIP's `projection_dim`).
    pub condition_dim: usize,
    pub hidden_size: usize,
    pub depth: usize,
    pub num_heads: usize,
    /// MLP width as a multiple of `hidden_size`.
    pub mlp_ratio: usize,
    /// Sinusoidal frequencies of the time embedding.
    pub frequency_embedding_size: usize,
}

impl DenoiserConfig {
    /// The world-sized denoiser.
    pub fn world(latent_channels: usize, latent_size: usize, condition_dim: usize) -> Self {
        DenoiserConfig {
            latent_channels,
            latent_size,
            condition_dim,
            hidden_size: 128,
            depth: 4,
            num_heads: 4,
            mlp_ratio: 2,
            frequency_embedding_size: 64,
        }
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| {
            Err(Error::InvalidConfig {
                what: "denoiser config".into(),
                reason,
            })
        };
        if self.latent_channels == 0
            || self.latent_size == 0
            || self.condition_dim == 0
            || self.depth == 0
            || self.mlp_ratio == 0
        {
            return bad(
                "latent_channels, latent_size, condition_dim, depth and mlp_ratio must be positive"
                    .into(),
            );
        }
        if self.num_heads == 0 || !self.hidden_size.is_multiple_of(self.num_heads) {
            return bad(format!(
                "hidden_size {} must be a positive multiple of num_heads {}",
                self.hidden_size, self.num_heads
            ));
        }
        if self.frequency_embedding_size < 2 || !self.frequency_embedding_size.is_multiple_of(2) {
            return bad("frequency_embedding_size must be even and at least 2".into());
        }
        Ok(())
    }

    fn tokens(&self) -> usize {
        self.latent_size * self.latent_size
    }
}

fn zero_linear(from: usize, to: usize, device: &Device) -> Linear {
    LinearConfig::new(from, to)
        .with_initializer(Initializer::Zeros)
        .init(device)
}

fn linear(from: usize, to: usize, device: &Device) -> Linear {
    LinearConfig::new(from, to)
        .with_initializer(Initializer::XavierUniform { gain: 1.0 })
        .init(device)
}

/// `x · (1 + scale) + shift`, with per-sample `[b, h]` shift and scale.
fn modulate(x: Tensor<3>, shift: Tensor<2>, scale: Tensor<2>) -> Tensor<3> {
    x * (scale.unsqueeze_dim::<3>(1) + 1.0) + shift.unsqueeze_dim(1)
}

/// A transformer block whose norms are modulated by the conditioning (adaLN), with gates
/// that start at zero so each block starts as the identity.
#[derive(Module, Debug)]
pub struct DitBlock {
    pub norm1: LayerNorm,
    pub attn: MultiHeadAttention,
    pub norm2: LayerNorm,
    pub fc1: Linear,
    pub fc2: Linear,
    /// SiLU(c) → shift, scale, gate for attention, then for the MLP.
    pub ada_ln_modulation: Linear,
}

impl DitBlock {
    fn new(config: &DenoiserConfig, device: &Device) -> Self {
        let h = config.hidden_size;
        DitBlock {
            norm1: LayerNormConfig::new(h).with_epsilon(1e-6).init(device),
            attn: MultiHeadAttentionConfig::new(h, config.num_heads)
                .with_dropout(0.0)
                .init(device),
            norm2: LayerNormConfig::new(h).with_epsilon(1e-6).init(device),
            fc1: linear(h, h * config.mlp_ratio, device),
            fc2: linear(h * config.mlp_ratio, h, device),
            ada_ln_modulation: zero_linear(h, 6 * h, device),
        }
    }

    fn forward(&self, x: Tensor<3>, c: Tensor<2>) -> Tensor<3> {
        let modulation = self.ada_ln_modulation.forward(activation::silu(c));
        let parts = modulation.chunk(6, 1);
        let [shift1, scale1, gate1, shift2, scale2, gate2] =
            <[Tensor<2>; 6]>::try_from(parts).expect("six chunks");
        let attended = self
            .attn
            .forward(MhaInput::self_attn(modulate(
                self.norm1.forward(x.clone()),
                shift1,
                scale1,
            )))
            .context;
        let x = x + attended * gate1.unsqueeze_dim(1);
        let hidden = modulate(self.norm2.forward(x.clone()), shift2, scale2);
        let mlp = self.fc2.forward(activation::gelu(self.fc1.forward(hidden)));
        x + mlp * gate2.unsqueeze_dim(1)
    }
}

/// The DiT: latent tokens in, velocity out.
#[derive(Module, Debug)]
pub struct DenoiserModel {
    pub x_embedder: Linear,
    pub pos_embed: burn::module::Param<Tensor<2>>,
    pub t_embedder_fc1: Linear,
    pub t_embedder_fc2: Linear,
    pub c_embedder: Linear,
    pub blocks: Vec<DitBlock>,
    pub final_norm: LayerNorm,
    pub final_modulation: Linear,
    pub final_linear: Linear,
    #[module(skip)]
    pub config: DenoiserConfig,
}

/// 2-D sine/cosine positions, DiT's fixed code: the starting point of `pos_embed`, so every
/// position is distinct from the first step.
fn sincos_positions(size: usize, dim: usize) -> Vec<f32> {
    let quarter = dim / 4;
    let omegas: Vec<f32> = (0..quarter)
        .map(|i| 1.0 / 10000f32.powf(i as f32 / quarter.max(1) as f32))
        .collect();
    let mut out = Vec::with_capacity(size * size * dim);
    for row in 0..size {
        for column in 0..size {
            // First half: the column; second half: the row; each as sines then cosines.
            for coordinate in [column as f32, row as f32] {
                out.extend(omegas.iter().map(|omega| (coordinate * omega).sin()));
                out.extend(omegas.iter().map(|omega| (coordinate * omega).cos()));
            }
            // A width that is not a multiple of 4 leaves the last values at zero.
            out.resize(out.len() + dim - 4 * quarter, 0.0);
        }
    }
    out
}

/// Sinusoidal embedding of times in [0, 1] (scaled by 1000, as diffusion timesteps are).
fn timestep_embedding(t: Tensor<1>, dim: usize) -> Tensor<2> {
    let half = dim / 2;
    let device = t.device();
    let freqs: Vec<f32> = (0..half)
        .map(|i| (-(10000f32.ln()) * i as f32 / half as f32).exp())
        .collect();
    let freqs = Tensor::<1>::from_floats(freqs.as_slice(), &device).unsqueeze_dim::<2>(0);
    let args = (t * 1000.0).unsqueeze_dim::<2>(1) * freqs;
    Tensor::cat(vec![args.clone().cos(), args.sin()], 1)
}

impl DenoiserModel {
    pub fn new(config: &DenoiserConfig, device: &Device) -> Self {
        let h = config.hidden_size;
        let positions = sincos_positions(config.latent_size, h);
        DenoiserModel {
            x_embedder: linear(config.latent_channels, h, device),
            pos_embed: burn::module::Param::from_tensor(Tensor::from_data(
                burn::tensor::TensorData::new(positions, [config.tokens(), h]),
                device,
            )),
            t_embedder_fc1: linear(config.frequency_embedding_size, h, device),
            t_embedder_fc2: linear(h, h, device),
            c_embedder: linear(config.condition_dim, h, device),
            blocks: (0..config.depth)
                .map(|_| DitBlock::new(config, device))
                .collect(),
            final_norm: LayerNormConfig::new(h).with_epsilon(1e-6).init(device),
            final_modulation: zero_linear(h, 2 * h, device),
            final_linear: zero_linear(h, config.latent_channels, device),
            config: config.clone(),
        }
    }

    /// Velocity for latents `x` `[b, c, s, s]` at times `t` `[b]` given conditions `[b, d]`
    /// (all-zero rows: unconditional).
    pub fn forward(&self, x: Tensor<4>, t: Tensor<1>, condition: Tensor<2>) -> Tensor<4> {
        let [batch, channels, height, width] = x.dims();
        let tokens = x.reshape([batch, channels, height * width]).swap_dims(1, 2);
        let h = self.x_embedder.forward(tokens) + self.pos_embed.val().unsqueeze_dim(0);
        let time = self
            .t_embedder_fc2
            .forward(activation::silu(self.t_embedder_fc1.forward(
                timestep_embedding(t, self.config.frequency_embedding_size),
            )));
        let c = time + self.c_embedder.forward(condition);
        let h = self
            .blocks
            .iter()
            .fold(h, |h, block| block.forward(h, c.clone()));
        let [shift, scale] = <[Tensor<2>; 2]>::try_from(
            self.final_modulation
                .forward(activation::silu(c))
                .chunk(2, 1),
        )
        .expect("two chunks");
        let out = self
            .final_linear
            .forward(modulate(self.final_norm.forward(h), shift, scale));
        out.swap_dims(1, 2)
            .reshape([batch, channels, height, width])
    }
}

/// The weight file of a denoiser directory (beside `config.json` and `schedule.json`).
pub const WEIGHTS_FILE: &str = "denoiser.safetensors";

impl DenoiserModel {
    /// The weights in PyTorch layout (`nn.Linear` weights `[out, in]`), stored as `dtype`.
    pub fn to_safetensors(&self, dtype: crate::data::bundle::StoredDtype) -> Result<Vec<u8>> {
        crate::data::weights::save_module(self, dtype, false)
    }

    /// Loads weights (f32 or f16) for a configuration; every tensor is checked by name.
    pub fn from_safetensors(
        config: &DenoiserConfig,
        weights: Vec<u8>,
        file_name: &str,
        device: &Device,
    ) -> Result<Self> {
        config.validate()?;
        let options = crate::data::weights::LoadOptions {
            pytorch_layout: true,
            ..Default::default()
        };
        crate::data::weights::load_module(
            DenoiserModel::new(config, device),
            file_name,
            weights,
            &options,
        )
    }
}
