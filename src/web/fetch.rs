//! Fetching a bundle's files: streamed with progress, checked against the manifest's sizes
//! and SHA-256s, kept in and taken from the browser's cache.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::convert::*;
use crate::data::bundle::{Bundle, BundleParts, MANIFEST_FILE, Manifest};
use crate::error::Error;

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
pub(super) async fn fetch_bytes(
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

/// Options of `loadBundle`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub(super) struct JsLoadBundleOptions {
    /// Which subject of a bundle holding several (default: its default subject).
    pub(super) subject: Option<String>,
    /// `"all"` (default), `"decoding"` (everything but the image decoder) or
    /// `"image-decoder"` (only it, for `DecoderHandle.addImageDecoder`).
    pub(super) parts: BundleParts,
    /// Keep the files in the browser's Cache API and take them from there next time
    /// (default true; only files whose SHA-256 the manifest records).
    pub(super) cache: Option<bool>,
}

/// A bundle's URL prefix (ending in `/`), its manifest, and the files (with the fields that
/// name them) `options` ask for.
pub(super) async fn fetch_manifest(
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
pub(super) struct CacheReport {
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

pub(super) async fn load_bundle_files(
    url_prefix: String,
    on_progress: Option<js_sys::Function>,
    options: JsLoadBundleOptions,
    signal: Option<web_sys::AbortSignal>,
) -> Result<(Bundle, CacheReport), JsValue> {
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
    Ok((bundle, cache_report.into_inner()))
}
