//! `brainclip reconstruct` (fMRI → images, through the same `Decoder` the browser uses) and
//! `brainclip add-decoder` (put a trained autoencoder and denoiser into a bundle).

use std::path::{Path, PathBuf};

use brainclip::data::bundle::{Bundle, Component, StoredDtype};
use brainclip::diffusion::autoencoder::WEIGHTS_FILE as AE_WEIGHTS;
use brainclip::diffusion::{Autoencoder, AutoencoderTinyConfig};
use brainclip::error::{Error, Result};
use brainclip::tasks::{self, DenoiserComponent, ReconstructRequest};
use clap::Args;
use serde_json::json;

use crate::diffusion_cli::read_denoiser;
use crate::io::{BundleInput, FmriInput, cpu, read_bytes};

#[derive(Args)]
pub struct ReconstructArgs {
    // A bundle with a mapper and an image decoder (autoencoder + denoiser).
    #[command(flatten)]
    bundle: BundleInput,
    #[command(flatten)]
    input: FmriInput,
    /// PNG grid of the reconstructions, ten per row, in trial order.
    #[arg(long)]
    out: PathBuf,
    /// Rows of the fMRI file to reconstruct (default: all); repeatable.
    #[arg(long = "trial")]
    trials: Vec<usize>,
    /// Sampling steps (default: the bundle's).
    #[arg(long)]
    steps: Option<usize>,
    /// Classifier-free guidance (default: the bundle's; 1 for a distilled student).
    #[arg(long)]
    guidance: Option<f32>,
    /// Img2img strength: below 1, sampling starts from the bundle's low-level latents
    /// noised to this level.
    #[arg(long)]
    strength: Option<f32>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also write the image after every step as OUT-step-N.png.
    #[arg(long)]
    previews: bool,
    /// Draw the low-level path alone (the head's latents decoded, no sampling).
    #[arg(long)]
    low_level: bool,
}

/// Images side by side, `per_row` to a row, 2-pixel gaps on a white ground.
pub fn grid(images: &[Vec<u8>], size: usize, per_row: usize) -> image::RgbaImage {
    let gap = 2;
    let columns = per_row.min(images.len()).max(1);
    let rows = images.len().div_ceil(columns).max(1);
    let width = columns * size + (columns + 1) * gap;
    let height = rows * size + (rows + 1) * gap;
    let mut out = image::RgbaImage::from_pixel(width as u32, height as u32, image::Rgba([255; 4]));
    for (i, rgba) in images.iter().enumerate() {
        let (x0, y0) = (
            gap + (i % columns) * (size + gap),
            gap + (i / columns) * (size + gap),
        );
        for (p, px) in rgba.chunks_exact(4).enumerate() {
            out.put_pixel(
                (x0 + p % size) as u32,
                (y0 + p / size) as u32,
                image::Rgba([px[0], px[1], px[2], px[3]]),
            );
        }
    }
    out
}

fn save_png(path: &Path, image: &image::RgbaImage) -> Result<()> {
    image
        .save(path)
        .map_err(|err| crate::io::io_error(path, err))
}

