//! `brainclip train-clip` (the simulated world's tiny CLIP) and `brainclip embed-images`.

use std::path::PathBuf;

use brainclip::clip::{ClipConfig, preprocess};
use brainclip::data::bundle::StoredDtype;
use brainclip::data::npy::write_npy_f32;
use brainclip::device::ComputeDevice;
use brainclip::error::{Error, Result, thousands};
use brainclip::sim::stimuli::{CATEGORIES, Category};
use brainclip::train::clip::{
    ClipTrainConfig, ClipTrainingData, WorldImages, classify, train_clip,
};
use clap::Args;
use serde_json::json;

use crate::io::{TrainingProgress, read_bytes, write_bytes, write_json};

#[derive(Args)]
pub struct TrainClipArgs {
    /// Directory for the trained model (config.json, model.safetensors) and checkpoint/.
    #[arg(long)]
    out: PathBuf,
    /// Continue from OUT/checkpoint.
    #[arg(long)]
    resume: bool,
    /// Seed of the simulated world whose images it learns from.
    #[arg(long, default_value_t = 0)]
    world_seed: u64,
    /// Images per category (every one of the 200 categories).
    #[arg(long, default_value_t = 40)]
    images_per_category: usize,
    /// Model size preset.
    #[arg(long, default_value = "tiny")]
    preset: String,
    /// A Hugging Face CLIP config.json to use instead of the preset.
    #[arg(long)]
    config: Option<PathBuf>,
    #[arg(long, default_value_t = ClipTrainConfig::default().epochs)]
    epochs: usize,
    #[arg(long, default_value_t = ClipTrainConfig::default().batch_size)]
    batch_size: usize,
    #[arg(long, default_value_t = ClipTrainConfig::default().learning_rate)]
    lr: f64,
    #[arg(long, default_value_t = ClipTrainConfig::default().weight_decay)]
    weight_decay: f32,
    /// Store the weights as f16 (half the size).
    #[arg(long)]
    f16: bool,
    /// Draw half the batches from images of one colour (hard negatives for shape). In short
    /// runs it slows learning; it is there for experiments.
    #[arg(long)]
    hard_negatives: bool,
    /// Render fresh world images for every epoch instead of repeating the first epoch's
    /// (--images-per-category per epoch).
    #[arg(long)]
    fresh_images: bool,
    /// How many of each category's images are canonical views (centred, upright, plain
    /// ground).
    #[arg(long, default_value_t = 0)]
    canonical_images: usize,
    /// Epochs at the start that describe each image only by its object ("a star."), before
    /// all captions (a curriculum that makes shape, not colour, the first thing learned).
    #[arg(long, default_value_t = 0)]
    warmup_caption_epochs: usize,
    /// Initial standard deviation of the token embeddings (Hugging Face's is 0.02).
    #[arg(long, default_value_t = ClipTrainConfig::default().token_embedding_std)]
    token_init_std: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn train(args: TrainClipArgs) -> Result<serde_json::Value> {
    let clip_config = match &args.config {
        Some(path) => ClipConfig::from_hf_json(&read_bytes(path)?)?,
        None => ClipConfig::preset(&args.preset)?,
    };
    let config = ClipTrainConfig {
        epochs: args.epochs,
        batch_size: args.batch_size,
        learning_rate: args.lr,
        weight_decay: args.weight_decay,
        seed: args.seed,
        token_embedding_std: args.token_init_std,
        warmup_caption_epochs: args.warmup_caption_epochs,
        ..ClipTrainConfig::default()
    };
    eprintln!(
        "rendering {} world images ({} categories × {})",
        thousands(CATEGORIES * args.images_per_category),
        CATEGORIES,
        args.images_per_category
    );
    let world = WorldImages {
        canonical_per_category: args.canonical_images,
        ..WorldImages::new(
            args.world_seed,
            CATEGORIES,
            args.images_per_category,
            clip_config.vision.image_size,
        )
    };
    let mut data = ClipTrainingData::from_world(&world)?;
    if args.fresh_images {
        data = data.with_fresh_images_each_epoch(&world);
    }
    if args.hard_negatives {
        data = data.with_colour_hard_negatives();
    }
    let bar = TrainingProgress::new();
    std::fs::create_dir_all(&args.out).map_err(|err| crate::io::io_error(&args.out, err))?;
    let outcome = train_clip(
        &clip_config,
        &data,
        &config,
        Some(&args.out.join("checkpoint")),
        args.resume,
        &mut |report| bar.report(report),
        &mut |step, total| bar.step(step, total),
    )?;
    bar.finish();
    let dtype = StoredDtype::half_if(args.f16);
    write_bytes(
        &args.out.join("model.safetensors"),
        &outcome.clip.to_hf_safetensors(dtype)?,
    )?;
    write_json(&args.out.join("config.json"), &clip_config.to_hf_json())?;
    write_json(&args.out.join("history.json"), &json!(outcome.history))?;
    // Fresh world images: which attribute of the category does the model get right?
    let evaluation = ClipTrainingData::world_evaluation(&WorldImages::new(
        args.world_seed,
        CATEGORIES,
        5,
        clip_config.vision.image_size,
    ))?;
    let predicted = classify(&outcome.clip, &evaluation)?;
    let fraction = |hit: &dyn Fn(Category, Category) -> bool| {
        let hits = evaluation
            .categories
            .iter()
            .zip(&predicted)
            .filter(|(truth, guess)| {
                let (Some(t), Some(g)) =
                    (Category::from_index(**truth), Category::from_index(**guess))
                else {
                    return false;
                };
                hit(t, g)
            })
            .count();
        hits as f64 / predicted.len().max(1) as f64
    };
    let evaluation_report = json!({
        "images": predicted.len(),
        "category_top1": fraction(&|t, g| t == g),
        "colour_correct": fraction(&|t, g| t.colour == g.colour),
        "shape_correct": fraction(&|t, g| t.shape == g.shape),
        "chance": { "category": 1.0 / CATEGORIES as f64, "colour": 1.0 / 8.0, "shape": 1.0 / 25.0 },
    });
    write_json(&args.out.join("evaluation.json"), &evaluation_report)?;
    let last = outcome.history.last();
    Ok(json!({
        "out": args.out.display().to_string(),
        "images": data.images.len(),
        "epochs": outcome.history.len(),
        "temperature": last.map(|r| r.temperature),
        "evaluation": evaluation_report,
    }))
}

#[derive(Args)]
pub struct EmbedImagesArgs {
    /// Hugging Face CLIP directory (config.json + model.safetensors), or a bundle that
    /// carries a CLIP (its stored precision included, as the page embeds images).
    #[arg(long)]
    clip: PathBuf,
    /// Image files (PNG or JPEG), in order.
    images: Vec<PathBuf>,
    /// JSON list of ids; each image is DIR/<id>.png (with --dir).
    #[arg(long)]
    ids: Option<PathBuf>,
    /// Folder the ids' images are in.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Output .npy [images, dim] of L2-normalised embeddings.
    #[arg(long)]
    out: PathBuf,
}

pub fn embed_images(args: EmbedImagesArgs) -> Result<serde_json::Value> {
    let mut paths = args.images.clone();
    if let Some(ids) = &args.ids {
        let list: Vec<String> =
            serde_json::from_slice(&read_bytes(ids)?).map_err(|err| Error::CorruptFile {
                file: ids.display().to_string(),
                reason: format!("expected a JSON list of id strings ({err})"),
            })?;
        let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from("."));
        paths.extend(list.iter().map(|id| dir.join(format!("{id}.png"))));
    }
    if paths.is_empty() {
        return Err(Error::InvalidConfig {
            what: "embed-images".into(),
            reason: "no images: pass image files or --ids (with --dir)".into(),
        });
    }
    let device = ComputeDevice::cpu(None);
    let clip = crate::io::load_clip(Some(&args.clip), "images")?;
    let size = clip.config.vision.image_size;
    let images = paths
        .iter()
        .map(|path| preprocess::from_encoded(&read_bytes(path)?, &path.display().to_string(), size))
        .collect::<Result<Vec<_>>>()?;
    let embeddings = pollster::block_on(clip.embed_images(&device, &images))?;
    write_bytes(
        &args.out,
        &write_npy_f32(embeddings.values(), &[embeddings.rows(), embeddings.cols()])?,
    )?;
    Ok(json!({
        "out": args.out.display().to_string(),
        "images": embeddings.rows(),
        "dim": embeddings.cols(),
    }))
}
