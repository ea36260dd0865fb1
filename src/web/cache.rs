//! Bundle files kept in the browser's Cache API (`brainclip-cache`), so a second visit
//! downloads no weights. Files are keyed by their URL and the SHA-256 the manifest records:
//! new weights under the same name are a new key, never served stale. Where the Cache API is
//! missing (an insecure origin, some private windows and sandboxed frames) or refuses,
//! loading goes to the network as if there were no cache.

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// The cache's name, shared with `clearCache`.
pub const CACHE_NAME: &str = "brainclip-cache";

fn get(target: &JsValue, key: &str) -> Result<JsValue, JsValue> {
    js_sys::Reflect::get(target, &key.into())
}

/// Calls `target[method](...args)` and awaits the promise it returns.
async fn call(target: &JsValue, method: &str, args: &[&JsValue]) -> Result<JsValue, JsValue> {
    let function: js_sys::Function = get(target, method)?.dyn_into()?;
    let array: js_sys::Array = args.iter().copied().collect();
    let promise = function.apply(target, &array)?;
    JsFuture::from(js_sys::Promise::from(promise)).await
}

/// The global `caches`, where this context has one.
fn storage() -> Option<JsValue> {
    let caches = get(&js_sys::global(), "caches").ok()?;
    (!caches.is_undefined() && !caches.is_null()).then_some(caches)
}

/// An open `brainclip-cache`.
pub struct FileCache {
    cache: JsValue,
}

impl FileCache {
    /// Opens the cache, or `None` where the Cache API is unavailable or refuses.
    pub async fn open() -> Option<FileCache> {
        let caches = storage()?;
        let cache = call(&caches, "open", &[&CACHE_NAME.into()]).await.ok()?;
        Some(FileCache { cache })
    }

    /// The cache key of a file: its URL with the SHA-256 the manifest records.
    pub fn key(url: &str, sha256: &str) -> String {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}brainclip-sha256={sha256}")
    }

    /// The cached response under `key`, if any (a failing lookup counts as a miss).
    async fn lookup(&self, key: &str) -> Option<JsValue> {
        let response = call(&self.cache, "match", &[&key.into()]).await.ok()?;
        (!response.is_undefined() && !response.is_null()).then_some(response)
    }

    /// The cached bytes under `key`, if any.
    pub async fn get(&self, key: &str) -> Option<Vec<u8>> {
        let response = self.lookup(key).await?;
        let buffer = call(&response, "arrayBuffer", &[]).await.ok()?;
        Some(js_sys::Uint8Array::new(&buffer).to_vec())
    }

    /// Stores `bytes` under `key`; the error's name (e.g. `QuotaExceededError`) on failure.
    pub async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), String> {
        let body = js_sys::Uint8Array::from(bytes);
        let response = web_sys::Response::new_with_opt_buffer_source(Some(&body))
            .map_err(|err| error_name(&err))?;
        call(&self.cache, "put", &[&key.into(), &response.into()])
            .await
            .map(|_| ())
            .map_err(|err| error_name(&err))
    }
}

impl FileCache {
    /// Deletes what is cached for `url` under another SHA-256 than `sha256`: the weights an
    /// update of the bundle replaced, which nothing would ask for again. Returns how many.
    pub async fn prune_other_versions(&self, url: &str, sha256: &str) -> usize {
        // Stored keys are absolute URLs; `url` may be relative, so it is matched within them.
        let prefix = Self::key(url, "");
        let Ok(requests) = call(&self.cache, "keys", &[]).await else {
            return 0;
        };
        let Ok(requests) = requests.dyn_into::<js_sys::Array>() else {
            return 0;
        };
        let mut removed = 0;
        for request in requests.iter() {
            let Some(stored) = get(&request, "url").ok().and_then(|u| u.as_string()) else {
                continue;
            };
            let Some(at) = stored.find(&prefix) else {
                continue;
            };
            if &stored[at + prefix.len()..] != sha256
                && call(&self.cache, "delete", &[&request])
                    .await
                    .ok()
                    .and_then(|d| d.as_bool())
                    == Some(true)
            {
                removed += 1;
            }
        }
        removed
    }
}

/// Whether every key is in the cache (false where there is no Cache API).
pub async fn holds_all(keys: &[String]) -> bool {
    let Some(cache) = FileCache::open().await else {
        return false;
    };
    for key in keys {
        if cache.lookup(key).await.is_none() {
            return false;
        }
    }
    true
}

/// Deletes the whole cache; whether there was one.
pub async fn delete() -> Result<bool, JsValue> {
    let Some(caches) = storage() else {
        return Ok(false);
    };
    Ok(call(&caches, "delete", &[&CACHE_NAME.into()])
        .await?
        .as_bool()
        .unwrap_or(false))
}

fn error_name(err: &JsValue) -> String {
    get(err, "name")
        .ok()
        .and_then(|name| name.as_string())
        .unwrap_or_else(|| format!("{err:?}"))
}
