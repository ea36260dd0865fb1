use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::device::{BackendPreference, ComputeDevice, select_device};
use crate::error::Error;
use crate::tasks;

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

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|err| js_sys::Error::new(&err.to_string()).into())
}

async fn device_for(preference: Option<String>) -> Result<ComputeDevice, JsValue> {
    let preference: BackendPreference = preference
        .as_deref()
        .unwrap_or("auto")
        .parse()
        .map_err(to_js_error)?;
    select_device(preference).await.map_err(to_js_error)
}

/// Chooses a backend (`"auto"` by default, `"webgpu"` or `"cpu"`) and returns
/// `{ backend, adapter, fallbackReason }`.
#[wasm_bindgen(js_name = initDevice)]
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
