//! Backend selection: `auto | webgpu | cpu`.
//!
//! `auto` prefers WebGPU in the browser and falls back to the pure-Rust CPU backend (burn's
//! flex), recording why. Natively, `auto` means CPU: the wgpu path there runs on whatever
//! Vulkan/GL driver exists (often a software rasteriser) and is only used when asked for.

use std::fmt;
use std::str::FromStr;
#[cfg(feature = "webgpu")]
use std::sync::OnceLock;

use burn::tensor::{Device, Tensor};

use crate::error::{Error, Result};

/// What the caller asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendPreference {
    /// WebGPU when available (browser), otherwise CPU.
    #[default]
    Auto,
    /// WebGPU (browser) or wgpu (native); an error if it cannot start.
    WebGpu,
    /// The CPU backend.
    Cpu,
}

impl FromStr for BackendPreference {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => Ok(Self::Auto),
            "webgpu" | "wgpu" | "gpu" => Ok(Self::WebGpu),
            "cpu" => Ok(Self::Cpu),
            _ => Err(Error::UnknownBackend {
                given: s.to_string(),
            }),
        }
    }
}

/// The backend that actually runs the computation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    WebGpu,
    Cpu,
}

impl BackendKind {
    /// Lower-case name as shown to users and returned to JavaScript.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::WebGpu => "webgpu",
            BackendKind::Cpu => "cpu",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A ready-to-use device plus what the user should know about how it was chosen.
#[derive(Debug, Clone)]
pub struct ComputeDevice {
    pub device: Device,
    pub backend: BackendKind,
    /// Human-readable adapter description ("SwiftShader (fallback adapter)", "CPU (flex)").
    pub adapter: String,
    /// Why `auto` did not get WebGPU; `None` when nothing was given up.
    pub fallback_reason: Option<String>,
}

impl ComputeDevice {
    /// The CPU backend; always available.
    pub fn cpu(fallback_reason: Option<String>) -> Self {
        ComputeDevice {
            device: Device::flex(),
            backend: BackendKind::Cpu,
            adapter: "CPU (burn flex)".to_string(),
            fallback_reason,
        }
    }
}

impl ComputeDevice {
    /// Reads a float tensor back to the host. Asynchronous because WebGPU in the browser
    /// cannot block on the GPU.
    pub async fn read_f32<const D: usize>(&self, tensor: Tensor<D>) -> Result<Vec<f32>> {
        let readback_error = |reason: String| Error::Readback {
            backend: self.backend.to_string(),
            reason,
        };
        let data = tensor
            .into_data_async()
            .await
            .map_err(|err| readback_error(format!("{err:?}")))?;
        data.try_into_vec_as::<f32>()
            .map_err(|err| readback_error(format!("{err:?}")))
    }
}

impl ComputeDevice {
    /// A point between units of long work (a batch of trials or images, a sampler step) where
    /// the host may run other work. In a browser the CPU backend never yields on its own, so
    /// here, once work has run for [`host::SLICE_MS`], the event loop gets a turn: the page
    /// stays responsive and a cancel request (an `AbortSignal`) can arrive. Natively nothing.
    pub async fn yield_point(&self) {
        host::yield_now().await;
    }
}

#[cfg(target_family = "wasm")]
mod host {
    use std::cell::Cell;
    use wasm_bindgen::{JsCast, JsValue};

    /// Work runs at most this long (ms) between event-loop turns.
    pub const SLICE_MS: f64 = 30.0;

    thread_local! {
        static LAST_TURN: Cell<f64> = const { Cell::new(0.0) };
    }

    /// A macrotask turn (`setTimeout(0)`): a resolved promise would run before any event.
    pub async fn yield_now() {
        if js_sys::Date::now() - LAST_TURN.get() < SLICE_MS {
            return;
        }
        let turn = js_sys::Promise::new(&mut |resolve, _| {
            let global = js_sys::global();
            let set_timeout = js_sys::Reflect::get(&global, &"setTimeout".into())
                .ok()
                .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
            // Without a timer (no known host lacks one) the work simply goes on.
            let scheduled =
                set_timeout.is_some_and(|f| f.call2(&global, &resolve, &0.into()).is_ok());
            if !scheduled {
                let _ = resolve.call0(&JsValue::UNDEFINED);
            }
        });
        let _ = wasm_bindgen_futures::JsFuture::from(turn).await;
        LAST_TURN.set(js_sys::Date::now());
    }
}

#[cfg(not(target_family = "wasm"))]
mod host {
    /// Native callers cancel by other means (a CLI is interrupted by the OS).
    #[allow(dead_code)]
    pub const SLICE_MS: f64 = 0.0;

