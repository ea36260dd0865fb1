//! Training the tiny autoencoder from scratch on world images. With no teacher VAE here,
//! encoder and decoder learn together: reconstruction (L1 + MSE in [-1, 1]) plus a penalty
//! on latents beyond the ±3 the decoder's soft clamp passes unchanged. Like a generic image
//! codec (TAESD is trained on generic photographs), it sees images of every category: it
//! never sees fMRI and knows nothing of the categories' names.
//!
//! Each epoch renders fresh images (the world is procedural), so nothing is memorised. After
//! training, `shift_factor` and `scaling_factor` are set from held-out latents (their mean and
//! 1/std), as Stable Diffusion's were, so the diffusion model sees unit-variance latents.
//!
//! Reproducible and resumable like the other trainers: seeded streams per epoch and step,
//! and an atomic checkpoint after every epoch.

use std::path::Path;

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::diffusion::autoencoder::{AutoencoderTinyConfig, AutoencoderTinyModel};
use crate::diffusion::{Autoencoder, hwc_unit_to_chw_signed};
use crate::error::{Error, Result};
use crate::sim::stimuli::{CATEGORIES, Category, IMAGE_SIZE, Stimulus};
use crate::train::checkpoint::{RunState, adamw, stream_seed};
use crate::train::epoch::{RunPlan, Streams, optimise_epoch};

/// Autoencoder training images use their own index range, apart from the protocol's and
/// the CLIP's.
const TRAINING_INDEX: u64 = 1 << 26;
const VALIDATION_INDEX: u64 = 1 << 27;

/// The world-sized autoencoder ([`AutoencoderTinyConfig::world`]).
pub fn world_autoencoder_config() -> AutoencoderTinyConfig {
    AutoencoderTinyConfig::world()
}

/// Optimisation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutoencoderTrainConfig {
    pub epochs: usize,
    /// Fresh world images rendered for each epoch.
    pub images_per_epoch: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f32,
    pub warmup_fraction: f64,
    pub grad_clip: Option<f32>,
    /// Weight of the penalty on latents beyond ±3.
    pub latent_penalty: f32,
    /// Weight of a squared error between the images averaged over cells of the latent grid:
    /// the colour of each region, which the per-pixel loss tends to trade for background
    /// texture. Left out of the checkpoint fingerprint while 0, so earlier runs still resume.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub colour_weight: f32,
    /// Held-out images measured after every epoch.
    pub validation_images: usize,
    /// The world whose images are rendered.
    pub world_seed: u64,
    pub seed: u64,
}

impl Default for AutoencoderTrainConfig {
    fn default() -> Self {
        AutoencoderTrainConfig {
            epochs: 30,
            images_per_epoch: 2048,
            batch_size: 32,
            learning_rate: 2e-3,
            weight_decay: 0.0,
            warmup_fraction: 0.02,
            grad_clip: Some(1.0),
            latent_penalty: 1.0,
            colour_weight: 0.0,
            validation_images: 128,
            world_seed: 0,
            seed: 0,
        }
    }
}

/// One line of the training log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutoencoderEpochReport {
    pub epoch: usize,
    pub loss: f64,
    /// Mean squared error of held-out reconstructions, pixels in [0, 1].
    pub validation_mse: f64,
    /// 10·log10(1 / validation_mse).
    pub validation_psnr: f64,
    /// Standard deviation of held-out latents (before scaling).
    pub latent_std: f64,
    /// Fraction of held-out latent values beyond ±3 (the decoder squashes them).
    pub latent_beyond_3: f64,
    pub learning_rate: f64,
    pub images_per_second: f64,
}

pub struct AutoencoderTrainOutcome {
    pub autoencoder: Autoencoder,
    pub history: Vec<AutoencoderEpochReport>,
}

const MODEL_FILE: &str = "autoencoder.bpk";
const PURPOSE_INIT: u64 = 31;
const PURPOSE_DATA: u64 = 32;

/// `count` world images from index `first` on, categories drawn by `seed`: `[n, 3, 64, 64]`
/// in [-1, 1], flattened.
pub fn world_image_batch(world_seed: u64, seed: u64, first: u64, count: usize) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(count * 3 * IMAGE_SIZE * IMAGE_SIZE);
    for i in 0..count {
        let category =
            Category::from_index(rng.random_range(0..CATEGORIES)).expect("index in range");
        let stimulus = Stimulus::generate(world_seed, category, first + i as u64);
        let rgb = stimulus.render(IMAGE_SIZE);
        out.extend(hwc_unit_to_chw_signed(&rgb, IMAGE_SIZE).expect("rendered at IMAGE_SIZE"));
    }
    out
}

fn image_tensor(values: &[f32], count: usize, device: &Device) -> Tensor<4> {
    Tensor::from_data(
        TensorData::new(values.to_vec(), [count, 3, IMAGE_SIZE, IMAGE_SIZE]),
        device,
    )
}

