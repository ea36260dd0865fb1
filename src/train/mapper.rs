//! Training the BrainCLIP mapper: contrastive alignment of fMRI with CLIP image embeddings
//! and CLIP text embeddings at once, on the CPU with burn's autodiff.
//!
//! Reproducible: every random choice (initialisation, split, batch order, caption sampling,
//! dropout masks, VAE noise) comes from generators seeded by `seed`, epoch and step, so a run
//! resumed from a checkpoint continues exactly as the uninterrupted run would have.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use burn::module::{Module, Param};
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use crate::data::bundle::{
    BUNDLE_FORMAT, BUNDLE_VERSION, Bundle, Component, Manifest, NormalizationSpec, StoredDtype,
    f32_safetensors, recast_safetensors,
};
use crate::data::normalize::{MIN_STD, batch_statistics};
use crate::error::{Error, Result, thousands};
use crate::mapper::{Mapper, MapperConfig, MapperModel, NoNoise, TrainingNoise};
use crate::matrix::Matrix;
use crate::metrics;
use crate::train::checkpoint::{
    epoch_folder, finish_epoch, finite_loss, load_module_from, load_optimizer, resume_state,
    save_module, save_optimizer, scalar, stream_seed, warmup_cosine,
};
use crate::train::losses;

/// Text supervision: a table of distinct text embeddings and, per trial, the rows that are
/// valid captions for it (the category template and any free captions). One is sampled per
/// step.
#[derive(Debug, Clone, PartialEq)]
pub struct TextTargets {
    /// `[distinct texts, dim]`.
    pub embeddings: Matrix,
    /// For each trial, indices into `embeddings` (at least one).
    pub per_trial: Vec<Vec<usize>>,
}

impl TextTargets {
    /// From per-trial embeddings `[trials, captions, dim]` (row-major), merging identical rows
    /// so that trials sharing a caption count as matches, not negatives.
    pub fn from_per_trial(
        values: &[f32],
        trials: usize,
        captions: usize,
        dim: usize,
    ) -> Result<Self> {
        if trials * captions * dim != values.len() || captions == 0 || dim == 0 {
            return Err(Error::ShapeMismatch {
                what: "text embeddings".into(),
                got: format!("{} values", thousands(values.len())),
                expected: format!("[{trials} trials, captions ≥ 1, dim ≥ 1]"),
            });
        }
        let mut index: HashMap<Vec<u32>, usize> = HashMap::new();
        let mut distinct = Vec::new();
        let mut per_trial = vec![Vec::with_capacity(captions); trials];
        for (row_number, row) in values.chunks(dim).enumerate() {
            let key: Vec<u32> = row.iter().map(|v| v.to_bits()).collect();
            let next = index.len();
            let id = *index.entry(key).or_insert_with(|| {
                distinct.extend_from_slice(row);
                next
            });
            let trial = &mut per_trial[row_number / captions];
            if !trial.contains(&id) {
                trial.push(id);
            }
        }
        let rows = index.len();
        Ok(TextTargets {
            embeddings: Matrix::new(distinct, rows, dim)?,
            per_trial,
        })
    }
}

/// What the mapper is trained on.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingData {
    /// `[trials, voxels]`, as recorded (normalisation statistics are computed on the
    /// training split and applied here).
    pub fmri: Matrix,
    /// CLIP image embedding of each trial's stimulus, `[trials, dim]`.
    pub images: Option<Matrix>,
    /// CLIP text embeddings of each trial's captions.
    pub texts: Option<TextTargets>,
    /// Stimulus id of each trial; trials of one stimulus stay on one side of the split and
    /// count as matches of each other. Default: trials with identical image embeddings share a
    /// stimulus; without images every trial is its own.
    pub stimulus: Option<Vec<usize>>,
}

