//! Entry points shared by the `cargo fuzz` targets (`fuzz/`) and the corpus replay test
//! (`tests/native/fuzz_corpus.rs`), so CI exercises every saved input without a nightly toolchain.
//! Each must return normally, with a value or a typed error, for any bytes.

use std::collections::BTreeMap;

use crate::data::bundle::{Bundle, BundleParts, Manifest};
use crate::data::fmri::{Mask, ReadOptions};
use crate::data::read_fmri;

/// A small limit keeps the fuzzer from spending its time allocating large valid arrays.
fn options() -> ReadOptions {
    ReadOptions {
        max_bytes: 1 << 20,
        ..Default::default()
    }
}

pub fn npy(data: &[u8]) {
    let _ = read_fmri(data, "fuzz.npy", &options());
}

pub fn npz(data: &[u8]) {
    let _ = read_fmri(data, "fuzz.npz", &options());
    let _ = crate::data::npy::npz_array_names(data, "fuzz.npz");
}

/// The first byte splits the input into data and mask, so masks are fuzzed too.
pub fn nifti(data: &[u8]) {
    let _ = read_fmri(data, "fuzz.nii", &options());
    if let Some((&split, rest)) = data.split_first() {
        let at = (split as usize * rest.len()) / 256;
        let (volume, mask) = rest.split_at(at);
        let with_mask = ReadOptions {
            mask: Some(Mask {
                file_name: "mask.nii".into(),
                bytes: mask.to_vec(),
            }),
            ..options()
        };
        let _ = read_fmri(volume, "fuzz.nii", &with_mask);
    }
}

/// Manifest JSON; when it parses, the remaining bytes become every file it names.
pub fn manifest(data: &[u8]) {
    let split = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    let (json, rest) = data.split_at(split);
    if let Ok(manifest) = Manifest::parse(json) {
        let files: BTreeMap<String, Vec<u8>> = manifest
            .required_files()
            .into_iter()
            .map(|(file, _)| (file, rest.get(1..).unwrap_or_default().to_vec()))
            .collect();
        if let Ok(bundle) = Bundle::from_parts(manifest, files) {
            let _ = bundle.normalization();
        }
    }
}

/// A bundle archive (`.zip`), read as `loadBundleBytes` and `--bundle FILE.zip` read one; the
/// first byte picks the parts asked for.
pub fn bundle_zip(data: &[u8]) {
    let parts = match data.first().map(|b| b % 3) {
        Some(1) => BundleParts::Decoding,
        Some(2) => BundleParts::ImageDecoder,
        _ => BundleParts::All,
    };
    if let Ok(bundle) = Bundle::from_zip(data, "fuzz.zip", None, parts) {
        let _ = bundle.normalization();
    }
}
