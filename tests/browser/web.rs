//! Browser tests, run by wasm-bindgen-test in headless Chromium (see `webdriver.json`).
//!
//! `webdriver.json` starts Chromium with `--enable-unsafe-webgpu`, so WebGPU must be present:
//! the WebGPU test fails, rather than silently running on CPU, if it is not.
#![cfg(target_family = "wasm")]

use brainclip::device::{BackendKind, BackendPreference, select_device};
use brainclip::tasks::{candidate_probabilities, candidate_probabilities_reference, max_abs_diff};
use wasm_bindgen_test::*;

/// Deterministic pseudo-random inputs: 8 queries and 37 candidates of dimension 64.
fn inputs() -> (Vec<f32>, Vec<f32>, usize) {
    let dim = 64;
    let mut state = 0x2545_f491_u32;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state as f32 / u32::MAX as f32) * 2.0 - 1.0
    };
    let q = (0..8 * dim).map(|_| next()).collect();
    let c = (0..37 * dim).map(|_| next()).collect();
    (q, c, dim)
}

#[wasm_bindgen_test]
async fn webgpu_and_cpu_agree_on_candidate_probabilities() {
    let (q, c, dim) = inputs();
    let gpu = select_device(BackendPreference::WebGpu)
        .await
        .expect("WebGPU must be available: webdriver.json passes --enable-unsafe-webgpu");
    assert_eq!(gpu.backend, BackendKind::WebGpu);
    let auto = select_device(BackendPreference::Auto).await.unwrap();
    assert_eq!(
        auto.backend,
        BackendKind::WebGpu,
        "auto must pick WebGPU when it exists"
    );
    assert!(auto.fallback_reason.is_none());

    let cpu = select_device(BackendPreference::Cpu).await.unwrap();
    assert_eq!(cpu.backend, BackendKind::Cpu);

    let on_gpu = candidate_probabilities(&gpu, &q, &c, dim, 4.0)
        .await
        .unwrap();
    let on_cpu = candidate_probabilities(&cpu, &q, &c, dim, 4.0)
        .await
        .unwrap();
    let reference = candidate_probabilities_reference(&q, &c, dim, 4.0);
    let gpu_vs_cpu = max_abs_diff(&on_gpu, &on_cpu);
    let cpu_vs_reference = max_abs_diff(&on_cpu, &reference);
    let gpu_vs_reference = max_abs_diff(&on_gpu, &reference);
    web_sys::console::log_1(
        &format!(
            "backends webgpu ({}) and cpu: max abs diff webgpu-vs-cpu {gpu_vs_cpu:.3e}, \
             cpu-vs-f64 {cpu_vs_reference:.3e}, webgpu-vs-f64 {gpu_vs_reference:.3e}",
            gpu.adapter
        )
        .into(),
    );
    assert!(gpu_vs_cpu <= 1e-5, "webgpu vs cpu differ by {gpu_vs_cpu}");
    assert!(cpu_vs_reference <= 1e-5);
    assert!(gpu_vs_reference <= 1e-5);
}

#[wasm_bindgen_test]
async fn cpu_backend_runs_in_the_browser() {
    let (q, c, dim) = inputs();
    let cpu = select_device(BackendPreference::Cpu).await.unwrap();
    assert_eq!(cpu.backend, BackendKind::Cpu);
    let probabilities = candidate_probabilities(&cpu, &q, &c, dim, 4.0)
        .await
        .unwrap();
    assert_eq!(probabilities.len(), 8 * 37);
    for row in probabilities.chunks(37) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
}

#[wasm_bindgen_test]
async fn bad_input_is_a_typed_error_in_the_browser() {
    let cpu = select_device(BackendPreference::Cpu).await.unwrap();
    let err = candidate_probabilities(&cpu, &[1.0, 2.0, 3.0], &[1.0, 2.0], 2, 1.0)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "shape_mismatch");
}
