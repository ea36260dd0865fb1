//! `brainclip sim planted`, `brainclip train-mapper` and `brainclip eval`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use brainclip::clip::Clip;
use brainclip::data::bundle::{Bundle, StoredDtype};
use brainclip::data::fmri::{DEFAULT_MAX_BYTES, ReadOptions, read_mask_path};
use brainclip::data::npy::{read_npy_array, write_npy_f32};
use brainclip::data::read_fmri_path;
use brainclip::device::ComputeDevice;
use brainclip::error::{Error, Result, thousands};
use brainclip::mapper::{MapperConfig, MapperVariant};
use brainclip::matrix::Matrix;
use brainclip::metrics::{self, Metric};
use brainclip::sim::{PlantedConfig, PlantedDataset};
use brainclip::tasks::{self, DEFAULT_TEMPLATE, fill_template};
use brainclip::train::{
    AuxLoss, BundleContents, TextTargets, TrainConfig, TrainingData, mapper_bundle, train_mapper,
};
use clap::Args;
use serde_json::json;

pub fn io_error(path: &Path, err: impl std::fmt::Display) -> Error {
    Error::Io {
        path: path.display().to_string(),
        reason: err.to_string(),
    }
}

pub fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|err| io_error(path, err))
}

pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|err| io_error(path, err))
}

/// A `.npy` array of one of the `ranks`, as f32, refusing NaN/±Inf.
pub fn read_array(path: &Path, ranks: &[usize]) -> Result<(Vec<f32>, Vec<usize>)> {
    let name = path.display().to_string();
    let array = read_npy_array(&read_bytes(path)?, &name, DEFAULT_MAX_BYTES, |shape| {
        if ranks.contains(&shape.len()) {
            Ok(())
        } else {
            Err(Error::UnsupportedShape {
                file: name.clone(),
                shape: shape.to_vec(),
            })
        }
    })?;
    if let Some(bad) = array.values.iter().position(|v| !v.is_finite()) {
        let cols = array.shape.last().copied().unwrap_or(1).max(1);
        return Err(Error::NonFinite {
            file: name,
            count: array.values.iter().filter(|v| !v.is_finite()).count(),
            trial: bad / cols,
            voxel: bad % cols,
        });
    }
    Ok((array.values, array.shape))
}

fn read_matrix(path: &Path) -> Result<Matrix> {
    let (values, shape) = read_array(path, &[2])?;
    Matrix::new(values, shape[0], shape[1])
}

/// A JSON array with one entry per trial: a string, or a list of strings.
fn read_string_lists(path: &Path) -> Result<Vec<Vec<String>>> {
    let text = String::from_utf8(read_bytes(path)?).map_err(|err| io_error(path, err))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|err| Error::CorruptFile {
            file: path.display().to_string(),
            reason: format!("not valid JSON ({err})"),
        })?;
    let bad = |what: String| Error::CorruptFile {
        file: path.display().to_string(),
        reason: format!(
            "{what}; expected a JSON array with one string (or list of strings) per trial"
        ),
    };
    let items = value
        .as_array()
        .ok_or_else(|| bad("the document is not an array".into()))?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            serde_json::Value::String(s) => Ok(vec![s.clone()]),
            serde_json::Value::Number(n) => Ok(vec![n.to_string()]),
            serde_json::Value::Array(list) if !list.is_empty() => list
                .iter()
                .map(|s| {
                    s.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| bad(format!("entry {i} holds a non-string")))
                })
                .collect(),
            _ => Err(bad(format!(
                "entry {i} is neither a string nor a non-empty list"
            ))),
        })
        .collect()
}

fn read_strings(path: &Path) -> Result<Vec<String>> {
    read_string_lists(path)?
        .into_iter()
        .enumerate()
        .map(|(i, mut list)| {
            if list.len() == 1 {
                Ok(list.remove(0))
            } else {
                Err(Error::CorruptFile {
                    file: path.display().to_string(),
                    reason: format!("entry {i} is a list; expected one string per entry"),
                })
            }
        })
        .collect()
}

