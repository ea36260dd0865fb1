//! The format dispatcher: recognises `.npy`, `.npz` and NIfTI bytes and hands them to their
//! reader, then validates the batch the same way whatever the format.

use crate::data::fmri::{FmriBatch, ReadOptions, SourceFormat};
use crate::error::{Error, Result};

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
        SourceFormat::Simulated => {
            return Err(Error::CorruptFile {
                file: file_name.to_string(),
                reason: "simulated recordings are made, not read".into(),
            });
        }
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
pub fn read_mask_path(path: &std::path::Path) -> Result<crate::data::Mask> {
    let bytes = std::fs::read(path).map_err(|err| Error::Io {
        path: path.display().to_string(),
        reason: err.to_string(),
    })?;
    Ok(crate::data::Mask {
        file_name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        bytes,
    })
}