fn is_zero(value: &f32) -> bool {
    *value == 0.0
}

/// Mean squared difference of the two images averaged over `cell × cell` pixel cells.
fn cell_colour_loss(decoded: Tensor<4>, target: Tensor<4>, cell: usize) -> Tensor<1> {
    let pool = |x: Tensor<4>| {
        burn::tensor::module::avg_pool2d(x, burn::tensor::ops::AvgPoolOptions::new([cell, cell]))
    };
    (pool(decoded) - pool(target)).powi_scalar(2).mean()
}

/// Latents beyond ±3 are squashed by the decoder's `tanh(z/3)·3`; keep the encoder inside.
fn latent_penalty(latents: Tensor<4>) -> Tensor<1> {
    (latents.abs() - 3.0).clamp_min(0.0).powi_scalar(2).mean()
}

fn check(ae_config: &AutoencoderTinyConfig, config: &AutoencoderTrainConfig) -> Result<()> {
    ae_config.validate()?;
    let bad = |reason: String| {
        Err(Error::InvalidConfig {
            what: "autoencoder training".into(),
            reason,
        })
    };
    if ae_config.in_channels != 3 || ae_config.out_channels != 3 {
        return bad("world images are RGB: in_channels and out_channels must be 3".into());
    }
    if !IMAGE_SIZE.is_multiple_of(ae_config.downscale()) {
        return bad(format!(
            "{} encoder stages downscale by {}, which does not divide the world's {IMAGE_SIZE}-pixel images",
            ae_config.num_encoder_blocks.len(),
            ae_config.downscale()
        ));
    }
    if config.epochs == 0 || config.batch_size == 0 || config.images_per_epoch == 0 {
        return bad("epochs, batch_size and images_per_epoch must be at least 1".into());
    }
    if config.validation_images < 2 {
        return bad("validation_images must be at least 2".into());
    }
    Ok(())
}

/// Held-out reconstruction error and latent statistics, in batches.
struct Validation {
    mse: f64,
    latent_mean: f64,
    latent_std: f64,
    beyond_3: f64,
}

fn validate(
    model: &AutoencoderTinyModel,
    images: &[f32],
    count: usize,
    batch: usize,
) -> Result<Validation> {
    let device = Device::flex();
    let per_image = 3 * IMAGE_SIZE * IMAGE_SIZE;
    let (mut squared, mut latents) = (0.0f64, Vec::new());
    for start in (0..count).step_by(batch.max(1)) {
        let n = batch.min(count - start);
        let x = image_tensor(
            &images[start * per_image..(start + n) * per_image],
            n,
            &device,
        );
        let z = model.encode(x.clone());
        let decoded = model.decode(z.clone());
        // Pixels in [0, 1]: half the [-1, 1] difference.
        let err: Vec<f32> = ((decoded.clamp(-1.0, 1.0) - x) / 2.0)
            .powi_scalar(2)
            .into_data()
            .try_to_vec()
            .map_err(|err| Error::InvalidConfig {
                what: "autoencoder validation".into(),
                reason: format!("{err:?}"),
            })?;
        squared += err.iter().map(|&v| v as f64).sum::<f64>();
        latents.extend(z.into_data().try_to_vec::<f32>().unwrap_or_default());
    }
    let n = latents.len().max(1) as f64;
    let mean = latents.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = latents
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    Ok(Validation {
        mse: squared / (count * per_image) as f64,
        latent_mean: mean,
        latent_std: var.sqrt(),
        beyond_3: latents.iter().filter(|v| v.abs() > 3.0).count() as f64 / n,
    })
}

