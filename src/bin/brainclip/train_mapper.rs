//! `brainclip train-mapper`: a BrainCLIP mapper (and its controls) trained on fMRI with
//! image and/or text supervision, written as a bundle.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use brainclip::data::bundle::{Bundle, StoredDtype};
use brainclip::error::{Error, Result, thousands};
use brainclip::mapper::Mapper;
use brainclip::mapper::{MapperConfig, MapperVariant};
use brainclip::matrix::Matrix;
use brainclip::tasks::Decoder;
use brainclip::train::mapper::{
    CaptionTable, EpochReport, NEAR_COPY_CORRELATION, Phase, TrainOutcome, calibrate_mapper,
    train_with_controls,
};
use brainclip::train::{
    AuxLoss, BundleContents, TextTargets, TrainConfig, TrainingData, mapper_bundle, train_mapper,
};
use clap::Args;
use serde_json::json;

use crate::io::{
    FmriInput, TrainingProgress, cpu, load_clip, read_array, read_embeddings, read_string_lists,
    read_strings,
};

/// The data and settings of a mapper training run: shared by train-mapper and cv.
#[derive(Args)]
pub struct MapperTraining {
    #[command(flatten)]
    pub input: FmriInput,
    /// CLIP image embedding of each trial's stimulus, .npy [trials, dim]; checked and
    /// L2-normalised.
    #[arg(long)]
    pub image_embeddings: Option<PathBuf>,
    /// CLIP text embeddings per trial, .npy [trials, dim] or [trials, captions, dim];
    /// checked and L2-normalised.
    #[arg(long)]
    pub text_embeddings: Option<PathBuf>,
    /// Captions per trial, JSON (a string or list of strings per trial); needs --clip.
    #[arg(long)]
    pub captions: Option<PathBuf>,
    /// Category label per trial, JSON; turned into captions with --template; needs --clip.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Prompt template for --labels ("{}" is replaced by the label); repeatable.
    #[arg(long = "template")]
    pub templates: Vec<String>,
    /// CLIP used to embed captions and labels: a Hugging Face directory, or a bundle that
    /// carries one.
    #[arg(long)]
    pub clip: Option<PathBuf>,
    /// Stimulus id per trial, JSON; trials of one stimulus stay on one side of the split.
    #[arg(long)]
    pub stimulus_ids: Option<PathBuf>,
    /// Run, session or block id per trial, JSON. Validation then holds out whole groups
    /// (a stimulus shown in several runs can be on both sides: validation measures new runs);
    /// give it for any recording whose neighbouring trials are near-copies (block designs,
    /// volumes of one run).
    #[arg(long)]
    pub groups: Option<PathBuf>,
    /// linear, mlp or vae.
    #[arg(long, default_value = "vae")]
    pub variant: String,
    #[arg(long)]
    pub hidden: Option<usize>,
    #[arg(long)]
    pub blocks: Option<usize>,
    #[arg(long)]
    pub latent: Option<usize>,
    #[arg(long)]
    pub input_dropout: Option<f64>,
    #[arg(long)]
    pub dropout: Option<f64>,
    #[arg(long, default_value_t = TrainConfig::default().epochs)]
    pub epochs: usize,
    #[arg(long, default_value_t = TrainConfig::default().batch_size)]
    pub batch_size: usize,
    #[arg(long, default_value_t = TrainConfig::default().learning_rate)]
    pub lr: f64,
    #[arg(long, default_value_t = TrainConfig::default().weight_decay)]
    pub weight_decay: f32,
    /// Fraction of steps for linear learning-rate warm-up (then cosine decay).
    #[arg(long, default_value_t = TrainConfig::default().warmup_fraction)]
    pub warmup: f64,
    /// Per-tensor gradient-norm clip; 0 turns clipping off.
    #[arg(long, default_value_t = 1.0)]
    pub grad_clip: f32,
    /// Initial InfoNCE temperature.
    #[arg(long, default_value_t = TrainConfig::default().temperature)]
    pub temperature: f32,
    /// Keep the temperature fixed instead of learning it.
    #[arg(long)]
    pub fixed_temperature: bool,
    #[arg(long, default_value_t = TrainConfig::default().lambda_image)]
    pub lambda_image: f32,
    #[arg(long, default_value_t = TrainConfig::default().lambda_text)]
    pub lambda_text: f32,
    /// Weight of the VAE's KL term.
    #[arg(long, default_value_t = TrainConfig::default().beta)]
    pub beta: f32,
    #[arg(long, default_value_t = TrainConfig::default().beta_warmup_epochs)]
    pub beta_warmup: usize,
    /// Extra term: none, cosine or mse.
    #[arg(long, default_value = "none")]
    pub aux: String,
    #[arg(long, default_value_t = 0.5)]
    pub aux_weight: f32,
    /// Fraction of stimuli (or of --groups) held out for validation / early stopping.
    #[arg(long, default_value_t = TrainConfig::default().val_fraction)]
    pub val_fraction: f64,
    /// Epochs without validation improvement before stopping (0: never).
    #[arg(long, default_value_t = TrainConfig::default().patience)]
    pub patience: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Args)]
