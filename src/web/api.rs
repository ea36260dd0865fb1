//! The whole wasm-bindgen surface in one file (as burn's image-classification-web example
//! keeps it), so a reader sees every export the npm package has in one place; it is longer
//! than the other rooms' files for that reason.

use std::collections::BTreeMap;
use std::rc::Rc;

use serde::{Deserialize, Serialize};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::abort::{abortable, abortable_call, take_signal};
use crate::data::bundle::{Bundle, BundleParts, MANIFEST_FILE, Manifest, NormalizationSpec};
use crate::data::fmri::{DEFAULT_MAX_BYTES, Mask, ReadOptions};
use crate::data::{FmriBatch, Normalization};
use crate::device::{BackendPreference, ComputeDevice, select_device};
use crate::error::Error;
use crate::matrix::Matrix;
use crate::tasks::{self, Decoder};

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// Converts a crate error into a JS `Error` whose `code` property is the stable error code.
pub fn to_js_error(err: Error) -> JsValue {
    let js = js_sys::Error::new(&err.to_string());
    js.set_name("BrainClipError");
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(&js, &"code".into(), &err.code().into());
    js.into()
}

/// A result as plain JS objects, through JSON text: `JSON.parse` builds them in one call,
/// where building them property by property from wasm took about 5 ms per ranked entry (1.2 s
/// for 50 trials' top 5).
pub(super) fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    let text = serde_json::to_string(value).map_err(|err| js_sys::Error::new(&err.to_string()))?;
    js_sys::JSON::parse(&text)
}

/// The typed arrays [`take_f32_arrays`] took, one slot per key.
type TakenArrays = Vec<Option<Vec<f32>>>;

/// Takes the `Float32Array`s under `keys` out of an options object (a shallow copy; the
/// caller's object is untouched) before serde reads the rest: serde reads a typed array one
/// element at a time through JS, seconds for a few thousand values. Plain arrays stay for
/// serde.
pub(super) fn take_f32_arrays(
    value: JsValue,
    keys: &[&str],
) -> Result<(JsValue, TakenArrays), JsValue> {
    let mut taken = vec![None; keys.len()];
    if !value.is_object() {
        return Ok((value, taken));
    }
    let copy = js_sys::Object::assign(&js_sys::Object::new(), value.unchecked_ref());
    for (key, slot) in keys.iter().zip(taken.iter_mut()) {
        let key = JsValue::from_str(key);
        if let Some(array) = js_sys::Reflect::get(&copy, &key)?.dyn_ref::<js_sys::Float32Array>() {
            *slot = Some(array.to_vec());
            js_sys::Reflect::delete_property(&copy, &key)?;
        }
    }
    Ok((copy.into(), taken))
}

/// Parses an options object, naming the offending field on failure.
pub(super) fn from_js<T: for<'de> Deserialize<'de> + Default>(
    value: JsValue,
    what: &str,
) -> Result<T, JsValue> {
    if value.is_undefined() || value.is_null() {
        return Ok(T::default());
    }
    serde_wasm_bindgen::from_value(value).map_err(|err| {
        to_js_error(Error::ShapeMismatch {
            what: format!("{what} options"),
            got: err.to_string(),
            expected: "the documented option names and types".into(),
        })
    })
}

// ---------------------------------------------------------------------------------------
// Devices

/// What `initDevice` reports to JavaScript.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeviceInfo {
    backend: &'static str,
    adapter: String,
    fallback_reason: Option<String>,
}

fn device_info(device: &ComputeDevice) -> DeviceInfo {
    DeviceInfo {
        backend: device.backend.as_str(),
        adapter: device.adapter.clone(),
        fallback_reason: device.fallback_reason.clone(),
    }
}

pub(super) async fn device_for(preference: Option<String>) -> Result<ComputeDevice, JsValue> {
    let preference: BackendPreference = preference
        .as_deref()
        .unwrap_or("auto")
        .parse()
        .map_err(to_js_error)?;
    select_device(preference).await.map_err(to_js_error)
}

/// Chooses a backend (`"auto"` by default, `"webgpu"` or `"cpu"`) and returns
/// `{ backend, adapter, fallbackReason }`.
#[wasm_bindgen(js_name = initDevice, unchecked_return_type = "DeviceInfo")]
pub async fn init_device(preference: Option<String>) -> Result<JsValue, JsValue> {
    let device = device_for(preference).await?;
    to_js(&device_info(&device))
}

/// `softmax(scale · Q Cᵀ)` on the chosen backend: the scoring step shared by category
/// decoding and retrieval. Exposed so a page can check that its backend computes correctly.
#[wasm_bindgen(js_name = candidateProbabilities)]
pub async fn candidate_probabilities(
    queries: Vec<f32>,
    candidates: Vec<f32>,
    dim: usize,
    scale: f32,
    preference: Option<String>,
) -> Result<Vec<f32>, JsValue> {
    let device = device_for(preference).await?;
    tasks::candidate_probabilities(&device, &queries, &candidates, dim, scale)
        .await
        .map_err(to_js_error)
}

// ---------------------------------------------------------------------------------------
// fMRI input

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
    batch: FmriBatch,
}