/// A matrix as a 2-D float32 `.npy`.
pub fn write_matrix(path: &Path, matrix: &Matrix) -> Result<()> {
    write_bytes(
        path,
        &write_npy_f32(matrix.values(), &[matrix.rows(), matrix.cols()])?,
    )
}

pub fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    write_bytes(
        path,
        serde_json::to_string_pretty(value)
            .expect("JSON serialises")
            .as_bytes(),
    )
}

fn cpu() -> ComputeDevice {
    ComputeDevice::cpu(None)
}

fn load_clip(dir: Option<&Path>, why: &str) -> Result<Clip> {
    let dir = dir.ok_or_else(|| Error::InvalidConfig {
        what: "--clip".into(),
        reason: format!(
            "{why} need a CLIP model to embed them: pass --clip DIR (a Hugging Face CLIP directory)"
        ),
    })?;
    Clip::from_hf_dir(dir, &cpu().device)
}

/// Where the fMRI comes from: shared by train-mapper, eval and decode.
#[derive(Args)]
pub struct FmriInput {
    /// fMRI [trials, voxels]: .npy, .npz, or NIfTI (.nii, .nii.gz) with --mask.
    #[arg(long)]
    fmri: PathBuf,
    /// Array to read from an .npz archive.
    #[arg(long)]
    array: Option<String>,
    /// NIfTI mask selecting voxels (non-zero = keep), on the data's grid.
    #[arg(long)]
    mask: Option<PathBuf>,
}

impl FmriInput {
    fn read(&self, expected_voxels: Option<usize>) -> Result<brainclip::data::FmriBatch> {
        let options = ReadOptions {
            array: self.array.clone(),
            mask: self.mask.as_deref().map(read_mask_path).transpose()?,
            expected_voxels,
            ..ReadOptions::default()
        };
        read_fmri_path(&self.fmri, &options)
    }
}

/// A step progress bar on stderr, with each epoch's report printed above it as JSON.
pub struct TrainingProgress(indicatif::ProgressBar);

impl TrainingProgress {
    pub fn new() -> Self {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} steps · {per_sec} · eta {eta}",
            )
            .expect("valid template"),
        );
        TrainingProgress(bar)
    }

    /// Prints an epoch's report; training goes on.
    pub fn report(&self, report: &impl serde::Serialize) -> bool {
        let line = serde_json::to_string(report).expect("report serialises");
        self.0.suspend(|| println!("{line}"));
        true
    }

    pub fn step(&self, step: usize, total: usize) {
        self.0.set_length(total as u64);
        self.0.set_position(step as u64);
    }

    pub fn finish(self) {
        self.0.finish_and_clear();
    }
}

// ---------------------------------------------------------------------------------------
// sim planted