pub struct TrainMapperArgs {
    #[command(flatten)]
    pub training: MapperTraining,
    /// Where to write the bundle (manifest.json, mapper.safetensors,
    /// normalization.safetensors) and checkpoint/.
    #[arg(long)]
    out: PathBuf,
    /// Continue from OUT/checkpoint.
    #[arg(long)]
    resume: bool,
    /// Bundle name.
    #[arg(long, default_value = "brainclip-mapper")]
    name: String,
    /// Provenance written into the manifest (dataset, subject, …).
    #[arg(long, default_value = "trained with brainclip train-mapper")]
    provenance: String,
    #[arg(long, default_value = "unspecified")]
    license: String,
    /// Mark the bundle's data as simulated.
    #[arg(long)]
    simulated: bool,
    /// Put the --clip model into the bundle, so decoding needs nothing else.
    #[arg(long)]
    bundle_clip: bool,
    /// A named list of candidate labels to ship in the manifest, NAME=FILE.json (a JSON
    /// list of strings), e.g. test-categories=novel_categories.json; repeatable.
    #[arg(long = "label-set")]
    label_sets: Vec<String>,
    /// Store the bundle's weights as f16 (half the size).
    #[arg(long)]
    f16: bool,
    /// Skip the controls (a label-shuffled mapper and a ridge baseline) that are otherwise
    /// trained on the same split and shipped in the bundle for evaluation to report.
    #[arg(long)]
    no_controls: bool,
    /// Calibrate this bundle's mapper to the new data instead of training one from scratch:
    /// its blocks, latent and heads are kept and only a new input layer (for this data's
    /// voxels) is learned. --variant, --hidden, --blocks and --latent are then the base's.
    #[arg(long)]
    calibrate_from: Option<PathBuf>,
    /// The subject of a --calibrate-from bundle holding several (default: its default).
    #[arg(long)]
    calibrate_subject: Option<String>,
}

/// Text supervision from whichever inputs were given.
fn text_targets(
    args: &MapperTraining,
    trials: usize,
) -> Result<(Option<TextTargets>, Vec<String>)> {
    let seen_labels = Vec::new();
    if let Some(path) = &args.text_embeddings {
        let (values, shape) = read_array(path, &[2, 3])?;
        let (n, k, d) = match shape.as_slice() {
            [n, d] => (*n, 1, *d),
            [n, k, d] => (*n, *k, *d),
            _ => unreachable!("rank checked by read_array"),
        };
        if n != trials {
            return Err(Error::ShapeMismatch {
                what: format!("{} rows", path.display()),
                got: thousands(n),
                expected: format!("one per fMRI trial ({})", thousands(trials)),
            });
        }
        // Unit rows, as every loss and metric assumes.
        let values = Matrix::new(values, n * k, d)?
            .unit_rows(&path.display().to_string())?
            .into_values();
        return Ok((
            Some(TextTargets::from_per_trial(&values, n, k, d)?),
            seen_labels,
        ));
    }
    let read_lists = |path: &Option<PathBuf>| -> Result<Option<Vec<Vec<String>>>> {
        let Some(path) = path else { return Ok(None) };
        let lists = read_string_lists(path)?;
        if lists.len() != trials {
            return Err(Error::ShapeMismatch {
                what: format!("entries in {}", path.display()),
                got: thousands(lists.len()),
                expected: format!("one per fMRI trial ({})", thousands(trials)),
            });
        }
        Ok(Some(lists))
    };
    let captions = read_lists(&args.captions)?;
    let labels = read_lists(&args.labels)?;
    if captions.is_none() && labels.is_none() {
        return Ok((None, seen_labels));
    }
    let table = CaptionTable::new(
        captions.as_deref(),
        labels.as_deref(),
        &args.templates,
        trials,
    )?;
    let clip = load_clip(args.clip.as_deref(), "--captions and --labels")?;
    eprintln!(
        "embedding {} distinct captions with CLIP…",
        thousands(table.distinct.len())
    );
    let refs: Vec<&str> = table.distinct.iter().map(String::as_str).collect();
    let embeddings = pollster::block_on(clip.embed_text(&cpu(), &refs))?;
    Ok((Some(table.targets(embeddings)?), table.seen_labels))
}

