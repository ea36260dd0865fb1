//! `brainclip train-autoencoder`, `train-denoiser` and `distill`: the reconstruction
//! decoder's models, trained from scratch on the simulated world.

use std::path::PathBuf;

use brainclip::data::bundle::StoredDtype;
use brainclip::diffusion::autoencoder::WEIGHTS_FILE;
use brainclip::diffusion::denoiser::WEIGHTS_FILE as DENOISER_WEIGHTS;
use brainclip::diffusion::{
    Autoencoder, AutoencoderTinyConfig, DenoiserConfig, DenoiserModel, Schedule,
};
use brainclip::error::{Error, Result};
use brainclip::train::autoencoder::{
    AutoencoderTrainConfig, train_autoencoder, world_autoencoder_config,
};
use brainclip::train::denoiser::{
    DenoiserTrainConfig, DenoiserTrainingData, distill_round, train_denoiser,
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
    /// (16 channels, one block per stage, 64×64 ↔ 8×8×4).
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
    /// Weight of the colour loss over latent-grid cells (0: per-pixel loss only).
    #[arg(long, default_value_t = AutoencoderTrainConfig::default().colour_weight)]
    colour_weight: f32,
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
        colour_weight: args.colour_weight,
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
    let dtype = StoredDtype::half_if(args.f16);
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

/// A denoiser directory: config.json, denoiser.safetensors, schedule.json.
fn write_denoiser(
    dir: &std::path::Path,
    model: &DenoiserModel,
    schedule: &Schedule,
    dtype: StoredDtype,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|err| crate::io::io_error(dir, err))?;
    write_bytes(&dir.join(DENOISER_WEIGHTS), &model.to_safetensors(dtype)?)?;
    write_json(&dir.join("config.json"), &json!(model.config))?;
    write_json(&dir.join("schedule.json"), &json!(schedule))
}

pub fn read_denoiser(dir: &std::path::Path) -> Result<(DenoiserModel, Schedule)> {
    let parse = |name: &str| -> Result<serde_json::Value> {
        serde_json::from_slice(&read_bytes(&dir.join(name))?).map_err(|err| Error::CorruptFile {
            file: dir.join(name).display().to_string(),
            reason: err.to_string(),
        })
    };
    let invalid = |name: &str, err: serde_json::Error| Error::InvalidConfig {
        what: dir.join(name).display().to_string(),
        reason: err.to_string(),
    };
    let config: DenoiserConfig =
        serde_json::from_value(parse("config.json")?).map_err(|e| invalid("config.json", e))?;
    let schedule: Schedule =
        serde_json::from_value(parse("schedule.json")?).map_err(|e| invalid("schedule.json", e))?;
    schedule.validate()?;
    let model = DenoiserModel::from_safetensors(
        &config,
        read_bytes(&dir.join(DENOISER_WEIGHTS))?,
        DENOISER_WEIGHTS,
        &burn::tensor::Device::flex(),
    )?;
    Ok((model, schedule))
}

/// Where the denoiser's training pairs come from: shared by train-denoiser and distill.
#[derive(Args)]
pub struct DenoiserData {
    /// The trained autoencoder (a diffusers AutoencoderTiny directory).
    #[arg(long)]
    autoencoder: PathBuf,
    /// The CLIP whose image embeddings condition the denoiser (a Hugging Face directory, or
    /// a bundle that carries one).
    #[arg(long)]
    clip: PathBuf,
    /// Seed of the simulated world whose images it learns from.
    #[arg(long, default_value_t = 0)]
    world_seed: u64,
    /// World images (of every category; never the protocol's stimuli).
    #[arg(long, default_value_t = 4000)]
    images: usize,
}

impl DenoiserData {
    fn load(&self, seed: u64) -> Result<DenoiserTrainingData> {
        let device = brainclip::device::ComputeDevice::cpu(None);
        let autoencoder = Autoencoder::from_dir(&self.autoencoder, &device.device)?;
        let clip = crate::io::load_clip(Some(&self.clip), "denoiser training images")?;
        eprintln!(
            "encoding and embedding {} world images",
            brainclip::error::thousands(self.images)
        );
        pollster::block_on(DenoiserTrainingData::from_world(
            self.world_seed,
            self.images,
            seed,
            &autoencoder,
            &clip,
            &device,
        ))
    }
}

/// Optimisation options shared by train-denoiser and distill.
#[derive(Args)]
pub struct DenoiserOptimisation {
    #[arg(long, default_value_t = DenoiserTrainConfig::default().epochs)]
    epochs: usize,
    #[arg(long, default_value_t = DenoiserTrainConfig::default().batch_size)]
    batch_size: usize,
    #[arg(long, default_value_t = DenoiserTrainConfig::default().learning_rate)]
    lr: f64,
    /// Store the weights as f16 (half the size).
    #[arg(long)]
    f16: bool,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

impl DenoiserOptimisation {
    fn config(&self) -> DenoiserTrainConfig {
        DenoiserTrainConfig {
            epochs: self.epochs,
            batch_size: self.batch_size,
            learning_rate: self.lr,
            seed: self.seed,
            ..DenoiserTrainConfig::default()
        }
    }

