//! Bundles in the page: `loadBundle` (from a URL prefix), `loadBundleBytes` (a `.zip`),
//! the cache's state, and the handle that holds a validated bundle.

use std::collections::BTreeMap;

use wasm_bindgen::prelude::*;

use super::abort::{abortable, take_signal};
use super::convert::*;
use super::fetch::*;
use super::fmri::*;
use crate::data::bundle::{Bundle, Manifest, NormalizationSpec};

/// A loaded, validated model bundle.
#[wasm_bindgen]
pub struct BundleHandle {
    pub(super) bundle: Bundle,
    pub(super) cache: CacheReport,
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
    .map(|(bundle, cache)| BundleHandle { bundle, cache })
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