pub fn train_autoencoder(
    ae_config: &AutoencoderTinyConfig,
    config: &AutoencoderTrainConfig,
    checkpoint_dir: Option<&Path>,
    resume: bool,
    on_epoch: &mut dyn FnMut(&AutoencoderEpochReport) -> bool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<AutoencoderTrainOutcome> {
    check(ae_config, config)?;
    let device = Device::flex().autodiff();
    let model = crate::device::init_seeded(
        &device,
        Some(stream_seed(config.seed, PURPOSE_INIT, 0, 0)),
        || AutoencoderTinyModel::new(ae_config, &device),
    );
    let optimizer = adamw(config.weight_decay, config.grad_clip);
    let steps_per_epoch = config.images_per_epoch.div_ceil(config.batch_size);
    let total_steps = steps_per_epoch * config.epochs;
    let fingerprint = serde_json::json!({ "autoencoder": ae_config, "train": config }).to_string();
    let (mut state, mut model, mut optimizer) = RunState::start(
        fingerprint,
        checkpoint_dir,
        resume,
        MODEL_FILE,
        model,
        optimizer,
    )?;
    let validation_images = world_image_batch(
        config.world_seed,
        stream_seed(config.seed, PURPOSE_DATA, usize::MAX, 0),
        VALIDATION_INDEX,
        config.validation_images,
    );
    let per_image = 3 * IMAGE_SIZE * IMAGE_SIZE;

    // The images are drawn afresh every epoch and taken in order: no shuffle, no draws.
    let plan = RunPlan::warmup_cosine(
        "autoencoder training",
        total_steps,
        Streams::new(config.seed, 0, 0),
        config.learning_rate,
        config.warmup_fraction,
    );
    while state.epochs_done < config.epochs {
        let epoch = state.epochs_done;
        let images = world_image_batch(
            config.world_seed,
            stream_seed(config.seed, PURPOSE_DATA, epoch, 0),
            TRAINING_INDEX + (epoch * config.images_per_epoch) as u64,
            config.images_per_epoch,
        );
        let steps;
        (model, steps) = optimise_epoch(
            model,
            &mut optimizer,
            &mut state.step,
            &plan,
            epoch,
            (0..config.images_per_epoch).step_by(config.batch_size),
            |model, start, _| {
                let n = config.batch_size.min(config.images_per_epoch - start);
                let x = image_tensor(
                    &images[start * per_image..(start + n) * per_image],
                    n,
                    &device,
                );
                let z = model.encode(x.clone());
                let decoded = model.decode(z.clone());
                let colour = (config.colour_weight > 0.0).then(|| {
                    cell_colour_loss(decoded.clone(), x.clone(), ae_config.downscale())
                        * config.colour_weight
                });
                let diff = decoded - x;
                let loss = diff.clone().abs().mean()
                    + diff.powi_scalar(2).mean()
                    + latent_penalty(z) * config.latent_penalty;
                match colour {
                    Some(colour) => loss + colour,
                    None => loss,
                }
            },
            progress,
        );
        let steps = steps?;
        let eval = model.valid();
        let measured = validate(
            &eval,
            &validation_images,
            config.validation_images,
            config.batch_size,
        )?;
        let report = AutoencoderEpochReport {
            epoch: epoch + 1,
            loss: steps.loss,
            validation_mse: measured.mse,
            validation_psnr: 10.0 * (1.0 / measured.mse.max(1e-12)).log10(),
            latent_std: measured.latent_std,
            latent_beyond_3: measured.beyond_3,
            learning_rate: steps.learning_rate,
            images_per_second: config.images_per_epoch as f64 / steps.seconds.max(1e-9),
        };
        let keep_going = on_epoch(&report);
        state.finish_epoch(report, checkpoint_dir, MODEL_FILE, &model, &optimizer)?;
        if !keep_going {
            break;
        }
    }
    let trained = model.valid().to_device(&Device::flex());
    let measured = validate(
        &trained,
        &validation_images,
        config.validation_images,
        config.batch_size,
    )?;
    let mut final_config = ae_config.clone();
    final_config.shift_factor = measured.latent_mean as f32;
    final_config.scaling_factor = (1.0 / measured.latent_std.max(1e-6)) as f32;
    Ok(AutoencoderTrainOutcome {
        autoencoder: Autoencoder {
            config: final_config,
            model: trained,
        },
        history: state.history,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::checkpoint::scalar;
    use burn::tensor::TensorData;

    fn image(values: Vec<f32>) -> Tensor<4> {
        Tensor::from_data(TensorData::new(values, [1, 1, 4, 4]), &Device::flex())
    }

    /// Textures that average out within a cell cost nothing; a shifted colour does.
    #[test]
    fn the_colour_loss_sees_cell_averages_not_texture() {
        let flat = image(vec![0.5; 16]);
        let checker = image(
            (0..16)
                .map(|i| if (i + i / 4) % 2 == 0 { 0.0 } else { 1.0 })
                .collect(),
        );
        let shifted = image(vec![0.7; 16]);
        let loss = |a: &Tensor<4>, b: &Tensor<4>| scalar(cell_colour_loss(a.clone(), b.clone(), 2));
        assert!(loss(&checker, &flat) < 1e-12);
        assert!((loss(&shifted, &flat) - 0.04).abs() < 1e-6);
    }

    /// A run without the colour loss keeps the fingerprint of runs made before it existed.
    #[test]
    fn a_zero_colour_weight_is_left_out_of_the_fingerprint() {
        let config = AutoencoderTrainConfig::default();
        assert!(
            !serde_json::to_string(&config)
                .unwrap()
                .contains("colour_weight")
        );
        let weighted = AutoencoderTrainConfig {
            colour_weight: 2.0,
            ..config
        };
        assert!(
            serde_json::to_string(&weighted)
                .unwrap()
                .contains("\"colour_weight\":2.0")
        );
    }
}
