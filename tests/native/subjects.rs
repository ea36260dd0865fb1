//! Bundles that hold several subjects (`brainclip add-subject`), int8 weight storage
//! (`brainclip quantize`), and a decoder mapping each recording once.
#![cfg(not(target_family = "wasm"))]

use crate::decoder_bundle;

use std::path::Path;
use std::process::Command;

use brainclip::ComputeDevice;
use brainclip::data::bundle::{
    Bundle, Component, Manifest, StoredDtype, dequantize_safetensors, read_f32, recast_safetensors,
};
use brainclip::error::Error;
use brainclip::mapper::{Mapper, MapperModel};
use brainclip::tasks::Decoder;
use safetensors::{Dtype, SafeTensors};

fn brainclip(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_brainclip"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = brainclip(args);
    assert!(
        out.status.success(),
        "brainclip {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn f32_file(tensors: &[(&str, Vec<usize>, Vec<f32>)]) -> Vec<u8> {
    let data: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views = tensors.iter().zip(&data).map(|((name, shape, _), bytes)| {
        (
            name.to_string(),
            safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), bytes).unwrap(),
        )
    });
    safetensors::serialize(views, None).unwrap()
}

#[test]
fn q8_stores_large_matrices_as_int8_within_half_a_step_per_row() {
    let mut next = decoder_bundle::lcg(5);
    let (rows, columns) = (300, 400);
    // Rows of very different magnitudes: per-row scales keep small rows precise.
    let big: Vec<f32> = (0..rows * columns)
        .map(|i| (next() - 0.5) * (1 + i / columns) as f32)
        .collect();
    let bias: Vec<f32> = (0..rows).map(|_| next()).collect();
    let file = f32_file(&[
        ("layer.weight", vec![rows, columns], big.clone()),
        ("layer.bias", vec![rows], bias.clone()),
    ]);
    let q8 = recast_safetensors(&file, StoredDtype::Q8, &[]).unwrap();
    assert!(
        q8.len() * 3 < file.len(),
        "{} bytes from {}",
        q8.len(),
        file.len()
    );
    let stored = SafeTensors::deserialize(&q8).unwrap();
    assert_eq!(stored.tensor("layer.weight").unwrap().dtype(), Dtype::I8);
    assert_eq!(stored.tensor("layer.bias").unwrap().dtype(), Dtype::F16);
    let widened = dequantize_safetensors("layer.safetensors", &q8)
        .unwrap()
        .expect("an int8 file is widened");
    let back = read_f32("layer.safetensors", &widened, "layer.weight").unwrap();
    for (row, (want, got)) in big.chunks(columns).zip(back.chunks(columns)).enumerate() {
        let largest = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        let step = largest / 127.0;
        let worst = want
            .iter()
            .zip(got)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            worst <= step * 0.5 + 1e-6,
            "row {row}: error {worst}, step {step}"
        );
    }
    assert!(
        SafeTensors::deserialize(&widened)
            .unwrap()
            .names()
            .iter()
            .all(|n| !n.ends_with(".q8_scale")),
        "the scales are not tensors of the model"
    );
    // A plain file is left alone.
    assert!(dequantize_safetensors("plain", &file).unwrap().is_none());
}

#[test]
fn int8_without_its_scales_is_refused_by_name() {
    let q8 = recast_safetensors(
        &f32_file(&[("trunk.weight", vec![256, 256], vec![0.5; 65_536])]),
        StoredDtype::Q8,
        &[],
    )
    .unwrap();
    let stored = SafeTensors::deserialize(&q8).unwrap();
    let weight = stored.tensor("trunk.weight").unwrap();
    let without_scales = safetensors::serialize(
        [(
            "trunk.weight".to_string(),
            safetensors::tensor::TensorView::new(Dtype::I8, vec![256, 256], weight.data()).unwrap(),
        )],
        None,
    )
    .unwrap();
    let err = dequantize_safetensors("mapper.safetensors", &without_scales).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("mapper.safetensors")
            && message.contains("trunk.weight")
            && message.contains("trunk.weight.q8_scale"),
        "{message}"
    );
}

