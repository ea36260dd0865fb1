//! The vision tower (`CLIPVisionTransformer`): patch embedding, class token, positions,
//! `pre_layrnorm` (sic), encoder, `post_layernorm` of the class token.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig};
use burn::tensor::{Device, Int, Tensor};

use crate::clip::config::ClipVisionConfig;
use crate::clip::encoder::{ClipEncoder, EncoderShape, normal};

/// `vision_model.embeddings`.
#[derive(Module, Debug)]
pub struct ClipVisionEmbeddings {
    pub class_embedding: Param<Tensor<1>>,
    pub patch_embedding: Conv2d,
    pub position_embedding: Embedding,
}

/// `vision_model`.
#[derive(Module, Debug)]
pub struct ClipVisionTransformer {
    pub embeddings: ClipVisionEmbeddings,
    pub pre_layrnorm: LayerNorm,
    pub encoder: ClipEncoder,
    pub post_layernorm: LayerNorm,
}

impl ClipVisionTransformer {
    pub fn new(config: &ClipVisionConfig, device: &Device) -> Self {
        let hidden = config.hidden_size;
        let patch = config.patch_size;
        let positions = config.grid() * config.grid() + 1;
        let norm = || {
            LayerNormConfig::new(hidden)
                .with_epsilon(config.layer_norm_eps)
                .init(device)
        };
        ClipVisionTransformer {
            embeddings: ClipVisionEmbeddings {
                class_embedding: normal((hidden as f64).powf(-0.5)).init([hidden], device),
                patch_embedding: Conv2dConfig::new([config.num_channels, hidden], [patch, patch])
                    .with_stride([patch, patch])
                    .with_bias(false)
                    .with_initializer(normal(0.02))
                    .init(device),
                position_embedding: EmbeddingConfig::new(positions, hidden)
                    .with_initializer(normal(0.02))
                    .init(device),
            },
            pre_layrnorm: norm(),
            encoder: ClipEncoder::new(
                EncoderShape {
                    hidden,
                    intermediate: config.intermediate_size,
                    layers: config.num_hidden_layers,
                    heads: config.num_attention_heads,
                    eps: config.layer_norm_eps,
                    activation: config.hidden_act,
                },
                device,
            ),
            post_layernorm: norm(),
        }
    }

    /// Class token + patch embeddings + positions: `[batch, 1 + patches, hidden]`.
    pub fn embed(&self, pixels: Tensor<4>) -> Tensor<3> {
        let [batch, _, _, _] = pixels.dims();
        let patches = self.embeddings.patch_embedding.forward(pixels); // [b, hidden, gh, gw]
        let [_, hidden, gh, gw] = patches.dims();
        let patches = patches.reshape([batch, hidden, gh * gw]).swap_dims(1, 2);
        let class = self
            .embeddings
            .class_embedding
            .val()
            .reshape([1, 1, hidden])
            .expand([batch, 1, hidden]);
        let tokens = Tensor::cat(vec![class, patches], 1);
        let device = tokens.device();
        let positions =
            Tensor::<1, Int>::arange(0..(gh * gw + 1) as i64, &device).reshape([1, gh * gw + 1]);
        tokens + self.embeddings.position_embedding.forward(positions)
    }

    /// Hidden states after `pre_layrnorm` and the first `layers` encoder layers.
    pub fn hidden_states(&self, pixels: Tensor<4>, layers: usize) -> Tensor<3> {
        let x = self.pre_layrnorm.forward(self.embed(pixels));
        self.encoder.forward(x, false, Some(layers))
    }

    /// The pooled output: `post_layernorm` of the class token, `[batch, hidden]`.
    pub fn forward(&self, pixels: Tensor<4>) -> Tensor<2> {
        let x = self.pre_layrnorm.forward(self.embed(pixels));
        let x = self.encoder.forward(x, false, None);
        let [batch, _, hidden] = x.dims();
        let class: Tensor<2> = x
            .slice([0..batch, 0..1, 0..hidden])
            .reshape([batch, hidden]);
        self.post_layernorm.forward(class)
    }
}
