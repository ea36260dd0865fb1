//! Training the conditional denoiser (the teacher) with the rectified-flow objective, and
//! distilling it into few-step students by progressive distillation.
//!
//! Teacher: `x_t = (1 − t)·x₀ + t·ε` with t uniform, the loss is the squared error of the
//! predicted velocity against `ε − x₀`; the condition is replaced by zeros for a fraction of
//! samples so the same network also predicts unconditionally (classifier-free guidance).
//!
//! Distillation: a student that takes N/2 steps learns to land, in one step, where two guided
//! steps of its N-step teacher land (Salimans & Ho's progressive distillation, on the
//! rectified-flow grid, with the guidance baked into the targets as Meng et al. do). Each
//! round starts from its teacher's weights and halves the steps. Both are plain regression
//! against a frozen network: no EMA target, no perceptual or adversarial loss.
//!
//! Reproducible and resumable like the other trainers.

mod data;
mod objective;

use std::path::Path;

use burn::module::Module;
use burn::tensor::Device;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::bundle::StoredDtype;
use crate::data::weights::{LoadOptions, load_module, save_module as save_weights};
use crate::diffusion::denoiser::{DenoiserConfig, DenoiserModel};
use crate::error::{Error, Result};
use crate::train::checkpoint::{RunState, adamw, scalar, stream_seed};
use crate::train::epoch::{RunPlan, Streams, optimise_epoch};

pub use data::DenoiserTrainingData;
use objective::Objective;

/// Optimisation settings (teacher training and each distillation round).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DenoiserTrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f32,
    pub warmup_fraction: f64,
    pub grad_clip: Option<f32>,
    /// Fraction of samples trained unconditionally (teacher only).
    pub condition_dropout: f64,
    /// Noise augmentation of the condition, as unCLIP does for its image embedding: each
    /// sample's unit embedding gets Gaussian noise of norm about `U(0, condition_noise)` and
    /// is renormalised, so the denoiser also learns from conditions off the clean manifold,
    /// like a mapper's predictions. Left out of the checkpoint fingerprint while 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub condition_noise: f64,
    /// Every this many samples is held out to measure the loss on.
    pub holdout_every: usize,
    pub seed: u64,
}

impl Default for DenoiserTrainConfig {
    fn default() -> Self {
        DenoiserTrainConfig {
            epochs: 40,
            batch_size: 64,
            learning_rate: 1e-3,
            weight_decay: 0.0,
            warmup_fraction: 0.02,
            grad_clip: Some(1.0),
            condition_dropout: 0.1,
            condition_noise: 0.0,
            holdout_every: 20,
            seed: 0,
        }
    }
}

/// One line of the training log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DenoiserEpochReport {
    pub epoch: usize,
    pub loss: f64,
    /// The same loss on held-out samples, with fixed noise and times.
    pub validation_loss: f64,
    pub learning_rate: f64,
    pub samples_per_second: f64,
}

pub struct DenoiserTrainOutcome {
    pub model: DenoiserModel,
    pub history: Vec<DenoiserEpochReport>,
}

const MODEL_FILE: &str = "denoiser.bpk";
const PURPOSE_INIT: u64 = 41;
pub(super) const PURPOSE_ORDER: u64 = 42;
const PURPOSE_STEP: u64 = 43;
const PURPOSE_VALIDATION: u64 = 44;

fn is_zero(value: &f64) -> bool {
    *value == 0.0
}

fn check(config: &DenoiserTrainConfig) -> Result<()> {
    if config.epochs == 0 || config.batch_size == 0 {
        return Err(Error::InvalidConfig {
            what: "denoiser training".into(),
            reason: "epochs and batch_size must be at least 1".into(),
        });
    }
    if !(0.0..=4.0).contains(&config.condition_noise) {
        return Err(Error::InvalidConfig {
            what: "denoiser training".into(),
            reason: format!(
                "condition_noise {} must be in [0, 4] (the noise's norm against the unit embedding)",
                config.condition_noise
            ),
        });
    }
    if !(0.0..1.0).contains(&config.condition_dropout) {
        return Err(Error::InvalidConfig {
            what: "denoiser training".into(),
            reason: format!(
                "condition_dropout {} must be in [0, 1)",
                config.condition_dropout
            ),
        });
    }
    Ok(())
}

