//! One mapper training run, driven an epoch at a time: the weights being trained, their
//! seeded noise, the per-epoch losses, validation and early stopping, and the checkpoint.

use std::path::Path;

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use super::data::gather;
use super::validation::validate;
use super::{
    AuxLoss, EpochReport, Prepared, ProgressFn, TrainConfig, TrainOutcome, TrainingData, prepare,
};
use crate::error::{Error, Result};
use crate::mapper::{Mapper, MapperConfig, MapperModel, TrainingNoise};
use crate::train::checkpoint::{
    adamw, epoch_folder, finish_epoch, load_module_from, load_optimizer, resume_state, save_module,
    save_optimizer, scalar, stream_seed,
};
use crate::train::epoch::{RunPlan, Streams, optimise_epoch};
use crate::train::losses;

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

/// A mapper training run driven one epoch at a time: [`train_mapper`] loops over it (with
/// checkpoints), the browser awaits between epochs so that the page can show progress and
/// cancel. Every epoch is exactly the one the uninterrupted loop would run.
pub struct MapperTrainer<'a> {
    data: &'a TrainingData,
    mapper_config: MapperConfig,
    config: TrainConfig,
    use_images: bool,
    use_texts: bool,
    stimulus: Vec<usize>,
    prepared: Prepared,
    device: Device,
    /// Taken out while the optimiser steps (it consumes the module).
    trainee: Option<Trainee>,
    best: Trainee,
    optimizer: burn::optim::ModuleOptimizer,
    state: CheckpointState,
    total_steps: usize,
}

impl<'a> MapperTrainer<'a> {
    /// Checks the data and settings, splits and normalises, and initialises the mapper.
    pub fn new(
        data: &'a TrainingData,
        mapper_config: &MapperConfig,
        config: &TrainConfig,
    ) -> Result<Self> {
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
        let prepared = prepare(data, config)?;
        let device = Device::flex().autodiff();
        let mut init_rng = ChaCha8Rng::seed_from_u64(stream_seed(config.seed, PURPOSE_INIT, 0, 0));
        let mapper = MapperModel::new(mapper_config, &mut || init_rng.random::<f32>(), &device)?;
        let log_scale = Param::from_tensor(Tensor::<1>::from_data(
            TensorData::new(vec![(1.0 / config.temperature).ln()], [1]),
            &device,
        ));
        let trainee = Trainee {
            network: mapper,
            log_scale,
        };
        let steps_per_epoch = prepared.train_rows.len().div_ceil(config.batch_size);
        let fingerprint = serde_json::json!({
            "mapper": mapper_config,
            "train": config,
            "trials": data.fmri.rows(),
            "voxels": voxels,
            "data": data.content_hash(),
        })
        .to_string();
        Ok(MapperTrainer {
            data,
            mapper_config: mapper_config.clone(),
            config: config.clone(),
            use_images,
            use_texts,
            stimulus,
            prepared,
            device,
            best: trainee.valid(),
            trainee: Some(trainee),
            optimizer: adamw(config.weight_decay, config.grad_clip),
            state: CheckpointState {
                fingerprint,
                epochs_done: 0,
                step: 0,
                best_score: f64::NEG_INFINITY,
                best_epoch: 0,
                epochs_without_improvement: 0,
                history: Vec::new(),
                folder: String::new(),
            },
            total_steps: steps_per_epoch * config.epochs,
        })
    }

