//! What every trainer shares: seeded random streams, the learning-rate schedule, and
//! per-epoch checkpoints that an interruption cannot corrupt.

use std::path::Path;

use burn::module::Module;
use burn::store::{BurnpackStore, ModuleSnapshot};
use burn::tensor::Tensor;

use crate::error::{Error, Result};

/// A seed for one purpose at one point of the run, so each stream is independent and
/// reproducible on resume.
pub fn stream_seed(seed: u64, purpose: u64, epoch: usize, step: usize) -> u64 {
    let mut x = seed ^ purpose.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for v in [epoch as u64, step as u64] {
        x = (x ^ v).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x ^= x >> 31;
    }
    x
}

/// Linear warm-up over `warmup_fraction` of the steps, then cosine decay to zero.
pub fn warmup_cosine(learning_rate: f64, warmup_fraction: f64, step: usize, total: usize) -> f64 {
    let warmup = ((total as f64) * warmup_fraction).ceil() as usize;
    if step < warmup {
        return learning_rate * (step + 1) as f64 / warmup as f64;
    }
    let progress = (step - warmup) as f64 / (total - warmup).max(1) as f64;
    learning_rate * 0.5 * (1.0 + (std::f64::consts::PI * progress.min(1.0)).cos())
}

pub fn checkpoint_error(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::Io {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

pub fn save_module<M: Module>(module: &M, path: &Path) -> Result<()> {
    let mut store = BurnpackStore::from_file(path).overwrite(true);
    module
        .save_into(&mut store)
        .map_err(|err| checkpoint_error(path, err))
}

pub fn load_module_from<M: Module>(module: M, path: &Path) -> Result<M> {
    let mut module = module;
    let mut store = BurnpackStore::from_file(path);
    module
        .load_from(&mut store)
        .map_err(|err| checkpoint_error(path, err))?;
    Ok(module)
}

/// Starts an epoch's checkpoint: a new folder `epoch-NNNNN` under `dir` (returned by name),
/// so writing it never touches the checkpoint it replaces.
pub fn epoch_folder(dir: &Path, epochs_done: usize) -> Result<String> {
    let name = format!("epoch-{epochs_done:05}");
    let folder = dir.join(&name);
    std::fs::create_dir_all(&folder).map_err(|err| checkpoint_error(&folder, err))?;
    Ok(name)
}

/// Finishes an epoch's checkpoint once its folder is written: the state file, which names
/// that folder, replaces the old one atomically, and only then is the previous folder
/// removed. An interruption at any point leaves a complete checkpoint.
pub fn finish_epoch<S: serde::Serialize>(
    dir: &Path,
    state_file: &str,
    state: &S,
    previous: &str,
    current: &str,
) -> Result<()> {
    write_state_atomically(dir, state_file, state)?;
    if !previous.is_empty() && previous != current {
        // Best effort: a stale folder only costs disk space.
        let _ = std::fs::remove_dir_all(dir.join(previous));
    }
    Ok(())
}

/// The state to resume from in `dir`, if one was saved; refuses one whose fingerprint (the
/// settings and data it was made with) differs from this run's.
pub fn resume_state<S: serde::de::DeserializeOwned>(
    dir: &Path,
    state_file: &str,
    fingerprint: &str,
    fingerprint_of: impl Fn(&S) -> &str,
) -> Result<Option<S>> {
    let Some(saved) = read_state::<S>(dir, state_file)? else {
        return Ok(None);
    };
    if fingerprint_of(&saved) != fingerprint {
        return Err(Error::InvalidConfig {
            what: "resume".into(),
            reason: format!(
                "the checkpoint in {} was made with different settings or data; \
                 rerun with the same options, or without --resume to start over",
                dir.display()
            ),
        });
    }
    Ok(Some(saved))
}

pub fn load_optimizer(
    optimizer: burn::optim::ModuleOptimizer,
    path: &Path,
) -> Result<burn::optim::ModuleOptimizer> {
    optimizer
        .load(path)
        .map_err(|err| checkpoint_error(path, err))
}

pub fn save_optimizer(optimizer: &burn::optim::ModuleOptimizer, path: &Path) -> Result<()> {
    optimizer
        .save(path)
        .map_err(|err| checkpoint_error(path, err))
}

/// Writes `state` as `dir/name` by writing a temporary file and renaming it, so a reader
/// sees the old state or the new one, never half of one.
pub fn write_state_atomically<S: serde::Serialize>(
    dir: &Path,
    name: &str,
    state: &S,
) -> Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let json = serde_json::to_string_pretty(state).expect("state serialises");
    std::fs::write(&tmp, json).map_err(|err| checkpoint_error(&tmp, err))?;
    std::fs::rename(&tmp, dir.join(name)).map_err(|err| checkpoint_error(&dir.join(name), err))
}

/// Reads a saved state, if any.
pub fn read_state<S: serde::de::DeserializeOwned>(dir: &Path, name: &str) -> Result<Option<S>> {
    let path = dir.join(name);
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|err| checkpoint_error(&path, err))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|err| checkpoint_error(&path, format!("unreadable ({err})")))
}

