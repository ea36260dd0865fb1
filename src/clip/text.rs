//! The text tower (`CLIPTextTransformer`): token + position embeddings, a causal encoder,
//! `final_layer_norm`, pooling at the end-of-text token.

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::clip::config::ClipTextConfig;
use crate::clip::encoder::{ClipEncoder, EncoderShape, normal};

/// `text_model.embeddings`.
#[derive(Module, Debug)]
pub struct ClipTextEmbeddings {
    pub token_embedding: Embedding,
    pub position_embedding: Embedding,
}

/// `text_model`.
#[derive(Module, Debug)]
pub struct ClipTextTransformer {
    pub embeddings: ClipTextEmbeddings,
    pub encoder: ClipEncoder,
    pub final_layer_norm: LayerNorm,
}

/// A batch of token ids, already cut to its longest sequence.
#[derive(Debug, Clone)]
pub struct TokenBatch {
    /// Row-major `[batch, seq]`.
    pub ids: Vec<u32>,
    pub batch: usize,
    pub seq: usize,
    /// Position of the pooled (end-of-text) token in each row.
    pub pool_at: Vec<usize>,
}

impl ClipTextTransformer {
    pub fn new(config: &ClipTextConfig, device: &Device) -> Self {
        let hidden = config.hidden_size;
        ClipTextTransformer {
            embeddings: ClipTextEmbeddings {
                token_embedding: EmbeddingConfig::new(config.vocab_size, hidden)
                    .with_initializer(normal(0.02))
                    .init(device),
                position_embedding: EmbeddingConfig::new(config.max_position_embeddings, hidden)
                    .with_initializer(normal(0.02))
                    .init(device),
            },
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
            final_layer_norm: LayerNormConfig::new(hidden)
                .with_epsilon(config.layer_norm_eps)
                .init(device),
        }
    }

    /// Token + position embeddings: `[batch, seq, hidden]`.
    pub fn embed(&self, tokens: &TokenBatch) -> Tensor<3> {
        let device = self.embeddings.token_embedding.weight.device();
        let ids: Vec<i64> = tokens.ids.iter().map(|&t| t as i64).collect();
        let ids =
            Tensor::<2, Int>::from_data(TensorData::new(ids, [tokens.batch, tokens.seq]), &device);
        let positions =
            Tensor::<1, Int>::arange(0..tokens.seq as i64, &device).reshape([1, tokens.seq]);
        self.embeddings.token_embedding.forward(ids)
            + self.embeddings.position_embedding.forward(positions)
    }

    /// Hidden states after the first `layers` encoder layers (for debugging parity).
    pub fn hidden_states(&self, tokens: &TokenBatch, layers: usize) -> Tensor<3> {
        self.encoder.forward(self.embed(tokens), true, Some(layers))
    }

    /// The pooled output: `final_layer_norm` of the end-of-text position, `[batch, hidden]`.
    pub fn forward(&self, tokens: &TokenBatch) -> Tensor<2> {
        let hidden =
            self.final_layer_norm
                .forward(self.encoder.forward(self.embed(tokens), true, None));
        let [batch, seq, width] = hidden.dims();
        let device = hidden.device();
        let rows: Vec<i64> = tokens
            .pool_at
            .iter()
            .enumerate()
            .map(|(row, &at)| (row * seq + at) as i64)
            .collect();
        let rows = Tensor::<1, Int>::from_data(TensorData::new(rows, [batch]), &device);
        hidden.reshape([batch * seq, width]).select(0, rows)
    }
}
