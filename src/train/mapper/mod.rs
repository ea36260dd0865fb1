//! Training the BrainCLIP mapper: contrastive alignment of fMRI with CLIP image embeddings
//! and CLIP text embeddings at once, on the CPU with burn's autodiff.
//!
//! Reproducible: every random choice (initialisation, split, batch order, caption sampling,
//! dropout masks, VAE noise) comes from generators seeded by `seed`, epoch and step, so a run
//! resumed from a checkpoint continues exactly as the uninterrupted run would have.

use std::path::Path;

use crate::data::normalize::{batch_statistics, zscore_rows};
use crate::error::{Error, Result};
use crate::mapper::{Mapper, MapperConfig};

use crate::matrix::Matrix;

mod bundle;
mod config;
mod controls;
mod data;
mod held_out;
mod trainer;
mod validation;

pub use bundle::{BundleContents, CLIP_COMPONENT, MAPPER_COMPONENT, mapper_bundle};
pub use config::{AuxLoss, EpochReport, TrainConfig, browser_preset};
pub use controls::{
    Phase, RIDGE_BASELINE, RidgeBaseline, SHUFFLED_CONTROL, WithControls, fit_ridge,
    shuffled_supervision, train_with_controls,
};
use data::gather;
pub use data::{
    CaptionTable, NEAR_COPY_CORRELATION, NearCopyReport, TextTargets, TrainingData, near_copies,
};
pub use held_out::{HeldOut, held_out_evaluation};
pub use trainer::MapperTrainer;

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

/// The validation split and the normalised fMRI of each side, shared by the mapper, its
/// controls and the ridge baseline so that all of them see the same trials.
pub(crate) struct Prepared {
    pub train_rows: Vec<usize>,
    pub val_rows: Vec<usize>,
    /// Per-voxel statistics of the training split.
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    /// z-scored `[train_rows, voxels]` and `[val_rows, voxels]`.
    pub train_x: Vec<f32>,
    pub val_x: Vec<f32>,
}

pub(crate) fn prepare(data: &TrainingData, config: &TrainConfig) -> Result<Prepared> {
    let voxels = data.fmri.cols();
    let (train_rows, val_rows) = data.validation_split(config.val_fraction, config.seed);
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
        zscore_rows(&mut out, &mean, &std);
        out
    };
    let train_x = normalize(&train_rows);
    let val_x = normalize(&val_rows);
    Ok(Prepared {
        train_rows,
        val_rows,
        mean,
        std,
        train_x,
        val_x,
    })
}

impl TrainingData {
    /// How many validation trials of the split `config` makes have a near-copy among the
    /// training trials (see [`near_copies`]): a validation score measured on such a split
    /// is optimistic.
    pub fn validation_leak(&self, config: &TrainConfig) -> Result<NearCopyReport> {
        let prepared = prepare(self, config)?;
        let mut x = self.fmri.clone().into_values();
        zscore_rows(&mut x, &prepared.mean, &prepared.std);
        let x = Matrix::new(x, self.fmri.rows(), self.fmri.cols())?;
        near_copies(&x, &prepared.train_rows, &prepared.val_rows)
    }
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
    let trainer = MapperTrainer::new(data, mapper_config, config)?;
    run_to_end(trainer, checkpoint_dir, resume, on_epoch, progress)
}

/// Calibrates `base` to new data (another session or subject, any voxel count): its blocks,
/// latent and heads are kept frozen and only its input layer is learned, by the same loop,
/// split, early stopping and checkpoints as [`train_mapper`].
pub fn calibrate_mapper(
    data: &TrainingData,
    base: &Mapper,
    config: &TrainConfig,
    checkpoint_dir: Option<&Path>,
    resume: bool,
    on_epoch: &mut dyn FnMut(&EpochReport) -> bool,
    progress: ProgressFn,
) -> Result<TrainOutcome> {
    let trainer = MapperTrainer::calibrating(data, base, config)?;
    run_to_end(trainer, checkpoint_dir, resume, on_epoch, progress)
}

/// The native loop: resume if asked, then epoch after epoch with a checkpoint after each,
/// until the run is finished or `on_epoch` says stop.
fn run_to_end(
    mut trainer: MapperTrainer,
    checkpoint_dir: Option<&Path>,
    resume: bool,
    on_epoch: &mut dyn FnMut(&EpochReport) -> bool,
    progress: ProgressFn,
) -> Result<TrainOutcome> {
    if let (Some(dir), true) = (checkpoint_dir, resume) {
        trainer.resume_from(dir)?;
    }
    while !trainer.finished() {
        let report = trainer.run_epoch(progress)?;
        let keep_going = on_epoch(&report);
        if let Some(dir) = checkpoint_dir {
            trainer.save_checkpoint(dir)?;
        }
        if !keep_going {
            break;
        }
    }
    Ok(trainer.finish())
}