/// A step's loss value, or an error saying where training diverged.
pub fn finite_loss(value: f64, what: &str, epoch: usize, step: usize) -> Result<f64> {
    if value.is_finite() {
        return Ok(value);
    }
    Err(Error::InvalidConfig {
        what: what.into(),
        reason: format!(
            "the loss became {value} at epoch {epoch}, step {step}; lower the learning rate"
        ),
    })
}

/// The first value of a tensor, for logging.
pub fn scalar(t: Tensor<1>) -> f64 {
    t.into_data()
        .try_to_vec::<f32>()
        .map(|v| v[0] as f64)
        .unwrap_or(f64::NAN)
}

/// AdamW with optional per-tensor gradient-norm clipping: every trainer's optimiser.
pub fn adamw(weight_decay: f32, grad_clip: Option<f32>) -> burn::optim::ModuleOptimizer {
    let mut config = burn::optim::AdamWConfig::new().with_weight_decay(weight_decay);
    if let Some(clip) = grad_clip {
        config = config.with_grad_clipping(Some(
            burn::optim::grad_clipping::GradientClippingConfig::Norm(clip),
        ));
    }
    config.init()
}

/// Where a run stands, as its checkpoint records it: the run's fingerprint (settings and
/// data), epochs and steps done, one report per epoch, and the folder holding the weights
/// and the optimiser state.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RunState<R> {
    pub fingerprint: String,
    pub epochs_done: usize,
    pub step: usize,
    pub history: Vec<R>,
    pub folder: String,
}

const RUN_STATE_FILE: &str = "state.json";
const OPTIMIZER_STATE_FILE: &str = "optimizer.bpk";

impl<R: serde::Serialize + serde::de::DeserializeOwned> RunState<R> {
    /// A fresh run, or — with `resume` and a checkpoint in `dir` made with the same
    /// fingerprint — the saved one, with the model (from `model_file`) and the optimiser.
    pub fn start<M: Module>(
        fingerprint: String,
        dir: Option<&Path>,
        resume: bool,
        model_file: &str,
        model: M,
        optimizer: burn::optim::ModuleOptimizer,
    ) -> Result<(Self, M, burn::optim::ModuleOptimizer)> {
        if let (Some(dir), true) = (dir, resume)
            && let Some(saved) =
                resume_state(dir, RUN_STATE_FILE, &fingerprint, |s: &RunState<R>| {
                    s.fingerprint.as_str()
                })?
        {
            let folder = dir.join(&saved.folder);
            let model = load_module_from(model, &folder.join(model_file))?;
            let optimizer = load_optimizer(optimizer, &folder.join(OPTIMIZER_STATE_FILE))?;
            return Ok((saved, model, optimizer));
        }
        let fresh = RunState {
            fingerprint,
            epochs_done: 0,
            step: 0,
            history: Vec::new(),
            folder: String::new(),
        };
        Ok((fresh, model, optimizer))
    }

    /// Records a finished epoch: its report, then (with `dir`) the model and optimiser in a
    /// new folder and the state file replaced atomically.
    pub fn finish_epoch<M: Module>(
        &mut self,
        report: R,
        dir: Option<&Path>,
        model_file: &str,
        model: &M,
        optimizer: &burn::optim::ModuleOptimizer,
    ) -> Result<()> {
        self.history.push(report);
        self.epochs_done += 1;
        if let Some(dir) = dir {
            let previous =
                std::mem::replace(&mut self.folder, epoch_folder(dir, self.epochs_done)?);
            let folder = dir.join(&self.folder);
            save_module(model, &folder.join(model_file))?;
            save_optimizer(optimizer, &folder.join(OPTIMIZER_STATE_FILE))?;
            finish_epoch(dir, RUN_STATE_FILE, self, &previous, &self.folder)?;
        }
        Ok(())
    }
}