/// The shared loop: seeded batches, AdamW with warm-up and cosine decay, a held-out loss and
/// an atomic checkpoint after every epoch.
#[allow(clippy::too_many_arguments)]
fn run(
    denoiser_config: &DenoiserConfig,
    start: Option<&DenoiserModel>,
    objective: &Objective,
    name: &str,
    data: &DenoiserTrainingData,
    config: &DenoiserTrainConfig,
    checkpoint_dir: Option<&Path>,
    resume: bool,
    on_epoch: &mut dyn FnMut(&DenoiserEpochReport) -> bool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<DenoiserTrainOutcome> {
    check(config)?;
    denoiser_config.validate()?;
    data.validate(denoiser_config)?;
    let device = Device::flex().autodiff();
    let mut model = crate::device::init_seeded(
        &device,
        Some(stream_seed(config.seed, PURPOSE_INIT, 0, 0)),
        || DenoiserModel::new(denoiser_config, &device),
    );
    if let Some(start) = start {
        // Through stored bytes: loaded weights become tracked leaves of the autodiff graph.
        let bytes = save_weights(start, StoredDtype::F32, false)?;
        let options = LoadOptions {
            pytorch_layout: true,
            ..LoadOptions::default()
        };
        model = load_module(model, "(start weights)", bytes, &options)?;
    }
    let optimizer = adamw(config.weight_decay, config.grad_clip);
    let holdout_every = config.holdout_every.max(2);
    let (holdout, train): (Vec<usize>, Vec<usize>) =
        (0..data.count).partition(|i| i % holdout_every == holdout_every - 1);
    let steps_per_epoch = train.len().div_ceil(config.batch_size);
    let total_steps = steps_per_epoch * config.epochs;
    let fingerprint = serde_json::json!({
        "name": name,
        "denoiser": denoiser_config,
        "train": config,
        "data": content_hash(data),
    })
    .to_string();
    let (mut state, mut model, mut optimizer) = RunState::start(
        fingerprint,
        checkpoint_dir,
        resume,
        MODEL_FILE,
        model,
        optimizer,
    )?;

    let plan = RunPlan::warmup_cosine(
        name,
        total_steps,
        Streams::new(config.seed, PURPOSE_ORDER, PURPOSE_STEP),
        config.learning_rate,
        config.warmup_fraction,
    );
    while state.epochs_done < config.epochs {
        let epoch = state.epochs_done;
        let order = plan.streams.shuffled(&train, epoch);
        let steps;
        (model, steps) = optimise_epoch(
            model,
            &mut optimizer,
            &mut state.step,
            &plan,
            epoch,
            order.chunks(config.batch_size),
            |model, rows, rng| {
                let targets = objective.targets(data, rows, rng, &device);
                let predicted = model.forward(targets.x_t, targets.t, targets.condition);
                (predicted - targets.velocity).powi_scalar(2).mean()
            },
            progress,
        );
        let steps = steps?;
        let eval = model.valid();
        let validation_loss = held_out_loss(&eval, objective, data, &holdout, config)?;
        let report = DenoiserEpochReport {
            epoch: epoch + 1,
            loss: steps.loss,
            validation_loss,
            learning_rate: steps.learning_rate,
            samples_per_second: train.len() as f64 / steps.seconds.max(1e-9),
        };
        let keep_going = on_epoch(&report);
        state.finish_epoch(report, checkpoint_dir, MODEL_FILE, &model, &optimizer)?;
        if !keep_going {
            break;
        }
    }
    Ok(DenoiserTrainOutcome {
        model: model.valid().to_device(&Device::flex()),
        history: state.history,
    })
}

/// The objective's loss on held-out rows, with the same noise and times every epoch.
fn held_out_loss(
    model: &DenoiserModel,
    objective: &Objective,
    data: &DenoiserTrainingData,
    holdout: &[usize],
    config: &DenoiserTrainConfig,
) -> Result<f64> {
    let device = Device::flex();
    let (mut sum, mut count) = (0.0, 0usize);
    for (i, rows) in holdout.chunks(config.batch_size).enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(config.seed, PURPOSE_VALIDATION, 0, i));
        let targets = objective.targets(data, rows, &mut rng, &device);
        let predicted = model.forward(targets.x_t, targets.t, targets.condition);
        let loss = scalar((predicted - targets.velocity).powi_scalar(2).mean());
        sum += loss * rows.len() as f64;
        count += rows.len();
    }
    Ok(sum / count.max(1) as f64)
}

fn content_hash(data: &DenoiserTrainingData) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for v in data.latents.iter().chain(&data.conditions) {
        v.to_bits().hash(&mut hasher);
    }
    format!("{:016x}", hasher.finish())
}