/// A one-subject bundle like the fixture's, its mapper's weights drawn from `seed`.
fn subject_bundle(seed: u64) -> Bundle {
    let bundle = decoder_bundle::bundle(true);
    let (component, _) = bundle.component("mapper").unwrap();
    let mapper_config = serde_json::from_value(component.config.clone()).unwrap();
    let model = MapperModel::new(
        &mapper_config,
        &mut decoder_bundle::lcg(seed),
        &burn::tensor::Device::flex(),
    )
    .unwrap();
    let weights = Mapper {
        config: mapper_config,
        model,
    }
    .to_safetensors()
    .unwrap();
    bundle
        .with_component("mapper", component.clone(), weights)
        .unwrap()
}

fn text_embeddings(bundle: &Bundle) -> Vec<f32> {
    let decoder = Decoder::from_bundle(bundle, ComputeDevice::cpu(None)).unwrap();
    let fmri = decoder_bundle::fmri(4, decoder_bundle::VOXELS);
    pollster::block_on(decoder.embed(&fmri))
        .unwrap()
        .text
        .values()
        .to_vec()
}

#[test]
fn subjects_share_their_common_components_and_load_one_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let (joined, other) = (dir.path().join("joined"), dir.path().join("other"));
    let (first, second) = (subject_bundle(17), subject_bundle(23));
    first.write_dir(&joined).unwrap();
    second.write_dir(&other).unwrap();
    let (joined_s, other_s) = (joined.to_str().unwrap(), other.to_str().unwrap());

    // The bundle must name its own subject before it gains another.
    let unnamed = brainclip(&[
        "add-subject",
        "--bundle",
        joined_s,
        "--from",
        other_s,
        "--name",
        "b",
    ]);
    assert!(!unnamed.status.success());
    assert!(String::from_utf8_lossy(&unnamed.stderr).contains("--default-name"));

    let report = ok(&[
        "add-subject",
        "--bundle",
        joined_s,
        "--from",
        other_s,
        "--name",
        "b",
        "--default-name",
        "a",
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["shared"], serde_json::json!(["clip"]));
    assert_eq!(report["own"], serde_json::json!(["mapper"]));
    assert!(joined.join("b/mapper.safetensors").exists());
    assert!(
        !joined.join("b/clip.safetensors").exists(),
        "CLIP is stored once"
    );

    let manifest = Manifest::parse(&std::fs::read(joined.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest.subject_names(), ["a", "b"]);
    // Each subject decodes as its own bundle did.
    let a = Bundle::load_dir(&joined).unwrap();
    assert_eq!(
        (a.manifest.subject.as_deref(), a.subjects.len()),
        (Some("a"), 2)
    );
    assert_eq!(text_embeddings(&a), text_embeddings(&first));
    let b = Bundle::load_dir_for(&joined, Some("b")).unwrap();
    assert_eq!(text_embeddings(&b), text_embeddings(&second));
    assert_ne!(text_embeddings(&a), text_embeddings(&b));

    // Loading one subject reads only its files: the default's mapper is not needed for b.
    std::fs::remove_file(joined.join("mapper.safetensors")).unwrap();
    Bundle::load_dir_for(&joined, Some("b")).expect("b needs only CLIP and its own mapper");
    match Bundle::load_dir(&joined).unwrap_err() {
        Error::BundleFileMissing { file, .. } => assert_eq!(file, "mapper.safetensors"),
        other => panic!("expected a missing file, got {other}"),
    }
    std::fs::write(
        joined.join("mapper.safetensors"),
        first.stored_file("mapper.safetensors").unwrap(),
    )
    .unwrap();

    let unknown = Bundle::load_dir_for(&joined, Some("sub-09"))
        .unwrap_err()
        .to_string();
    assert!(
        unknown.contains("'sub-09'") && unknown.contains("a, b"),
        "{unknown}"
    );
    let again = brainclip(&[
        "add-subject",
        "--bundle",
        joined_s,
        "--from",
        other_s,
        "--name",
        "b",
    ]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("already has a subject 'b'"));

    // Quantized: far fewer bytes, every subject still decoding as before within int8's
    // precision, and a bundle rewritten after loading stays int8.
    let quantized = dir.path().join("q8");
    ok(&[
        "quantize",
        "--bundle",
        joined_s,
        "--out",
        quantized.to_str().unwrap(),
    ]);
    let size = |dir: &Path, file: &str| std::fs::metadata(dir.join(file)).unwrap().len();
    // CLIP's token embedding is large enough for int8; the fixture mapper's layers are not
    // (they become f16).
    // (The fixture's embedding rows are 8 wide, so each row's f32 scale costs half as much
    // again as its int8 values.)
    assert!(size(&quantized, "clip.safetensors") * 5 < size(&joined, "clip.safetensors") * 2);
    let mapper = std::fs::read(quantized.join("b/mapper.safetensors")).unwrap();
    let mapper = SafeTensors::deserialize(&mapper).unwrap();
    assert!(
        mapper
            .tensors()
            .iter()
            .all(|(_, t)| t.dtype() == Dtype::F16)
    );
    for subject in ["a", "b"] {
        let plain = text_embeddings(&Bundle::load_dir_for(&joined, Some(subject)).unwrap());
        let q8 = Bundle::load_dir_for(&quantized, Some(subject)).unwrap();
        assert_eq!(q8.manifest.dtype, StoredDtype::Q8);
        let close = text_embeddings(&q8);
        let worst = plain
            .iter()
            .zip(&close)
            .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(
            worst < 0.02,
            "subject {subject}: embeddings moved by {worst}"
        );
    }
    let rewritten = dir.path().join("rewritten");
    Bundle::load_dir_for(&quantized, Some("b"))
        .unwrap()
        .write_dir(&rewritten)
        .unwrap();
    assert_eq!(
        std::fs::read(rewritten.join("b/mapper.safetensors")).unwrap(),
        std::fs::read(quantized.join("b/mapper.safetensors")).unwrap(),
        "weights are written as stored, not widened"
    );

    // A damaged file of any subject stops `quantize` before it rewrites the manifest (which
    // would record the damage as the truth).
    let damaged_path = quantized.join("b/mapper.safetensors");
    let mut damaged = std::fs::read(&damaged_path).unwrap();
    *damaged.last_mut().unwrap() ^= 1;
    std::fs::write(&damaged_path, damaged).unwrap();
    let out = brainclip(&["quantize", "--bundle", quantized.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("b/mapper.safetensors is corrupt"),
        "{stderr}"
    );

    // Components are added to one-subject bundles only.
    let joined_bundle = Bundle::load_dir(&joined).unwrap();
    let (component, bytes) = joined_bundle.component("mapper").unwrap();
    let refused = joined_bundle
        .with_component(
            "mapper",
            Component {
                ..component.clone()
            },
            bytes.to_vec(),
        )
        .unwrap_err();
    assert!(
        refused.to_string().contains("several subjects"),
        "{refused}"
    );
}

#[test]
fn a_recording_is_mapped_once_however_often_it_is_decoded() {
    let decoder =
        Decoder::from_bundle(&decoder_bundle::bundle(true), ComputeDevice::cpu(None)).unwrap();
    let fmri = decoder_bundle::fmri(5, decoder_bundle::VOXELS);
    let labels = decoder_bundle::labels();
    let first = pollster::block_on(decoder.decode_categories(&fmri, &labels, &[], 3)).unwrap();
    assert_eq!(decoder.mapping_runs(), 1);
    let again = pollster::block_on(decoder.decode_categories(&fmri, &labels, &[], 3)).unwrap();
    pollster::block_on(decoder.embed(&fmri)).unwrap();
    assert_eq!(
        decoder.mapping_runs(),
        1,
        "the same recording is not mapped again"
    );
    assert_eq!(first, again);
    // One changed value is a different recording.
    let mut values = fmri.values().to_vec();
    values[7] += 0.25;
    let changed =
        brainclip::data::FmriBatch::new(values, fmri.trials(), fmri.voxels(), fmri.source.clone())
            .unwrap();
    let moved = pollster::block_on(decoder.embed(&changed)).unwrap();
    assert_eq!(decoder.mapping_runs(), 2);
    let before = pollster::block_on(decoder.embed(&fmri)).unwrap();
    assert_eq!(decoder.mapping_runs(), 3, "only the last recording is kept");
    assert_ne!(moved, before);
}
