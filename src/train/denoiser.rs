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

use std::path::Path;
use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::data::bundle::StoredDtype;
use crate::data::weights::{LoadOptions, load_module, save_module as save_weights};
use crate::diffusion::denoiser::{DenoiserConfig, DenoiserModel};
use crate::diffusion::schedule::timesteps;
use crate::error::{Error, Result};
use crate::train::checkpoint::{RunState, adamw, finite_loss, scalar, stream_seed, warmup_cosine};

/// Latents (in the diffusion space: shifted and scaled) with the condition of each.
#[derive(Debug, Clone, PartialEq)]
pub struct DenoiserTrainingData {
    /// `[n, channels, size, size]` flattened.
    pub latents: Vec<f32>,
    /// `[n, condition_dim]` flattened (unit CLIP image embeddings).
    pub conditions: Vec<f32>,
    pub count: usize,
    pub latent_channels: usize,
    pub latent_size: usize,
    pub condition_dim: usize,
}

/// Denoiser training images use their own index range, apart from the protocol's (so no
/// test stimulus is ever generated here), the CLIP's and the autoencoder's.
const WORLD_INDEX: u64 = 1 << 28;

impl DenoiserTrainingData {
    /// `count` world images of every category (drawn by `seed`), encoded by the autoencoder
    /// into its diffusion space and embedded by the CLIP: what the denoiser learns to invert.
    /// Like unCLIP's decoder, it learns images from CLIP embeddings of all kinds of images;
    /// it never sees fMRI.
    pub async fn from_world(
        world_seed: u64,
        count: usize,
        seed: u64,
        autoencoder: &crate::diffusion::Autoencoder,
        clip: &crate::clip::Clip,
        device: &crate::device::ComputeDevice,
    ) -> Result<Self> {
        use crate::sim::stimuli::{CATEGORIES, Category, IMAGE_SIZE, Stimulus};
        let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(seed, PURPOSE_ORDER, usize::MAX, 0));
        let stimuli: Vec<Stimulus> = (0..count)
            .map(|i| {
                let category =
                    Category::from_index(rng.random_range(0..CATEGORIES)).expect("in range");
                Stimulus::generate(world_seed, category, WORLD_INDEX + i as u64)
            })
            .collect();
        let clip_size = clip.config.vision.image_size;
        let mut latents = Vec::with_capacity(count * 64);
        let mut pixels_for_clip = Vec::with_capacity(count);
        let mut shape = [0usize; 3];
        for chunk in stimuli.chunks(64) {
            let mut batch = Vec::with_capacity(chunk.len() * 3 * IMAGE_SIZE * IMAGE_SIZE);
            for stimulus in chunk {
                let rgb = stimulus.render(IMAGE_SIZE);
                batch.extend(crate::diffusion::hwc_unit_to_chw_signed(&rgb, IMAGE_SIZE)?);
                let rgba =
                    image::DynamicImage::from(stimulus.render_image(IMAGE_SIZE)).into_rgba8();
                pixels_for_clip.push(crate::clip::preprocess::from_rgba(
                    &rgba, IMAGE_SIZE, IMAGE_SIZE, clip_size,
                )?);
            }
            let images = Tensor::<4>::from_data(
                TensorData::new(batch, [chunk.len(), 3, IMAGE_SIZE, IMAGE_SIZE]),
                &device.device,
            );
            let z = autoencoder.to_diffusion_space(autoencoder.encode(images)?);
            let [_, c, h, w] = z.dims();
            shape = [c, h, w];
            latents.extend(device.read_f32(z).await?);
        }
        if shape[1] != shape[2] {
            return Err(Error::InvalidConfig {
                what: "denoiser training data".into(),
                reason: format!(
                    "latents are {} × {}; the denoiser takes square latents",
                    shape[1], shape[2]
                ),
            });
        }
        let embeddings = clip.embed_images(device, &pixels_for_clip).await?;
        Ok(DenoiserTrainingData {
            latents,
            conditions: embeddings.values().to_vec(),
            count,
            latent_channels: shape[0],
            latent_size: shape[1],
            condition_dim: embeddings.cols(),
        })
    }

    fn per_latent(&self) -> usize {
        self.latent_channels * self.latent_size * self.latent_size
    }

    pub fn validate(&self, config: &DenoiserConfig) -> Result<()> {
        let bad = |reason: String| {
            Err(Error::InvalidConfig {
                what: "denoiser training data".into(),
                reason,
            })
        };
        if self.count < 2 {
            return bad(format!("{} samples; at least 2 are needed", self.count));
        }
        if self.latents.len() != self.count * self.per_latent()
            || self.conditions.len() != self.count * self.condition_dim
        {
            return bad("latents and conditions do not hold `count` rows each".into());
        }
        if (self.latent_channels, self.latent_size, self.condition_dim)
            != (
                config.latent_channels,
                config.latent_size,
                config.condition_dim,
            )
        {
            return bad(format!(
                "the data has {} × {}² latents and {}-d conditions; the denoiser expects {} × {}² and {}",
                self.latent_channels,
                self.latent_size,
                self.condition_dim,
                config.latent_channels,
                config.latent_size,
                config.condition_dim
            ));
        }
        if let Some(v) = self
            .latents
            .iter()
            .chain(&self.conditions)
            .find(|v| !v.is_finite())
        {
            return bad(format!("a value is {v}; every value must be finite"));
        }
        Ok(())
    }

    fn rows(&self, rows: &[usize], device: &Device) -> (Tensor<4>, Tensor<2>) {
        let per = self.per_latent();
        let latents: Vec<f32> = rows
            .iter()
            .flat_map(|&r| self.latents[r * per..(r + 1) * per].iter().copied())
            .collect();
        let d = self.condition_dim;
        let conditions: Vec<f32> = rows
            .iter()
            .flat_map(|&r| self.conditions[r * d..(r + 1) * d].iter().copied())
            .collect();
        (
            Tensor::from_data(
                TensorData::new(
                    latents,
                    [
                        rows.len(),
                        self.latent_channels,
                        self.latent_size,
                        self.latent_size,
                    ],
                ),
                device,
            ),
            Tensor::from_data(TensorData::new(conditions, [rows.len(), d]), device),
        )
    }
}

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
const PURPOSE_ORDER: u64 = 42;
const PURPOSE_STEP: u64 = 43;
const PURPOSE_VALIDATION: u64 = 44;

