//! `FmriBatch` — a validated `[trials, voxels]` f32 matrix — and the format dispatcher.

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
    fn check_finite(&mut self, replace: bool) -> Result<usize> {
        let mut count = 0usize;
        let mut first = None;
        for (i, v) in self.values.iter_mut().enumerate() {
            if !v.is_finite() {
                count += 1;
                first.get_or_insert(i);
                if replace {
                    *v = 0.0;
                }
            }
        }
        match first {
            Some(index) if !replace => Err(Error::NonFinite {
                file: self.source.file_name.clone(),
                count,
                trial: index / self.voxels,
                voxel: index % self.voxels,
            }),
            _ => Ok(count),
        }
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

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const NPY_MAGIC: &[u8] = b"\x93NUMPY";
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";

/// Decides the format from the first bytes, falling back to the file name's extension.
fn detect_format(bytes: &[u8], file_name: &str) -> Result<SourceFormat> {
    let lower = file_name.to_ascii_lowercase();
    if bytes.starts_with(NPY_MAGIC) {
        Ok(SourceFormat::Npy)
    } else if bytes.starts_with(ZIP_MAGIC) {
        Ok(SourceFormat::Npz)
    } else if bytes.starts_with(&GZIP_MAGIC) || crate::data::nifti::looks_like_nifti(bytes) {
        Ok(SourceFormat::Nifti)
    } else if lower.ends_with(".npy") || lower.ends_with(".npz") || lower.contains(".nii") {
        Err(Error::CorruptFile {
            file: file_name.to_string(),
            reason: "its first bytes are not those of the format its name suggests".into(),
        })
    } else {
        Err(Error::UnsupportedFormat {
            file: file_name.to_string(),
        })
    }
}

/// Reads an fMRI array from the bytes of a file named `file_name`, validates it and
/// returns it as `[trials, voxels]` f32.
pub fn read_fmri(bytes: &[u8], file_name: &str, options: &ReadOptions) -> Result<FmriBatch> {
    if bytes.is_empty() {
        return Err(Error::CorruptFile {
            file: file_name.to_string(),
            reason: "the file is empty (0 bytes)".into(),
        });
    }
    let mut batch = match detect_format(bytes, file_name)? {
        SourceFormat::Npy => crate::data::npy::read_npy(bytes, file_name, options)?,
        SourceFormat::Npz => crate::data::npy::read_npz(bytes, file_name, options)?,
        SourceFormat::Nifti => crate::data::nifti::read_nifti(bytes, file_name, options)?,
    };
    batch.check_finite(options.replace_non_finite)?;
    if let Some(expected) = options.expected_voxels {
        batch.expect_voxels(expected)?;
    }
    Ok(batch)
}

/// Reads an fMRI file from disk (native only); the mask, if any, is already in `options`.
#[cfg(not(target_family = "wasm"))]
pub fn read_fmri_path(path: &std::path::Path, options: &ReadOptions) -> Result<FmriBatch> {
    let bytes = std::fs::read(path).map_err(|err| Error::Io {
        path: path.display().to_string(),
        reason: err.to_string(),
    })?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    read_fmri(&bytes, &name, options)
}

/// Reads a mask file from disk into a [`Mask`] (native only).
#[cfg(not(target_family = "wasm"))]
pub fn read_mask_path(path: &std::path::Path) -> Result<Mask> {
    let bytes = std::fs::read(path).map_err(|err| Error::Io {
        path: path.display().to_string(),
        reason: err.to_string(),
    })?;
    Ok(Mask {
        file_name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        bytes,
    })
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
