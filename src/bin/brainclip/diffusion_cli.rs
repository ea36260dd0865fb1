//! `brainclip train-autoencoder`: the world's tiny autoencoder, trained from scratch.

use std::path::PathBuf;

use brainclip::data::bundle::StoredDtype;
use brainclip::diffusion::AutoencoderTinyConfig;
use brainclip::diffusion::autoencoder::WEIGHTS_FILE;
use brainclip::error::Result;
use brainclip::train::autoencoder::{
    AutoencoderTrainConfig, train_autoencoder, world_autoencoder_config,
};
use clap::Args;
use serde_json::json;

use crate::io::{TrainingProgress, read_bytes, write_bytes, write_json};

#[derive(Args)]
pub struct TrainAutoencoderArgs {
    /// Directory for the trained model, as diffusers writes one (config.json,
    /// diffusion_pytorch_model.safetensors), plus history.json and checkpoint/.
    #[arg(long)]
    out: PathBuf,
    /// Continue from OUT/checkpoint.
    #[arg(long)]
    resume: bool,
    /// Seed of the simulated world whose images it learns from.
    #[arg(long, default_value_t = 0)]
    world_seed: u64,
    /// A diffusers AutoencoderTiny config.json to use instead of the world-sized one
    /// (24 channels, one block per stage, 64×64 ↔ 8×8×4).
    #[arg(long)]
    config: Option<PathBuf>,
    #[arg(long, default_value_t = AutoencoderTrainConfig::default().epochs)]
    epochs: usize,
    /// Fresh world images rendered for each epoch.
    #[arg(long, default_value_t = AutoencoderTrainConfig::default().images_per_epoch)]
    images_per_epoch: usize,
    #[arg(long, default_value_t = AutoencoderTrainConfig::default().batch_size)]
    batch_size: usize,
    #[arg(long, default_value_t = AutoencoderTrainConfig::default().learning_rate)]
    lr: f64,
    /// Held-out images measured after every epoch.
    #[arg(long, default_value_t = AutoencoderTrainConfig::default().validation_images)]
    validation_images: usize,
    /// Store the weights as f16 (half the size).
    #[arg(long)]
    f16: bool,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn train(args: TrainAutoencoderArgs) -> Result<serde_json::Value> {
    let ae_config = match &args.config {
        Some(path) => AutoencoderTinyConfig::from_json(&read_bytes(path)?)?,
        None => world_autoencoder_config(),
    };
    let config = AutoencoderTrainConfig {
        epochs: args.epochs,
        images_per_epoch: args.images_per_epoch,
        batch_size: args.batch_size,
        learning_rate: args.lr,
        validation_images: args.validation_images,
        world_seed: args.world_seed,
        seed: args.seed,
        ..AutoencoderTrainConfig::default()
    };
    std::fs::create_dir_all(&args.out).map_err(|err| crate::io::io_error(&args.out, err))?;
    let bar = TrainingProgress::new();
    let outcome = train_autoencoder(
        &ae_config,
        &config,
        Some(&args.out.join("checkpoint")),
        args.resume,
        &mut |report| bar.report(report),
        &mut |step, total| bar.step(step, total),
    )?;
    bar.finish();
    let dtype = if args.f16 {
        StoredDtype::F16
    } else {
        StoredDtype::F32
    };
    let autoencoder = &outcome.autoencoder;
    write_bytes(
        &args.out.join(WEIGHTS_FILE),
        &autoencoder.to_safetensors(dtype)?,
    )?;
    write_json(&args.out.join("config.json"), &autoencoder.config.to_json())?;
    write_json(&args.out.join("history.json"), &json!(outcome.history))?;
    let last = outcome.history.last();
    Ok(json!({
        "out": args.out.display().to_string(),
        "epochs": outcome.history.len(),
        "validation_psnr": last.map(|r| r.validation_psnr),
        "validation_mse": last.map(|r| r.validation_mse),
        "shift_factor": autoencoder.config.shift_factor,
        "scaling_factor": autoencoder.config.scaling_factor,
    }))
}