    fn dtype(&self) -> StoredDtype {
        StoredDtype::half_if(self.f16)
    }
}

#[derive(Args)]
pub struct TrainDenoiserArgs {
    /// Directory for the teacher (config.json, denoiser.safetensors, schedule.json),
    /// history.json and checkpoint/.
    #[arg(long)]
    out: PathBuf,
    /// Continue from OUT/checkpoint.
    #[arg(long)]
    resume: bool,
    #[command(flatten)]
    data: DenoiserData,
    #[command(flatten)]
    optimisation: DenoiserOptimisation,
    /// Width of the DiT.
    #[arg(long, default_value_t = 128)]
    hidden_size: usize,
    #[arg(long, default_value_t = 4)]
    depth: usize,
    /// Steps the teacher is sampled with.
    #[arg(long, default_value_t = 50)]
    steps: usize,
    /// Classifier-free guidance scale the teacher is sampled with.
    #[arg(long, default_value_t = 2.0)]
    guidance: f32,
    /// Noise augmentation of the CLIP condition (unCLIP's): Gaussian noise of norm up to
    /// this, against the unit embedding, then renormalised; 0 trains on clean embeddings.
    #[arg(long, default_value_t = 0.0)]
    condition_noise: f64,
}

pub fn train_denoiser_command(args: TrainDenoiserArgs) -> Result<serde_json::Value> {
    let data = args.data.load(args.optimisation.seed)?;
    let denoiser_config = DenoiserConfig {
        hidden_size: args.hidden_size,
        depth: args.depth,
        ..DenoiserConfig::world(data.latent_channels, data.latent_size, data.condition_dim)
    };
    let schedule = Schedule::rectified_flow(vec![args.steps], args.guidance);
    schedule.validate()?;
    std::fs::create_dir_all(&args.out).map_err(|err| crate::io::io_error(&args.out, err))?;
    let bar = TrainingProgress::new();
    let outcome = train_denoiser(
        &denoiser_config,
        &data,
        &DenoiserTrainConfig {
            condition_noise: args.condition_noise,
            ..args.optimisation.config()
        },
        Some(&args.out.join("checkpoint")),
        args.resume,
        &mut |report| bar.report(report),
        &mut |step, total| bar.step(step, total),
    )?;
    bar.finish();
    write_denoiser(
        &args.out,
        &outcome.model,
        &schedule,
        args.optimisation.dtype(),
    )?;
    write_json(&args.out.join("history.json"), &json!(outcome.history))?;
    Ok(json!({
        "out": args.out.display().to_string(),
        "epochs": outcome.history.len(),
        "validation_loss": outcome.history.last().map(|r| r.validation_loss),
    }))
}

#[derive(Args)]
pub struct DistillArgs {
    /// The teacher's directory (from train-denoiser).
    #[arg(long)]
    teacher: PathBuf,
    /// Directory for the students: OUT/steps-N/ for every round (each resumable).
    #[arg(long)]
    out: PathBuf,
    /// Continue interrupted rounds from their checkpoints.
    #[arg(long)]
    resume: bool,
    #[command(flatten)]
    data: DenoiserData,
    #[command(flatten)]
    optimisation: DenoiserOptimisation,
    /// The teacher's steps in the first round (a power of two times --steps).
    #[arg(long, default_value_t = 16)]
    teacher_steps: usize,
    /// The last student's steps; every round halves the steps down to this.
    #[arg(long, default_value_t = 1)]
    steps: usize,
    /// Guidance baked into the first round's targets (default: the teacher's schedule's).
    #[arg(long)]
    guidance: Option<f32>,
}

pub fn distill_command(args: DistillArgs) -> Result<serde_json::Value> {
    let (teacher, teacher_schedule) = read_denoiser(&args.teacher)?;
    let guidance = args.guidance.unwrap_or(teacher_schedule.guidance);
    let mut round_steps = args.teacher_steps;
    if args.steps == 0
        || round_steps <= args.steps
        || !(round_steps / args.steps).is_power_of_two()
        || !round_steps.is_multiple_of(args.steps)
    {
        return Err(Error::InvalidConfig {
            what: "distill".into(),
            reason: format!(
                "--teacher-steps {round_steps} must be --steps {} times a power of two (at least 2)",
                args.steps
            ),
        });
    }
    let data = args.data.load(args.optimisation.seed)?;
    let mut current = teacher;
    let mut current_guidance = guidance;
    let mut rounds = Vec::new();
    while round_steps > args.steps {
        let student_steps = round_steps / 2;
        let dir = args.out.join(format!("steps-{student_steps}"));
        let finished = dir.join(DENOISER_WEIGHTS).exists() && dir.join("history.json").exists();
        let student = if finished && args.resume {
            eprintln!(
                "{student_steps} steps: already distilled in {}",
                dir.display()
            );
            read_denoiser(&dir)?.0
        } else {
            eprintln!(
                "distilling {round_steps} → {student_steps} steps (guidance {current_guidance})"
            );
            std::fs::create_dir_all(&dir).map_err(|err| crate::io::io_error(&dir, err))?;
            let bar = TrainingProgress::new();
            let outcome = distill_round(
                &current,
                round_steps,
                current_guidance,
                &data,
                &args.optimisation.config(),
                Some(&dir.join("checkpoint")),
                args.resume,
                &mut |report| bar.report(report),
                &mut |step, total| bar.step(step, total),
            )?;
            bar.finish();
            // A student's guidance is baked in: it is sampled with guidance 1.
            let schedule = Schedule::rectified_flow(vec![student_steps], 1.0);
            write_denoiser(&dir, &outcome.model, &schedule, args.optimisation.dtype())?;
            write_json(&dir.join("history.json"), &json!(outcome.history))?;
            outcome.model
        };
        rounds.push(json!({ "steps": student_steps, "dir": dir.display().to_string() }));
        current = student;
        current_guidance = 1.0;
        round_steps = student_steps;
    }
    Ok(json!({ "out": args.out.display().to_string(), "rounds": rounds }))
}
