//! CLIP configuration, readable from a Hugging Face `config.json` (`CLIPConfig`), with the
//! OpenAI presets. Field names follow Hugging Face so a `config.json` deserialises as is.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The MLP activation (`hidden_act`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// `x * sigmoid(1.702 x)` — what OpenAI's checkpoints were trained with.
    #[default]
    QuickGelu,
    /// Exact (erf) GELU.
    Gelu,
}

fn d_text_hidden() -> usize {
    512
}
fn d_text_intermediate() -> usize {
    2048
}
fn d_text_layers() -> usize {
    12
}
fn d_text_heads() -> usize {
    8
}
fn d_vocab() -> usize {
    49408
}
fn d_context() -> usize {
    77
}
fn d_eos() -> u32 {
    49407
}
fn d_eps() -> f64 {
    1e-5
}
fn d_vision_hidden() -> usize {
    768
}
fn d_vision_intermediate() -> usize {
    3072
}
fn d_vision_heads() -> usize {
    12
}
fn d_image_size() -> usize {
    224
}
fn d_patch_size() -> usize {
    32
}
fn d_channels() -> usize {
    3
}
fn d_projection() -> usize {
    512
}
fn d_logit_scale() -> f32 {
    2.6592
}

/// `text_config` of a Hugging Face `CLIPConfig`; defaults are Hugging Face's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipTextConfig {
    #[serde(default = "d_vocab")]
    pub vocab_size: usize,
    #[serde(default = "d_text_hidden")]
    pub hidden_size: usize,
    #[serde(default = "d_text_intermediate")]
    pub intermediate_size: usize,
    #[serde(default = "d_text_layers")]
    pub num_hidden_layers: usize,
    #[serde(default = "d_text_heads")]
    pub num_attention_heads: usize,
    /// Context length (77 for OpenAI CLIP).
    #[serde(default = "d_context")]
    pub max_position_embeddings: usize,
    #[serde(default)]
    pub hidden_act: Activation,
    #[serde(default = "d_eps")]
    pub layer_norm_eps: f64,
    /// End-of-text id. The legacy value 2 means "pool at the largest id" (the EOT token
    /// is the largest id of the OpenAI vocabulary), as in `modeling_clip.py`.
    #[serde(default = "d_eos")]
    pub eos_token_id: u32,
}

/// `vision_config` of a Hugging Face `CLIPConfig`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipVisionConfig {
    #[serde(default = "d_vision_hidden")]
    pub hidden_size: usize,
    #[serde(default = "d_vision_intermediate")]
    pub intermediate_size: usize,
    #[serde(default = "d_text_layers")]
    pub num_hidden_layers: usize,
    #[serde(default = "d_vision_heads")]
    pub num_attention_heads: usize,
    #[serde(default = "d_image_size")]
    pub image_size: usize,
    #[serde(default = "d_patch_size")]
    pub patch_size: usize,
    #[serde(default = "d_channels")]
    pub num_channels: usize,
    #[serde(default)]
    pub hidden_act: Activation,
    #[serde(default = "d_eps")]
    pub layer_norm_eps: f64,
}

/// A whole CLIP model: both towers and the joint embedding size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipConfig {
    #[serde(rename = "text_config")]
    pub text: ClipTextConfig,
    #[serde(rename = "vision_config")]
    pub vision: ClipVisionConfig,
    #[serde(default = "d_projection")]
    pub projection_dim: usize,
    #[serde(rename = "logit_scale_init_value", default = "d_logit_scale")]
    pub logit_scale_init: f32,
}

impl ClipTextConfig {
    fn openai(hidden: usize, heads: usize) -> Self {
        ClipTextConfig {
            vocab_size: d_vocab(),
            hidden_size: hidden,
            intermediate_size: 4 * hidden,
            num_hidden_layers: 12,
            num_attention_heads: heads,
            max_position_embeddings: d_context(),
            hidden_act: Activation::QuickGelu,
            layer_norm_eps: d_eps(),
            eos_token_id: d_eos(),
        }
    }
}

impl ClipVisionConfig {
    fn openai(hidden: usize, layers: usize, heads: usize, image: usize, patch: usize) -> Self {
        ClipVisionConfig {
            hidden_size: hidden,
            intermediate_size: 4 * hidden,
            num_hidden_layers: layers,
            num_attention_heads: heads,
            image_size: image,
            patch_size: patch,
            num_channels: 3,
            hidden_act: Activation::QuickGelu,
            layer_norm_eps: d_eps(),
        }
    }

    /// Patches per side.
    pub fn grid(&self) -> usize {
        self.image_size / self.patch_size
    }
}

impl ClipConfig {
    /// `openai/clip-vit-base-patch32`.
    pub fn vit_b_32() -> Self {
        ClipConfig {
            text: ClipTextConfig::openai(512, 8),
            vision: ClipVisionConfig::openai(768, 12, 12, 224, 32),
            projection_dim: 512,
            logit_scale_init: d_logit_scale(),
        }
    }