#[cfg(feature = "training")]
impl FmriHandle {
    pub(super) fn batch(&self) -> &FmriBatch {
        &self.batch
    }
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

// ---------------------------------------------------------------------------------------
// The simulated world

/// Options of `simulateTestRecording`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
struct JsTestRecordingOptions {
    snr: Option<f32>,
    repeats: Option<usize>,
    seed: u64,
    world_seed: u64,
}

thread_local! {
    /// The last simulated subject built: building one calibrates every voxel, so a student
    /// moving a slider should not pay for it again.
    static SIMULATED_SUBJECT: std::cell::RefCell<Option<Rc<crate::sim::subject::Subject>>> =
        const { std::cell::RefCell::new(None) };
}

/// A new recording of the simulated world's test stimuli by `subject` ("sub-01", "sub-02",
/// "sub-03"), as `brainclip sim test-recording` makes it (`options`: `{ snr, repeats, seed,
/// worldSeed }`; defaults: the subject's SNR, 35 repeats, seeds 0): the same values as
/// natively, to within float rounding of the platform's maths library.
#[wasm_bindgen(js_name = simulateTestRecording)]
pub fn simulate_test_recording(
    subject: String,
    #[wasm_bindgen(unchecked_optional_param_type = "TestRecordingOptions")] options: Option<
        JsValue,
    >,
) -> Result<FmriHandle, JsValue> {
    let options = options.unwrap_or(JsValue::UNDEFINED);
    use crate::sim::protocol::{Protocol, ProtocolConfig, TestRecordingConfig};
    let options: JsTestRecordingOptions = from_js(options, "simulateTestRecording")?;
    let cached = SIMULATED_SUBJECT.with_borrow(|s| s.clone().filter(|s| s.config.name == subject));
    let simulated = match cached {
        Some(simulated) => simulated,
        None => {
            let built =
                Rc::new(crate::sim::subject::Subject::named(&subject).map_err(to_js_error)?);
            SIMULATED_SUBJECT.set(Some(built.clone()));
            built
        }
    };
    let protocol = Protocol::new(ProtocolConfig {
        seed: options.world_seed,
        ..ProtocolConfig::default()
    })
    .map_err(to_js_error)?;
    let config = TestRecordingConfig {
        snr: options.snr.unwrap_or(simulated.config.snr),
        repeats: options
            .repeats
            .unwrap_or(ProtocolConfig::default().test_repeats),
        seed: options.seed,
    };
    let recording = protocol
        .record_test(&simulated, &config)
        .map_err(to_js_error)?;
    let (trials, voxels) = (recording.rows(), recording.cols());
    simulated_recording(
        recording.into_values(),
        trials,
        voxels,
        format!(
            "simulated {subject}: SNR {}, {} repeats, seed {}",
            config.snr, config.repeats, config.seed
        ),
    )
}

/// A simulated recording as an fMRI handle, its source named `file_name`.
fn simulated_recording(
    values: Vec<f32>,
    trials: usize,
    voxels: usize,
    file_name: String,
) -> Result<FmriHandle, JsValue> {
    let source = crate::data::FmriSource {
        file_name,
        format: crate::data::SourceFormat::Simulated,
        array_name: None,
        mask_name: None,
        dtype: "float32".into(),
        shape: vec![trials, voxels],
    };
    let batch = FmriBatch::new(values, trials, voxels, source).map_err(to_js_error)?;
    Ok(FmriHandle { batch })
}

/// The simulated world's training session of `subject` ("sub-01", "sub-02", "sub-03"), as
/// `brainclip sim world` writes it (`train_fmri.npy`, `train_labels.json`,
/// `train_stimulus_ids.json`; world seed `worldSeed`, default 0): `{ fmri, labels,
/// stimulusIds }`, 1,200 single-presentation trials of the 150 seen categories, to try
/// `trainMapper` on.
#[wasm_bindgen(js_name = simulateTrainingSession, unchecked_return_type = "TrainingSession")]
pub fn simulate_training_session(
    subject: String,
    #[wasm_bindgen(js_name = worldSeed)] world_seed: Option<u64>,
) -> Result<JsValue, JsValue> {
    use crate::sim::protocol::{Protocol, ProtocolConfig};
    let simulated = crate::sim::subject::Subject::named(&subject).map_err(to_js_error)?;
    let protocol = Protocol::new(ProtocolConfig {
        seed: world_seed.unwrap_or(0),
        ..ProtocolConfig::default()
    })
    .map_err(to_js_error)?;
    let recording = protocol.record(&simulated).map_err(to_js_error)?.train;
    let (trials, voxels) = (recording.rows(), recording.cols());
    let fmri = simulated_recording(
        recording.into_values(),
        trials,
        voxels,
        format!("simulated {subject}: training session"),
    )?;
    let labels: Vec<String> = protocol.train.iter().map(|s| s.category.name()).collect();
    let ids: Vec<String> = crate::sim::protocol::stimulus_ids(&protocol.train, "train");
    js_object(&[
        ("fmri", fmri.into()),
        ("labels", to_js(&labels)?),
        ("stimulusIds", to_js(&ids)?),
    ])
}

// ---------------------------------------------------------------------------------------
// Bundles

#[wasm_bindgen]
extern "C" {
    /// The global `fetch`, available in windows and workers alike.
    #[wasm_bindgen(js_name = fetch)]
    fn global_fetch(url: &str, init: &JsValue) -> js_sys::Promise;
}

/// Fetches `url`, reporting `(bytes so far, Content-Length if the server sent one)` when the
/// headers arrive (0 bytes) and as the body streams in, so a caller can show a progress bar
/// in bytes. An abort of `signal` stops the request itself. `expected_len` (the manifest's
/// record) sizes the buffer once when the server sends no Content-Length (a chunked or
/// compressed response), where growing it by doubling would hold up to three times the file.
async fn fetch_bytes(
    url: &str,
    expected_len: Option<u64>,
    signal: Option<&web_sys::AbortSignal>,
    on_bytes: &mut dyn FnMut(u64, Option<u64>),
) -> Result<Vec<u8>, Error> {
    let failed = |reason: String| Error::Fetch {
        url: url.to_string(),
        reason,
    };
    let init = js_sys::Object::new();
    if let Some(signal) = signal {
        js_sys::Reflect::set(&init, &"signal".into(), signal)
            .map_err(|err| failed(format!("{err:?}")))?;
    }
    let response = JsFuture::from(global_fetch(url, &init))
        .await
        .map_err(|err| failed(format!("{err:?}")))?;
    let response: web_sys::Response = response
        .dyn_into()
        .map_err(|_| failed("fetch did not return a Response".into()))?;
    if !response.ok() {
        return Err(failed(format!(
            "HTTP {} {}",
            response.status(),
            response.status_text()
        )));
    }
    // The stream API is reached through JS properties: it needs no extra web-sys features.
    let get = |target: &JsValue, key: &str| js_sys::Reflect::get(target, &key.into());
    let total = get(&response, "headers")
        .ok()
        .and_then(|headers| {
            let lookup: js_sys::Function = get(&headers, "get").ok()?.dyn_into().ok()?;
            lookup
                .call1(&headers, &"content-length".into())
                .ok()?
                .as_string()
        })
        .and_then(|length| length.parse::<u64>().ok());
    on_bytes(0, total);
    let body = get(&response, "body").unwrap_or(JsValue::NULL);
    if body.is_null() || body.is_undefined() {
        let buffer = response
            .array_buffer()
            .map_err(|err| failed(format!("{err:?}")))?;
        let buffer = JsFuture::from(buffer)
            .await
            .map_err(|err| failed(format!("{err:?}")))?;
        let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
        on_bytes(bytes.len() as u64, total);
        return Ok(bytes);
    }
    let reader = get(&body, "getReader")
        .and_then(|f| f.dyn_into::<js_sys::Function>())
        .and_then(|f| f.call0(&body))
        .map_err(|err| failed(format!("cannot read the response body: {err:?}")))?;
    let read: js_sys::Function = get(&reader, "read")
        .and_then(|f| f.dyn_into())
        .map_err(|err| failed(format!("cannot read the response body: {err:?}")))?;
    let mut bytes = Vec::with_capacity(total.or(expected_len).unwrap_or(0) as usize);
    loop {
        let chunk = read
            .call0(&reader)
            .map_err(|err| failed(format!("{err:?}")))?;
        let chunk = JsFuture::from(js_sys::Promise::from(chunk))
            .await
            .map_err(|err| failed(format!("{err:?}")))?;
        if get(&chunk, "done")
            .ok()
            .and_then(|d| d.as_bool())
            .unwrap_or(true)
        {
            break;
        }
        let value: js_sys::Uint8Array = get(&chunk, "value")
            .and_then(|v| v.dyn_into())
            .map_err(|err| failed(format!("unexpected body chunk: {err:?}")))?;
        let start = bytes.len();
        bytes.resize(start + value.length() as usize, 0);
        value.copy_to(&mut bytes[start..]);
        on_bytes(bytes.len() as u64, total);
    }
    Ok(bytes)
}

/// A loaded, validated model bundle.
#[wasm_bindgen]
pub struct BundleHandle {
    bundle: Bundle,
    cache: CacheReport,
}

#[cfg(feature = "training")]
impl BundleHandle {
    pub(super) fn bundle(&self) -> &Bundle {
        &self.bundle
    }
}

#[wasm_bindgen]
impl BundleHandle {
    /// Frees the bundle's files now, as `free()` does; the handle cannot be used afterwards.
    pub fn dispose(self) {}