/// One id per trial (JSON strings or numbers), numbered in order of first appearance.
fn read_ids(path: &Path) -> Result<Vec<usize>> {
    let names = read_strings(path)?;
    let mut index: HashMap<String, usize> = HashMap::new();
    Ok(names
        .into_iter()
        .map(|n| {
            let next = index.len();
            *index.entry(n).or_insert(next)
        })
        .collect())
}

/// What a run trains on, with the configurations its options describe.
pub struct Loaded {
    pub data: TrainingData,
    /// Distinct labels of --labels, in order of first appearance.
    pub seen_labels: Vec<String>,
    pub mapper_config: MapperConfig,
    pub config: TrainConfig,
}

impl MapperTraining {
    pub fn load(&self) -> Result<Loaded> {
        let batch = self.input.read(None)?;
        let (trials, voxels) = (batch.trials(), batch.voxels());
        let fmri = Matrix::new(batch.into_values(), trials, voxels)?;
        let images = self
            .image_embeddings
            .as_deref()
            .map(read_embeddings)
            .transpose()?;
        let (texts, seen_labels) = text_targets(self, trials)?;
        let ids = |path: &Option<PathBuf>| path.as_deref().map(read_ids).transpose();
        let data = TrainingData {
            fmri,
            images,
            texts,
            stimulus: ids(&self.stimulus_ids)?,
            groups: ids(&self.groups)?,
        };
        data.validate()?;
        let image_dim = data.images.as_ref().map(|m| m.cols());
        let text_dim = data.texts.as_ref().map(|t| t.embeddings.cols());
        // A head without supervision still needs a size; CLIP's spaces share one.
        let image_dim = image_dim.or(text_dim).expect("validated: some supervision");
        let text_dim = text_dim.unwrap_or(image_dim);
        let mut mapper_config = MapperConfig::new(
            MapperVariant::parse(&self.variant)?,
            data.fmri.cols(),
            image_dim,
            text_dim,
        );
        for (setting, value) in [
            (&mut mapper_config.hidden, self.hidden),
            (&mut mapper_config.blocks, self.blocks),
            (&mut mapper_config.latent, self.latent),
        ] {
            if let Some(v) = value {
                *setting = v;
            }
        }
        if let Some(v) = self.input_dropout {
            mapper_config.input_dropout = v;
        }
        if let Some(v) = self.dropout {
            mapper_config.dropout = v;
        }
        let aux = match self.aux.as_str() {
            "none" => AuxLoss::None,
            "cosine" => AuxLoss::Cosine,
            "mse" => AuxLoss::Mse,
            other => {
                return Err(Error::InvalidConfig {
                    what: "--aux".into(),
                    reason: format!("'{other}' is not one of none, cosine, mse"),
                });
            }
        };
        let config = TrainConfig {
            epochs: self.epochs,
            batch_size: self.batch_size,
            learning_rate: self.lr,
            weight_decay: self.weight_decay,
            warmup_fraction: self.warmup,
            grad_clip: (self.grad_clip > 0.0).then_some(self.grad_clip),
            temperature: self.temperature,
            learn_temperature: !self.fixed_temperature,
            lambda_image: self.lambda_image,
            lambda_text: self.lambda_text,
            beta: self.beta,
            beta_warmup_epochs: self.beta_warmup,
            aux,
            aux_weight: if aux == AuxLoss::None {
                0.0
            } else {
                self.aux_weight
            },
            val_fraction: self.val_fraction,
            patience: self.patience,
            seed: self.seed,
        };
        Ok(Loaded {
            data,
            seen_labels,
            mapper_config,
            config,
        })
    }
}

/// Warns when validation trials have near-copies in the training split and no groups were
/// given: early stopping and the validation scores would then be optimistic.
pub fn warn_if_validation_leaks(data: &TrainingData, config: &TrainConfig) -> Result<()> {
    // Checked with groups too: a group split should find nothing.
    if config.val_fraction == 0.0 {
        return Ok(());
    }
    let report = data.validation_leak(config)?;
    if report.leaks() {
        eprintln!(
            "warning: {} of {} validation trials have a near-copy among the training trials \
             (the trial next to them in the file is among their closest, or r ≥ {}). \
             Neighbouring volumes of one block or run are near-copies, so validation (and early \
             stopping) would score trials the mapper has in effect seen. Give --groups FILE.json \
             (a run or session id per trial) to hold out whole runs.",
            report.with_near_copy, report.checked, NEAR_COPY_CORRELATION
        );
    }
    Ok(())
}