impl TrainingData {
    /// Checks that everything describes the same trials; errors say which input is off.
    pub fn validate(&self) -> Result<()> {
        let trials = self.fmri.rows();
        if trials < 2 || self.fmri.cols() == 0 {
            return Err(Error::TooFewTrials {
                file: "fMRI".into(),
                got: trials,
                needed: 2,
                purpose: "training".into(),
            });
        }
        if let Some(bad) = self.fmri.values().iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                file: "fMRI".into(),
                count: self.fmri.values().iter().filter(|v| !v.is_finite()).count(),
                trial: bad / self.fmri.cols(),
                voxel: bad % self.fmri.cols(),
            });
        }
        let rows_must_match = |what: &str, rows: usize| {
            if rows != trials {
                return Err(Error::ShapeMismatch {
                    what: format!("{what} rows"),
                    got: thousands(rows),
                    expected: format!("one per fMRI trial ({})", thousands(trials)),
                });
            }
            Ok(())
        };
        if self.images.is_none() && self.texts.is_none() {
            return Err(Error::InvalidConfig {
                what: "training data".into(),
                reason: "no supervision: give image embeddings, text embeddings or captions".into(),
            });
        }
        if let Some(images) = &self.images {
            rows_must_match("image embeddings", images.rows())?;
        }
        if let Some(texts) = &self.texts {
            rows_must_match("text targets", texts.per_trial.len())?;
            if texts.per_trial.iter().any(|t| t.is_empty())
                || texts
                    .per_trial
                    .iter()
                    .flatten()
                    .any(|i| *i >= texts.embeddings.rows())
            {
                return Err(Error::InvalidConfig {
                    what: "text targets".into(),
                    reason: "every trial needs at least one caption that exists".into(),
                });
            }
        }
        if let Some(stimulus) = &self.stimulus {
            rows_must_match("stimulus ids", stimulus.len())?;
        }
        Ok(())
    }

    /// A hash of every value, so a checkpoint is never resumed on different data.
    fn content_hash(&self) -> String {
        use std::hash::{Hash, Hasher};
        // SipHash with fixed keys: the same data gives the same hash in every run.
        let mut hasher = std::hash::DefaultHasher::new();
        let mut matrix = |m: &Matrix| {
            (m.rows(), m.cols()).hash(&mut hasher);
            m.values()
                .iter()
                .for_each(|v| v.to_bits().hash(&mut hasher));
        };
        matrix(&self.fmri);
        if let Some(images) = &self.images {
            matrix(images);
        }
        if let Some(texts) = &self.texts {
            matrix(&texts.embeddings);
            texts.per_trial.hash(&mut hasher);
        }
        self.stimulus.hash(&mut hasher);
        format!("{:016x}", hasher.finish())
    }

    /// Stimulus id per trial (see [`TrainingData::stimulus`]).
    pub fn stimulus_ids(&self) -> Vec<usize> {
        if let Some(ids) = &self.stimulus {
            return ids.clone();
        }
        match &self.images {
            Some(images) => {
                let mut index: HashMap<Vec<u32>, usize> = HashMap::new();
                images
                    .iter_rows()
                    .map(|row| {
                        let next = index.len();
                        *index
                            .entry(row.iter().map(|v| v.to_bits()).collect())
                            .or_insert(next)
                    })
                    .collect()
            }
            None => (0..self.fmri.rows()).collect(),
        }
    }
}

/// Extra regression term alongside the contrastive losses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AuxLoss {
    #[default]
    None,
    Cosine,
    Mse,
}

/// Optimisation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f32,
    /// Fraction of all steps spent warming the learning rate up linearly.
    pub warmup_fraction: f64,
    /// Per-tensor gradient-norm clipping (None: off).
    pub grad_clip: Option<f32>,
    /// Initial InfoNCE temperature τ (logits are cosine / τ).
    pub temperature: f32,
    pub learn_temperature: bool,
    /// Weight of InfoNCE(fMRI, image); 0 disables image supervision.
    pub lambda_image: f32,
    /// Weight of InfoNCE(fMRI, text); 0 disables text supervision.
    pub lambda_text: f32,
    /// Weight of the VAE's KL term (reached after `beta_warmup_epochs`).
    pub beta: f32,
    pub beta_warmup_epochs: usize,
    pub aux: AuxLoss,
    pub aux_weight: f32,
    /// Fraction of stimuli held out for validation and early stopping (0: none).
    pub val_fraction: f64,
    /// Stop after this many epochs without a better validation score (0: never).
    pub patience: usize,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 60,
            batch_size: 128,
            learning_rate: 3e-4,
            weight_decay: 0.05,
            warmup_fraction: 0.05,
            grad_clip: Some(1.0),
            temperature: 0.07,
            learn_temperature: true,
            lambda_image: 1.0,
            lambda_text: 1.0,
            beta: 1e-3,
            beta_warmup_epochs: 5,
            aux: AuxLoss::None,
            aux_weight: 0.0,
            val_fraction: 0.1,
            patience: 10,
            seed: 0,
        }
    }
}