    pub async fn yield_now() {}
}

/// The wgpu runtime can be initialised only once per process (or page), so the outcome of
/// the first attempt, success or failure, is kept and reused.
#[cfg(feature = "webgpu")]
static WGPU: OnceLock<std::result::Result<(Device, String), String>> = OnceLock::new();

#[cfg(not(feature = "webgpu"))]
async fn webgpu() -> std::result::Result<(Device, String), String> {
    Err(if cfg!(target_family = "wasm") {
        "this is the CPU build of brainclip, without WebGPU (the `brainclip` build has it)".into()
    } else {
        "this native build has no wgpu backend (rebuild with --features native-wgpu)".into()
    })
}

#[cfg(feature = "webgpu")]
async fn webgpu() -> std::result::Result<(Device, String), String> {
    if let Some(outcome) = WGPU.get() {
        return outcome.clone();
    }
    let outcome = match Device::wgpu_options().init_with_setup_async().await {
        Ok((device, setup)) => Ok((device, describe_adapter(&setup.adapter.get_info()))),
        Err(err) => Err(explain_wgpu_error(&err.to_string())),
    };
    // A concurrent caller may have finished first; its outcome is the one the runtime holds.
    let _ = WGPU.set(outcome);
    WGPU.get()
        .cloned()
        .unwrap_or_else(|| Err("WebGPU state was lost".into()))
}

#[cfg(feature = "webgpu")]
fn describe_adapter(info: &burn::tensor::wgpu::wgpu::AdapterInfo) -> String {
    use burn::tensor::wgpu::wgpu::DeviceType;
    // Browsers usually hide the adapter's name for privacy; say what we do know.
    let name = if info.name.trim().is_empty() {
        match info.backend {
            burn::tensor::wgpu::wgpu::Backend::BrowserWebGpu => "WebGPU adapter".to_string(),
            other => format!("{other:?} adapter"),
        }
    } else {
        info.name.clone()
    };
    match info.device_type {
        DeviceType::Cpu => format!("{name} (software fallback)"),
        _ => name,
    }
}

/// Turns wgpu's error text into the sentence a user needs.
#[cfg_attr(not(feature = "webgpu"), allow(dead_code))]
fn explain_wgpu_error(raw: &str) -> String {
    if raw.contains("No adapter") {
        "WebGPU adapter unavailable: the browser offered no WebGPU adapter".to_string()
    } else {
        format!("WebGPU could not start ({raw})")
    }
}

/// Chooses and initialises a device according to `preference`.
///
/// `Cpu` never fails. `WebGpu` fails with [`Error::BackendUnavailable`] when no adapter can
/// be had. `Auto` never fails: it falls back to CPU and records the reason.
pub async fn select_device(preference: BackendPreference) -> Result<ComputeDevice> {
    match preference {
        BackendPreference::Cpu => Ok(ComputeDevice::cpu(None)),
        BackendPreference::WebGpu => match webgpu().await {
            Ok((device, adapter)) => Ok(ComputeDevice {
                device,
                backend: BackendKind::WebGpu,
                adapter,
                fallback_reason: None,
            }),
            Err(reason) => Err(Error::BackendUnavailable {
                requested: "webgpu".into(),
                reason,
            }),
        },
        BackendPreference::Auto => {
            if cfg!(target_family = "wasm") {
                match webgpu().await {
                    Ok((device, adapter)) => Ok(ComputeDevice {
                        device,
                        backend: BackendKind::WebGpu,
                        adapter,
                        fallback_reason: None,
                    }),
                    Err(reason) => Ok(ComputeDevice::cpu(Some(reason))),
                }
            } else {
                Ok(ComputeDevice::cpu(Some(
                    "native builds use the CPU unless wgpu is requested (--device webgpu)".into(),
                )))
            }
        }
    }
}

/// burn draws initial weights from one process-wide generator, lazily, when a parameter is
/// first used. Random models are therefore built and materialised while holding this lock,
/// so a seeded build gets the same numbers even while other threads build models.
static INIT_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Reads every parameter, so lazily initialised weights are drawn now, inside the lock.
struct Materialize;

impl burn::module::ModuleVisitor for Materialize {
    fn visit_float<const D: usize>(
        &mut self,
        param: &burn::module::Param<burn::tensor::Tensor<D>>,
    ) {
        let _ = param.val();
    }
}

/// A model built by `build` with its random weights drawn now; reproducible from `seed`
/// when one is given.
pub fn init_seeded<M: burn::module::Module>(
    device: &burn::tensor::Device,
    seed: Option<u64>,
    build: impl FnOnce() -> M,
) -> M {
    let _guard = INIT_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(seed) = seed {
        device.seed(seed);
    }
    let model = build();
    model.visit(&mut Materialize);
    model
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preference_parses_known_names_and_rejects_others() {
        assert_eq!(
            "auto".parse::<BackendPreference>().unwrap(),
            BackendPreference::Auto
        );
        assert_eq!(
            " WebGPU ".parse::<BackendPreference>().unwrap(),
            BackendPreference::WebGpu
        );
        assert_eq!(
            "cpu".parse::<BackendPreference>().unwrap(),
            BackendPreference::Cpu
        );
        let err = "tpu".parse::<BackendPreference>().unwrap_err();
        assert_eq!(err.code(), "unknown_backend");
    }

    #[test]
    fn wgpu_errors_are_explained() {
        assert!(
            explain_wgpu_error("No adapter available for X")
                .starts_with("WebGPU adapter unavailable")
        );
        assert!(explain_wgpu_error("boom").starts_with("WebGPU could not start"));
    }
}
