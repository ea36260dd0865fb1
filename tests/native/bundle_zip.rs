//! Bundles as one `.zip` archive (what the page's training panel downloads): written with
//! every file's size and SHA-256 recorded, read back file for file, from the CLI's
//! `--bundle FILE.zip` too, and refused by name when an archive is cut, incomplete or altered.
#![cfg(not(target_family = "wasm"))]

use std::io::Write;
use std::path::Path;

use brainclip::Error;
use brainclip::data::bundle::{Bundle, BundleParts};

fn demo_subject() -> Bundle {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("www/models/demo");
    Bundle::load_dir_for(&demo, Some("sub-02")).unwrap()
}

/// An archive of `files` (name, bytes) as a user's zip tool might make it.
fn zip_of(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut archive = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    for (name, bytes) in files {
        archive.start_file(name.as_str(), options).unwrap();
        archive.write_all(bytes).unwrap();
    }
    archive.finish().unwrap().into_inner()
}

/// The entries of an archive, in order.
fn entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).unwrap();
            let mut out = Vec::new();
            std::io::copy(&mut entry, &mut out).unwrap();
            (entry.name().to_string(), out)
        })
        .collect()
}

#[test]
fn a_bundle_survives_the_round_trip_through_an_archive_file_for_file() {
    let bundle = demo_subject();
    let bytes = bundle.to_zip().unwrap();
    let back = Bundle::from_zip(&bytes, "sub-02.zip", None, BundleParts::All).unwrap();
    assert_eq!(back.manifest.name, bundle.manifest.name);
    assert_eq!(back.manifest.components, bundle.manifest.components);
    let files: Vec<String> = bundle
        .manifest
        .required_files()
        .into_iter()
        .map(|(f, _)| f)
        .collect();
    assert!(files.iter().any(|f| f.ends_with("mapper.safetensors")));
    for file in &files {
        assert_eq!(
            back.stored_file(file).unwrap(),
            bundle.stored_file(file).unwrap(),
            "{file}"
        );
    }
    // Every file's integrity is recorded, so an altered one is refused on load.
    assert_eq!(back.manifest.integrity.len(), files.len());

    // The CLI's --bundle takes the archive's path.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trained.zip");
    std::fs::write(&path, &bytes).unwrap();
    let from_path = Bundle::load_dir_for(&path, None).unwrap();
    assert_eq!(from_path.manifest.components, bundle.manifest.components);

    // Only the parts asked for are read.
    let decoding = Bundle::from_zip(&bytes, "sub-02.zip", None, BundleParts::Decoding).unwrap();
    assert!(
        decoding
            .manifest
            .components
            .values()
            .all(|c| c.kind != "denoiser")
    );
}

#[test]
fn an_archive_of_a_bundle_folder_loads_as_the_folder() {
    let bytes = demo_subject().to_zip().unwrap();
    let nested: Vec<(String, Vec<u8>)> = entries(&bytes)
        .into_iter()
        .map(|(name, data)| (format!("my-bundle/{name}"), data))
        .collect();
    let bundle =
        Bundle::from_zip(&zip_of(&nested), "my-bundle.zip", None, BundleParts::All).unwrap();
    assert_eq!(bundle.manifest.name, demo_subject().manifest.name);
}

#[test]
fn cut_incomplete_and_altered_archives_are_refused_by_name() {
    let bundle = demo_subject();
    let mapper = bundle.manifest.components["mapper"].weights.clone();
    let bytes = bundle.to_zip().unwrap();
    // What a result was, without printing a whole bundle.
    let outcome = |result: brainclip::Result<Bundle>| result.map(|b| b.manifest.name);

    let cut = Bundle::from_zip(&bytes[..bytes.len() / 2], "cut.zip", None, BundleParts::All);
    match outcome(cut) {
        Err(Error::CorruptFile { file, .. }) => assert_eq!(file, "cut.zip"),
        other => panic!("a cut archive gave {other:?}"),
    }

    let without_mapper: Vec<(String, Vec<u8>)> = entries(&bytes)
        .into_iter()
        .filter(|(name, _)| *name != mapper)
        .collect();
    match outcome(Bundle::from_zip(
        &zip_of(&without_mapper),
        "partial.zip",
        None,
        BundleParts::All,
    )) {
        Err(Error::BundleFileMissing { file, .. }) => assert_eq!(file, mapper),
        other => panic!("an archive without the mapper gave {other:?}"),
    }

    let no_manifest: Vec<(String, Vec<u8>)> = entries(&bytes)
        .into_iter()
        .filter(|(name, _)| name != "manifest.json")
        .collect();
    let err = outcome(Bundle::from_zip(
        &zip_of(&no_manifest),
        "weights.zip",
        None,
        BundleParts::All,
    ))
    .unwrap_err();
    assert!(
        err.to_string().contains("weights.zip") && err.to_string().contains("manifest.json"),
        "{err}"
    );

    let altered: Vec<(String, Vec<u8>)> = entries(&bytes)
        .into_iter()
        .map(|(name, mut data)| {
            if name == mapper {
                let last = data.len() - 1;
                data[last] ^= 1;
            }
            (name, data)
        })
        .collect();
    let err = outcome(Bundle::from_zip(
        &zip_of(&altered),
        "altered.zip",
        None,
        BundleParts::All,
    ))
    .unwrap_err();
    assert!(err.to_string().contains(&mapper), "{err}");
}