impl TrainConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| {
            Err(Error::InvalidConfig {
                what: "training settings".into(),
                reason,
            })
        };
        if self.epochs == 0 {
            return bad("epochs must be at least 1".into());
        }
        if self.batch_size < 2 {
            return bad(format!(
                "batch size is {}; contrastive training needs at least 2",
                self.batch_size
            ));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return bad(format!(
                "learning rate {} must be positive",
                self.learning_rate
            ));
        }
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return bad(format!("temperature {} must be positive", self.temperature));
        }
        if !(0.0..1.0).contains(&self.val_fraction) {
            return bad(format!(
                "validation fraction {} must be in [0, 1)",
                self.val_fraction
            ));
        }
        for (name, w) in [
            ("lambda_image", self.lambda_image),
            ("lambda_text", self.lambda_text),
            ("beta", self.beta),
            ("aux_weight", self.aux_weight),
        ] {
            if !(w >= 0.0 && w.is_finite()) {
                return bad(format!("{name} is {w}; expected a weight ≥ 0"));
            }
        }
        if self.lambda_image == 0.0 && self.lambda_text == 0.0 {
            return bad("lambda_image and lambda_text are both 0: nothing to learn".into());
        }
        Ok(())
    }

    fn learning_rate_at(&self, step: usize, total: usize) -> f64 {
        warmup_cosine(self.learning_rate, self.warmup_fraction, step, total)
    }
}

/// One line of the training log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    pub epoch: usize,
    pub loss: f64,
    pub loss_image: f64,
    pub loss_text: f64,
    pub kl: f64,
    /// fMRI → image top-1 among the validation stimuli.
    pub val_image_top1: Option<f64>,
    /// fMRI → caption top-1 among the validation trials' captions.
    pub val_text_top1: Option<f64>,
    /// Chance level of `val_image_top1`.
    pub val_image_chance: Option<f64>,
    /// Chance level of `val_text_top1`.
    pub val_text_chance: Option<f64>,
    pub learning_rate: f64,
    pub temperature: f64,
    pub samples_per_second: f64,
    /// This epoch's weights are the best so far (and are the ones kept).
    pub best: bool,
}

/// Training progress for a progress bar: `(step, total steps)`.
pub type ProgressFn<'a> = &'a mut dyn FnMut(usize, usize);

/// The result: a mapper and the normalisation it expects.
pub struct TrainOutcome {
    pub mapper: Mapper,
    /// Per-voxel mean and std of the training split.
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    pub history: Vec<EpochReport>,
    pub best_epoch: usize,
    pub train_trials: usize,
    pub val_trials: usize,
}

/// The trained module plus the learnable temperature (as log of the logit scale).
#[derive(Module, Debug)]
struct Trainee {
    // Not `mapper`: the derive's generated code has a variable of that name.
    network: MapperModel,
    log_scale: Param<Tensor<1>>,
}

/// Dropout masks and Gaussian noise drawn on the host from a seeded generator.
struct SeededNoise {
    rng: ChaCha8Rng,
    device: Device,
}

impl TrainingNoise for SeededNoise {
    fn dropout(&mut self, x: Tensor<2>, p: f64) -> Tensor<2> {
        if p <= 0.0 {
            return x;
        }
        let [rows, cols] = x.dims();
        let keep = 1.0 - p;
        let scale = (1.0 / keep) as f32;
        let mask: Vec<f32> = (0..rows * cols)
            .map(|_| {
                if self.rng.random::<f64>() < keep {
                    scale
                } else {
                    0.0
                }
            })
            .collect();
        x * Tensor::<2>::from_data(TensorData::new(mask, [rows, cols]), &self.device)
    }

    fn normal_like(&mut self, like: &Tensor<2>) -> Option<Tensor<2>> {
        let [rows, cols] = like.dims();
        let values: Vec<f32> = (0..rows * cols)
            .map(|_| StandardNormal.sample(&mut self.rng))
            .collect();
        Some(Tensor::from_data(
            TensorData::new(values, [rows, cols]),
            &self.device,
        ))
    }
}

const PURPOSE_INIT: u64 = 1;
const PURPOSE_SPLIT: u64 = 2;
const PURPOSE_ORDER: u64 = 3;
const PURPOSE_STEP: u64 = 4;

