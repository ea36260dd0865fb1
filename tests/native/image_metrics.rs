//! PixCorr and SSIM against numpy and scikit-image on the pairs written by
//! `tools/reference/metric_fixtures.py`.
#![cfg(not(target_family = "wasm"))]

use brainclip::metrics::image::{grayscale, pixcorr, ssim};
use safetensors::SafeTensors;

#[test]
fn pixcorr_and_ssim_match_numpy_and_scikit_image() {
    let bytes = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/metrics/reference.safetensors"),
    )
    .unwrap();
    let tensors = SafeTensors::deserialize(&bytes).unwrap();
    let f32s = |key: &str| -> (Vec<f32>, Vec<usize>) {
        let view = tensors.tensor(key).unwrap();
        let values = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        (values, view.shape().to_vec())
    };
    let f64_of = |key: &str| {
        let data = tensors.tensor(key).unwrap().data().to_vec();
        f64::from_le_bytes(data[..8].try_into().unwrap())
    };
    for i in 0..3 {
        let (a, shape) = f32s(&format!("a{i}"));
        let (b, _) = f32s(&format!("b{i}"));
        let (height, width) = (shape[0], shape[1]);
        let r = pixcorr(&a, &b).unwrap();
        let s = ssim(&grayscale(&a), &grayscale(&b), height, width).unwrap();
        let (want_r, want_s) = (f64_of(&format!("pixcorr{i}")), f64_of(&format!("ssim{i}")));
        println!(
            "pair {i} ({height} × {width}): pixcorr {r:.6} vs {want_r:.6}, ssim {s:.6} vs {want_s:.6}"
        );
        assert!(
            (r - want_r).abs() < 1e-6,
            "pair {i}: pixcorr {r} vs {want_r}"
        );
        assert!((s - want_s).abs() < 1e-6, "pair {i}: ssim {s} vs {want_s}");
    }
    // An image against itself; against a constant.
    let (a, shape) = f32s("a0");
    let gray = grayscale(&a);
    assert!((ssim(&gray, &gray, shape[0], shape[1]).unwrap() - 1.0).abs() < 1e-12);
    assert!((pixcorr(&a, &a).unwrap() - 1.0).abs() < 1e-12);
    assert_eq!(pixcorr(&a, &vec![0.5; a.len()]).unwrap(), 0.0);
    let err = ssim(&gray, &gray[1..], shape[0], shape[1]).unwrap_err();
    assert!(err.to_string().contains("second image"), "{err}");
}
