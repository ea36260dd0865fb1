//! A bundle stored as f16 decodes like its f32 original — checked on trained models, label by
//! label, where a precision loss would show: the demo's pretrained CLIP (its weights nudged by
//! 0.1 %, since the demo ships them as f16 values already and storing those in f16 would lose
//! nothing), a mapper trained here into that CLIP's text space, and 40 candidate labels whose
//! similarities spread well beyond the tolerance.
//!
//! Broke once on purpose: rounding the stored f16 weights to bfloat16 precision (7 mantissa
//! bits instead of 10, in `recast_safetensors`) makes the label similarities differ by more
//! than the tolerance and this test fails.
#![cfg(not(target_family = "wasm"))]

use std::collections::BTreeMap;

use brainclip::ComputeDevice;
use brainclip::data::bundle::{Bundle, StoredDtype};
use brainclip::data::{FmriBatch, FmriSource, SourceFormat};
use brainclip::mapper::{MapperConfig, MapperVariant};
use brainclip::matrix::Matrix;
use brainclip::sim::stimuli::Category;
use brainclip::tasks::{Decoder, embed_labels};
use brainclip::train::{
    BundleContents, TextTargets, TrainConfig, TrainingData, mapper_bundle, train_mapper,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

const VOXELS: usize = 120;
const TOLERANCE: f32 = 5e-4;

#[test]
fn an_f16_bundle_decodes_like_the_f32_one_label_by_label() {
    let device = ComputeDevice::cpu(None);
    let demo = Bundle::load_dir(std::path::Path::new("www/models/demo")).unwrap();
    let demo_clip = Decoder::from_bundle(&demo, device.clone())
        .unwrap()
        .clip
        .expect("the demo bundle carries its CLIP");
    let clip = nudged(&demo_clip, &device);
    let labels: Vec<String> = (0..40)
        .map(|i| Category::from_index(i * 5).unwrap().name())
        .collect();
    let embeddings = pollster::block_on(embed_labels(&device, &clip, &labels, &[])).unwrap();
    let dim = embeddings.cols();
    // fMRI = A · (label embedding) + noise: a mapper trained on the first 30 labels learns to
    // predict CLIP text embeddings, so its predictions land among the labels'.
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut gaussian = || -> f32 { StandardNormal.sample(&mut rng) };
    let forward: Vec<f32> = (0..VOXELS * dim).map(|_| gaussian()).collect();
    let record = |label: usize, noise: &mut dyn FnMut() -> f32| -> Vec<f32> {
        let e = embeddings.row(label);
        (0..VOXELS)
            .map(|v| {
                let signal: f32 = (0..dim).map(|d| forward[v * dim + d] * e[d]).sum();
                signal + 0.3 * noise()
            })
            .collect()
    };
    let mut draw = ChaCha8Rng::seed_from_u64(6);
    let mut noise = move || -> f32 { StandardNormal.sample(&mut draw) };
    let trials: Vec<usize> = (0..30).flat_map(|l| [l; 8]).collect();
    let fmri: Vec<f32> = trials.iter().flat_map(|&l| record(l, &mut noise)).collect();
    let targets: Vec<f32> = trials
        .iter()
        .flat_map(|&l| embeddings.row(l).to_vec())
        .collect();
    let n = trials.len();
    let data = TrainingData {
        fmri: Matrix::new(fmri, n, VOXELS).unwrap(),
        images: None,
        texts: Some(TextTargets::from_per_trial(&targets, n, 1, dim).unwrap()),
        stimulus: None,
        groups: None,
    };
    let mut mapper_config = MapperConfig::new(MapperVariant::Vae, VOXELS, dim, dim);
    mapper_config.hidden = 96;
    mapper_config.latent = 32;
    let outcome = train_mapper(
        &data,
        &mapper_config,
        &TrainConfig {
            epochs: 15,
            batch_size: 64,
            learning_rate: 1e-3,
            patience: 0,
            ..TrainConfig::default()
        },
        None,
        false,
        &mut |_| true,
        &mut |_, _| {},
    )
    .unwrap();

    let write = |dtype| {
        let bundle = mapper_bundle(
            &outcome,
            "f16 check",
            "test",
            "MIT",
            true,
            BTreeMap::new(),
            BundleContents {
                clip: Some(&clip),
                dtype,
                ..BundleContents::default()
            },
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        bundle.write_dir(dir.path()).unwrap();
        let size: u64 = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum();
        (Bundle::load_dir(dir.path()).unwrap(), size, dir)
    };
    let (full, full_size, _a) = write(StoredDtype::F32);
    let (half, half_size, _b) = write(StoredDtype::F16);
    assert_eq!(half.manifest.dtype, StoredDtype::F16);
    assert!(
        (half_size as f64) < full_size as f64 * 0.55,
        "{half_size} vs {full_size} bytes"
    );

    // A new trial of each of the 40 labels, the last 10 never trained on.
    let test_trials: Vec<usize> = (0..40).collect();
    let mut test_draw = ChaCha8Rng::seed_from_u64(7);
    let mut test_noise = move || -> f32 { StandardNormal.sample(&mut test_draw) };
    let test: Vec<f32> = test_trials
        .iter()
        .flat_map(|&l| record(l, &mut test_noise))
        .collect();
    let batch = FmriBatch::new(
        test,
        test_trials.len(),
        VOXELS,
        FmriSource {
            file_name: "test.npy".into(),
            format: SourceFormat::Npy,
            array_name: None,
            mask_name: None,
            dtype: "float32".into(),
            shape: vec![test_trials.len(), VOXELS],
        },
    )
    .unwrap();
    // Every trial's similarity to every label, through the decoder as the site runs it.
    let similarities = |bundle: &Bundle| -> Matrix {
        let decoder = Decoder::from_bundle(bundle, device.clone()).unwrap();
        let ranked =
            pollster::block_on(decoder.decode_categories(&batch, &labels, &[], 0)).unwrap();
        let mut values = vec![0f32; ranked.len() * labels.len()];
        for (trial, row) in ranked.iter().enumerate() {
            for r in row {
                values[trial * labels.len() + r.index] = r.similarity;
            }
        }
        Matrix::new(values, ranked.len(), labels.len()).unwrap()
    };
    let (a, b) = (similarities(&full), similarities(&half));
    let mut worst = 0f32;
    for (trial, (x, y)) in a.iter_rows().zip(b.iter_rows()).enumerate() {
        // The labels must be told apart far beyond the tolerance, or agreement means little.
        let mean = x.iter().sum::<f32>() / x.len() as f32;
        let spread = (x.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / x.len() as f32).sqrt();
        assert!(spread > 10.0 * TOLERANCE, "trial {trial}: spread {spread}");
        for (label, (p, q)) in labels.iter().zip(x.iter().zip(y)) {
            worst = worst.max((p - q).abs());
            assert!(
                (p - q).abs() <= TOLERANCE,
                "trial {trial}, '{label}': f32 {p} vs f16 {q}"
            );
        }
    }
    eprintln!(
        "f16 vs f32: largest similarity difference {worst:.2e} over {} labels",
        labels.len()
    );
}

/// The CLIP with every weight multiplied by (1 + 0.001·N(0, 1)), through its Hugging Face
/// safetensors: trained weights that are no longer exact f16 values.
fn nudged(clip: &brainclip::clip::Clip, device: &ComputeDevice) -> brainclip::clip::Clip {
    let bytes = clip.to_hf_safetensors(StoredDtype::F32).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let values: Vec<u8> = view
                .data()
                .chunks_exact(4)
                .flat_map(|b| {
                    let v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                    let noise: f32 = StandardNormal.sample(&mut rng);
                    (v * (1.0 + 1e-3 * noise)).to_le_bytes()
                })
                .collect();
            (name, view.shape().to_vec(), values)
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(name, shape, data)| {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), data)
                    .unwrap();
            (name.clone(), view)
        })
        .collect();
    let bytes = safetensors::serialize(views, None).unwrap();
    let config = serde_json::to_vec(&clip.config.to_hf_json()).unwrap();
    brainclip::clip::Clip::from_hf(&config, bytes, "nudged.safetensors", &device.device).unwrap()
}
