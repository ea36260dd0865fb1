//! fMRI input: `readFmri` and the handle that keeps a validated recording in wasm memory
//! (the data never leaves the page).

use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use super::convert::*;
use crate::data::fmri::{DEFAULT_MAX_BYTES, Mask, ReadOptions};
use crate::data::{FmriBatch, Normalization};
use crate::error::Error;

/// Options of `readFmri`, as JavaScript passes them.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
struct JsReadOptions {
    array: Option<String>,
    mask: Option<serde_bytes::ByteBuf>,
    mask_name: Option<String>,
    replace_non_finite: bool,
    max_bytes: Option<f64>,
    expected_voxels: Option<usize>,
}

/// A validated fMRI batch held in wasm memory. The data never leaves the page.
#[wasm_bindgen]
pub struct FmriHandle {
    pub(super) batch: FmriBatch,
}

#[wasm_bindgen]
impl FmriHandle {
    /// Frees the recording now, as `free()` does; the handle cannot be used afterwards.
    pub fn dispose(self) {}

    #[wasm_bindgen(getter)]
    pub fn trials(&self) -> usize {
        self.batch.trials()
    }

    #[wasm_bindgen(getter)]
    pub fn voxels(&self) -> usize {
        self.batch.voxels()
    }

    /// Stored element type, numpy-style ("float64", "int16", ...).
    #[wasm_bindgen(getter)]
    pub fn dtype(&self) -> String {
        self.batch.source.dtype.clone()
    }

    /// `{ fileName, format, arrayName, maskName, dtype, shape }`.
    #[wasm_bindgen(getter, unchecked_return_type = "FmriSource")]
    pub fn source(&self) -> Result<JsValue, JsValue> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Source<'a> {
            file_name: &'a str,
            format: crate::data::SourceFormat,
            array_name: Option<&'a str>,
            mask_name: Option<&'a str>,
            dtype: &'a str,
            shape: &'a [usize],
        }
        let s = &self.batch.source;
        to_js(&Source {
            file_name: &s.file_name,
            format: s.format,
            array_name: s.array_name.as_deref(),
            mask_name: s.mask_name.as_deref(),
            dtype: &s.dtype,
            shape: &s.shape,
        })
    }

    /// One trial's voxel values (a copy), or `undefined` past the end.
    pub fn trial(&self, index: usize) -> Option<Vec<f32>> {
        self.batch.trial(index).map(<[f32]>::to_vec)
    }

    /// The batch as a `.npy` file (`[trials, voxels]` float32), e.g. to save a simulated
    /// recording for `brainclip eval`.
    #[wasm_bindgen(js_name = toNpy)]
    pub fn to_npy(&self) -> Result<Vec<u8>, JsValue> {
        crate::data::npy::write_npy_f32(
            self.batch.values(),
            &[self.batch.trials(), self.batch.voxels()],
        )
        .map_err(to_js_error)
    }

    /// z-scores in place: `"batch"` (per voxel over this batch) or `"none"`.
    /// Returns `{ mode, zeroVarianceVoxels }`.
    #[wasm_bindgen(unchecked_return_type = "NormalizationReport")]
    pub fn normalize(&mut self, mode: &str) -> Result<JsValue, JsValue> {
        let how = match mode {
            "batch" => Normalization::Batch,
            "none" => Normalization::None,
            other => {
                return Err(to_js_error(Error::ShapeMismatch {
                    what: "normalisation mode".into(),
                    got: format!("'{other}'"),
                    expected: "'batch' or 'none' (stored statistics come with a bundle)".into(),
                }));
            }
        };
        let report = self.batch.normalize(&how).map_err(to_js_error)?;
        to_js(&serde_json::json!({
            "mode": report.mode,
            "zeroVarianceVoxels": report.zero_variance_voxels,
        }))
    }
}

/// Reads and validates an fMRI file's bytes (`.npy`, `.npz`, `.nii`, `.nii.gz`).
///
/// `options`: `{ array, mask (Uint8Array of a NIfTI mask), maskName, replaceNonFinite,
/// maxBytes, expectedVoxels }`, all optional.
#[wasm_bindgen(js_name = readFmri)]
pub async fn read_fmri(
    bytes: Vec<u8>,
    file_name: String,
    #[wasm_bindgen(unchecked_optional_param_type = "ReadFmriOptions")] options: Option<JsValue>,
) -> Result<FmriHandle, JsValue> {
    let options = options.unwrap_or(JsValue::UNDEFINED);
    let js: JsReadOptions = from_js(options, "readFmri")?;
    let options = ReadOptions {
        array: js.array,
        mask: js.mask.map(|bytes| Mask {
            file_name: js.mask_name.unwrap_or_else(|| "mask".into()),
            bytes: bytes.into_vec(),
        }),
        replace_non_finite: js.replace_non_finite,
        max_bytes: js
            .max_bytes
            .map_or(DEFAULT_MAX_BYTES, |b| b.max(0.0) as u64),
        expected_voxels: js.expected_voxels,
    };
    let batch = crate::data::read_fmri(&bytes, &file_name, &options).map_err(to_js_error)?;
    Ok(FmriHandle { batch })
}