#[derive(Args)]
pub struct SimPlantedArgs {
    /// Directory to write the dataset into.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = PlantedConfig::default().voxels)]
    voxels: usize,
    /// Embedding size.
    #[arg(long, default_value_t = PlantedConfig::default().dim)]
    dim: usize,
    #[arg(long, default_value_t = PlantedConfig::default().train_categories)]
    train_categories: usize,
    #[arg(long, default_value_t = PlantedConfig::default().test_categories)]
    test_categories: usize,
    #[arg(long, default_value_t = PlantedConfig::default().train_per_category)]
    train_per_category: usize,
    #[arg(long, default_value_t = PlantedConfig::default().test_per_category)]
    test_per_category: usize,
    /// Voxel noise standard deviation relative to the signal's.
    #[arg(long, default_value_t = PlantedConfig::default().noise)]
    noise: f32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn sim_planted(args: SimPlantedArgs) -> Result<serde_json::Value> {
    let config = PlantedConfig {
        voxels: args.voxels,
        dim: args.dim,
        train_categories: args.train_categories,
        test_categories: args.test_categories,
        train_per_category: args.train_per_category,
        test_per_category: args.test_per_category,
        noise: args.noise,
        seed: args.seed,
        ..PlantedConfig::default()
    };
    if config.voxels == 0
        || config.dim == 0
        || config.train_categories < 2
        || config.test_categories < 2
    {
        return Err(Error::InvalidConfig {
            what: "planted dataset".into(),
            reason: "needs voxels ≥ 1, dim ≥ 1 and at least 2 training and 2 novel categories"
                .into(),
        });
    }
    let data = PlantedDataset::generate(&config)?;
    let out = &args.out;
    std::fs::create_dir_all(out).map_err(|err| io_error(out, err))?;
    let npy = |name: &str, m: &Matrix| write_matrix(&out.join(name), m);
    let names = |cats: &[usize]| -> serde_json::Value {
        json!(
            cats.iter()
                .map(|c| &data.category_names[*c])
                .collect::<Vec<_>>()
        )
    };
    let seen: Vec<usize> = (0..config.train_categories).collect();
    let novel: Vec<usize> = (config.train_categories..data.category_names.len()).collect();
    let rows = |cats: &[usize]| -> Result<Matrix> {
        Matrix::new(
            cats.iter()
                .flat_map(|c| data.category_embeddings.row(*c).iter().copied())
                .collect(),
            cats.len(),
            config.dim,
        )
    };
    npy("train_fmri.npy", &data.train.fmri)?;
    npy("train_image_embeddings.npy", &data.train.images)?;
    let train_text = rows(&data.train.categories)?;
    write_bytes(
        &out.join("train_text_embeddings.npy"),
        &write_npy_f32(train_text.values(), &[train_text.rows(), 1, config.dim])?,
    )?;
    write_json(
        &out.join("train_labels.json"),
        &names(&data.train.categories),
    )?;
    npy("test_fmri.npy", &data.test.fmri)?;
    npy("test_image_embeddings.npy", &data.test.images)?;
    write_json(&out.join("test_labels.json"), &names(&data.test.categories))?;
    write_json(&out.join("seen_categories.json"), &names(&seen))?;
    npy("seen_category_embeddings.npy", &rows(&seen)?)?;
    write_json(&out.join("novel_categories.json"), &names(&novel))?;
    npy("novel_category_embeddings.npy", &rows(&novel)?)?;
    write_json(&out.join("config.json"), &json!(config))?;
    Ok(json!({
        "out": out.display().to_string(),
        "train_trials": data.train.fmri.rows(),
        "test_trials": data.test.fmri.rows(),
        "voxels": config.voxels,
        "dim": config.dim,
        "seen_categories": config.train_categories,
        "novel_categories": config.test_categories,
    }))
}

// ---------------------------------------------------------------------------------------
// train-mapper

#[derive(Args)]
pub struct TrainMapperArgs {
    #[command(flatten)]
    input: FmriInput,
    /// CLIP image embedding of each trial's stimulus, .npy [trials, dim].
    #[arg(long)]
    image_embeddings: Option<PathBuf>,
    /// CLIP text embeddings per trial, .npy [trials, dim] or [trials, captions, dim].
    #[arg(long)]
    text_embeddings: Option<PathBuf>,
    /// Captions per trial, JSON (a string or list of strings per trial); needs --clip.
    #[arg(long)]
    captions: Option<PathBuf>,
    /// Category label per trial, JSON; turned into captions with --template; needs --clip.
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Prompt template for --labels ("{}" is replaced by the label); repeatable.
    #[arg(long = "template")]
    templates: Vec<String>,
    /// Hugging Face CLIP directory used to embed captions and labels.
    #[arg(long)]
    clip: Option<PathBuf>,
    /// Stimulus id per trial, JSON; trials of one stimulus stay on one side of the split.
    #[arg(long)]
    stimulus_ids: Option<PathBuf>,
    /// Where to write the bundle (manifest.json, mapper.safetensors,
    /// normalization.safetensors) and checkpoint/.
    #[arg(long)]
    out: PathBuf,
    /// Continue from OUT/checkpoint.
    #[arg(long)]
    resume: bool,
    /// linear, mlp or vae.
    #[arg(long, default_value = "vae")]
    variant: String,
    #[arg(long)]
    hidden: Option<usize>,
    #[arg(long)]
    blocks: Option<usize>,
    #[arg(long)]
    latent: Option<usize>,
    #[arg(long)]
    input_dropout: Option<f64>,
    #[arg(long)]
    dropout: Option<f64>,
    #[arg(long, default_value_t = TrainConfig::default().epochs)]
    epochs: usize,
    #[arg(long, default_value_t = TrainConfig::default().batch_size)]
    batch_size: usize,
    #[arg(long, default_value_t = TrainConfig::default().learning_rate)]
    lr: f64,
    #[arg(long, default_value_t = TrainConfig::default().weight_decay)]
    weight_decay: f32,
    /// Fraction of steps for linear learning-rate warm-up (then cosine decay).
    #[arg(long, default_value_t = TrainConfig::default().warmup_fraction)]
    warmup: f64,
    /// Per-tensor gradient-norm clip; 0 turns clipping off.
    #[arg(long, default_value_t = 1.0)]
    grad_clip: f32,
    /// Initial InfoNCE temperature.
    #[arg(long, default_value_t = TrainConfig::default().temperature)]
    temperature: f32,
    /// Keep the temperature fixed instead of learning it.
    #[arg(long)]
    fixed_temperature: bool,
    #[arg(long, default_value_t = TrainConfig::default().lambda_image)]
    lambda_image: f32,
    #[arg(long, default_value_t = TrainConfig::default().lambda_text)]
    lambda_text: f32,
    /// Weight of the VAE's KL term.
    #[arg(long, default_value_t = TrainConfig::default().beta)]
    beta: f32,
    #[arg(long, default_value_t = TrainConfig::default().beta_warmup_epochs)]
    beta_warmup: usize,
    /// Extra term: none, cosine or mse.
    #[arg(long, default_value = "none")]
    aux: String,
    #[arg(long, default_value_t = 0.5)]
    aux_weight: f32,
    /// Fraction of stimuli held out for validation / early stopping.
    #[arg(long, default_value_t = TrainConfig::default().val_fraction)]
    val_fraction: f64,
    /// Epochs without validation improvement before stopping (0: never).
    #[arg(long, default_value_t = TrainConfig::default().patience)]
    patience: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
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
}

/// Text supervision from whichever inputs were given.
fn text_targets(
    args: &TrainMapperArgs,
    trials: usize,
) -> Result<(Option<TextTargets>, Vec<String>)> {
    let mut seen_labels = Vec::new();
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
        return Ok((
            Some(TextTargets::from_per_trial(&values, n, k, d)?),
            seen_labels,
        ));
    }
    let mut per_trial: Vec<Vec<String>> = vec![Vec::new(); trials];
    let mut any = false;
    for (path, is_labels) in [(&args.captions, false), (&args.labels, true)] {
        let Some(path) = path else { continue };
        any = true;
        let lists = read_string_lists(path)?;
        if lists.len() != trials {
            return Err(Error::ShapeMismatch {
                what: format!("entries in {}", path.display()),
                got: thousands(lists.len()),
                expected: format!("one per fMRI trial ({})", thousands(trials)),
            });
        }
        for (captions, list) in per_trial.iter_mut().zip(lists) {
            if is_labels {
                for label in list {
                    if !seen_labels.contains(&label) {
                        seen_labels.push(label.clone());
                    }
                    let templates = if args.templates.is_empty() {
                        vec![DEFAULT_TEMPLATE.to_string()]
                    } else {
                        args.templates.clone()
                    };
                    captions.extend(templates.iter().map(|t| fill_template(t, &label)));
                }
            } else {
                captions.extend(list);
            }
        }
    }
    if !any {
        return Ok((None, seen_labels));
    }
    let clip = load_clip(args.clip.as_deref(), "--captions and --labels")?;
    let mut distinct: Vec<String> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let per_trial: Vec<Vec<usize>> = per_trial
        .into_iter()
        .map(|captions| {
            captions
                .into_iter()
                .map(|c| {
                    *index.entry(c.clone()).or_insert_with(|| {
                        distinct.push(c);
                        distinct.len() - 1
                    })
                })
                .collect()
        })
        .collect();
    eprintln!(
        "embedding {} distinct captions with CLIP…",
        thousands(distinct.len())
    );
    let refs: Vec<&str> = distinct.iter().map(String::as_str).collect();
    let embeddings = pollster::block_on(clip.embed_text(&cpu(), &refs))?;
    Ok((
        Some(TextTargets {
            embeddings,
            per_trial,
        }),
        seen_labels,
    ))
}

