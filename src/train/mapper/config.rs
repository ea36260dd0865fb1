//! The trainer's settings and what it reports each epoch.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::train::checkpoint::warmup_cosine;

/// Extra regression term alongside the contrastive losses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AuxLoss {
    #[default]
    None,
    Cosine,
    Mse,
}

/// Optimisation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f32,
    /// Fraction of all steps spent warming the learning rate up linearly.
    pub warmup_fraction: f64,
    /// Per-tensor gradient-norm clipping (None: off).
    pub grad_clip: Option<f32>,
    /// Initial InfoNCE temperature τ (logits are cosine / τ).
    pub temperature: f32,
    pub learn_temperature: bool,
    /// Weight of InfoNCE(fMRI, image); 0 disables image supervision.
    pub lambda_image: f32,
    /// Weight of InfoNCE(fMRI, text); 0 disables text supervision.
    pub lambda_text: f32,
    /// Weight of the VAE's KL term (reached after `beta_warmup_epochs`).
    pub beta: f32,
    pub beta_warmup_epochs: usize,
    pub aux: AuxLoss,
    pub aux_weight: f32,
    /// Fraction of stimuli held out for validation and early stopping (0: none).
    pub val_fraction: f64,
    /// Stop after this many epochs without a better validation score (0: never).
    pub patience: usize,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 60,
            batch_size: 128,
            learning_rate: 3e-4,
            weight_decay: 0.05,
            warmup_fraction: 0.05,
            grad_clip: Some(1.0),
            temperature: 0.07,
            learn_temperature: true,
            lambda_image: 1.0,
            lambda_text: 1.0,
            beta: 1e-3,
            beta_warmup_epochs: 5,
            aux: AuxLoss::None,
            aux_weight: 0.0,
            val_fraction: 0.1,
            patience: 10,
            seed: 0,
        }
    }
}

impl TrainConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| {
            Err(Error::InvalidConfig {
                what: "training settings".into(),
                reason,
            })
        };
        if self.epochs == 0 {
            return bad("epochs must be at least 1".into());
        }
        if self.batch_size < 2 {
            return bad(format!(
                "batch size is {}; contrastive training needs at least 2",
                self.batch_size
            ));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return bad(format!(
                "learning rate {} must be positive",
                self.learning_rate
            ));
        }
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return bad(format!("temperature {} must be positive", self.temperature));
        }
        if !(0.0..1.0).contains(&self.val_fraction) {
            return bad(format!(
                "validation fraction {} must be in [0, 1)",
                self.val_fraction
            ));
        }
        for (name, w) in [
            ("lambda_image", self.lambda_image),
            ("lambda_text", self.lambda_text),
            ("beta", self.beta),
            ("aux_weight", self.aux_weight),
        ] {
            if !(w >= 0.0 && w.is_finite()) {
                return bad(format!("{name} is {w}; expected a weight ≥ 0"));
            }
        }
        if self.lambda_image == 0.0 && self.lambda_text == 0.0 {
            return bad("lambda_image and lambda_text are both 0: nothing to learn".into());
        }
        Ok(())
    }

    pub(crate) fn learning_rate_at(&self, step: usize, total: usize) -> f64 {
        warmup_cosine(self.learning_rate, self.warmup_fraction, step, total)
    }
}

/// What `trainMapper` trains in the browser unless told otherwise: an MLP mapper (hidden 128,
/// one residual block, latent 64; 614 k parameters at 4,404 voxels) for at most 30 epochs
/// with patience 10, other settings as [`TrainConfig::default`]. Chosen on the simulated
/// world's development split (seen categories only; README, "Training in the browser"):
/// there it decodes as well as the demo's larger VAE mapper in a third of the time.
pub fn browser_preset(
    voxels: usize,
    image_dim: usize,
    text_dim: usize,
) -> (crate::mapper::MapperConfig, TrainConfig) {
    let mut mapper = crate::mapper::MapperConfig::new(
        crate::mapper::MapperVariant::Mlp,
        voxels,
        image_dim,
        text_dim,
    );
    mapper.hidden = 128;
    mapper.blocks = 1;
    mapper.latent = 64;
    let train = TrainConfig {
        epochs: 30,
        patience: 10,
        ..TrainConfig::default()
    };
    (mapper, train)
}

/// One line of the training log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    pub epoch: usize,
    pub loss: f64,
    pub loss_image: f64,
    pub loss_text: f64,
    pub kl: f64,
    /// fMRI → image top-1 among the validation stimuli.
    pub val_image_top1: Option<f64>,
    /// fMRI → caption top-1 among the validation trials' captions.
    pub val_text_top1: Option<f64>,
    /// Chance level of `val_image_top1`.
    pub val_image_chance: Option<f64>,
    /// Chance level of `val_text_top1`.
    pub val_text_chance: Option<f64>,
    pub learning_rate: f64,
    pub temperature: f64,
    pub samples_per_second: f64,
    /// This epoch's weights are the best so far (and are the ones kept).
    pub best: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learning_rate_warms_up_then_decays_to_zero() {
        let config = TrainConfig {
            learning_rate: 1.0,
            warmup_fraction: 0.1,
            ..TrainConfig::default()
        };
        assert!((config.learning_rate_at(0, 100) - 0.1).abs() < 1e-12);
        assert!((config.learning_rate_at(9, 100) - 1.0).abs() < 1e-12);
        assert!(config.learning_rate_at(50, 100) < 1.0);
        assert!(config.learning_rate_at(99, 100) < 0.01);
    }
}