    /// `openai/clip-vit-base-patch16`.
    pub fn vit_b_16() -> Self {
        ClipConfig {
            vision: ClipVisionConfig::openai(768, 12, 12, 224, 16),
            ..Self::vit_b_32()
        }
    }

    /// `openai/clip-vit-large-patch14`.
    pub fn vit_l_14() -> Self {
        ClipConfig {
            text: ClipTextConfig::openai(768, 12),
            vision: ClipVisionConfig::openai(1024, 24, 16, 224, 14),
            projection_dim: 768,
            logit_scale_init: d_logit_scale(),
        }
    }

    /// `openai/clip-vit-large-patch14-336`.
    pub fn vit_l_14_336() -> Self {
        let mut config = Self::vit_l_14();
        config.vision.image_size = 336;
        config
    }

    /// A very small CLIP with the full OpenAI vocabulary, for tests and the simulated world.
    pub fn tiny() -> Self {
        ClipConfig {
            text: ClipTextConfig {
                hidden_size: 64,
                intermediate_size: 256,
                num_hidden_layers: 2,
                num_attention_heads: 4,
                max_position_embeddings: 32,
                ..ClipTextConfig::openai(64, 4)
            },
            vision: ClipVisionConfig::openai(64, 2, 4, 64, 8),
            projection_dim: 64,
            logit_scale_init: d_logit_scale(),
        }
    }

    /// A preset by name: `vit_b_32`, `vit_b_16`, `vit_l_14`, `vit_l_14_336`, `tiny`.
    pub fn preset(name: &str) -> Result<Self> {
        Ok(
            match name.replace(['-', '/'], "_").to_ascii_lowercase().as_str() {
                "vit_b_32" => Self::vit_b_32(),
                "vit_b_16" => Self::vit_b_16(),
                "vit_l_14" => Self::vit_l_14(),
                "vit_l_14_336" => Self::vit_l_14_336(),
                "tiny" => Self::tiny(),
                _ => {
                    return Err(Error::InvalidConfig {
                        what: "CLIP preset".into(),
                        reason: format!(
                            "'{name}' is unknown; expected vit_b_32, vit_b_16, vit_l_14, vit_l_14_336 or tiny"
                        ),
                    });
                }
            },
        )
    }

    /// A Hugging Face `config.json` for this configuration.
    pub fn to_hf_json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).expect("config serialises");
        value["model_type"] = "clip".into();
        value["architectures"] = serde_json::json!(["CLIPModel"]);
        value
    }

    /// Reads a Hugging Face `config.json` (a `CLIPConfig`).
    pub fn from_hf_json(bytes: &[u8]) -> Result<Self> {
        let config: ClipConfig =
            serde_json::from_slice(bytes).map_err(|err| Error::InvalidConfig {
                what: "CLIP config.json".into(),
                reason: err.to_string(),
            })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the divisibility constraints the towers rely on.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| {
            Err(Error::InvalidConfig {
                what: "CLIP config".into(),
                reason,
            })
        };
        let t = &self.text;
        let v = &self.vision;
        if t.num_attention_heads == 0 || !t.hidden_size.is_multiple_of(t.num_attention_heads) {
            return bad(format!(
                "text_config.hidden_size {} must be a multiple of num_attention_heads {}",
                t.hidden_size, t.num_attention_heads
            ));
        }
        if v.num_attention_heads == 0 || !v.hidden_size.is_multiple_of(v.num_attention_heads) {
            return bad(format!(
                "vision_config.hidden_size {} must be a multiple of num_attention_heads {}",
                v.hidden_size, v.num_attention_heads
            ));
        }
        if v.patch_size == 0 || !v.image_size.is_multiple_of(v.patch_size) {
            return bad(format!(
                "vision_config.image_size {} must be a multiple of patch_size {}",
                v.image_size, v.patch_size
            ));
        }
        if t.max_position_embeddings < 3 || t.vocab_size == 0 || self.projection_dim == 0 {
            return bad("text context, vocabulary and projection sizes must be positive".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hf_json_with_omitted_fields_takes_hf_defaults() {
        let config =
            ClipConfig::from_hf_json(br#"{"text_config": {}, "vision_config": {}}"#).unwrap();
        assert_eq!(config, ClipConfig::vit_b_32());
    }

    #[test]
    fn presets_are_valid() {
        for name in ["vit_b_32", "vit-b-16", "vit_l_14", "vit_l_14_336", "tiny"] {
            ClipConfig::preset(name).unwrap().validate().unwrap();
        }
        assert_eq!(
            ClipConfig::preset("nope").unwrap_err().code(),
            "invalid_config"
        );
    }

    #[test]
    fn inconsistent_sizes_are_refused() {
        let mut config = ClipConfig::tiny();
        config.vision.patch_size = 7;
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("patch_size 7")
        );
    }
}
