//! `FmriBatch` — a validated `[trials, voxels]` f32 matrix — and what describes how one is
//! read. The readers (`npy`, `nifti`) build batches; `read` dispatches between them.

use serde::Serialize;

use crate::error::{Error, Result, thousands};

/// Default cap on the decoded size of one array (1 GiB): large enough for NSD-scale
/// sessions (2,000 × 15,724 float64 ≈ 252 MB), small enough that a malicious header
/// cannot make a browser tab allocate gigabytes.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;

/// The container format a batch was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceFormat {
    Npy,
    Npz,
    Nifti,
    /// Made by the simulator (`sim`), not read from a file.
    Simulated,
}

/// Where a batch came from, as the user would describe it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FmriSource {
    pub file_name: String,
    pub format: SourceFormat,
    /// Array name inside an `.npz` archive.
    pub array_name: Option<String>,
    /// Mask file used to select voxels from a NIfTI volume.
    pub mask_name: Option<String>,
    /// numpy-style name of the stored element type ("float64", "int16", ...).
    pub dtype: String,
    /// Shape as stored in the file (NIfTI: `[x, y, z]` or `[x, y, z, t]`).
    pub shape: Vec<usize>,
}

/// A validated fMRI matrix: `trials` rows of `voxels` finite f32 values, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct FmriBatch {
    values: Vec<f32>,
    trials: usize,
    voxels: usize,
    pub source: FmriSource,
}

impl FmriBatch {
    /// Wraps a row-major matrix. `values.len()` must equal `trials * voxels`.
    pub fn new(values: Vec<f32>, trials: usize, voxels: usize, source: FmriSource) -> Result<Self> {
        if trials == 0 || voxels == 0 {
            return Err(Error::EmptyArray {
                file: source.file_name.clone(),
                shape: source.shape.clone(),
            });
        }
        if values.len() != trials * voxels {
            return Err(Error::ShapeMismatch {
                what: format!("{} values", source.file_name),
                got: thousands(values.len()),
                expected: format!("{} × {}", thousands(trials), thousands(voxels)),
            });
        }
        Ok(FmriBatch {
            values,
            trials,
            voxels,
            source,
        })
    }

    pub fn trials(&self) -> usize {
        self.trials
    }

    pub fn voxels(&self) -> usize {
        self.voxels
    }

    /// Row-major `[trials, voxels]` values.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    pub fn values_mut(&mut self) -> &mut [f32] {
        &mut self.values
    }

    /// One trial's voxel pattern.
    pub fn trial(&self, index: usize) -> Option<&[f32]> {
        self.values.chunks(self.voxels).nth(index)
    }

    pub fn into_values(self) -> Vec<f32> {
        self.values
    }

    /// Refuses a batch whose voxel count differs from what a model expects.
    pub fn expect_voxels(&self, expected: usize) -> Result<()> {
        if self.voxels != expected {
            return Err(Error::VoxelCountMismatch {
                file: self.source.file_name.clone(),
                got: self.voxels,
                expected,
            });
        }
        Ok(())
    }

    /// Finds NaN/±Inf values. With `replace` they become 0 and the count is returned;
    /// without it the first one is reported as an error.
    pub(crate) fn check_finite(&mut self, replace: bool) -> Result<usize> {
        if !replace {
            crate::matrix::check_finite(&self.values, self.voxels, &self.source.file_name)?;
            return Ok(0);
        }
        let mut count = 0usize;
        for v in self.values.iter_mut().filter(|v| !v.is_finite()) {
            *v = 0.0;
            count += 1;
        }
        Ok(count)
    }
}

/// A NIfTI mask: non-zero voxels are kept.
#[derive(Debug, Clone)]
pub struct Mask {
    pub file_name: String,
    pub bytes: Vec<u8>,
}

/// How to read a file.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Which array of an `.npz` archive to read (required when it holds several).
    pub array: Option<String>,
    /// Voxel mask for NIfTI input (3-D, same grid as the data).
    pub mask: Option<Mask>,
    /// Replace NaN/±Inf by 0 instead of refusing the file. Off by default: silently
    /// zeroing voxels changes results, so the user must ask for it.
    pub replace_non_finite: bool,
    /// Refuse arrays whose decoded size would exceed this many bytes, before allocating.
    pub max_bytes: u64,
    /// If set, the voxel count the model expects.
    pub expected_voxels: Option<usize>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            array: None,
            mask: None,
            replace_non_finite: false,
            max_bytes: DEFAULT_MAX_BYTES,
            expected_voxels: None,
        }
    }
}

/// Checks a declared array size against the limit before anything is allocated, and
/// returns it in bytes. `dims` are the declared dimensions, `item_size` the element size.
pub(crate) fn declared_bytes(
    file_name: &str,
    dims: &[usize],
    item_size: usize,
    max_bytes: u64,
) -> Result<u64> {
    let total = dims
        .iter()
        .try_fold(item_size as u64, |acc, &d| acc.checked_mul(d as u64));
    match total {
        Some(bytes) if bytes <= max_bytes => Ok(bytes),
        _ => Err(Error::TooLarge {
            file: file_name.to_string(),
            shape: dims.to_vec(),
            declared: total,
            limit: max_bytes,
        }),
    }
}