fn read_stimulus_ids(path: &Path) -> Result<Vec<usize>> {
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

pub fn train(args: TrainMapperArgs) -> Result<serde_json::Value> {
    let batch = args.input.read(None)?;
    let (trials, voxels) = (batch.trials(), batch.voxels());
    let fmri = Matrix::new(batch.into_values(), trials, voxels)?;
    let trials = fmri.rows();
    let images = args
        .image_embeddings
        .as_deref()
        .map(read_matrix)
        .transpose()?;
    let (texts, seen_labels) = text_targets(&args, trials)?;
    let stimulus = args
        .stimulus_ids
        .as_deref()
        .map(read_stimulus_ids)
        .transpose()?;
    let data = TrainingData {
        fmri,
        images,
        texts,
        stimulus,
    };
    data.validate()?;
    let image_dim = data.images.as_ref().map(|m| m.cols());
    let text_dim = data.texts.as_ref().map(|t| t.embeddings.cols());
    // A head without supervision still needs a size; CLIP's spaces share one.
    let image_dim = image_dim.or(text_dim).expect("validated: some supervision");
    let text_dim = text_dim.unwrap_or(image_dim);
    let mut mapper_config = MapperConfig::new(
        MapperVariant::parse(&args.variant)?,
        data.fmri.cols(),
        image_dim,
        text_dim,
    );
    if let Some(v) = args.hidden {
        mapper_config.hidden = v;
    }
    if let Some(v) = args.blocks {
        mapper_config.blocks = v;
    }
    if let Some(v) = args.latent {
        mapper_config.latent = v;
    }
    if let Some(v) = args.input_dropout {
        mapper_config.input_dropout = v;
    }
    if let Some(v) = args.dropout {
        mapper_config.dropout = v;
    }
    let aux = match args.aux.as_str() {
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
        epochs: args.epochs,
        batch_size: args.batch_size,
        learning_rate: args.lr,
        weight_decay: args.weight_decay,
        warmup_fraction: args.warmup,
        grad_clip: (args.grad_clip > 0.0).then_some(args.grad_clip),
        temperature: args.temperature,
        learn_temperature: !args.fixed_temperature,
        lambda_image: args.lambda_image,
        lambda_text: args.lambda_text,
        beta: args.beta,
        beta_warmup_epochs: args.beta_warmup,
        aux,
        aux_weight: if aux == AuxLoss::None {
            0.0
        } else {
            args.aux_weight
        },
        val_fraction: args.val_fraction,
        patience: args.patience,
        seed: args.seed,
    };
    eprintln!(
        "training a {} mapper: {} trials × {} voxels → image {} / text {}; {} parameters ({:.1} MB as f16)",
        mapper_config.variant.as_str(),
        thousands(trials),
        thousands(data.fmri.cols()),
        image_dim,
        text_dim,
        thousands(mapper_config.parameter_count()),
        mapper_config.parameter_count() as f64 * 2.0 / 1e6
    );
    let bar = TrainingProgress::new();
    let checkpoint = args.out.join("checkpoint");
    let outcome = train_mapper(
        &data,
        &mapper_config,
        &config,
        Some(&checkpoint),
        args.resume,
        &mut |report| bar.report(report),
        &mut |step, total| bar.step(step, total),
    )?;
    bar.finish();
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
        Some(load_clip(args.clip.as_deref(), "--bundle-clip")?)
    } else {
        None
    };
    let bundle = mapper_bundle(
        &outcome,
        &args.name,
        &args.provenance,
        &args.license,
        args.simulated,
        labels,
        BundleContents {
            clip: bundled_clip.as_ref(),
            dtype: if args.f16 {
                StoredDtype::F16
            } else {
                StoredDtype::F32
            },
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
    }))
}