/// Trains a teacher from scratch with the flow-matching objective.
pub fn train_denoiser(
    denoiser_config: &DenoiserConfig,
    data: &DenoiserTrainingData,
    config: &DenoiserTrainConfig,
    checkpoint_dir: Option<&Path>,
    resume: bool,
    on_epoch: &mut dyn FnMut(&DenoiserEpochReport) -> bool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<DenoiserTrainOutcome> {
    run(
        denoiser_config,
        None,
        &Objective::FlowMatching {
            condition_dropout: config.condition_dropout,
            condition_noise: config.condition_noise,
        },
        "denoiser training",
        data,
        config,
        checkpoint_dir,
        resume,
        on_epoch,
        progress,
    )
}

/// One progressive-distillation round: a student for `teacher_steps / 2` steps, starting
/// from the teacher's weights, trained to cover two guided teacher steps in one.
#[allow(clippy::too_many_arguments)]
pub fn distill_round(
    teacher: &DenoiserModel,
    teacher_steps: usize,
    guidance: f32,
    data: &DenoiserTrainingData,
    config: &DenoiserTrainConfig,
    checkpoint_dir: Option<&Path>,
    resume: bool,
    on_epoch: &mut dyn FnMut(&DenoiserEpochReport) -> bool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<DenoiserTrainOutcome> {
    if teacher_steps < 2 || !teacher_steps.is_multiple_of(2) {
        return Err(Error::InvalidConfig {
            what: "distillation".into(),
            reason: format!("the teacher's {teacher_steps} steps must be even and at least 2"),
        });
    }
    if !(guidance.is_finite() && guidance >= 0.0) {
        return Err(Error::InvalidConfig {
            what: "distillation".into(),
            reason: format!("guidance {guidance} must be finite and ≥ 0"),
        });
    }
    let teacher = teacher.clone().to_device(&Device::flex());
    run(
        &teacher.config.clone(),
        Some(&teacher),
        &Objective::Distill {
            teacher: &teacher,
            teacher_steps,
            guidance,
        },
        &format!("distillation {teacher_steps}→{}", teacher_steps / 2),
        data,
        config,
        checkpoint_dir,
        resume,
        on_epoch,
        progress,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(count: usize) -> DenoiserTrainingData {
        let d = 16;
        let conditions = (0..count * d)
            .map(|i| if i % d == (i / d) % d { 1.0 } else { 0.0 })
            .collect();
        DenoiserTrainingData {
            latents: vec![0.5; count * 4 * 2 * 2],
            conditions,
            count,
            latent_channels: 4,
            latent_size: 2,
            condition_dim: d,
        }
    }

    fn conditions(noise: f64) -> (Vec<f32>, Vec<f32>) {
        let data = data(64);
        let rows: Vec<usize> = (0..64).collect();
        let objective = Objective::FlowMatching {
            condition_dropout: 0.0,
            condition_noise: noise,
        };
        let device = Device::flex();
        let targets = objective.targets(&data, &rows, &mut ChaCha8Rng::seed_from_u64(3), &device);
        let values = targets.condition.into_data().try_to_vec::<f32>().unwrap();
        (values, data.conditions)
    }

    /// Augmented conditions stay unit embeddings, each moved by its own random amount.
    #[test]
    fn condition_noise_moves_each_embedding_by_a_random_amount_and_keeps_it_unit() {
        let (clean, original) = conditions(0.0);
        assert_eq!(clean, original);
        let (noisy, original) = conditions(1.0);
        let cosines: Vec<f32> = noisy
            .chunks(16)
            .zip(original.chunks(16))
            .map(|(a, b)| {
                let norm = a.iter().map(|v| v * v).sum::<f32>().sqrt();
                assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
                a.iter().zip(b).map(|(x, y)| x * y).sum()
            })
            .collect();
        let (least, most) = cosines
            .iter()
            .fold((1.0f32, -1.0f32), |(l, m), &c| (l.min(c), m.max(c)));
        // Noise of norm up to 1 against a unit vector: cosines from about 0.7 to nearly 1.
        assert!(least > 0.4 && least < 0.85, "least cosine {least}");
        assert!(most > 0.97 && most < 1.0, "largest cosine {most}");
    }

    /// Runs made before the option existed keep their checkpoint fingerprint.
    #[test]
    fn zero_condition_noise_is_left_out_of_the_fingerprint_and_bad_levels_are_refused() {
        let config = DenoiserTrainConfig::default();
        assert!(
            !serde_json::to_string(&config)
                .unwrap()
                .contains("condition_noise")
        );
        let noisy = DenoiserTrainConfig {
            condition_noise: 0.5,
            ..config.clone()
        };
        assert!(
            serde_json::to_string(&noisy)
                .unwrap()
                .contains("condition_noise")
        );
        let err = check(&DenoiserTrainConfig {
            condition_noise: -0.1,
            ..config
        })
        .unwrap_err();
        assert!(err.to_string().contains("condition_noise -0.1"), "{err}");
    }
}