/// Saved after each epoch; `--resume` continues from it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CheckpointState {
    /// Everything that must match for a resume to continue the same run.
    fingerprint: String,
    epochs_done: usize,
    step: usize,
    best_score: f64,
    best_epoch: usize,
    epochs_without_improvement: usize,
    history: Vec<EpochReport>,
    /// Sub-folder holding this checkpoint's weights and optimizer state.
    folder: String,
}

const STATE_FILE: &str = "state.json";
const TRAINEE_FILE: &str = "trainee.bpk";
const BEST_FILE: &str = "best.bpk";
const OPTIMIZER_FILE: &str = "optimizer.bpk";

/// Splits stimuli into training and validation sets; returns trial indices of each.
fn split_by_stimulus(stimulus: &[usize], fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut distinct: Vec<usize> = stimulus.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(seed, PURPOSE_SPLIT, 0, 0));
    distinct.shuffle(&mut rng);
    let held = if fraction > 0.0 && distinct.len() >= 4 {
        ((distinct.len() as f64 * fraction).round() as usize).clamp(2, distinct.len() - 2)
    } else {
        0
    };
    let validation: std::collections::HashSet<usize> = distinct[..held].iter().copied().collect();
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for (trial, s) in stimulus.iter().enumerate() {
        if validation.contains(s) {
            val.push(trial);
        } else {
            train.push(trial);
        }
    }
    (train, val)
}

fn gather(matrix: &Matrix, rows: &[usize]) -> Vec<f32> {
    rows.iter()
        .flat_map(|&r| matrix.row(r).iter().copied())
        .collect()
}