// ---------------------------------------------------------------------------------------
// eval

#[derive(Args)]
pub struct EvalArgs {
    /// Bundle with a mapper (as written by train-mapper).
    #[arg(long)]
    bundle: PathBuf,
    /// Test fMRI.
    #[command(flatten)]
    input: FmriInput,
    /// True category label per trial, JSON.
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Candidate labels, JSON list (default: the distinct true labels).
    #[arg(long)]
    candidates: Option<PathBuf>,
    /// CLIP text embeddings of the candidates, .npy [candidates, dim] (else --clip).
    #[arg(long)]
    label_embeddings: Option<PathBuf>,
    /// Hugging Face CLIP directory to embed candidate labels (default: the bundle's CLIP).
    #[arg(long)]
    clip: Option<PathBuf>,
    /// Prompt template(s); several are ensembled.
    #[arg(long = "template")]
    templates: Vec<String>,
    /// True CLIP image embedding per trial, .npy [trials, dim]: enables retrieval metrics.
    #[arg(long)]
    image_embeddings: Option<PathBuf>,
    /// True caption embedding per trial, .npy [trials, dim]: enables fMRI→text retrieval.
    #[arg(long)]
    text_embeddings: Option<PathBuf>,
    /// N of the N-way identification (capped at the number of stimuli).
    #[arg(long, default_value_t = 300)]
    way: usize,
    /// Random draws the N-way identification is averaged over.
    #[arg(long, default_value_t = 30)]
    draws: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Groups rows that are bitwise identical (repeats of one stimulus); returns each row's group.
fn group_identical(m: &Matrix) -> (Vec<usize>, Vec<usize>) {
    let mut index: HashMap<Vec<u32>, usize> = HashMap::new();
    let mut first = Vec::new();
    let groups = m
        .iter_rows()
        .enumerate()
        .map(|(row, values)| {
            let next = index.len();
            *index
                .entry(values.iter().map(|v| v.to_bits()).collect())
                .or_insert_with(|| {
                    first.push(row);
                    next
                })
        })
        .collect();
    (groups, first)
}

/// Mean of the (normalised) predictions of each group, renormalised.
fn average_groups(predicted: &Matrix, groups: &[usize], count: usize) -> Result<Matrix> {
    let dim = predicted.cols();
    let mut sums = vec![0f32; count * dim];
    for (row, g) in predicted.iter_rows().zip(groups) {
        for (s, v) in sums[g * dim..(g + 1) * dim].iter_mut().zip(row) {
            *s += v;
        }
    }
    for row in sums.chunks_mut(dim) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        row.iter_mut().for_each(|v| *v /= norm);
    }
    Matrix::new(sums, count, dim)
}