    /// `{ name, description, provenance, license, simulated, voxels, normalization, dtype,
    /// labels, components, subject, subjects, notLoaded, cache }` from the manifest: `subject`
    /// is the one loaded (null for a one-subject bundle that names none), `subjects` all it
    /// holds, `notLoaded` the components its `parts` option left out (by name), `cache` what
    /// the browser's cache did (`{ available, hits, stored, pruned, error }`).
    #[wasm_bindgen(unchecked_return_type = "BundleInfo")]
    pub fn info(&self) -> Result<JsValue, JsValue> {
        let m: &Manifest = &self.bundle.manifest;
        let normalization = match &m.normalization {
            NormalizationSpec::None => "none",
            NormalizationSpec::Batch => "batch",
            NormalizationSpec::Stats { .. } => "stats",
        };
        let components: BTreeMap<&str, &str> = m
            .components
            .iter()
            .map(|(name, c)| (name.as_str(), c.kind.as_str()))
            .collect();
        to_js(&serde_json::json!({
            "name": m.name,
            "description": m.description,
            "provenance": m.provenance,
            "license": m.license,
            "simulated": m.simulated,
            "voxels": m.voxels,
            "normalization": normalization,
            "dtype": m.dtype,
            "labels": m.labels,
            "components": components,
            "subject": m.subject,
            "subjects": self.bundle.subjects,
            "notLoaded": self.bundle.not_loaded,
            "cache": self.cache,
        }))
    }

    /// Where the bundle places its voxels on a flattened cortical sheet:
    /// `{ voxels, areas: [{ name, bounds: [x0, y0, x1, y1] }], coordinates: Float32Array }`
    /// (`[voxels, 2]` row-major, in [0, 1]), or null when it has no `voxel_sheet`.
    #[wasm_bindgen(js_name = voxelSheet, unchecked_return_type = "VoxelSheet | null")]
    pub fn voxel_sheet(&self) -> Result<JsValue, JsValue> {
        let Some(sheet) = self.bundle.voxel_sheet().map_err(to_js_error)? else {
            return Ok(JsValue::NULL);
        };
        let result = to_js(&serde_json::json!({
            "voxels": sheet.config.voxels,
            "areas": sheet.config.areas,
        }))?;
        js_sys::Reflect::set(
            &result,
            &"coordinates".into(),
            &js_sys::Float32Array::from(sheet.coordinates.as_slice()).into(),
        )?;
        Ok(result)
    }

