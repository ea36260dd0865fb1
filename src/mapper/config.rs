//! The mapper's configuration: its variant, sizes, dropout and temperature, checked before a
//! model is built from it.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

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