    /// A run that calibrates `base` to `data`: a new input layer (`trunk`, initialised as a
    /// fresh mapper's) for this data's voxels, everything after it `base`'s and frozen, the
    /// temperature starting from `base`'s. Refused for a `linear` mapper, which has nothing
    /// but its input layer: train that from scratch.
    pub fn calibrating(
        data: &'a TrainingData,
        base: &Mapper,
        config: &TrainConfig,
    ) -> Result<Self> {
        if base.config.variant == crate::mapper::MapperVariant::Linear {
            return Err(Error::InvalidConfig {
                what: "calibration".into(),
                reason: "the base mapper is linear: it has nothing to keep but its input layer, so train one from scratch".into(),
            });
        }
        let mut mapper_config = base.config.clone();
        mapper_config.voxels = data.fmri.cols();
        let mut trainer = MapperTrainer::new(data, &mapper_config, config)?;
        let fresh = trainer.trainee.take().expect("just made");
        let kept = base.model.clone().fork(&trainer.device).no_grad();
        let trainee = Trainee {
            network: MapperModel {
                trunk: fresh.network.trunk,
                ..kept
            },
            log_scale: Param::from_tensor(Tensor::<1>::from_data(
                TensorData::new(vec![base.config.logit_scale.ln()], [1]),
                &trainer.device,
            )),
        };
        trainer.best = trainee.valid();
        trainer.trainee = Some(trainee);
        // A resumed calibration must start from the same base.
        let base_weights = base.to_safetensors()?;
        let mut fingerprint: serde_json::Value =
            serde_json::from_str(&trainer.state.fingerprint).expect("made from JSON");
        fingerprint["calibrated_from"] = format!("{:016x}", {
            use std::hash::Hasher;
            let mut hasher = std::hash::DefaultHasher::new();
            hasher.write(&base_weights);
            hasher.finish()
        })
        .into();
        trainer.state.fingerprint = fingerprint.to_string();
        Ok(trainer)
    }

    /// Continues from the checkpoint in `dir` if there is one (refused if the settings or
    /// data differ); whether one was found.
    pub fn resume_from(&mut self, dir: &Path) -> Result<bool> {
        let Some(saved) = resume_state(
            dir,
            STATE_FILE,
            &self.state.fingerprint,
            |s: &CheckpointState| s.fingerprint.as_str(),
        )?
        else {
            return Ok(false);
        };
        let folder = dir.join(&saved.folder);
        // Loaded into copies: a checkpoint that fails to load leaves the run as it was.
        let trainee = load_module_from(self.trainee().clone(), &folder.join(TRAINEE_FILE))?;
        let best = load_module_from(self.best.clone(), &folder.join(BEST_FILE))?;
        self.optimizer = load_optimizer(self.optimizer.clone(), &folder.join(OPTIMIZER_FILE))?;
        self.trainee = Some(trainee);
        self.best = best;
        self.state = saved;
        Ok(true)
    }

    /// Saves the run after its latest epoch into `dir`, replacing the previous checkpoint
    /// only once the new one is complete.
    pub fn save_checkpoint(&mut self, dir: &Path) -> Result<()> {
        let previous = std::mem::replace(
            &mut self.state.folder,
            epoch_folder(dir, self.state.epochs_done)?,
        );
        let folder = dir.join(&self.state.folder);
        save_module(self.trainee(), &folder.join(TRAINEE_FILE))?;
        save_module(&self.best, &folder.join(BEST_FILE))?;
        save_optimizer(&self.optimizer, &folder.join(OPTIMIZER_FILE))?;
        finish_epoch(dir, STATE_FILE, &self.state, &previous, &self.state.folder)
    }

    /// The weights being trained; always present between calls (only a step holds them).
    fn trainee(&self) -> &Trainee {
        self.trainee
            .as_ref()
            .expect("every path out of run_epoch puts the trainee back")
    }

    /// Every epoch has run, or early stopping has ended the run.
    pub fn finished(&self) -> bool {
        let early_stopped = self.config.patience > 0
            && !self.prepared.val_rows.is_empty()
            && self.state.epochs_without_improvement >= self.config.patience;
        self.state.epochs_done >= self.config.epochs || early_stopped
    }