fn transpose(m: &Matrix) -> Result<Matrix> {
    let mut out = vec![0f32; m.rows() * m.cols()];
    for (i, row) in m.iter_rows().enumerate() {
        for (j, v) in row.iter().enumerate() {
            out[j * m.rows() + i] = *v;
        }
    }
    Matrix::new(out, m.cols(), m.rows())
}

fn retrieval_metrics(
    what: &str,
    predicted: &Matrix,
    truth: &Matrix,
    args: &EvalArgs,
    out: &mut Vec<Metric>,
) -> Result<()> {
    if truth.rows() != predicted.rows() {
        return Err(Error::ShapeMismatch {
            what: format!("{what} embedding rows"),
            got: thousands(truth.rows()),
            expected: format!("one per fMRI trial ({})", thousands(predicted.rows())),
        });
    }
    let (groups, first) = group_identical(truth);
    let averaged = average_groups(predicted, &groups, first.len())?;
    let candidates = Matrix::new(
        first
            .iter()
            .flat_map(|r| truth.row(*r).iter().copied())
            .collect(),
        first.len(),
        truth.cols(),
    )?;
    let scores = metrics::similarity(&averaged, &candidates)?;
    let diagonal: Vec<usize> = (0..first.len()).collect();
    let mut m = metrics::top_k_accuracy(&scores, &diagonal, 1)?;
    m.name = format!("fMRI → {what} top-1 of {}", first.len());
    out.push(m);
    if what == "image" {
        let mut m = metrics::top_k_accuracy(&transpose(&scores)?, &diagonal, 1)?;
        m.name = format!("image → fMRI top-1 of {}", first.len());
        out.push(m);
        let mut m = metrics::n_way_top1(&scores, args.way, args.draws, args.seed)?;
        m.name = format!("fMRI → image {}", m.name);
        out.push(m);
        let mut m = metrics::two_way_identification(&scores)?;
        m.name = format!("{} (image)", m.name);
        out.push(m);
    }
    Ok(())
}