fn describe(mapper_config: &MapperConfig, data: &TrainingData) {
    eprintln!(
        "training a {} mapper: {} trials × {} voxels → image {} / text {}; {} parameters ({:.1} MB as f16)",
        mapper_config.variant.as_str(),
        thousands(data.fmri.rows()),
        thousands(data.fmri.cols()),
        mapper_config.image_dim,
        mapper_config.text_dim,
        thousands(mapper_config.parameter_count()),
        mapper_config.parameter_count() as f64 * 2.0 / 1e6
    );
}

pub fn train(args: TrainMapperArgs) -> Result<serde_json::Value> {
    let Loaded {
        data,
        seen_labels,
        mapper_config,
        config,
    } = args.training.load()?;
    warn_if_validation_leaks(&data, &config)?;
    let base = args
        .calibrate_from
        .as_deref()
        .map(|path| -> Result<Mapper> {
            let bundle = Bundle::load_dir_for(path, args.calibrate_subject.as_deref())?;
            Ok(Decoder::from_bundle(&bundle, cpu())?.mapper)
        })
        .transpose()?;
    let mapper_config = match &base {
        Some(base) => MapperConfig {
            voxels: data.fmri.cols(),
            ..base.config.clone()
        },
        None => mapper_config,
    };
    describe(&mapper_config, &data);
    let checkpoint = args.out.join("checkpoint");
    let trained = pollster::block_on(train_with_controls(
        &data,
        &config,
        !args.no_controls,
        async |data: &TrainingData, phase: Phase| -> Result<TrainOutcome> {
            let (dir, shuffled) = match phase {
                Phase::Model => (checkpoint.clone(), false),
                Phase::ShuffledControl => (checkpoint.join("shuffled"), true),
            };
            eprintln!(
                "{}",
                if shuffled {
                    "its label-shuffled control:"
                } else {
                    "the mapper:"
                }
            );
            let bar = TrainingProgress::new();
            // The control's epochs are not printed: stdout's epoch lines are the mapper's.
            let on_epoch = &mut |report: &EpochReport| shuffled || bar.report(report);
            let progress = &mut |step, total| bar.step(step, total);
            let outcome = match &base {
                Some(base) => calibrate_mapper(
                    data,
                    base,
                    &config,
                    Some(&dir),
                    args.resume,
                    on_epoch,
                    progress,
                ),
                None => train_mapper(
                    data,
                    &mapper_config,
                    &config,
                    Some(&dir),
                    args.resume,
                    on_epoch,
                    progress,
                ),
            }?;
            bar.finish();
            if shuffled {
                eprintln!("the ridge baseline…");
            }
            Ok(outcome)
        },
    ))?;
    let mut labels = BTreeMap::new();
    if !seen_labels.is_empty() {
        labels.insert("train-categories".to_string(), seen_labels);
    }
    for spec in &args.label_sets {
        let (name, file) = spec.split_once('=').ok_or_else(|| Error::InvalidConfig {
            what: "--label-set".into(),
            reason: format!("'{spec}' is not NAME=FILE.json"),
        })?;
        labels.insert(name.to_string(), read_strings(Path::new(file))?);
    }
    let bundled_clip = if args.bundle_clip {
        Some(load_clip(args.training.clip.as_deref(), "--bundle-clip")?)
    } else {
        None
    };
    let outcome = &trained.outcome;
    let bundle = mapper_bundle(
        outcome,
        &args.name,
        &args.provenance,
        &args.license,
        args.simulated,
        labels,
        BundleContents {
            clip: bundled_clip.as_ref(),
            controls: trained.bundled(),
            dtype: StoredDtype::half_if(args.f16),
        },
    )?;
    bundle.write_dir(&args.out)?;
    let last = outcome.history.last();
    Ok(json!({
        "bundle": args.out.display().to_string(),
        "epochs": outcome.history.len(),
        "best_epoch": outcome.best_epoch,
        "train_trials": outcome.train_trials,
        "val_trials": outcome.val_trials,
        "samples_per_second": last.map(|r| r.samples_per_second),
        "parameters": mapper_config.parameter_count(),
        "ridge_lambda_scale": trained.ridge.as_ref().map(|r| json!({
            "image": r.image_lambda_scale,
            "text": r.text_lambda_scale,
        })),
    }))
}
