//! The backend a page's calls run on: `initDevice`, and the scoring check on it.

use serde::Serialize;
use wasm_bindgen::prelude::*;

use super::convert::*;
use crate::device::{BackendPreference, ComputeDevice, select_device};
use crate::tasks::{self};

/// What `initDevice` reports to JavaScript.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DeviceInfo {
    pub(super) backend: &'static str,
    pub(super) adapter: String,
    pub(super) fallback_reason: Option<String>,
}

pub(super) fn device_info(device: &ComputeDevice) -> DeviceInfo {
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
