//! Native checks of backend selection and of the first shared computation.
#![cfg(not(target_family = "wasm"))]

use brainclip::device::{BackendKind, BackendPreference, select_device};
use brainclip::tasks::{candidate_probabilities, candidate_probabilities_reference, max_abs_diff};

#[test]
fn native_auto_uses_cpu_and_says_why() {
    let device = pollster::block_on(select_device(BackendPreference::Auto)).unwrap();
    assert_eq!(device.backend, BackendKind::Cpu);
    assert!(device.fallback_reason.unwrap().contains("webgpu"));
}

#[test]
fn cpu_matches_the_f64_reference() {
    let dim = 16;
    let q: Vec<f32> = (0..3 * dim)
        .map(|i| ((i * 7 % 11) as f32 - 5.0) / 5.0)
        .collect();
    let c: Vec<f32> = (0..5 * dim)
        .map(|i| ((i * 3 % 13) as f32 - 6.0) / 6.0)
        .collect();
    let device = pollster::block_on(select_device(BackendPreference::Cpu)).unwrap();
    let got = pollster::block_on(candidate_probabilities(&device, &q, &c, dim, 3.0)).unwrap();
    let want = candidate_probabilities_reference(&q, &c, dim, 3.0);
    let diff = max_abs_diff(&got, &want);
    println!("cpu vs f64 reference: max abs diff {diff:.3e}");
    assert!(diff <= 1e-5, "max abs diff {diff}");
}

#[test]
fn mismatched_dimensions_are_rejected_with_both_numbers() {
    let device = pollster::block_on(select_device(BackendPreference::Cpu)).unwrap();
    let err = pollster::block_on(candidate_probabilities(
        &device, &[0.0; 10], &[0.0; 8], 4, 1.0,
    ))
    .unwrap_err();
    assert_eq!(err.code(), "shape_mismatch");
    let message = err.to_string();
    assert!(message.contains("10") && message.contains('4'), "{message}");
}