    /// Normalises an fMRI batch the way this bundle's models expect, checking its voxel count.
    #[wasm_bindgen(unchecked_return_type = "NormalizationReport")]
    pub fn normalize(&self, fmri: &mut FmriHandle) -> Result<JsValue, JsValue> {
        fmri.batch
            .expect_voxels(self.bundle.manifest.voxels)
            .map_err(to_js_error)?;
        let how = self.bundle.normalization().map_err(to_js_error)?;
        let report = fmri.batch.normalize(&how).map_err(to_js_error)?;
        to_js(&serde_json::json!({
            "mode": report.mode,
            "zeroVarianceVoxels": report.zero_variance_voxels,
        }))
    }
}

/// Options of `loadBundle`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
struct JsLoadBundleOptions {
    /// Which subject of a bundle holding several (default: its default subject).
    subject: Option<String>,
    /// `"all"` (default), `"decoding"` (everything but the image decoder) or
    /// `"image-decoder"` (only it, for `DecoderHandle.addImageDecoder`).
    parts: BundleParts,
    /// Keep the files in the browser's Cache API and take them from there next time
    /// (default true; only files whose SHA-256 the manifest records).
    cache: Option<bool>,
}

/// A bundle's URL prefix (ending in `/`), its manifest, and the files (with the fields that
/// name them) `options` ask for.
async fn fetch_manifest(
    url_prefix: String,
    options: &JsLoadBundleOptions,
    signal: Option<&web_sys::AbortSignal>,
) -> Result<(String, Manifest, Vec<(String, String)>), JsValue> {
    let prefix = if url_prefix.ends_with('/') {
        url_prefix
    } else {
        format!("{url_prefix}/")
    };
    let manifest_bytes = fetch_bytes(
        &format!("{prefix}{MANIFEST_FILE}"),
        None,
        signal,
        &mut |_, _| {},
    )
    .await
    .map_err(to_js_error)?;
    let manifest = Manifest::parse(&manifest_bytes).map_err(to_js_error)?;
    let required = manifest
        .for_subject(options.subject.as_deref())
        .and_then(|view| view.with_parts(options.parts))
        .map_err(to_js_error)?
        .required_files();
    Ok((prefix, manifest, required))
}

/// What the cache did for one `loadBundle`: files taken from it, files put in it, and why
/// it could not be used (e.g. `{ code: "quota_exceeded", message }`).
#[derive(Serialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
struct CacheReport {
    available: bool,
    hits: usize,
    stored: usize,
    /// Earlier versions of the stored files, removed.
    pruned: usize,
    error: Option<CacheError>,
}

#[derive(Serialize, Clone)]
struct CacheError {
    code: &'static str,
    message: String,
}

/// Fetches `manifest.json` and every file it names from `url_prefix` (e.g. `/models/demo/`),
/// all at once, validating everything before returning. Of a bundle holding several
/// subjects, only the files of `options.subject` (default: the bundle's default subject);
/// with `options.parts`, only those components' files; with the manifest's SHA-256s, files
/// are kept in and taken from the browser's cache (`options.cache`, default true).
/// `on_progress({ status, file, index, count, loaded, total, progress, cached, bundleLoaded,
/// bundleTotal, filesDone })` is called per file with status "initiate" (`loaded` 0),
/// "download" (headers arrived), "progress" (at most every 256 KiB) and "done" (a cache hit
/// goes from "initiate" to "done" with `cached` true), then once with "ready" for the
/// bundle (`file` null). `total` is the file's Content-Length (null when the server sends
/// none), `progress` its percent, `bundleLoaded` the bytes of every file so far,
/// `bundleTotal` their sum once every file's length is known (else null) and `filesDone`
/// how many have finished.
#[wasm_bindgen(js_name = loadBundle)]
pub async fn load_bundle(
    url_prefix: String,
    #[wasm_bindgen(unchecked_optional_param_type = "((progress: LoadProgress) => void) | null")]
    on_progress: Option<js_sys::Function>,
    #[wasm_bindgen(unchecked_optional_param_type = "LoadBundleOptions")] options: Option<JsValue>,
) -> Result<BundleHandle, JsValue> {
    let options = options.unwrap_or(JsValue::UNDEFINED);
    let (options, signal) = take_signal(options, "loadBundle")?;
    let options: JsLoadBundleOptions = from_js(options, "loadBundle")?;
    let what = format!("loading the bundle at {url_prefix}");
    abortable(
        &what,
        signal.clone(),
        load_bundle_files(url_prefix, on_progress, options, signal),
    )
    .await
}

async fn load_bundle_files(
    url_prefix: String,
    on_progress: Option<js_sys::Function>,
    options: JsLoadBundleOptions,
    signal: Option<web_sys::AbortSignal>,
) -> Result<BundleHandle, JsValue> {
    let signal = signal.as_ref();
    let (prefix, manifest, required) = fetch_manifest(url_prefix, &options, signal).await?;
    let count = required.len();
    let cache = if options.cache.unwrap_or(true) && !manifest.integrity.is_empty() {
        super::cache::FileCache::open().await
    } else {
        None
    };
    let cache_report = std::cell::RefCell::new(CacheReport {
        available: cache.is_some(),
        ..Default::default()
    });
    // Files already checked against the manifest (for the cache): not hashed again below.
    let checked = std::cell::RefCell::new(std::collections::BTreeSet::new());
    // Per file: bytes so far, Content-Length when known, finished.
    let progress = std::cell::RefCell::new(vec![(0u64, None::<u64>, false); count]);
    let report =
        |status: &str, index: usize, loaded: u64, total: Option<u64>, done: bool, cached: bool| {
            let (bundle_loaded, bundle_total, files_done) = {
                let mut files = progress.borrow_mut();
                files[index] = (loaded, total.or(files[index].1), done);
                let bundle_total: Option<u64> = files.iter().map(|f| f.1).sum();
                (
                    files.iter().map(|f| f.0).sum::<u64>(),
                    bundle_total,
                    files.iter().filter(|f| f.2).count(),
                )
            };
            let percent = total
                .filter(|t| *t > 0)
                .map(|t| 100.0 * loaded as f64 / t as f64);
            if let Some(callback) = &on_progress
                && let Ok(event) = to_js(&serde_json::json!({
                    "status": status, "file": required[index].0, "index": index, "count": count,
                    "loaded": loaded, "total": total, "progress": percent, "cached": cached,
                    "bundleLoaded": bundle_loaded, "bundleTotal": bundle_total,
                    "filesDone": files_done,
                }))
            {
                // A throwing progress callback must not abort the load.
                let _ = callback.call1(&JsValue::NULL, &event);
            }
        };
    const EVERY: u64 = 256 * 1024;
    // Concurrent requests: one after another, each stream's round trips add up (about
    // 0.7 s against 0.25 s for the demo's 12 MB in Chromium).
    let downloads = required.iter().enumerate().map(|(index, (file, _field))| {
        let report = &report;
        let prefix = &prefix;
        let cache = cache.as_ref();
        let cache_report = &cache_report;
        let checked = &checked;
        let integrity = manifest.integrity.get(file);
        async move {
            report("initiate", index, 0, None, false, false);
            let url = format!("{prefix}{file}");
            let key = integrity.map(|i| super::cache::FileCache::key(&url, &i.sha256));
            if let (Some(cache), Some(key)) = (cache, &key)
                && let Some(bytes) = cache.get(key).await
                && integrity.is_some_and(|i| i.check(file, &bytes).is_ok())
            {
                checked.borrow_mut().insert(file.clone());
                cache_report.borrow_mut().hits += 1;
                let length = bytes.len() as u64;
                report("done", index, length, Some(length), true, true);
                return Ok::<_, Error>((file.clone(), bytes));
            }
            let mut reported = 0u64;
            let bytes = fetch_bytes(&url, integrity.map(|i| i.bytes), signal, &mut |loaded, total| {
                // At 0 the headers have come: the file's length is known.
                if loaded == 0 {
                    report("download", index, 0, total, false, false);
                } else if loaded - reported >= EVERY {
                    reported = loaded;
                    report("progress", index, loaded, total, false, false);
                }
            })
            .await?;
            // Only what the manifest vouches for is kept (a bad file is refused below); after
            // one failure (e.g. a full quota) nothing more is tried.
            let cache_failed = cache_report.borrow().error.is_some();
            if let (Some(cache), Some(key), Some(integrity)) = (cache, &key, integrity)
                && !cache_failed
                && integrity.check(file, &bytes).is_ok()
            {
                checked.borrow_mut().insert(file.clone());
                match cache.put(key, &bytes).await {
                    Ok(()) => {
                        cache_report.borrow_mut().stored += 1;
                        // The file's earlier versions (an updated bundle) are not kept.
                        let pruned = cache.prune_other_versions(&url, &integrity.sha256).await;
                        cache_report.borrow_mut().pruned += pruned;
                    }
                    Err(name) => {
                        let quota = name == "QuotaExceededError";
                        // The first failure says why; files downloading meanwhile may fail too.
                        cache_report.borrow_mut().error.get_or_insert(CacheError {
                            code: if quota { "quota_exceeded" } else { "cache_failed" },
                            message: if quota {
                                format!("the browser's storage quota is full: {file} and files after it were not cached (the bundle loaded; they will download again next time)")
                            } else {
                                format!("{file} could not be cached ({name}); the bundle loaded")
                            },
                        });
                    }
                }
            }
            let length = bytes.len() as u64;
            report("done", index, length, Some(length), true, false);
            Ok((file.clone(), bytes))
        }
    });
    let files: BTreeMap<String, Vec<u8>> = futures_util::future::try_join_all(downloads)
        .await
        .map_err(to_js_error)?
        .into_iter()
        .collect();
    let bundle = Bundle::from_checked_parts(
        manifest,
        options.subject.as_deref(),
        options.parts,
        files,
        &checked.into_inner(),
    )
    .map_err(to_js_error)?;
    if let Some(callback) = &on_progress {
        let (loaded, files_done) = {
            let files = progress.borrow();
            (files.iter().map(|f| f.0).sum::<u64>(), files.len())
        };
        if let Ok(event) = to_js(&serde_json::json!({
            "status": "ready", "file": null, "index": null, "count": count, "loaded": loaded,
            "total": loaded, "progress": 100.0, "cached": cache_report.borrow().hits == count,
            "bundleLoaded": loaded, "bundleTotal": loaded, "filesDone": files_done,
        })) {
            let _ = callback.call1(&JsValue::NULL, &event);
        }
    }
    let cache = cache_report.into_inner();
    Ok(BundleHandle { bundle, cache })
}

/// Reads a bundle from the bytes of a `.zip` archive (what a trained mapper's `bundleBytes()`
/// gives, or a bundle directory zipped; `fileName` names it in errors). `options`: `subject`
/// and `parts` as `loadBundle` takes them.
#[wasm_bindgen(js_name = loadBundleBytes)]
pub fn load_bundle_bytes(
    bytes: &[u8],
    file_name: Option<String>,
    #[wasm_bindgen(unchecked_optional_param_type = "LoadBundleOptions")] options: Option<JsValue>,
) -> Result<BundleHandle, JsValue> {
    let options: JsLoadBundleOptions =
        from_js(options.unwrap_or(JsValue::UNDEFINED), "loadBundleBytes")?;
    let name = file_name.unwrap_or_else(|| "bundle.zip".into());
    let bundle = Bundle::from_zip(bytes, &name, options.subject.as_deref(), options.parts)
        .map_err(to_js_error)?;
    Ok(BundleHandle {
        bundle,
        cache: CacheReport::default(),
    })
}

/// Whether every file `loadBundle(urlPrefix, null, options)` would load is in the browser's
/// cache (only the manifest is fetched). False where the Cache API is unavailable or the
/// manifest records no SHA-256s.
#[wasm_bindgen(js_name = isCached)]
pub async fn is_cached(
    url_prefix: String,
    #[wasm_bindgen(unchecked_optional_param_type = "LoadBundleOptions")] options: Option<JsValue>,
) -> Result<bool, JsValue> {
    let options = options.unwrap_or(JsValue::UNDEFINED);
    let (options, signal) = take_signal(options, "isCached")?;
    let options: JsLoadBundleOptions = from_js(options, "isCached")?;
    let (prefix, manifest, required) =
        fetch_manifest(url_prefix, &options, signal.as_ref()).await?;
    let keys: Option<Vec<String>> = required
        .iter()
        .map(|(file, _)| {
            let integrity = manifest.integrity.get(file)?;
            Some(super::cache::FileCache::key(
                &format!("{prefix}{file}"),
                &integrity.sha256,
            ))
        })
        .collect();
    Ok(match keys {
        Some(keys) => super::cache::holds_all(&keys).await,
        None => false,
    })
}

/// Empties brainclip's cache of bundle files (`brainclip-cache`); whether there was one.
#[wasm_bindgen(js_name = clearCache)]
pub async fn clear_cache() -> Result<bool, JsValue> {
    super::cache::delete().await
}

// ---------------------------------------------------------------------------------------
// Decoding

/// A bundle's models loaded on a device, ready to decode fMRI.
#[wasm_bindgen]
pub struct DecoderHandle {
    decoder: Rc<Decoder>,
}

/// Encoded files from JS with their names (`"<fallback> i"` where a name is missing), for
/// errors that say which file was wrong.
fn named_files(
    files: &[js_sys::Uint8Array],
    names: &[String],
    fallback: &str,
) -> Vec<(Vec<u8>, String)> {
    files
        .iter()
        .enumerate()
        .map(|(i, bytes)| {
            let name = names
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("{fallback} {i}"));
            (bytes.to_vec(), name)
        })
        .collect()
}

