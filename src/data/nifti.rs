//! NIfTI-1 input (`.nii`, `.nii.gz`): the `nifti` crate parses the header and decodes the
//! voxel data; we validate sizes first and then select voxels with an optional mask.
//!
//! Voxel order: the selected voxels are listed in C order over `(x, y, z)` — `z` varies
//! fastest — which is exactly what nibabel users get from `img.get_fdata()[mask > 0]` and
//! what nilearn's `NiftiMasker` returns. A 4-D series `[x, y, z, t]` becomes `[t, voxels]`.

use std::io::Read;

use flate2::read::GzDecoder;
use nifti::{InMemNiftiVolume, NiftiHeader, NiftiType};

use crate::data::fmri::{FmriBatch, FmriSource, ReadOptions, SourceFormat, declared_bytes};
use crate::error::{Error, Result};

const HEADER_SIZE: usize = 348;

/// True when the bytes start with a NIfTI-1 single-file header (either byte order).
pub(crate) fn looks_like_nifti(bytes: &[u8]) -> bool {
    bytes.len() >= HEADER_SIZE
        && (bytes[..4] == 348i32.to_le_bytes() || bytes[..4] == 348i32.to_be_bytes())
        && &bytes[344..347] == b"n+1"
}

fn corrupt(file_name: &str, reason: impl std::fmt::Display) -> Error {
    Error::CorruptFile {
        file: file_name.to_string(),
        reason: reason.to_string(),
    }
}

/// A parsed, size-checked NIfTI volume: values in file order (x fastest) and its grid.
struct Volume {
    values: Vec<f32>,
    /// `[x, y, z]`
    grid: [usize; 3],
    /// Number of 3-D volumes (time points).
    frames: usize,
    dtype: &'static str,
    shape: Vec<usize>,
}

fn nifti_dtype(datatype: NiftiType) -> Option<&'static str> {
    Some(match datatype {
        NiftiType::Uint8 => "uint8",
        NiftiType::Int8 => "int8",
        NiftiType::Uint16 => "uint16",
        NiftiType::Int16 => "int16",
        NiftiType::Uint32 => "uint32",
        NiftiType::Int32 => "int32",
        NiftiType::Uint64 => "uint64",
        NiftiType::Int64 => "int64",
        NiftiType::Float32 => "float32",
        NiftiType::Float64 => "float64",
        _ => return None,
    })
}

/// Decompresses `.nii.gz` input without ever producing more than `limit` bytes.
fn decompress(bytes: &[u8], file_name: &str, limit: u64) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    GzDecoder::new(bytes)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|err| corrupt(file_name, format!("its gzip stream is damaged ({err})")))?;
    Ok(out)
}

fn read_volume(raw: &[u8], file_name: &str, max_bytes: u64) -> Result<Volume> {
    // Header first: the size check must happen before the voxel data is decompressed.
    let header_bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        decompress(raw, file_name, HEADER_SIZE as u64)?
    } else {
        raw.get(..HEADER_SIZE).unwrap_or(raw).to_vec()
    };
    if header_bytes.len() < HEADER_SIZE {
        return Err(Error::Truncated {
            file: file_name.to_string(),
            declared: HEADER_SIZE as u64,
            available: header_bytes.len() as u64,
        });
    }
    let header = NiftiHeader::from_reader(header_bytes.as_slice())
        .map_err(|err| corrupt(file_name, format!("its NIfTI header is invalid ({err})")))?;
    if header.sizeof_hdr != HEADER_SIZE as i32 {
        return Err(corrupt(
            file_name,
            format!(
                "sizeof_hdr is {}, expected 348 (NIfTI-1)",
                header.sizeof_hdr
            ),
        ));
    }
    if &header.magic[..3] != b"n+1" {
        return Err(corrupt(
            file_name,
            "it is not a single-file NIfTI-1 image (magic 'n+1'); convert .hdr/.img pairs to .nii",
        ));
    }
    let datatype = header
        .data_type()
        .ok()
        .and_then(|t| nifti_dtype(t).map(|n| (t, n)));
    let Some((datatype, dtype)) = datatype else {
        return Err(Error::UnsupportedDtype {
            file: file_name.to_string(),
            dtype: format!("NIfTI datatype code {}", header.datatype),
        });
    };
    let ndim = header.dim[0] as usize;
    let dims: Vec<usize> = header.dim[1..=ndim.clamp(1, 7)]
        .iter()
        .map(|&d| d as usize)
        .collect();
    // Trailing singleton dimensions (e.g. a 4-D file with one frame) are harmless.
    let significant = dims.iter().rposition(|&d| d != 1).map_or(1, |i| i + 1);
    if !(1..=7).contains(&ndim) || significant > 4 {
        return Err(Error::UnsupportedShape {
            file: file_name.to_string(),
            shape: dims,
        });
    }
    let dim = |i: usize| dims.get(i).copied().unwrap_or(1);
    let (grid, frames) = ([dim(0), dim(1), dim(2)], dim(3));
    if grid.contains(&0) || frames == 0 {
        return Err(Error::EmptyArray {
            file: file_name.to_string(),
            shape: dims,
        });
    }
    let item_size = datatype.size_of();
    let data_bytes = declared_bytes(file_name, &dims, item_size, max_bytes)?;
    let offset = header.vox_offset;
    if !(offset >= 352.0 && offset.fract() == 0.0 && offset < u32::MAX as f32) {
        return Err(corrupt(
            file_name,
            format!("vox_offset is {offset}, expected a whole number ≥ 352"),
        ));
    }
    let offset = offset as u64;
    let decoded;
    let body: &[u8] = if raw.starts_with(&[0x1f, 0x8b]) {
        decoded = decompress(raw, file_name, offset + data_bytes)?;
        &decoded
    } else {
        raw
    };
    let available = (body.len() as u64).saturating_sub(offset);
    if available < data_bytes {
        return Err(Error::Truncated {
            file: file_name.to_string(),
            declared: data_bytes,
            available,
        });
    }
    let data = body[offset as usize..(offset + data_bytes) as usize].to_vec();
    let volume = InMemNiftiVolume::from_raw_data(&header, data)
        .map_err(|err| corrupt(file_name, format!("its voxel data is invalid ({err})")))?;
    let values = decode(volume, datatype)
        .map_err(|err| corrupt(file_name, format!("its voxel data is invalid ({err})")))?;
    // NIfTI: a zero slope means "no scaling".
    let (slope, inter) = (header.scl_slope, header.scl_inter);
    let values = if slope != 0.0 && slope.is_finite() && inter.is_finite() {
        values
            .into_iter()
            .map(|v| (v * slope as f64 + inter as f64) as f32)
            .collect()
    } else {
        values.into_iter().map(|v| v as f32).collect()
    };
    Ok(Volume {
        values,
        grid,
        frames,
        dtype,
        // At least [x, y, z] as people describe volumes, never more than the header has.
        shape: dims[..significant.max(3).min(dims.len())].to_vec(),
    })
}