/// Trains a mapper. With `checkpoint_dir`, state is saved after every epoch; with `resume`
/// the run continues from it (and refuses if the settings or data differ). `on_epoch` sees
/// each epoch's report and returns whether to go on (false stops after the checkpoint, as an
/// interruption would).
pub fn train_mapper(
    data: &TrainingData,
    mapper_config: &MapperConfig,
    config: &TrainConfig,
    checkpoint_dir: Option<&Path>,
    resume: bool,
    on_epoch: &mut dyn FnMut(&EpochReport) -> bool,
    progress: ProgressFn,
) -> Result<TrainOutcome> {
    data.validate()?;
    config.validate()?;
    mapper_config.validate()?;
    let voxels = data.fmri.cols();
    if mapper_config.voxels != voxels {
        return Err(Error::VoxelCountMismatch {
            file: "fMRI".into(),
            got: voxels,
            expected: mapper_config.voxels,
        });
    }
    let use_images = config.lambda_image > 0.0 && data.images.is_some();
    let use_texts = config.lambda_text > 0.0 && data.texts.is_some();
    if !use_images && !use_texts {
        return Err(Error::InvalidConfig {
            what: "training settings".into(),
            reason: "the supervision given has weight 0 (lambda_image / lambda_text)".into(),
        });
    }
    for (what, dim, want) in [
        (
            "image embeddings",
            data.images.as_ref().map(|m| m.cols()),
            mapper_config.image_dim,
        ),
        (
            "text embeddings",
            data.texts.as_ref().map(|t| t.embeddings.cols()),
            mapper_config.text_dim,
        ),
    ] {
        if let Some(dim) = dim
            && dim != want
        {
            return Err(Error::ShapeMismatch {
                what: format!("{what} size"),
                got: dim.to_string(),
                expected: format!("{want} (the mapper's head size)"),
            });
        }
    }

    let stimulus = data.stimulus_ids();
    let (train_rows, val_rows) = split_by_stimulus(&stimulus, config.val_fraction, config.seed);
    if train_rows.len() < 2 {
        return Err(Error::TooFewTrials {
            file: "fMRI".into(),
            got: train_rows.len(),
            needed: 2,
            purpose: "the training split".into(),
        });
    }
    // Normalisation statistics from the training split only.
    let train_raw = gather(&data.fmri, &train_rows);
    let (mean, std) = batch_statistics(&train_raw, train_rows.len(), voxels);
    let normalize = |rows: &[usize]| -> Vec<f32> {
        let mut out = gather(&data.fmri, rows);
        for row in out.chunks_mut(voxels) {
            for ((v, m), s) in row.iter_mut().zip(&mean).zip(&std) {
                *v = if *s <= MIN_STD { 0.0 } else { (*v - m) / s };
            }
        }
        out
    };
    let train_x = normalize(&train_rows);
    let val_x = normalize(&val_rows);

    let device = Device::flex().autodiff();
    let mut init_rng = ChaCha8Rng::seed_from_u64(stream_seed(config.seed, PURPOSE_INIT, 0, 0));
    let mapper = MapperModel::new(mapper_config, &mut || init_rng.random::<f32>(), &device)?;
    let log_scale = Param::from_tensor(Tensor::<1>::from_data(
        TensorData::new(vec![(1.0 / config.temperature).ln()], [1]),
        &device,
    ));
    let mut trainee = Trainee {
        network: mapper,
        log_scale,
    };
    let mut optimizer: ModuleOptimizer = {
        let mut adamw = AdamWConfig::new().with_weight_decay(config.weight_decay);
        if let Some(clip) = config.grad_clip {
            adamw = adamw.with_grad_clipping(Some(GradientClippingConfig::Norm(clip)));
        }
        adamw.init()
    };

    let steps_per_epoch = train_rows.len().div_ceil(config.batch_size);
    let total_steps = steps_per_epoch * config.epochs;
    let fingerprint = serde_json::json!({
        "mapper": mapper_config,
        "train": config,
        "trials": data.fmri.rows(),
        "voxels": voxels,
        "data": data.content_hash(),
    })
    .to_string();
    let mut state = CheckpointState {
        fingerprint: fingerprint.clone(),
        epochs_done: 0,
        step: 0,
        best_score: f64::NEG_INFINITY,
        best_epoch: 0,
        epochs_without_improvement: 0,
        history: Vec::new(),
        folder: String::new(),
    };
    let mut best = trainee.valid();
    if let (Some(dir), true) = (checkpoint_dir, resume)
        && let Some(saved) = resume_state(dir, STATE_FILE, &fingerprint, |s: &CheckpointState| {
            s.fingerprint.as_str()
        })?
    {
        let folder = dir.join(&saved.folder);
        trainee = load_module_from(trainee, &folder.join(TRAINEE_FILE))?;
        best = load_module_from(best, &folder.join(BEST_FILE))?;
        optimizer = load_optimizer(optimizer, &folder.join(OPTIMIZER_FILE))?;
        state = saved;
    }

    let early_stopped = |state: &CheckpointState| {
        config.patience > 0
            && !val_rows.is_empty()
            && state.epochs_without_improvement >= config.patience
    };
    while state.epochs_done < config.epochs && !early_stopped(&state) {
        let epoch = state.epochs_done;
        let started = Instant::now();
        let mut order: Vec<usize> = (0..train_rows.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(stream_seed(
            config.seed,
            PURPOSE_ORDER,
            epoch,
            0,
        )));
        let beta = if config.beta_warmup_epochs == 0 {
            config.beta
        } else {
            config.beta * ((epoch + 1) as f32 / config.beta_warmup_epochs as f32).min(1.0)
        };
        let (mut sum_loss, mut sum_img, mut sum_txt, mut sum_kl, mut batches) =
            (0.0, 0.0, 0.0, 0.0, 0usize);
        let mut learning_rate = 0.0;
        for batch in order.chunks(config.batch_size) {
            if batch.len() < 2 {
                continue;
            }
            let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(
                config.seed,
                PURPOSE_STEP,
                epoch,
                state.step,
            ));
            let b = batch.len();
            let x: Vec<f32> = batch
                .iter()
                .flat_map(|&p| train_x[p * voxels..(p + 1) * voxels].iter().copied())
                .collect();
            let x = Tensor::<2>::from_data(TensorData::new(x, [b, voxels]), &device);
            let trials: Vec<usize> = batch.iter().map(|&p| train_rows[p]).collect();
            // Caption choice first, then dropout/noise, all from this step's generator.
            let captions: Option<Vec<usize>> = data.texts.as_ref().map(|t| {
                trials
                    .iter()
                    .map(|&trial| {
                        let options = &t.per_trial[trial];
                        options[rng.random_range(0..options.len())]
                    })
                    .collect()
            });
            let mut noise = SeededNoise {
                rng,
                device: device.clone(),
            };
            let out = trainee.network.forward(x, mapper_config, &mut noise);
            let scale = if config.learn_temperature {
                trainee.log_scale.val().exp().clamp_max(100.0)
            } else {
                trainee.log_scale.val().detach().exp()
            };
            let mut loss = Tensor::<1>::zeros([1], &device);
            let mut loss_image = 0.0;
            let mut loss_text = 0.0;
            if use_images {
                let images = data.images.as_ref().expect("checked above");
                let targets = Tensor::<2>::from_data(
                    TensorData::new(gather(images, &trials), [b, images.cols()]),
                    &device,
                );
                let groups: Vec<usize> = trials.iter().map(|&t| stimulus[t]).collect();
                let positives = Tensor::<2>::from_data(
                    TensorData::new(losses::positives_from_groups(&groups), [b, b]),
                    &device,
                );
                let term =
                    losses::info_nce(out.image.clone(), targets.clone(), scale.clone(), positives);
                loss_image = scalar(term.clone());
                loss = loss + term.mul_scalar(config.lambda_image);
                loss = loss + aux_term(config, out.image.clone(), targets);
            }
            if use_texts {
                let texts = data.texts.as_ref().expect("checked above");
                let chosen = captions.as_ref().expect("drawn above");
                let targets = Tensor::<2>::from_data(
                    TensorData::new(
                        gather(&texts.embeddings, chosen),
                        [b, texts.embeddings.cols()],
                    ),
                    &device,
                );
                let positives = Tensor::<2>::from_data(
                    TensorData::new(losses::positives_from_groups(chosen), [b, b]),
                    &device,
                );
                let term = losses::info_nce(out.text.clone(), targets.clone(), scale, positives);
                loss_text = scalar(term.clone());
                loss = loss + term.mul_scalar(config.lambda_text);
                loss = loss + aux_term(config, out.text.clone(), targets);
            }
            let mut kl = 0.0;
            if let (Some(mu), Some(logvar)) = (out.mu, out.logvar)
                && beta > 0.0
            {
                let term = losses::kl_divergence(mu, logvar);
                kl = scalar(term.clone());
                loss = loss + term.mul_scalar(beta);
            }
            let loss_value = finite_loss(scalar(loss.clone()), "training", epoch, state.step)?;
            let grads = GradientsParams::from_grads(loss.backward(), &trainee);
            learning_rate = config.learning_rate_at(state.step, total_steps);
            trainee = optimizer.step(learning_rate, trainee, grads);
            state.step += 1;
            sum_loss += loss_value;
            sum_img += loss_image;
            sum_txt += loss_text;
            sum_kl += kl;
            batches += 1;
            progress(state.step, total_steps);
        }
        let elapsed = started.elapsed().as_secs_f64();
        let eval = trainee.valid();
        let [val_image, val_text] = validate(
            &eval.network,
            mapper_config,
            data,
            &val_rows,
            &val_x,
            &stimulus,
            use_images,
            use_texts,
        )?;
        let scores: Vec<f64> = [val_image, val_text]
            .into_iter()
            .flatten()
            .map(|(value, _)| value)
            .collect();
        let score = if scores.is_empty() {
            // No validation set: the latest weights are the ones kept.
            epoch as f64
        } else {
            scores.iter().sum::<f64>() / scores.len() as f64
        };
        let improved = score > state.best_score;
        if improved {
            state.best_score = score;
            state.best_epoch = epoch + 1;
            state.epochs_without_improvement = 0;
            best = eval.clone();
        } else {
            state.epochs_without_improvement += 1;
        }
        let n = batches.max(1) as f64;
        let report = EpochReport {
            epoch: epoch + 1,
            loss: sum_loss / n,
            loss_image: sum_img / n,
            loss_text: sum_txt / n,
            kl: sum_kl / n,
            val_image_top1: val_image.map(|(v, _)| v),
            val_text_top1: val_text.map(|(v, _)| v),
            val_image_chance: val_image.map(|(_, c)| c),
            val_text_chance: val_text.map(|(_, c)| c),
            learning_rate,
            temperature: 1.0 / scalar(eval.log_scale.val()).exp(),
            samples_per_second: train_rows.len() as f64 / elapsed.max(1e-9),
            best: improved,
        };
        let keep_going = on_epoch(&report);
        state.history.push(report);
        state.epochs_done += 1;
        if let Some(dir) = checkpoint_dir {
            let previous =
                std::mem::replace(&mut state.folder, epoch_folder(dir, state.epochs_done)?);
            let folder = dir.join(&state.folder);
            save_module(&trainee, &folder.join(TRAINEE_FILE))?;
            save_module(&best, &folder.join(BEST_FILE))?;
            save_optimizer(&optimizer, &folder.join(OPTIMIZER_FILE))?;
            finish_epoch(dir, STATE_FILE, &state, &previous, &state.folder)?;
        }
        if !keep_going {
            break;
        }
    }

    let mut final_config = mapper_config.clone();
    final_config.logit_scale = scalar(best.log_scale.val()).exp() as f32;
    let plain = Device::flex();
    Ok(TrainOutcome {
        mapper: Mapper {
            config: final_config,
            model: best.network.to_device(&plain),
        },
        mean,
        std,
        history: state.history,
        best_epoch: state.best_epoch,
        train_trials: train_rows.len(),
        val_trials: val_rows.len(),
    })
}

