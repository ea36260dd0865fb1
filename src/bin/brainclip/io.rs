//! What every command shares: reading and writing files with errors that name them, the
//! fMRI input options, and the training progress display.

use std::path::{Path, PathBuf};

use brainclip::clip::Clip;
use brainclip::data::fmri::{DEFAULT_MAX_BYTES, ReadOptions};
use brainclip::data::npy::{read_npy_array, write_npy_f32};
use brainclip::data::{read_fmri_path, read_mask_path};
use brainclip::device::ComputeDevice;
use brainclip::error::{Error, Result};
use brainclip::matrix::Matrix;
use clap::Args;

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
    let cols = array.shape.last().copied().unwrap_or(1);
    brainclip::matrix::check_finite(&array.values, cols, &name)?;
    Ok((array.values, array.shape))
}

/// A 2-D `.npy` as a matrix, refusing NaN/±Inf.
pub fn read_matrix(path: &Path) -> Result<Matrix> {
    let (values, shape) = read_array(path, &[2])?;
    Matrix::new(values, shape[0], shape[1])
}

/// CLIP embeddings from a 2-D `.npy` (`[rows, dim]`): checked for NaN/±Inf and
/// L2-normalised row by row, since the losses and metrics compare directions; an all-zero
/// row is refused.
pub fn read_embeddings(path: &Path) -> Result<Matrix> {
    read_matrix(path)?.unit_rows(&path.display().to_string())
}

/// A JSON array with one entry per trial: a string, or a list of strings.
pub fn read_string_lists(path: &Path) -> Result<Vec<Vec<String>>> {
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

pub fn read_strings(path: &Path) -> Result<Vec<String>> {
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

pub fn cpu() -> ComputeDevice {
    ComputeDevice::cpu(None)
}

pub fn load_clip(dir: Option<&Path>, why: &str) -> Result<Clip> {
    let dir = dir.ok_or_else(|| Error::InvalidConfig {
        what: "--clip".into(),
        reason: format!(
            "{why} need a CLIP model to embed them: pass --clip DIR (a Hugging Face CLIP directory, or a bundle that carries one)"
        ),
    })?;
    if dir.join(brainclip::data::bundle::MANIFEST_FILE).exists() {
        let bundle = brainclip::data::bundle::Bundle::load_dir(dir)?;
        return Clip::from_bundle(&bundle, &cpu().device)?.ok_or_else(|| Error::InvalidConfig {
            what: "--clip".into(),
            reason: format!("the bundle {} carries no CLIP", dir.display()),
        });
    }
    Clip::from_hf_dir(dir, &cpu().device)
}

/// The bundle a command runs: shared by eval, decode, attribute and reconstruct.
#[derive(Args)]
pub struct BundleInput {
    /// Bundle: a directory with manifest.json (as train-mapper writes it) or a .zip archive
    /// of one.
    #[arg(long)]
    pub bundle: PathBuf,
    /// Which subject of a bundle holding several (default: the bundle's default subject).
    #[arg(long)]
    pub subject: Option<String>,
}

impl BundleInput {
    pub fn load(&self) -> Result<brainclip::data::bundle::Bundle> {
        brainclip::data::bundle::Bundle::load_dir_for(&self.bundle, self.subject.as_deref())
    }

    /// The bundle's decoder, on the CPU.
    pub fn decoder(&self) -> Result<brainclip::tasks::Decoder> {
        brainclip::tasks::Decoder::from_bundle(&self.load()?, cpu())
    }
}

/// Category labels and how their CLIP text embeddings are found: shared by eval and
/// attribute.
#[derive(Args)]
pub struct LabelInput {
    /// Category label per trial, JSON.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Candidate labels, JSON list (default: the distinct labels of --labels, in order of
    /// first appearance; --label-embeddings rows follow that order).
    #[arg(long)]
    pub candidates: Option<PathBuf>,
    /// CLIP text embeddings of the candidates, .npy [candidates, dim] (else --clip);
    /// checked and L2-normalised.
    #[arg(long)]
    pub label_embeddings: Option<PathBuf>,
    /// CLIP to embed candidate labels (a Hugging Face directory, or a bundle that carries
    /// one; default: the bundle's own CLIP).
    #[arg(long)]
    pub clip: Option<PathBuf>,
    /// Prompt template(s); several are ensembled.
    #[arg(long = "template")]
    pub templates: Vec<String>,
}

/// What [`LabelInput`] reads: the labels per trial, the candidates, and their embeddings
/// when they do not come from the bundle's CLIP.
pub struct Labels {
    pub per_trial: Option<Vec<String>>,
    pub candidates: Option<Vec<String>>,
    pub embeddings: Option<Matrix>,
}

impl LabelInput {
    pub fn read(&self, device: &ComputeDevice) -> Result<Labels> {
        let per_trial = self.labels.as_deref().map(read_strings).transpose()?;
        let candidates = self.candidates.as_deref().map(read_strings).transpose()?;
        let mut embeddings = self
            .label_embeddings
            .as_deref()
            .map(read_embeddings)
            .transpose()?;
        // A separate CLIP (rather than the bundle's) embeds the candidates here.
        if let (None, Some(dir), Some(labels)) = (&embeddings, &self.clip, &per_trial) {
            let clip = load_clip(Some(dir), "candidate labels")?;
            let names = candidates
                .clone()
                .unwrap_or_else(|| brainclip::tasks::distinct_labels(labels));
            embeddings = Some(pollster::block_on(brainclip::tasks::embed_labels(
                device,
                &clip,
                &names,
                &self.templates,
            ))?);
        }
        Ok(Labels {
            per_trial,
            candidates,
            embeddings,
        })
    }
}

/// Where the fMRI comes from: shared by train-mapper, eval and decode.
#[derive(Args)]
pub struct FmriInput {
    /// fMRI [trials, voxels]: .npy, .npz, or NIfTI (.nii, .nii.gz) with --mask.
    #[arg(long)]
    pub fmri: PathBuf,
    /// Array to read from an .npz archive.
    #[arg(long)]
    pub array: Option<String>,
    /// NIfTI mask selecting voxels (non-zero = keep), on the data's grid.
    #[arg(long)]
    pub mask: Option<PathBuf>,
}

impl FmriInput {
    pub fn read(&self, expected_voxels: Option<usize>) -> Result<brainclip::data::FmriBatch> {
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