fn decode(volume: InMemNiftiVolume, datatype: NiftiType) -> nifti::Result<Vec<f64>> {
    fn cast<T: nifti::DataElement + Into<f64>>(v: InMemNiftiVolume) -> nifti::Result<Vec<f64>> {
        Ok(v.into_nifti_typed_data::<T>()?
            .into_iter()
            .map(Into::into)
            .collect())
    }
    match datatype {
        NiftiType::Uint8 => cast::<u8>(volume),
        NiftiType::Int8 => cast::<i8>(volume),
        NiftiType::Uint16 => cast::<u16>(volume),
        NiftiType::Int16 => cast::<i16>(volume),
        NiftiType::Uint32 => cast::<u32>(volume),
        NiftiType::Int32 => cast::<i32>(volume),
        NiftiType::Float32 => cast::<f32>(volume),
        NiftiType::Float64 => cast::<f64>(volume),
        NiftiType::Uint64 => Ok(volume
            .into_nifti_typed_data::<u64>()?
            .into_iter()
            .map(|v| v as f64)
            .collect()),
        NiftiType::Int64 => Ok(volume
            .into_nifti_typed_data::<i64>()?
            .into_iter()
            .map(|v| v as f64)
            .collect()),
        _ => Err(nifti::NiftiError::InvalidCode("datatype", datatype as i16)),
    }
}

/// File-order (x fastest) indices of the voxels to keep, listed in C order over (x, y, z).
fn selected_voxels(grid: [usize; 3], keep: impl Fn(usize) -> bool) -> Vec<usize> {
    let [nx, ny, nz] = grid;
    let mut out = Vec::new();
    for x in 0..nx {
        for y in 0..ny {
            for z in 0..nz {
                let index = x + nx * (y + ny * z);
                if keep(index) {
                    out.push(index);
                }
            }
        }
    }
    out
}

pub(crate) fn read_nifti(
    bytes: &[u8],
    file_name: &str,
    options: &ReadOptions,
) -> Result<FmriBatch> {
    let volume = read_volume(bytes, file_name, options.max_bytes)?;
    let per_frame = volume.grid.iter().product::<usize>();
    let (indices, mask_name) = match &options.mask {
        None => (selected_voxels(volume.grid, |_| true), None),
        Some(mask) => {
            let mask_volume = read_volume(&mask.bytes, &mask.file_name, options.max_bytes)?;
            if mask_volume.grid != volume.grid || mask_volume.frames != 1 {
                return Err(Error::MaskShapeMismatch {
                    mask: mask.file_name.clone(),
                    mask_shape: mask_volume.shape,
                    data: file_name.to_string(),
                    data_shape: volume.grid.to_vec(),
                });
            }
            let selected = selected_voxels(volume.grid, |i| mask_volume.values[i] != 0.0);
            if selected.is_empty() {
                return Err(Error::EmptyMask {
                    mask: mask.file_name.clone(),
                    grid: volume.grid.to_vec(),
                });
            }
            (selected, Some(mask.file_name.clone()))
        }
    };
    let voxels = indices.len();
    let mut values = Vec::with_capacity(voxels * volume.frames);
    for frame in 0..volume.frames {
        let base = frame * per_frame;
        values.extend(indices.iter().map(|&i| volume.values[base + i]));
    }
    let source = FmriSource {
        file_name: file_name.to_string(),
        format: SourceFormat::Nifti,
        array_name: None,
        mask_name,
        dtype: volume.dtype.to_string(),
        shape: volume.shape,
    };
    FmriBatch::new(values, volume.frames, voxels, source)
}