fn aux_term(config: &TrainConfig, predictions: Tensor<2>, targets: Tensor<2>) -> Tensor<1> {
    match config.aux {
        AuxLoss::None => Tensor::zeros([1], &predictions.device()),
        AuxLoss::Cosine => {
            losses::cosine_distance(predictions, targets).mul_scalar(config.aux_weight)
        }
        AuxLoss::Mse => losses::mse(predictions, targets).mul_scalar(config.aux_weight),
    }
}

/// Validation top-1: fMRI → image among the validation stimuli, fMRI → caption among the
/// validation trials' (first) captions; each as (value, chance).
#[allow(clippy::too_many_arguments)]
fn validate(
    mapper: &MapperModel,
    config: &MapperConfig,
    data: &TrainingData,
    val_rows: &[usize],
    val_x: &[f32],
    stimulus: &[usize],
    use_images: bool,
    use_texts: bool,
) -> Result<[Option<(f64, f64)>; 2]> {
    if val_rows.is_empty() {
        return Ok([None, None]);
    }
    let device = Device::flex();
    let x = Tensor::<2>::from_data(
        TensorData::new(val_x.to_vec(), [val_rows.len(), config.voxels]),
        &device,
    );
    let out = mapper.forward(x, config, &mut NoNoise);
    let read = |t: Tensor<2>, dim: usize| -> Result<Matrix> {
        let values = t
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|err| Error::Readback {
                backend: "cpu".into(),
                reason: format!("{err:?}"),
            })?;
        Matrix::new(values, val_rows.len(), dim)
    };
    let top1 = |predicted: &Matrix,
                keys: &[usize],
                table: &Matrix,
                key_row: &dyn Fn(usize) -> usize|
     -> Result<(f64, f64)> {
        // Distinct candidates in order of first appearance.
        let mut distinct: Vec<usize> = Vec::new();
        let truth: Vec<usize> = keys
            .iter()
            .map(|k| match distinct.iter().position(|d| d == k) {
                Some(i) => i,
                None => {
                    distinct.push(*k);
                    distinct.len() - 1
                }
            })
            .collect();
        let candidates = Matrix::new(
            distinct
                .iter()
                .flat_map(|k| table.row(key_row(*k)).iter().copied())
                .collect(),
            distinct.len(),
            table.cols(),
        )?;
        let scores = metrics::similarity(predicted, &candidates)?;
        let metric = metrics::top_k_accuracy(&scores, &truth, 1)?;
        Ok((metric.value, metric.chance))
    };
    let image_top1 = if use_images {
        let images = data.images.as_ref().expect("checked by caller");
        let predicted = read(out.image, config.image_dim)?;
        // Key: stimulus id; its embedding is that of the first trial showing it.
        let keys: Vec<usize> = val_rows.iter().map(|&r| stimulus[r]).collect();
        let first_trial: HashMap<usize, usize> =
            val_rows.iter().rev().map(|&r| (stimulus[r], r)).collect();
        Some(top1(&predicted, &keys, images, &|s| first_trial[&s])?)
    } else {
        None
    };
    let text_top1 = if use_texts {
        let texts = data.texts.as_ref().expect("checked by caller");
        let predicted = read(out.text, config.text_dim)?;
        let keys: Vec<usize> = val_rows.iter().map(|&r| texts.per_trial[r][0]).collect();
        Some(top1(&predicted, &keys, &texts.embeddings, &|k| k)?)
    } else {
        None
    };
    Ok([image_top1, text_top1])
}