pub fn eval(args: EvalArgs) -> Result<serde_json::Value> {
    let decoder = tasks::Decoder::from_bundle(&Bundle::load_dir(&args.bundle)?, cpu())?;
    let device = &decoder.device;
    let batch = args.input.read(Some(decoder.mapper.config.voxels))?;
    let trials = batch.trials();
    let predicted = pollster::block_on(decoder.embed(&batch))?;
    let mut results: Vec<Metric> = Vec::new();

    if let Some(path) = &args.labels {
        let truth_labels = read_strings(path)?;
        if truth_labels.len() != trials {
            return Err(Error::ShapeMismatch {
                what: format!("entries in {}", path.display()),
                got: thousands(truth_labels.len()),
                expected: format!("one per fMRI trial ({})", thousands(trials)),
            });
        }
        let candidates = match &args.candidates {
            Some(p) => read_strings(p)?,
            None => {
                let mut distinct: Vec<String> = Vec::new();
                for l in &truth_labels {
                    if !distinct.contains(l) {
                        distinct.push(l.clone());
                    }
                }
                distinct
            }
        };
        let truth = truth_labels
            .iter()
            .map(|l| {
                candidates
                    .iter()
                    .position(|c| c == l)
                    .ok_or_else(|| Error::InvalidConfig {
                        what: "candidate labels".into(),
                        reason: format!("the true label '{l}' is not among the candidates"),
                    })
            })
            .collect::<Result<Vec<usize>>>()?;
        let label_embeddings = match (&args.label_embeddings, &args.clip, &decoder.clip) {
            (Some(p), _, _) => read_matrix(p)?,
            (None, None, Some(clip)) => pollster::block_on(tasks::embed_labels(
                device,
                clip,
                &candidates,
                &args.templates,
            ))?,
            (None, dir, _) => {
                let clip = load_clip(dir.as_deref(), "candidate labels")?;
                pollster::block_on(tasks::embed_labels(
                    device,
                    &clip,
                    &candidates,
                    &args.templates,
                ))?
            }
        };
        if label_embeddings.rows() != candidates.len() {
            return Err(Error::ShapeMismatch {
                what: "label embedding rows".into(),
                got: thousands(label_embeddings.rows()),
                expected: format!("one per candidate label ({})", candidates.len()),
            });
        }
        let scores = pollster::block_on(tasks::similarities(
            device,
            &predicted.text,
            &label_embeddings,
        ))?;
        for k in [1, 5] {
            if k <= candidates.len() {
                let mut m = metrics::top_k_accuracy(&scores, &truth, k)?;
                m.name = format!("category top-{k} of {} labels", candidates.len());
                results.push(m);
            }
        }
    }
    if let Some(path) = &args.image_embeddings {
        retrieval_metrics(
            "image",
            &predicted.image,
            &read_matrix(path)?,
            &args,
            &mut results,
        )?;
    }
    if let Some(path) = &args.text_embeddings {
        retrieval_metrics(
            "text",
            &predicted.text,
            &read_matrix(path)?,
            &args,
            &mut results,
        )?;
    }
    if results.is_empty() {
        return Err(Error::InvalidConfig {
            what: "eval".into(),
            reason: "nothing to evaluate: give --labels, --image-embeddings or --text-embeddings"
                .into(),
        });
    }
    if !args.json {
        println!(
            "{:<44} {:>8} {:>8} {:>7}",
            "metric", "value", "chance", "trials"
        );
        for m in &results {
            println!(
                "{:<44} {:>7.1}% {:>7.1}% {:>7}",
                m.name,
                100.0 * m.value,
                100.0 * m.chance,
                m.trials
            );
        }
    }
    Ok(json!({ "trials": trials, "metrics": results }))
}