    /// Runs the next epoch: its optimisation steps, then validation and early-stopping
    /// bookkeeping.
    pub fn run_epoch(&mut self, progress: ProgressFn) -> Result<EpochReport> {
        let (data, config, mapper_config) = (self.data, &self.config, &self.mapper_config);
        let voxels = data.fmri.cols();
        let device = self.device.clone();
        let train_rows = &self.prepared.train_rows;
        let epoch = self.state.epochs_done;
        let streams = Streams::new(config.seed, PURPOSE_ORDER, PURPOSE_STEP);
        let order = streams.shuffled(&(0..train_rows.len()).collect::<Vec<_>>(), epoch);
        let beta = if config.beta_warmup_epochs == 0 {
            config.beta
        } else {
            config.beta * ((epoch + 1) as f32 / config.beta_warmup_epochs as f32).min(1.0)
        };
        let (mut sum_img, mut sum_txt, mut sum_kl) = (0.0, 0.0, 0.0);
        let total_steps = self.total_steps;
        let plan = RunPlan {
            what: "training",
            total_steps,
            streams,
            learning_rate: Box::new(move |step| config.learning_rate_at(step, total_steps)),
        };
        let (prepared, stimulus) = (&self.prepared, &self.stimulus);
        let (use_images, use_texts) = (self.use_images, self.use_texts);
        let trainee = self.trainee.take().expect("put back after every epoch");
        let (trainee, steps) = optimise_epoch(
            trainee,
            &mut self.optimizer,
            &mut self.state.step,
            &plan,
            epoch,
            order
                .chunks(config.batch_size)
                .filter(|batch| batch.len() >= 2),
            |trainee, batch, rng| {
                let b = batch.len();
                let x: Vec<f32> = batch
                    .iter()
                    .flat_map(|&p| {
                        prepared.train_x[p * voxels..(p + 1) * voxels]
                            .iter()
                            .copied()
                    })
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
                    rng: rng.clone(),
                    device: device.clone(),
                };
                let out = trainee.network.forward(x, mapper_config, &mut noise);
                let scale = if config.learn_temperature {
                    trainee.log_scale.val().exp().clamp_max(100.0)
                } else {
                    trainee.log_scale.val().detach().exp()
                };
                let mut loss = Tensor::<1>::zeros([1], &device);
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
                    let term = losses::info_nce(
                        out.image.clone(),
                        targets.clone(),
                        scale.clone(),
                        positives,
                    );
                    sum_img += scalar(term.clone());
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
                    let term =
                        losses::info_nce(out.text.clone(), targets.clone(), scale, positives);
                    sum_txt += scalar(term.clone());
                    loss = loss + term.mul_scalar(config.lambda_text);
                    loss = loss + aux_term(config, out.text.clone(), targets);
                }
                if let (Some(mu), Some(logvar)) = (out.mu, out.logvar)
                    && beta > 0.0
                {
                    let term = losses::kl_divergence(mu, logvar);
                    sum_kl += scalar(term.clone());
                    loss = loss + term.mul_scalar(beta);
                }
                loss
            },
            progress,
        );
        // The weights are back whatever happened: after a non-finite loss they are those
        // before that step, and the run stays usable (its checkpoint, its best epoch).
        self.trainee = Some(trainee);
        let steps = steps?;
        let trainee = self.trainee();
        let eval = trainee.valid();
        let [val_image, val_text] = validate(
            &eval.network,
            mapper_config,
            data,
            &self.prepared.val_rows,
            &self.prepared.val_x,
            &self.stimulus,
            self.use_images,
            self.use_texts,
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
        let state = &mut self.state;
        let improved = score > state.best_score;
        if improved {
            state.best_score = score;
            state.best_epoch = epoch + 1;
            state.epochs_without_improvement = 0;
            self.best = eval.clone();
        } else {
            state.epochs_without_improvement += 1;
        }
        let n = steps.batches.max(1) as f64;
        let report = EpochReport {
            epoch: epoch + 1,
            loss: steps.loss,
            loss_image: sum_img / n,
            loss_text: sum_txt / n,
            kl: sum_kl / n,
            val_image_top1: val_image.map(|(v, _)| v),
            val_text_top1: val_text.map(|(v, _)| v),
            val_image_chance: val_image.map(|(_, c)| c),
            val_text_chance: val_text.map(|(_, c)| c),
            learning_rate: steps.learning_rate,
            temperature: 1.0 / scalar(eval.log_scale.val()).exp(),
            samples_per_second: train_rows.len() as f64 / steps.seconds.max(1e-9),
            best: improved,
        };
        state.history.push(report.clone());
        state.epochs_done += 1;
        Ok(report)
    }

    /// The best epoch's mapper (by validation score), with the normalisation it expects.
    pub fn finish(self) -> TrainOutcome {
        let mut final_config = self.mapper_config.clone();
        final_config.logit_scale = scalar(self.best.log_scale.val()).exp() as f32;
        let plain = Device::flex();
        TrainOutcome {
            mapper: Mapper {
                config: final_config,
                model: self.best.network.to_device(&plain),
            },
            mean: self.prepared.mean,
            std: self.prepared.std,
            history: self.state.history,
            best_epoch: self.state.best_epoch,
            train_trials: self.prepared.train_rows.len(),
            val_trials: self.prepared.val_rows.len(),
        }
    }
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