/// Options of `embedLabels`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
struct JsEmbedLabelsOptions {
    templates: Vec<String>,
}

/// Options of `decodeCategories`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
struct JsDecodeOptions {
    /// Best labels per trial (0 or absent: 5).
    top_k: usize,
    /// Prompt templates, "{}" standing for the label; several are ensembled.
    templates: Vec<String>,
    /// CLIP text embeddings of the labels, row-major `[labels, dim]`, when the bundle has no
    /// CLIP or the caller has them already.
    label_embeddings: Option<Vec<f32>>,
}

/// Options of `attribute`: the trial, what its similarity is to (a label, or an embedding
/// in either space) and how to attribute it.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
struct JsAttributeOptions {
    trial: usize,
    label: Option<String>,
    templates: Vec<String>,
    label_embedding: Option<Vec<f32>>,
    image_embedding: Option<Vec<f32>>,
    method: tasks::AttributionMethod,
    steps: Option<usize>,
    control: Option<String>,
}

/// Options of `retrieve`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
struct JsRetrieveOptions {
    top_k: usize,
    space: tasks::Space,
}

/// Options of `evaluate`: the truth to score against, as `brainclip eval` takes it.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
struct JsEvalOptions {
    /// True label of each trial.
    labels: Option<Vec<String>>,
    /// Candidate labels (default: the distinct true labels).
    candidates: Option<Vec<String>>,
    templates: Vec<String>,
    /// CLIP text embeddings of the candidates, row-major `[candidates, textDim]`.
    label_embeddings: Option<Vec<f32>>,
    /// CLIP image embedding of each trial's stimulus, row-major `[trials, imageDim]`.
    image_embeddings: Option<Vec<f32>>,
    /// CLIP text embedding of each trial's caption, row-major `[trials, textDim]`.
    text_embeddings: Option<Vec<f32>>,
    way: Option<usize>,
    draws: Option<usize>,
    seed: Option<u64>,
}

/// Options of `reconstruct` (besides `onStep`, a function read separately).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
struct JsReconstructOptions {
    trials: Vec<usize>,
    steps: Option<usize>,
    guidance: Option<f32>,
    strength: Option<f32>,
    seed: u64,
}

/// Options of `reconstructLowLevel`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
struct JsLowLevelOptions {
    trials: Vec<usize>,
}

const DEFAULT_TOP_K: usize = 5;

/// Options of calls that take nothing but `signal`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct JsCallOptions {}

/// `{ trials, size, steps, guidance, images }`, `images` RGBA `Uint8ClampedArray`s.
fn reconstruction_object(result: &tasks::Reconstruction) -> Result<JsValue, JsValue> {
    js_object(&[
        ("trials", to_js(&result.trials)?),
        ("size", result.size.into()),
        ("steps", result.steps.into()),
        ("guidance", result.guidance.into()),
        ("images", rgba_array(&result.images).into()),
    ])
}

/// A plain object from its fields: for results holding typed arrays, which serde would copy
/// into plain arrays.
fn js_object(fields: &[(&str, JsValue)]) -> Result<JsValue, JsValue> {
    let out = js_sys::Object::new();
    for (key, value) in fields {
        js_sys::Reflect::set(&out, &(*key).into(), value)?;
    }
    Ok(out.into())
}

/// RGBA images as an array of `Uint8ClampedArray`s (what `new ImageData(pixels, size)` takes).
fn rgba_array(images: &[Vec<u8>]) -> js_sys::Array {
    images
        .iter()
        .map(|rgba| JsValue::from(js_sys::Uint8ClampedArray::from(rgba.as_slice())))
        .collect()
}

fn rows_of(values: Vec<f32>, dim: usize, what: &str) -> Result<Matrix, Error> {
    if dim == 0 || values.is_empty() || !values.len().is_multiple_of(dim) {
        return Err(Error::ShapeMismatch {
            what: what.into(),
            got: format!("{} values", values.len()),
            expected: format!("a non-empty multiple of the embedding size {dim}"),
        });
    }
    let rows = values.len() / dim;
    Matrix::new(values, rows, dim)
}

#[cfg(feature = "training")]
impl DecoderHandle {
    pub(super) fn from_decoder(decoder: Rc<Decoder>) -> Self {
        DecoderHandle { decoder }
    }
}

