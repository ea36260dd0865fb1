//! Replays the committed fuzz corpora and crash regressions (`fuzz/corpus/<target>/`,
//! `fuzz/regressions/<target>/`) through the same entry points the fuzzers drive, so CI
//! checks that no saved input panics, without needing a nightly toolchain.
#![cfg(not(target_family = "wasm"))]

use std::path::Path;

use brainclip::data::fuzzing;

fn replay(target: &str, run: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut count = 0;
    for dir in [
        root.join("corpus").join(target),
        root.join("regressions").join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| run(&bytes));
            assert!(outcome.is_ok(), "{target}: {} panicked", path.display());
            count += 1;
        }
    }
    assert!(count > 0, "no corpus for fuzz target {target}");
    println!("{target}: replayed {count} inputs");
}

#[test]
fn npy_corpus() {
    replay("npy", fuzzing::npy);
}

#[test]
fn npz_corpus() {
    replay("npz", fuzzing::npz);
}

#[test]
fn nifti_corpus() {
    replay("nifti", fuzzing::nifti);
}

#[test]
fn manifest_corpus() {
    replay("manifest", fuzzing::manifest);
}

#[test]
fn bundle_zip_corpus() {
    replay("bundle_zip", fuzzing::bundle_zip);
}