pub fn reconstruct(args: ReconstructArgs) -> Result<serde_json::Value> {
    let decoder = args.bundle.decoder()?;
    let fmri = args.input.read(Some(decoder.mapper.config.voxels))?;
    if args.low_level {
        let result = pollster::block_on(decoder.reconstruct_low_level(&fmri, &args.trials))?;
        save_png(&args.out, &grid(&result.images, result.size, 10))?;
        return Ok(json!({
            "out": args.out.display().to_string(),
            "trials": result.trials.len(),
            "size": result.size,
            "low_level": true,
        }));
    }
    let request = ReconstructRequest {
        trials: args.trials.clone(),
        steps: args.steps,
        guidance: args.guidance,
        strength: args.strength,
        seed: args.seed,
    };
    let size = decoder.image_decoder()?.image_size();
    let started = std::time::Instant::now();
    let mut preview_error = None;
    let mut save_preview = |step: usize, steps: usize, images: &[Vec<u8>]| {
        if step < steps && preview_error.is_none() {
            let path = args.out.with_file_name(format!(
                "{}-step-{step}.png",
                args.out
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or("grid")
            ));
            preview_error = save_png(&path, &grid(images, size, 10)).err();
        }
    };
    let result = pollster::block_on(
        decoder.reconstruct(
            &fmri,
            &request,
            args.previews
                .then_some(&mut save_preview as &mut tasks::StepCallback<'_>),
        ),
    )?;
    if let Some(err) = preview_error {
        return Err(err);
    }
    let seconds = started.elapsed().as_secs_f64();
    save_png(&args.out, &grid(&result.images, result.size, 10))?;
    Ok(json!({
        "out": args.out.display().to_string(),
        "trials": result.trials.len(),
        "size": result.size,
        "steps": result.steps,
        "guidance": result.guidance,
        "seconds": seconds,
    }))
}

#[derive(Args)]
pub struct AddDecoderArgs {
    /// The bundle to extend (rewritten in place: its manifest gains two components).
    #[arg(long)]
    bundle: PathBuf,
    /// A diffusers AutoencoderTiny directory (from train-autoencoder, or published weights).
    #[arg(long)]
    autoencoder: PathBuf,
    /// A denoiser directory (from train-denoiser or distill): the default.
    #[arg(long)]
    denoiser: PathBuf,
    /// Further denoisers for other step counts (repeatable; e.g. the 2- and 1-step students
    /// of a distillation), stored as `denoiser-<steps>`.
    #[arg(long)]
    also_denoiser: Vec<PathBuf>,
    /// Store the weights as f16.
    #[arg(long)]
    f16: bool,
}

pub fn add_decoder(args: AddDecoderArgs) -> Result<serde_json::Value> {
    let device = burn::tensor::Device::flex();
    let ae_config =
        AutoencoderTinyConfig::from_json(&read_bytes(&args.autoencoder.join("config.json"))?)?;
    let autoencoder = Autoencoder::from_safetensors(
        ae_config,
        read_bytes(&args.autoencoder.join(AE_WEIGHTS))?,
        AE_WEIGHTS,
        &device,
    )?;
    let (denoiser, schedule) = read_denoiser(&args.denoiser)?;
    let dtype = StoredDtype::half_if(args.f16);
    let bundle = Bundle::load_dir(&args.bundle)?
        .with_component(
            "autoencoder",
            Component {
                kind: "autoencoder".into(),
                config: autoencoder.config.to_json(),
                weights: "autoencoder.safetensors".into(),
                control: None,
            },
            autoencoder.to_safetensors(dtype)?,
        )?
        .with_component(
            "denoiser",
            Component {
                kind: "denoiser".into(),
                config: json!(DenoiserComponent {
                    model: denoiser.config.clone(),
                    schedule: schedule.clone(),
                }),
                weights: "denoiser.safetensors".into(),
                control: None,
            },
            denoiser.to_safetensors(dtype)?,
        )?;
    let mut bundle = bundle;
    for dir in &args.also_denoiser {
        let (denoiser, schedule) = read_denoiser(dir)?;
        let name = format!("denoiser-{}", schedule.steps[0]);
        bundle = bundle.with_component(
            &name,
            Component {
                kind: "denoiser".into(),
                config: json!(DenoiserComponent {
                    model: denoiser.config.clone(),
                    schedule: schedule.clone(),
                }),
                weights: format!("{name}.safetensors"),
                control: None,
            },
            denoiser.to_safetensors(dtype)?,
        )?;
    }
    // Load it as every reader will before writing anything.
    let decoder = tasks::Decoder::from_bundle(&bundle, cpu())?;
    if decoder.reconstructor.get().is_none() {
        return Err(Error::InvalidConfig {
            what: "add-decoder".into(),
            reason: "the bundle did not load an image decoder".into(),
        });
    }
    bundle.write_dir(&args.bundle)?;
    let bytes = |name: &str| bundle.file(name).map_or(0, <[u8]>::len);
    Ok(json!({
        "bundle": args.bundle.display().to_string(),
        "autoencoder_bytes": bytes("autoencoder.safetensors"),
        "denoiser_bytes": bytes("denoiser.safetensors"),
        "schedule": schedule,
        "steps": decoder.reconstructor.get().map(|r| r.step_choices()),
    }))
}

#[derive(Args)]
pub struct TrainLowLevelArgs {
    /// Bundle with a mapper and an image decoder; gains a `low_level` component.
    #[arg(long)]
    bundle: PathBuf,
    /// Training fMRI (normalised as the bundle prescribes).
    #[command(flatten)]
    input: FmriInput,
    /// Folder of the seen images (<id>.png, the decoder's image size).
    #[arg(long)]
    stimuli: PathBuf,
    /// JSON list: the stimulus id of each trial (repeats of a stimulus share an id and are
    /// held out together).
    #[arg(long)]
    stimulus_ids: PathBuf,
    /// Every this many distinct stimuli is held out to choose the penalty.
    #[arg(long, default_value_t = 5)]
    holdout_every: usize,
    /// The img2img strength reconstructions start from this head with by default (choose it
    /// on a development split); unset: from noise unless a request names one.
    #[arg(long)]
    strength: Option<f32>,
    /// Store the weights as f16.
    #[arg(long)]
    f16: bool,
}

/// Fits the low-level head (fMRI → autoencoder latents of the seen images) and adds it to
/// the bundle.
pub fn train_low_level(args: TrainLowLevelArgs) -> Result<serde_json::Value> {
    use brainclip::diffusion::{LowLevel, LowLevelConfig, hwc_unit_to_chw_signed};
    use brainclip::matrix::Matrix;
    use burn::tensor::{Tensor, TensorData};
    let bundle = Bundle::load_dir(&args.bundle)?;
    let decoder = tasks::Decoder::from_bundle(&bundle, cpu())?;
    // A head maps onto the decoder's latents: the bundle needs one (add-decoder).
    let reconstructor = decoder.image_decoder()?;
    let fmri = decoder.normalized(&args.input.read(Some(decoder.mapper.config.voxels))?)?;
    let ids = crate::io::read_strings(&args.stimulus_ids)?;
    if ids.len() != fmri.trials() {
        return Err(Error::ShapeMismatch {
            what: "--stimulus-ids".into(),
            got: format!("{} ids", ids.len()),
            expected: format!("one per trial ({})", fmri.trials()),
        });
    }
    let size = reconstructor.image_size();
    let autoencoder = &reconstructor.autoencoder;
    let mut latents = Vec::new();
    for chunk in ids.chunks(32) {
        let mut pixels = Vec::new();
        for id in chunk {
            let path = args.stimuli.join(format!("{id}.png"));
            let image = image::open(&path)
                .map_err(|err| crate::io::io_error(&path, err))?
                .to_rgb8();
            if image.width() as usize != size || image.height() as usize != size {
                return Err(Error::ShapeMismatch {
                    what: path.display().to_string(),
                    got: format!("{} × {}", image.width(), image.height()),
                    expected: format!("{size} × {size}, the decoder's image size"),
                });
            }
            let rgb: Vec<f32> = image.as_raw().iter().map(|&v| v as f32 / 255.0).collect();
            pixels.extend(hwc_unit_to_chw_signed(&rgb, size)?);
        }
        let images = Tensor::<4>::from_data(
            TensorData::new(pixels, [chunk.len(), 3, size, size]),
            &decoder.device.device,
        );
        let z = autoencoder.to_diffusion_space(autoencoder.encode(images)?);
        latents.extend(pollster::block_on(decoder.device.read_f32(z))?);
    }
    let denoiser = &reconstructor.denoiser.config;
    let config = LowLevelConfig {
        voxels: fmri.voxels(),
        latent_channels: denoiser.latent_channels,
        latent_size: denoiser.latent_size,
        strength: args.strength,
    };
    let dim = latents.len() / ids.len();
    let latents = Matrix::new(latents, ids.len(), dim)?;
    let mut distinct: Vec<&String> = ids.iter().collect();
    distinct.sort();
    distinct.dedup();
    let every = args.holdout_every.max(2);
    let held_out: Vec<bool> = ids
        .iter()
        .map(|id| {
            distinct
                .binary_search(&id)
                .is_ok_and(|k| k % every == every - 1)
        })
        .collect();
    let x = Matrix::new(fmri.values().to_vec(), fmri.trials(), fmri.voxels())?;
    let fit = brainclip::train::low_level::fit_low_level(&x, &latents, &held_out)?;
    let low_level = LowLevel::from_ridge(config.clone(), &fit.solution)?;
    let dtype = StoredDtype::half_if(args.f16);
    let bundle = bundle.with_component(
        "low_level",
        Component {
            kind: "low_level".into(),
            config: json!(config),
            weights: "low_level.safetensors".into(),
            control: None,
        },
        low_level.to_safetensors(dtype)?,
    )?;
    tasks::Decoder::from_bundle(&bundle, cpu())?;
    bundle.write_dir(&args.bundle)?;
    let best = fit
        .scores
        .iter()
        .min_by(|a, b| a.validation_mse.total_cmp(&b.validation_mse))
        .cloned();
    Ok(json!({
        "bundle": args.bundle.display().to_string(),
        "trials": ids.len(),
        "held_out_trials": held_out.iter().filter(|&&h| h).count(),
        "lambda_scores": fit.scores,
        "chosen": best,
        "held_out_mse_of_the_training_mean": fit.mean_baseline_mse,
    }))
}