/// Name of the mapper component in bundles written by [`mapper_bundle`].
pub const MAPPER_COMPONENT: &str = "mapper";
const MAPPER_WEIGHTS: &str = "mapper.safetensors";
const NORMALIZATION_FILE: &str = "normalization.safetensors";
pub const CLIP_COMPONENT: &str = "clip";
const CLIP_WEIGHTS: &str = "clip.safetensors";

/// A bundle holding the trained mapper and the training split's normalisation statistics.
/// What a bundle carries besides the mapper.
#[derive(Default)]
pub struct BundleContents<'a> {
    /// A CLIP to embed label prompts with, stored as component "clip".
    pub clip: Option<&'a crate::clip::Clip>,
    /// How weights are stored on disk (normalisation statistics stay f32).
    pub dtype: StoredDtype,
}

pub fn mapper_bundle(
    outcome: &TrainOutcome,
    name: &str,
    provenance: &str,
    license: &str,
    simulated: bool,
    labels: BTreeMap<String, Vec<String>>,
    contents: BundleContents,
) -> Result<Bundle> {
    let voxels = outcome.mapper.config.voxels;
    let mut components = BTreeMap::new();
    let mut files = BTreeMap::new();
    components.insert(
        MAPPER_COMPONENT.to_string(),
        Component {
            kind: "mapper".into(),
            config: serde_json::to_value(&outcome.mapper.config).expect("config serialises"),
            weights: MAPPER_WEIGHTS.into(),
        },
    );
    let mapper_weights = outcome.mapper.to_safetensors()?;
    files.insert(
        MAPPER_WEIGHTS.to_string(),
        match contents.dtype {
            StoredDtype::F32 => mapper_weights,
            StoredDtype::F16 => recast_safetensors(&mapper_weights, StoredDtype::F16, &[])?,
        },
    );
    if let Some(clip) = contents.clip {
        components.insert(
            CLIP_COMPONENT.to_string(),
            Component {
                kind: "clip".into(),
                config: clip.config.to_hf_json(),
                weights: CLIP_WEIGHTS.into(),
            },
        );
        files.insert(
            CLIP_WEIGHTS.to_string(),
            clip.to_hf_safetensors(contents.dtype)?,
        );
    }
    let manifest = Manifest {
        format: BUNDLE_FORMAT.into(),
        format_version: BUNDLE_VERSION,
        name: name.into(),
        description: format!(
            "BrainCLIP mapper ({}), trained on {} trials, validated on {}; best epoch {}",
            outcome.mapper.config.variant.as_str(),
            outcome.train_trials,
            outcome.val_trials,
            outcome.best_epoch
        ),
        provenance: provenance.into(),
        license: license.into(),
        simulated,
        voxels,
        normalization: NormalizationSpec::Stats {
            file: NORMALIZATION_FILE.into(),
        },
        dtype: contents.dtype,
        labels,
        components,
    };
    files.insert(
        NORMALIZATION_FILE.to_string(),
        f32_safetensors(&[("mean", &outcome.mean), ("std", &outcome.std)])?,
    );
    Bundle::from_parts(manifest, files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_captions_are_merged() {
        // Trials 0 and 2 share their caption; trial 1 has two captions.
        let values = [1.0, 0.0, 0.5, 0.5, 0.0, 1.0, 0.5, 0.5, 1.0, 0.0, 1.0, 0.0];
        let t = TextTargets::from_per_trial(&values, 3, 2, 2).unwrap();
        assert_eq!(t.embeddings.rows(), 3);
        assert_eq!(t.per_trial, vec![vec![0, 1], vec![2, 1], vec![0]]);
    }

    #[test]
    fn split_keeps_stimuli_together_and_is_seeded() {
        let stimulus: Vec<usize> = (0..100).map(|i| i / 4).collect();
        let (train, val) = split_by_stimulus(&stimulus, 0.2, 7);
        assert_eq!(train.len() + val.len(), 100);
        assert_eq!(val.len(), 20);
        let val_stimuli: std::collections::HashSet<usize> =
            val.iter().map(|&t| stimulus[t]).collect();
        assert!(train.iter().all(|t| !val_stimuli.contains(&stimulus[*t])));
        assert_eq!(split_by_stimulus(&stimulus, 0.2, 7), (train, val));
    }

    #[test]
    fn learning_rate_warms_up_then_decays_to_zero() {
        let config = TrainConfig {
            learning_rate: 1.0,
            warmup_fraction: 0.1,
            ..TrainConfig::default()
        };
        assert!((config.learning_rate_at(0, 100) - 0.1).abs() < 1e-12);
        assert!((config.learning_rate_at(9, 100) - 1.0).abs() < 1e-12);
        assert!(config.learning_rate_at(50, 100) < 1.0);
        assert!(config.learning_rate_at(99, 100) < 0.01);
    }
}