#[wasm_bindgen]
impl DecoderHandle {
    /// Frees the models (once calls still running have finished) now, as `free()` does; the handle cannot be used afterwards.
    pub fn dispose(self) {}

    /// Adds the image decoder of `bundle` (best loaded with `{ parts: "image-decoder" }`) to
    /// a decoder loaded without one (`{ parts: "decoding" }`), so that decoding can start
    /// before the larger reconstruction models have downloaded.
    #[wasm_bindgen(js_name = addImageDecoder)]
    pub fn add_image_decoder(&self, bundle: &BundleHandle) -> Result<(), JsValue> {
        self.decoder
            .add_image_decoder(&bundle.bundle)
            .map_err(to_js_error)
    }

    /// `{ backend, adapter, fallbackReason, voxels, variant, imageDim, textDim, hasClip }`.
    #[wasm_bindgen(unchecked_return_type = "DecoderInfo")]
    pub fn info(&self) -> Result<JsValue, JsValue> {
        let d = &self.decoder;
        let device = device_info(&d.device);
        to_js(&serde_json::json!({
            "backend": device.backend,
            "adapter": device.adapter,
            "fallbackReason": device.fallback_reason,
            "voxels": d.mapper.config.voxels,
            "variant": d.mapper.config.variant,
            "imageDim": d.mapper.config.image_dim,
            "textDim": d.mapper.config.text_dim,
            "hasClip": d.clip.is_some(),
            "hasImageDecoder": d.reconstructor.get().is_some(),
            "hasLowLevel": d.reconstructor.get().is_some_and(|r| r.low_level.is_some()),
            // The strength a reconstruction starts from the low-level image with by default.
            "lowLevelStrength": d
                .reconstructor
                .get()
                .and_then(|r| r.low_level.as_ref())
                .and_then(|l| l.config.strength),
            "imageSize": d.reconstructor.get().map(|r| r.image_size()),
            // Every step count the bundle's denoisers offer (the default first) and the
            // default's guidance.
            "schedule": d.reconstructor.get().map(|r| serde_json::json!({
                "kind": r.schedule.kind,
                "steps": r.step_choices(),
                "guidance": r.schedule.guidance,
            })),
        }))
    }