fn is_zero(value: &f64) -> bool {
    *value == 0.0
}

fn gaussian(rng: &mut ChaCha8Rng, len: usize) -> Vec<f32> {
    (0..len).map(|_| StandardNormal.sample(&mut *rng)).collect()
}

/// What a step trains towards: the input point, its time and condition, and the target
/// velocity, for the rows of one batch.
struct Targets {
    x_t: Tensor<4>,
    t: Tensor<1>,
    condition: Tensor<2>,
    velocity: Tensor<4>,
}

/// The objective a run trains: the teacher's flow matching, or one distillation round.
enum Objective<'a> {
    FlowMatching {
        condition_dropout: f64,
        condition_noise: f64,
    },
    Distill {
        teacher: &'a DenoiserModel,
        /// The teacher's step count; the student takes half as many.
        teacher_steps: usize,
        guidance: f32,
    },
}

impl Objective<'_> {
    /// Draws a batch's inputs and targets on the host-seeded `rng`; `device` is where the
    /// student trains.
    fn targets(
        &self,
        data: &DenoiserTrainingData,
        rows: &[usize],
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> Targets {
        let n = rows.len();
        let per = data.per_latent();
        let shape = [n, data.latent_channels, data.latent_size, data.latent_size];
        let noise = gaussian(rng, n * per);
        match self {
            Objective::FlowMatching {
                condition_dropout,
                condition_noise,
            } => {
                let (x0, condition) = data.rows(rows, device);
                let noise = Tensor::<4>::from_data(TensorData::new(noise, shape), device);
                let times: Vec<f32> = (0..n).map(|_| rng.random::<f32>()).collect();
                let keep: Vec<f32> = (0..n)
                    .map(|_| {
                        if rng.random::<f64>() < *condition_dropout {
                            0.0
                        } else {
                            1.0
                        }
                    })
                    .collect();
                let t = Tensor::<1>::from_floats(times.as_slice(), device);
                let t4 = t.clone().reshape([n, 1, 1, 1]);
                let x_t = x0.clone() * (t4.clone().neg() + 1.0) + noise.clone() * t4;
                let keep = Tensor::<1>::from_floats(keep.as_slice(), device).reshape([n, 1]);
                // Drawn only when enabled, so runs without it keep their random streams.
                let condition = if *condition_noise > 0.0 {
                    let d = data.condition_dim;
                    let levels: Vec<f32> = (0..n)
                        .map(|_| (rng.random::<f64>() * condition_noise) as f32)
                        .collect();
                    let scale = 1.0 / (d as f32).sqrt();
                    let noise: Vec<f32> = gaussian(rng, n * d).iter().map(|v| v * scale).collect();
                    let noise = Tensor::<2>::from_data(TensorData::new(noise, [n, d]), device)
                        * Tensor::<1>::from_floats(levels.as_slice(), device).reshape([n, 1]);
                    let noisy = condition + noise;
                    let norm = noisy.clone().powf_scalar(2.0).sum_dim(1).sqrt();
                    noisy / norm
                } else {
                    condition
                };
                Targets {
                    x_t,
                    t,
                    condition: condition * keep,
                    velocity: noise - x0,
                }
            }
            Objective::Distill {
                teacher,
                teacher_steps,
                guidance,
            } => {
                // The teacher runs without autodiff; its targets come back through host data.
                let plain = Device::flex();
                let (x0, condition) = data.rows(rows, &plain);
                let noise = Tensor::<4>::from_data(TensorData::new(noise, shape), &plain);
                let grid = timesteps(*teacher_steps, 1.0);
                let student_steps = teacher_steps / 2;
                let starts: Vec<usize> =
                    (0..n).map(|_| rng.random_range(0..student_steps)).collect();
                let t0: Vec<f32> = starts.iter().map(|&k| grid[2 * k]).collect();
                let t1: Vec<f32> = starts.iter().map(|&k| grid[2 * k + 1]).collect();
                let t2: Vec<f32> = starts.iter().map(|&k| grid[2 * k + 2]).collect();
                let column = |v: &[f32]| Tensor::<1>::from_floats(v, &plain).reshape([n, 1, 1, 1]);
                let x_t = x0.clone() * (column(&t0).neg() + 1.0) + noise * column(&t0);
                let guided = |x: Tensor<4>, t: &[f32]| {
                    let times = Tensor::<1>::from_floats(t, &plain);
                    let conditional = teacher.forward(x.clone(), times.clone(), condition.clone());
                    if *guidance == 1.0 {
                        return conditional;
                    }
                    let unconditional = teacher.forward(x, times, condition.zeros_like());
                    unconditional.clone() + (conditional - unconditional) * *guidance
                };
                let step = |from: &[f32], to: &[f32]| {
                    let d: Vec<f32> = from.iter().zip(to).map(|(a, b)| a - b).collect();
                    column(&d)
                };
                let x1 = x_t.clone() - guided(x_t.clone(), &t0) * step(&t0, &t1);
                let x2 = x1.clone() - guided(x1, &t1) * step(&t1, &t2);
                // The one velocity that covers both teacher steps.
                let velocity = (x_t.clone() - x2) / step(&t0, &t2);
                let to_device = |x: Tensor<4>| Tensor::<4>::from_data(x.into_data(), device);
                Targets {
                    x_t: to_device(x_t),
                    t: Tensor::<1>::from_floats(t0.as_slice(), device),
                    condition: Tensor::<2>::from_data(condition.into_data(), device),
                    velocity: to_device(velocity),
                }
            }
        }
    }
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

    while state.epochs_done < config.epochs {
        let epoch = state.epochs_done;
        let started = Instant::now();
        let mut order = train.clone();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(stream_seed(
            config.seed,
            PURPOSE_ORDER,
            epoch,
            0,
        )));
        let (mut sum_loss, mut batches, mut learning_rate) = (0.0, 0usize, 0.0);
        for rows in order.chunks(config.batch_size) {
            let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(
                config.seed,
                PURPOSE_STEP,
                epoch,
                state.step,
            ));
            let targets = objective.targets(data, rows, &mut rng, &device);
            let predicted = model.forward(targets.x_t, targets.t, targets.condition);
            let loss = (predicted - targets.velocity).powi_scalar(2).mean();
            let loss_value = finite_loss(scalar(loss.clone()), name, epoch, state.step)?;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            learning_rate = warmup_cosine(
                config.learning_rate,
                config.warmup_fraction,
                state.step,
                total_steps,
            );
            model = optimizer.step(learning_rate, model, grads);
            state.step += 1;
            sum_loss += loss_value;
            batches += 1;
            progress(state.step, total_steps);
        }
        let elapsed = started.elapsed().as_secs_f64();
        let eval = model.valid();
        let validation_loss = held_out_loss(&eval, objective, data, &holdout, config)?;
        let report = DenoiserEpochReport {
            epoch: epoch + 1,
            loss: sum_loss / batches.max(1) as f64,
            validation_loss,
            learning_rate,
            samples_per_second: train.len() as f64 / elapsed.max(1e-9),
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
