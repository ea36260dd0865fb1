//! The shipped demo as a visitor downloads it: within the 25 MB budget, and loading every
//! model the page uses — the mapper and its CLIP, and the image decoder with its low-level
//! head — at the sizes the page expects.
#![cfg(not(target_family = "wasm"))]

use std::path::Path;

use brainclip::ComputeDevice;
use brainclip::data::bundle::Bundle;
use brainclip::tasks::Decoder;

const BUDGET_BYTES: u64 = 25 * 1024 * 1024;

fn bytes_under(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                bytes_under(&entry.path())
            } else {
                meta.len()
            }
        })
        .sum()
}

#[test]
fn the_demo_fits_its_budget_and_carries_an_image_decoder() {
    let www = Path::new(env!("CARGO_MANIFEST_DIR")).join("www");
    let shipped = bytes_under(&www.join("models")) + bytes_under(&www.join("samples"));
    assert!(
        shipped <= BUDGET_BYTES,
        "models and samples weigh {shipped} bytes; the budget is {BUDGET_BYTES}"
    );
    let bundle = Bundle::load_dir(&www.join("models/demo")).unwrap();
    let decoder = Decoder::from_bundle(&bundle, ComputeDevice::cpu(None)).unwrap();
    assert!(decoder.clip.is_some(), "the page embeds labels and images");
    let reconstructor = decoder
        .reconstructor
        .as_ref()
        .expect("the page reconstructs");
    assert_eq!(reconstructor.image_size(), 64, "the sample stimuli's size");
    assert!(
        reconstructor.low_level.is_some(),
        "the page draws the low-level image"
    );
    assert_eq!(
        (
            reconstructor.schedule.steps.as_slice(),
            reconstructor.schedule.guidance
        ),
        (&[4][..], 1.0),
        "the 4-step student, its guidance baked in"
    );
}