    /// Reconstructs the seen images (`options`: `{ trials, steps, guidance, strength, seed,
    /// onStep }`; unset values take the bundle's schedule). `onStep(step, steps, images)` is
    /// called after every step with the decoded estimates. Resolves to `{ trials, size,
    /// steps, guidance, images }`, `images` being RGBA `Uint8ClampedArray`s of `size × size`.
    #[wasm_bindgen(unchecked_return_type = "Promise<Reconstruction>")]
    pub fn reconstruct(
        &self,
        fmri: &FmriHandle,
        #[wasm_bindgen(unchecked_optional_param_type = "ReconstructOptions")] options: Option<
            JsValue,
        >,
    ) -> js_sys::Promise {
        let options = options.unwrap_or(JsValue::UNDEFINED);
        let decoder = self.decoder.clone();
        let batch = fmri.batch.clone();
        abortable_call("reconstruct", "reconstruction", options, |options| {
            let on_step = if options.is_object() {
                js_sys::Reflect::get(&options, &"onStep".into())
                    .ok()
                    .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
            } else {
                None
            };
            let rest = if options.is_object() {
                let copy = js_sys::Object::assign(&js_sys::Object::new(), &options.clone().into());
                let _ = js_sys::Reflect::delete_property(&copy, &"onStep".into());
                copy.into()
            } else {
                options
            };
            let options: Result<JsReconstructOptions, JsValue> = from_js(rest, "reconstruct");
            async move {
                let options = options?;
                let request = tasks::ReconstructRequest {
                    trials: options.trials,
                    steps: options.steps,
                    guidance: options.guidance,
                    strength: options.strength,
                    seed: options.seed,
                };
                let mut callback_error = None;
                let mut forward = |step: usize, steps: usize, images: &[Vec<u8>]| {
                    if let Some(f) = &on_step
                        && callback_error.is_none()
                        && let Err(err) = f.call3(
                            &JsValue::NULL,
                            &step.into(),
                            &steps.into(),
                            &rgba_array(images),
                        )
                    {
                        callback_error = Some(err);
                    }
                };
                // Previews are decoded only for a caller that asked for them.
                let wants_previews = on_step.is_some();
                let result = decoder
                    .reconstruct(
                        &batch,
                        &request,
                        wants_previews.then_some(&mut forward as &mut tasks::StepCallback<'_>),
                    )
                    .await
                    .map_err(to_js_error)?;
                if let Some(err) = callback_error {
                    return Err(err);
                }
                reconstruction_object(&result)
            }
        })
    }

    /// The low-level path alone (`options`: `{ trials }`, all when empty): the head's
    /// predicted latents decoded, a blurry image of layout and colour. Resolves like
    /// `reconstruct` (with `steps` 0: nothing is sampled).
    #[wasm_bindgen(
        js_name = reconstructLowLevel,
        unchecked_return_type = "Promise<Reconstruction>"
    )]
    pub fn reconstruct_low_level(
        &self,
        fmri: &FmriHandle,
        #[wasm_bindgen(unchecked_optional_param_type = "LowLevelOptions")] options: Option<JsValue>,
    ) -> js_sys::Promise {
        let options = options.unwrap_or(JsValue::UNDEFINED);
        let decoder = self.decoder.clone();
        let batch = fmri.batch.clone();
        abortable_call(
            "reconstructLowLevel",
            "low-level reconstruction",
            options,
            |options| {
                let options: Result<JsLowLevelOptions, JsValue> =
                    from_js(options, "reconstructLowLevel");
                async move {
                    let options = options?;
                    let result = decoder
                        .reconstruct_low_level(&batch, &options.trials)
                        .await
                        .map_err(to_js_error)?;
                    reconstruction_object(&result)
                }
            },
        )
    }

    /// One trial's voxel pattern as the mapper reads it (normalised as the bundle prescribes),
    /// a Float32Array of `voxels` values; what a brain view draws.
    #[wasm_bindgen(js_name = voxelPattern)]
    pub fn voxel_pattern(
        &self,
        fmri: &FmriHandle,
        trial: usize,
    ) -> Result<js_sys::Float32Array, JsValue> {
        let values = self
            .decoder
            .voxel_pattern(&fmri.batch, trial)
            .map_err(to_js_error)?;
        Ok(js_sys::Float32Array::from(values.as_slice()))
    }

    /// Which voxels drove one trial's similarity to a label (or to a CLIP embedding in the
    /// text or image space): `{ trial, method, steps, space, values: Float32Array (one per
    /// voxel), similarity, baselineSimilarity, completenessGap }`.
    #[wasm_bindgen(unchecked_return_type = "Promise<Attribution>")]
    pub fn attribute(
        &self,
        fmri: &FmriHandle,
        #[wasm_bindgen(unchecked_param_type = "AttributeOptions")] options: JsValue,
    ) -> js_sys::Promise {
        let decoder = self.decoder.clone();
        let batch = fmri.batch.clone();
        abortable_call("attribute", "voxel attribution", options, |options| {
            let options = take_f32_arrays(options, &["labelEmbedding", "imageEmbedding"]).and_then(
                |(rest, arrays)| {
                    let mut options: JsAttributeOptions = from_js(rest, "attribute")?;
                    let [label, image] = <[_; 2]>::try_from(arrays).expect("two keys");
                    options.label_embedding = label.or(options.label_embedding);
                    options.image_embedding = image.or(options.image_embedding);
                    Ok(options)
                },
            );
            async move {
                let options = options?;
                let request = tasks::AttributeRequest {
                    trial: options.trial,
                    method: options.method,
                    steps: options
                        .steps
                        .unwrap_or(tasks::AttributeRequest::default().steps),
                    control: options.control,
                };
                let map = match (
                    options.label,
                    options.label_embedding,
                    options.image_embedding,
                ) {
                    (Some(label), None, None) => {
                        decoder
                            .attribute_label(&batch, &label, &options.templates, &request)
                            .await
                    }
                    (None, Some(target), None) => {
                        decoder
                            .attribute(&batch, &target, tasks::Space::Text, &request)
                            .await
                    }
                    (None, None, Some(target)) => {
                        decoder
                            .attribute(&batch, &target, tasks::Space::Image, &request)
                            .await
                    }
                    _ => {
                        return Err(to_js_error(Error::InvalidConfig {
                            what: "attribute options".into(),
                            reason: "give exactly one of label, labelEmbedding and imageEmbedding"
                                .into(),
                        }));
                    }
                }
                .map_err(to_js_error)?;
                js_object(&[
                    ("trial", map.trial.into()),
                    ("method", to_js(&map.method)?),
                    ("steps", map.steps.into()),
                    ("space", to_js(&map.space)?),
                    (
                        "values",
                        js_sys::Float32Array::from(map.values.as_slice()).into(),
                    ),
                    ("similarity", map.similarity.into()),
                    ("baselineSimilarity", map.baseline_similarity.into()),
                    ("completenessGap", map.completeness_gap.into()),
                ])
            }
        })
    }

    /// Predicted CLIP embeddings of every trial:
    /// `{ trials, imageDim, textDim, image: Float32Array, text: Float32Array }` (row-major,
    /// L2-normalised). The fMRI handle is not modified.
    #[wasm_bindgen(unchecked_return_type = "Promise<Embeddings>")]
    pub fn embed(
        &self,
        fmri: &FmriHandle,
        #[wasm_bindgen(unchecked_optional_param_type = "CallOptions")] options: Option<JsValue>,
    ) -> js_sys::Promise {
        let options = options.unwrap_or(JsValue::UNDEFINED);
        let decoder = self.decoder.clone();
        let batch = fmri.batch.clone();
        abortable_call("embed", "embedding", options, |rest| {
            // Nothing but `signal` is taken.
            let checked: Result<JsCallOptions, JsValue> = from_js(rest, "embed");
            async move {
                checked?;
                let out = decoder.embed(&batch).await.map_err(to_js_error)?;
                js_object(&[
                    ("trials", out.image.rows().into()),
                    ("imageDim", out.image.cols().into()),
                    ("textDim", out.text.cols().into()),
                    (
                        "image",
                        js_sys::Float32Array::from(out.image.values()).into(),
                    ),
                    ("text", js_sys::Float32Array::from(out.text.values()).into()),
                ])
            }
        })
    }

    /// CLIP text embeddings of `labels` as decoding uses them (`options`: `{ templates }`,
    /// default "an image of a {}."): a Float32Array `[labels, textDim]`, row-major, for
    /// callers that decode or evaluate against the same labels repeatedly
    /// (`labelEmbeddings`).
    #[wasm_bindgen(js_name = embedLabels, unchecked_return_type = "Promise<Float32Array>")]
    pub fn embed_labels(
        &self,
        labels: Vec<String>,
        #[wasm_bindgen(unchecked_optional_param_type = "EmbedLabelsOptions")] options: Option<
            JsValue,
        >,
    ) -> js_sys::Promise {
        let options = options.unwrap_or(JsValue::UNDEFINED);
        let decoder = self.decoder.clone();
        abortable_call("embedLabels", "label embedding", options, |options| {
            let options: Result<JsEmbedLabelsOptions, JsValue> = from_js(options, "embedLabels");
            async move {
                let options = options?;
                let embeddings = decoder
                    .embed_labels(&labels, &options.templates)
                    .await
                    .map_err(to_js_error)?;
                Ok(js_sys::Float32Array::from(embeddings.values()).into())
            }
        })
    }

    /// Zero-shot category decoding: for every trial, the best `topK` of `labels`
    /// (`[{ index, label, similarity, probability }]`, best first).
    #[wasm_bindgen(
        js_name = decodeCategories,
        unchecked_return_type = "Promise<RankedLabel[][]>"
    )]
    pub fn decode_categories(
        &self,
        fmri: &FmriHandle,
        labels: Vec<String>,
        #[wasm_bindgen(unchecked_optional_param_type = "DecodeOptions")] options: Option<JsValue>,
    ) -> js_sys::Promise {
        let options = options.unwrap_or(JsValue::UNDEFINED);
        let decoder = self.decoder.clone();
        let batch = fmri.batch.clone();
        abortable_call(
            "decodeCategories",
            "category decoding",
            options,
            |options| {
                let options =
                    take_f32_arrays(options, &["labelEmbeddings"]).and_then(|(rest, arrays)| {
                        let mut options: JsDecodeOptions = from_js(rest, "decodeCategories")?;
                        let [label_embeddings] = <[_; 1]>::try_from(arrays).expect("one key");
                        options.label_embeddings = label_embeddings.or(options.label_embeddings);
                        Ok(options)
                    });
                async move {
                    let options = options?;
                    let top_k = if options.top_k == 0 {
                        DEFAULT_TOP_K
                    } else {
                        options.top_k
                    };
                    let ranked = match options.label_embeddings {
                        Some(values) => {
                            let embeddings =
                                rows_of(values, decoder.mapper.config.text_dim, "labelEmbeddings")
                                    .map_err(to_js_error)?;
                            decoder
                                .decode_with_embeddings(&batch, &labels, &embeddings, top_k)
                                .await
                        }
                        None => {
                            decoder
                                .decode_categories(&batch, &labels, &options.templates, top_k)
                                .await
                        }
                    }
                    .map_err(to_js_error)?;
                    to_js(&ranked)
                }
            },
        )
    }

    /// Scores the decoder on `fmri` against the truth in `options` (`{ labels, candidates,
    /// templates, labelEmbeddings, imageEmbeddings, textEmbeddings, way, draws, seed }`):
    /// `{ trials, metrics: [{ id, name, value, chance, trials, controls }], notes, perTrial }`,
    /// the same object `brainclip eval --json` prints.
    #[wasm_bindgen(unchecked_return_type = "Promise<Evaluation>")]
    pub fn evaluate(
        &self,
        fmri: &FmriHandle,
        #[wasm_bindgen(unchecked_optional_param_type = "EvaluateOptions")] options: Option<JsValue>,
    ) -> js_sys::Promise {
        let options = options.unwrap_or(JsValue::UNDEFINED);
        let decoder = self.decoder.clone();
        let batch = fmri.batch.clone();
        let keys = ["labelEmbeddings", "imageEmbeddings", "textEmbeddings"];
        abortable_call("evaluate", "evaluation", options, |options| {
            let options = take_f32_arrays(options, &keys).and_then(|(rest, arrays)| {
                let mut options: JsEvalOptions = from_js(rest, "evaluate")?;
                let [labels, images, texts] = <[_; 3]>::try_from(arrays).expect("three keys");
                options.label_embeddings = labels.or(options.label_embeddings);
                options.image_embeddings = images.or(options.image_embeddings);
                options.text_embeddings = texts.or(options.text_embeddings);
                Ok(options)
            });
            async move {
                let options = options?;
                let config = &decoder.mapper.config;
                let matrix = |values: Option<Vec<f32>>, dim: usize, what: &str| {
                    values.map(|v| rows_of(v, dim, what)).transpose()
                };
                let defaults = tasks::EvalRequest::default();
                let request = tasks::EvalRequest {
                    labels: options.labels,
                    candidates: options.candidates,
                    templates: options.templates,
                    label_embeddings: matrix(
                        options.label_embeddings,
                        config.text_dim,
                        "labelEmbeddings",
                    )
                    .map_err(to_js_error)?,
                    image_embeddings: matrix(
                        options.image_embeddings,
                        config.image_dim,
                        "imageEmbeddings",
                    )
                    .map_err(to_js_error)?,
                    text_embeddings: matrix(
                        options.text_embeddings,
                        config.text_dim,
                        "textEmbeddings",
                    )
                    .map_err(to_js_error)?,
                    way: options.way.unwrap_or(defaults.way),
                    draws: options.draws.unwrap_or(defaults.draws),
                    seed: options.seed.unwrap_or(defaults.seed),
                };
                let evaluation = decoder
                    .evaluate(&batch, &request)
                    .await
                    .map_err(to_js_error)?;
                to_js(&evaluation)
            }
        })
    }

    /// Scores reconstructions against the images that were seen, as `brainclip eval
    /// --reconstruct` does: `[{ id, name, value, chance, trials }]` for PixCorr and SSIM
    /// (chance: the same score against another trial's image), CLIP 2-way identification
    /// (with a CLIP in the bundle) and autoencoder-latent 2-way (chance 50 %). `images` are
    /// RGBA `size × size` (what `reconstruct` returns); `seen` the seen images' PNG or JPEG
    /// files at that size, one per image, with their names.
    #[wasm_bindgen(js_name = scoreReconstructions, unchecked_return_type = "Promise<Metric[]>")]
    pub fn score_reconstructions(
        &self,
        images: Vec<js_sys::Uint8ClampedArray>,
        size: usize,
        seen: Vec<js_sys::Uint8Array>,
        names: Vec<String>,
    ) -> js_sys::Promise {
        let decoder = self.decoder.clone();
        let images: Vec<Vec<u8>> = images.iter().map(|i| i.to_vec()).collect();
        let seen = named_files(&seen, &names, "seen image");
        wasm_bindgen_futures::future_to_promise(async move {
            let stimuli = seen
                .iter()
                .map(|(bytes, name)| tasks::seen_image(bytes, name, size))
                .collect::<Result<Vec<_>, Error>>()
                .map_err(to_js_error)?;
            let metrics = decoder
                .reconstruction_metrics(&images, size, &stimuli, None)
                .await
                .map_err(to_js_error)?;
            to_js(&metrics)
        })
    }

    /// CLIP image embeddings (L2-normalised, row-major `Float32Array [images, imageDim]`) of
    /// encoded images (`Uint8Array`s of PNG or JPEG files, with their names), for `retrieve`.
    #[wasm_bindgen(js_name = embedImages, unchecked_return_type = "Promise<Float32Array>")]
    pub fn embed_images(
        &self,
        images: Vec<js_sys::Uint8Array>,
        names: Vec<String>,
        #[wasm_bindgen(unchecked_optional_param_type = "CallOptions")] options: Option<JsValue>,
    ) -> js_sys::Promise {
        let options = options.unwrap_or(JsValue::UNDEFINED);
        let decoder = self.decoder.clone();
        let encoded = named_files(&images, &names, "image");
        abortable_call("embedImages", "image embedding", options, |rest| {
            // Nothing but `signal` is taken.
            let checked: Result<JsCallOptions, JsValue> = from_js(rest, "embedImages");
            async move {
                checked?;
                let embeddings = decoder.embed_images(&encoded).await.map_err(to_js_error)?;
                Ok(js_sys::Float32Array::from(embeddings.values()).into())
            }
        })
    }

    /// Retrieval: for every trial, the best `topK` candidates (row-major CLIP embeddings in
    /// `space` "image" (default) or "text"): `[{ index, similarity, probability }]`.
    #[wasm_bindgen(unchecked_return_type = "Promise<RankedCandidate[][]>")]
    pub fn retrieve(
        &self,
        fmri: &FmriHandle,
        candidates: Vec<f32>,
        #[wasm_bindgen(unchecked_optional_param_type = "RetrieveOptions")] options: Option<JsValue>,
    ) -> js_sys::Promise {
        let options = options.unwrap_or(JsValue::UNDEFINED);
        let decoder = self.decoder.clone();
        let batch = fmri.batch.clone();
        abortable_call("retrieve", "retrieval", options, |options| {
            let options: Result<JsRetrieveOptions, JsValue> = from_js(options, "retrieve");
            async move {
                let options = options?;
                let dim = match options.space {
                    tasks::Space::Image => decoder.mapper.config.image_dim,
                    tasks::Space::Text => decoder.mapper.config.text_dim,
                };
                let candidates = rows_of(candidates, dim, "candidates").map_err(to_js_error)?;
                let top_k = if options.top_k == 0 {
                    DEFAULT_TOP_K
                } else {
                    options.top_k
                };
                let ranked = decoder
                    .retrieve(&batch, &candidates, options.space, top_k)
                    .await
                    .map_err(to_js_error)?;
                to_js(&ranked)
            }
        })
    }
}

/// Loads a bundle's models on a backend (`"auto"` by default, `"webgpu"` or `"cpu"`).
#[wasm_bindgen(js_name = loadDecoder)]
pub async fn load_decoder(
    bundle: &BundleHandle,
    preference: Option<String>,
) -> Result<DecoderHandle, JsValue> {
    let device = device_for(preference).await?;
    let decoder = Decoder::from_bundle(&bundle.bundle, device).map_err(to_js_error)?;
    Ok(DecoderHandle {
        decoder: Rc::new(decoder),
    })
}
