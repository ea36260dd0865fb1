//! The transformer encoder shared by both towers, with Hugging Face `CLIPEncoder` names:
//! `layers.{i}.{layer_norm1, self_attn.{q,k,v,out}_proj, layer_norm2, mlp.fc1, mlp.fc2}`.

use burn::module::Module;
use burn::nn::{Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::Tensor;
use burn::tensor::activation::{gelu, sigmoid};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;

use crate::clip::config::Activation;

/// Multi-head self-attention (`CLIPAttention`).
#[derive(Module, Debug)]
pub struct ClipAttention {
    pub q_proj: Linear,
    pub k_proj: Linear,
    pub v_proj: Linear,
    pub out_proj: Linear,
    pub num_heads: usize,
}

/// Hugging Face's `CLIPPreTrainedModel._init_weights`: normal weights with these standard
/// deviations (small, scaled by width and depth), which is what training from scratch
/// expects. Loading a checkpoint replaces them unread (burn initialises lazily).
pub fn normal(std: f64) -> Initializer {
    Initializer::Normal { mean: 0.0, std }
}

impl ClipAttention {
    /// `layers`: depth of the encoder, which scales the input projections' initialisation.
    pub fn new(
        hidden: usize,
        num_heads: usize,
        layers: usize,
        device: &burn::tensor::Device,
    ) -> Self {
        let in_std = (hidden as f64).powf(-0.5) * ((2 * layers) as f64).powf(-0.5);
        let linear = |std: f64| {
            LinearConfig::new(hidden, hidden)
                .with_initializer(normal(std))
                .init(device)
        };
        ClipAttention {
            q_proj: linear(in_std),
            k_proj: linear(in_std),
            v_proj: linear(in_std),
            out_proj: linear((hidden as f64).powf(-0.5)),
            num_heads,
        }
    }

    /// `x`: `[batch, seq, hidden]`; `causal`: hide later positions (text tower).
    pub fn forward(&self, x: Tensor<3>, causal: bool) -> Tensor<3> {
        let [batch, seq, hidden] = x.dims();
        let head_dim = hidden / self.num_heads;
        let split = |t: Tensor<3>| {
            t.reshape([batch, seq, self.num_heads, head_dim])
                .swap_dims(1, 2)
        };
        let q = split(self.q_proj.forward(x.clone()));
        let k = split(self.k_proj.forward(x.clone()));
        let v = split(self.v_proj.forward(x));
        // softmax(q kᵀ / √head_dim) v, fused by the backend (flash attention where it has one).
        let options = AttentionModuleOptions {
            scale: Some((head_dim as f64).powf(-0.5)),
            softcap: None,
            is_causal: causal,
        };
        let context = attention(q, k, v, None, None, options);
        let merged = context.swap_dims(1, 2).reshape([batch, seq, hidden]);
        self.out_proj.forward(merged)
    }
}

/// The feed-forward block (`CLIPMLP`).
#[derive(Module, Debug)]
pub struct ClipMlp {
    pub fc1: Linear,
    pub fc2: Linear,
    #[module(skip)]
    pub activation: Activation,
}

impl ClipMlp {
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let h = self.fc1.forward(x);
        let h = match self.activation {
            Activation::QuickGelu => h.clone() * sigmoid(h.mul_scalar(1.702)),
            Activation::Gelu => gelu(h),
        };
        self.fc2.forward(h)
    }
}

/// One pre-norm residual block (`CLIPEncoderLayer`).
#[derive(Module, Debug)]
pub struct ClipEncoderLayer {
    pub layer_norm1: LayerNorm,
    pub self_attn: ClipAttention,
    pub layer_norm2: LayerNorm,
    pub mlp: ClipMlp,
}

impl ClipEncoderLayer {
    pub fn forward(&self, x: Tensor<3>, causal: bool) -> Tensor<3> {
        let x = x.clone() + self.self_attn.forward(self.layer_norm1.forward(x), causal);
        x.clone() + self.mlp.forward(self.layer_norm2.forward(x))
    }
}

/// The stack of layers (`CLIPEncoder`).
#[derive(Module, Debug)]
pub struct ClipEncoder {
    pub layers: Vec<ClipEncoderLayer>,
}

/// Sizes of an encoder.
#[derive(Debug, Clone, Copy)]
pub struct EncoderShape {
    pub hidden: usize,
    pub intermediate: usize,
    pub layers: usize,
    pub heads: usize,
    pub eps: f64,
    pub activation: Activation,
}

impl ClipEncoder {
    pub fn new(shape: EncoderShape, device: &burn::tensor::Device) -> Self {
        let norm = || {
            LayerNormConfig::new(shape.hidden)
                .with_epsilon(shape.eps)
                .init(device)
        };
        let hidden = shape.hidden as f64;
        let fc1_std = (2.0 * hidden).powf(-0.5);
        let fc2_std = hidden.powf(-0.5) * ((2 * shape.layers) as f64).powf(-0.5);
        let layers = (0..shape.layers)
            .map(|_| ClipEncoderLayer {
                layer_norm1: norm(),
                self_attn: ClipAttention::new(shape.hidden, shape.heads, shape.layers, device),
                layer_norm2: norm(),
                mlp: ClipMlp {
                    fc1: LinearConfig::new(shape.hidden, shape.intermediate)
                        .with_initializer(normal(fc1_std))
                        .init(device),
                    fc2: LinearConfig::new(shape.intermediate, shape.hidden)
                        .with_initializer(normal(fc2_std))
                        .init(device),
                    activation: shape.activation,
                },
            })
            .collect();
        ClipEncoder { layers }
    }

    /// Runs every layer; `keep_first` returns the hidden state after that many layers instead.
    pub fn forward(&self, mut x: Tensor<3>, causal: bool, keep_first: Option<usize>) -> Tensor<3> {
        let count = keep_first
            .unwrap_or(self.layers.len())
            .min(self.layers.len());
        for layer in &self.layers[..count] {
            x = layer.forward(x, causal);
        }
        x
    }
}