// ---------------------------------------------------------------------------------------
// decode

#[derive(Args)]
pub struct DecodeArgs {
    /// Bundle with a mapper (and, to embed free-text labels, a CLIP).
    #[arg(long)]
    bundle: PathBuf,
    #[command(flatten)]
    input: FmriInput,
    /// Candidate labels; repeatable.
    #[arg(long = "label")]
    labels: Vec<String>,
    /// Candidate labels from a JSON list (added to --label).
    #[arg(long)]
    labels_file: Option<PathBuf>,
    /// CLIP text embeddings of the candidates, .npy [labels, dim], for bundles without CLIP.
    #[arg(long)]
    label_embeddings: Option<PathBuf>,
    /// Prompt template(s), "{}" standing for the label; several are ensembled.
    #[arg(long = "template")]
    templates: Vec<String>,
    /// Labels shown per trial.
    #[arg(long, default_value_t = 5)]
    top_k: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Zero-shot category decoding of every trial, through the same `Decoder` the browser uses.
pub fn decode(args: DecodeArgs) -> Result<serde_json::Value> {
    let bundle = Bundle::load_dir(&args.bundle)?;
    let decoder = tasks::Decoder::from_bundle(&bundle, cpu())?;
    let fmri = args.input.read(Some(decoder.mapper.config.voxels))?;
    let mut labels = args.labels.clone();
    if let Some(path) = &args.labels_file {
        labels.extend(read_strings(path)?);
    }
    if labels.is_empty() {
        return Err(Error::Empty {
            what: "candidate labels (--label / --labels-file)".into(),
            unit: "label".into(),
        });
    }
    let ranked = match &args.label_embeddings {
        Some(path) => pollster::block_on(decoder.decode_with_embeddings(
            &fmri,
            &labels,
            &read_matrix(path)?,
            args.top_k,
        ))?,
        None => pollster::block_on(decoder.decode_categories(
            &fmri,
            &labels,
            &args.templates,
            args.top_k,
        ))?,
    };
    if !args.json {
        for (trial, row) in ranked.iter().enumerate() {
            let shown: Vec<String> = row
                .iter()
                .map(|r| {
                    format!(
                        "{} {:.1}%",
                        r.label.as_deref().unwrap_or("?"),
                        100.0 * r.probability
                    )
                })
                .collect();
            println!("trial {trial}: {}", shown.join(" · "));
        }
    }
    Ok(json!({ "trials": ranked }))
}
