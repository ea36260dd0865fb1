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
use crate::io::{FmriInput, cpu, read_bytes};

#[derive(Args)]
pub struct ReconstructArgs {
    /// Bundle with a mapper and an image decoder (autoencoder + denoiser).
    #[arg(long)]
    bundle: PathBuf,
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
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also write the image after every step as OUT-step-N.png.
    #[arg(long)]
    previews: bool,
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
    let bundle = Bundle::load_dir(&args.bundle)?;
    let decoder = tasks::Decoder::from_bundle(&bundle, cpu())?;
    let fmri = args.input.read(Some(decoder.mapper.config.voxels))?;
    let request = ReconstructRequest {
        trials: args.trials.clone(),
        steps: args.steps,
        guidance: args.guidance,
        strength: None,
        seed: args.seed,
    };
    let size = decoder.reconstructor.as_ref().map_or(0, |r| r.image_size());
    let started = std::time::Instant::now();
    let mut preview_error = None;
    let result =
        pollster::block_on(
            decoder.reconstruct(&fmri, &request, &mut |step, steps, images| {
                if args.previews && step < steps && preview_error.is_none() {
                    let path = args.out.with_file_name(format!(
                        "{}-step-{step}.png",
                        args.out
                            .file_stem()
                            .and_then(|s| s.to_str())
                            .unwrap_or("grid")
                    ));
                    preview_error = save_png(&path, &grid(images, size, 10)).err();
                }
            }),
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
    /// A denoiser directory (from train-denoiser or distill).
    #[arg(long)]
    denoiser: PathBuf,
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
    let dtype = if args.f16 {
        StoredDtype::F16
    } else {
        StoredDtype::F32
    };
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
    // Load it as every reader will before writing anything.
    let decoder = tasks::Decoder::from_bundle(&bundle, cpu())?;
    if decoder.reconstructor.is_none() {
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
    }))
}
