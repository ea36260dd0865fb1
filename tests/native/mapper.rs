//! The BrainCLIP mapper: learning a planted ground truth (and not learning a shuffled one),
//! reproducibility, checkpoint/resume, bundle round trips and input validation.
#![cfg(not(target_family = "wasm"))]

use brainclip::ComputeDevice;
use brainclip::data::bundle::Bundle;
use brainclip::mapper::{Mapper, MapperConfig, MapperVariant};
use brainclip::matrix::Matrix;
use brainclip::metrics::{permutation, top_k_accuracy};
use brainclip::sim::{PlantedConfig, PlantedDataset, PlantedSplit};
use brainclip::tasks;
use brainclip::train::mapper::MAPPER_COMPONENT;
use brainclip::train::mapper::{MapperTrainer, calibrate_mapper, shuffled_supervision};
use brainclip::train::{
    TextTargets, TrainConfig, TrainOutcome, TrainingData, mapper_bundle, train_mapper,
};
use std::collections::BTreeMap;

fn planted() -> PlantedDataset {
    planted_with(160, 3)
}

fn planted_with(voxels: usize, seed: u64) -> PlantedDataset {
    PlantedDataset::generate(&PlantedConfig {
        voxels,
        dim: 24,
        train_categories: 40,
        test_categories: 10,
        train_per_category: 8,
        test_per_category: 5,
        noise: 1.0,
        seed,
        ..PlantedConfig::default()
    })
    .unwrap()
}

/// Training data from a split; with `shuffle_seed`, the targets are permuted across trials so
/// that fMRI and targets no longer correspond (the control).
fn training_data(
    data: &PlantedDataset,
    split: &PlantedSplit,
    shuffle_seed: Option<u64>,
) -> TrainingData {
    let n = split.fmri.rows();
    let order: Vec<usize> = match shuffle_seed {
        Some(seed) => permutation(n, seed),
        None => (0..n).collect(),
    };
    let dim = split.images.cols();
    let images: Vec<f32> = order
        .iter()
        .flat_map(|&i| split.images.row(i).iter().copied())
        .collect();
    let texts: Vec<f32> = order
        .iter()
        .flat_map(|&i| {
            data.category_embeddings
                .row(split.categories[i])
                .iter()
                .copied()
        })
        .collect();
    TrainingData {
        fmri: split.fmri.clone(),
        images: Some(Matrix::new(images, n, dim).unwrap()),
        texts: Some(TextTargets::from_per_trial(&texts, n, 1, dim).unwrap()),
        stimulus: None,
        groups: None,
    }
}

fn mapper_config(voxels: usize, dim: usize) -> MapperConfig {
    let mut config = MapperConfig::new(MapperVariant::Vae, voxels, dim, dim);
    config.hidden = 128;
    config.blocks = 1;
    config.latent = 32;
    config
}

fn train_config(epochs: usize, seed: u64) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 64,
        learning_rate: 1e-3,
        patience: 0,
        seed,
        ..TrainConfig::default()
    }
}

fn train(data: &TrainingData, config: &TrainConfig) -> TrainOutcome {
    train_mapper(
        data,
        &mapper_config(data.fmri.cols(), 24),
        config,
        None,
        false,
        &mut |_| true,
        &mut |_, _| {},
    )
    .unwrap()
}

fn normalized(outcome: &TrainOutcome, fmri: &Matrix) -> Vec<f32> {
    let v = fmri.cols();
    let mut values = fmri.values().to_vec();
    for row in values.chunks_mut(v) {
        for ((x, m), s) in row.iter_mut().zip(&outcome.mean).zip(&outcome.std) {
            *x = (*x - m) / s;
        }
    }
    values
}

/// Zero-shot top-1 on the novel categories (chance: 1 / test_categories).
fn zero_shot_top1(outcome: &TrainOutcome, data: &PlantedDataset) -> f64 {
    let device = ComputeDevice::cpu(None);
    let x = normalized(outcome, &data.test.fmri);
    let predicted =
        pollster::block_on(outcome.mapper.embed(&device, &x, data.test.fmri.cols())).unwrap();
    let first_novel = data.category_names.len() - 10;
    let novel: Vec<usize> = (first_novel..data.category_names.len()).collect();
    let labels: Vec<String> = novel
        .iter()
        .map(|c| data.category_names[*c].clone())
        .collect();
    let embeddings = Matrix::new(
        novel
            .iter()
            .flat_map(|c| data.category_embeddings.row(*c).iter().copied())
            .collect(),
        novel.len(),
        24,
    )
    .unwrap();
    let ranked = pollster::block_on(tasks::decode_categories(
        &device,
        &predicted.text,
        &embeddings,
        &labels,
        outcome.mapper.config.logit_scale,
        1,
    ))
    .unwrap();
    let truth: Vec<usize> = data
        .test
        .categories
        .iter()
        .map(|c| c - first_novel)
        .collect();
    let hits = ranked
        .iter()
        .zip(&truth)
        .filter(|(r, t)| r[0].index == **t)
        .count();
    // The ranking and the metric must agree.
    let scores =
        pollster::block_on(tasks::similarities(&device, &predicted.text, &embeddings)).unwrap();
    let metric = top_k_accuracy(&scores, &truth, 1).unwrap();
    assert_eq!(metric.value, hits as f64 / truth.len() as f64);
    metric.value
}

#[test]
fn learns_a_planted_mapping_and_decodes_novel_categories_zero_shot() {
    let data = planted();
    let outcome = train(
        &training_data(&data, &data.train, None),
        &train_config(25, 1),
    );
    let top1 = zero_shot_top1(&outcome, &data);
    println!(
        "planted zero-shot top-1: {:.1} % (chance 10 %)",
        top1 * 100.0
    );
    assert!(
        top1 >= 0.6,
        "zero-shot top-1 {top1} is not far above chance (0.1)"
    );
    let last = outcome.history.last().unwrap();
    assert!(last.val_image_top1.unwrap() > 5.0 * last.val_image_chance.unwrap());
}

#[test]
fn a_shuffled_label_control_stays_at_chance() {
    let data = planted();
    let outcome = train(
        &training_data(&data, &data.train, Some(11)),
        &train_config(25, 1),
    );
    let top1 = zero_shot_top1(&outcome, &data);
    println!(
        "shuffled control zero-shot top-1: {:.1} % (chance 10 %)",
        top1 * 100.0
    );
    // 50 test trials at chance 10 %: 30 % is more than 4 standard deviations above it.
    assert!(
        top1 <= 0.3,
        "shuffled control reached {top1}; something leaks the labels"
    );
}

#[test]
fn the_same_seed_gives_identical_weights_and_another_seed_does_not() {
    let data = planted();
    let train_data = training_data(&data, &data.train, None);
    let a = train(&train_data, &train_config(2, 5))
        .mapper
        .to_safetensors()
        .unwrap();
    let b = train(&train_data, &train_config(2, 5))
        .mapper
        .to_safetensors()
        .unwrap();
    let c = train(&train_data, &train_config(2, 6))
        .mapper
        .to_safetensors()
        .unwrap();
    assert!(a == b, "same seed, different weights");
    assert!(a != c, "different seeds, same weights");
}

#[test]
fn an_interrupted_run_resumes_to_exactly_the_uninterrupted_result() {
    let data = planted();
    let train_data = training_data(&data, &data.train, None);
    let config = train_config(4, 9);
    let mapper_config = mapper_config(train_data.fmri.cols(), 24);
    let whole_dir = tempfile::tempdir().unwrap();
    let whole = train_mapper(
        &train_data,
        &mapper_config,
        &config,
        Some(whole_dir.path()),
        false,
        &mut |_| true,
        &mut |_, _| {},
    )
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let interrupted = train_mapper(
        &train_data,
        &mapper_config,
        &config,
        Some(dir.path()),
        false,
        &mut |report| report.epoch < 2,
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(interrupted.history.len(), 2);
    let resumed = train_mapper(
        &train_data,
        &mapper_config,
        &config,
        Some(dir.path()),
        true,
        &mut |_| true,
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(resumed.history.len(), 4);
    assert_eq!(resumed.best_epoch, whole.best_epoch);
    assert!(
        resumed.mapper.to_safetensors().unwrap() == whole.mapper.to_safetensors().unwrap(),
        "resumed weights differ from the uninterrupted run"
    );
    assert_eq!(
        resumed.history.last().unwrap().loss,
        whole.history.last().unwrap().loss
    );

    // Resuming with other settings is refused rather than silently mixing runs.
    let err = train_mapper(
        &train_data,
        &mapper_config,
        &train_config(4, 10),
        Some(dir.path()),
        true,
        &mut |_| true,
        &mut |_, _| {},
    )
    .err()
    .unwrap();
    assert_eq!(err.code(), "invalid_config");
    assert!(err.to_string().contains("different settings"), "{err}");
    // So is resuming on other data of the same shape.
    let other_data = training_data(&data, &data.train, Some(1));
    let err = train_mapper(
        &other_data,
        &mapper_config,
        &config,
        Some(dir.path()),
        true,
        &mut |_| true,
        &mut |_, _| {},
    )
    .err()
    .unwrap();
    assert!(
        err.to_string().contains("different settings or data"),
        "{err}"
    );
}

#[test]
fn a_bundle_round_trip_gives_identical_outputs() {
    let data = planted();
    let outcome = train(
        &training_data(&data, &data.train, None),
        &train_config(2, 2),
    );
    let mut labels = BTreeMap::new();
    labels.insert(
        "train-categories".to_string(),
        data.category_names[..40].to_vec(),
    );
    let bundle = mapper_bundle(
        &outcome,
        "planted",
        "test",
        "MIT",
        true,
        labels,
        Default::default(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    bundle.write_dir(dir.path()).unwrap();
    let loaded = Bundle::load_dir(dir.path()).unwrap();
    assert!(loaded.manifest.simulated);
    assert_eq!(loaded.manifest.voxels, 160);
    let device = ComputeDevice::cpu(None);
    let mapper = Mapper::from_bundle(&loaded, MAPPER_COMPONENT, &device.device).unwrap();
    assert_eq!(mapper.config, outcome.mapper.config);

    let mut batch = brainclip::data::FmriBatch::new(
        data.test.fmri.values().to_vec(),
        data.test.fmri.rows(),
        160,
        brainclip::data::FmriSource {
            file_name: "test_fmri.npy".into(),
            format: brainclip::data::SourceFormat::Npy,
            array_name: None,
            mask_name: None,
            dtype: "float32".into(),
            shape: vec![data.test.fmri.rows(), 160],
        },
    )
    .unwrap();
    batch.normalize(&loaded.normalization().unwrap()).unwrap();
    let from_disk = pollster::block_on(mapper.embed(&device, batch.values(), 160)).unwrap();
    let in_memory = pollster::block_on(outcome.mapper.embed(
        &device,
        &normalized(&outcome, &data.test.fmri),
        160,
    ))
    .unwrap();
    assert_eq!(from_disk.image.values(), in_memory.image.values());
    assert_eq!(from_disk.text.values(), in_memory.text.values());
}

#[test]
fn weights_are_stored_in_pytorch_layout_under_module_names() {
    let data = planted();
    let outcome = train(
        &training_data(&data, &data.train, None),
        &train_config(1, 2),
    );
    let bytes = outcome.mapper.to_safetensors().unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let shape = |key: &str| {
        file.tensor(key)
            .unwrap_or_else(|_| panic!("{key} missing"))
            .shape()
            .to_vec()
    };
    assert_eq!(
        shape("trunk.weight"),
        vec![128, 160],
        "nn.Linear is [out, in]"
    );
    assert_eq!(shape("blocks.0.norm.weight"), vec![128]);
    assert_eq!(shape("blocks.0.fc1.weight"), vec![128, 128]);
    assert_eq!(shape("mu.weight"), vec![32, 128]);
    assert_eq!(shape("logvar.bias"), vec![32]);
    assert_eq!(shape("image_head.weight"), vec![24, 32]);
    assert_eq!(shape("text_head.weight"), vec![24, 32]);

    // A file for another voxel count is refused with the tensor named.
    let mut other = outcome.mapper.config.clone();
    other.voxels = 150;
    let err = Mapper::from_safetensors(
        other,
        bytes,
        "mapper.safetensors",
        &burn::tensor::Device::flex(),
    )
    .err()
    .unwrap();
    assert_eq!(err.code(), "bundle_tensor");
    assert!(err.to_string().contains("trunk.weight"), "{err}");
    assert!(err.to_string().contains("128 × 160"), "{err}");
}

#[test]
fn mismatched_inputs_are_refused_with_what_was_wrong() {
    let data = planted();
    let good = training_data(&data, &data.train, None);
    let run = |d: &TrainingData, m: &MapperConfig| {
        train_mapper(
            d,
            m,
            &train_config(1, 0),
            None,
            false,
            &mut |_| true,
            &mut |_, _| {},
        )
        .err()
        .expect("must fail")
    };
    let config = mapper_config(160, 24);

    let mut short_images = good.clone();
    let images = good.images.clone().unwrap();
    short_images.images =
        Some(Matrix::new(images.values()[24..].to_vec(), images.rows() - 1, 24).unwrap());
    let err = run(&short_images, &config);
    assert_eq!(err.code(), "shape_mismatch");
    assert!(
        err.to_string().contains("image embeddings rows: got 319"),
        "{err}"
    );

    let wide = mapper_config(160, 32);
    let err = run(&good, &wide);
    assert_eq!(err.code(), "shape_mismatch");
    assert!(
        err.to_string()
            .contains("image embeddings size: got 24, expected 32"),
        "{err}"
    );

    let err = run(&good, &mapper_config(4_466, 24));
    assert_eq!(err.code(), "voxel_count_mismatch");
    assert!(
        err.to_string()
            .contains("fMRI has 160 voxels; this model expects 4,466"),
        "{err}"
    );

    let mut unsupervised = good.clone();
    unsupervised.images = None;
    unsupervised.texts = None;
    assert_eq!(run(&unsupervised, &config).code(), "invalid_config");

    let mut nan = good.clone();
    let mut values = nan.fmri.values().to_vec();
    values[3 * 160 + 7] = f32::NAN;
    nan.fmri = Matrix::new(values, good.fmri.rows(), 160).unwrap();
    let err = run(&nan, &config);
    assert_eq!(err.code(), "non_finite");
    assert!(err.to_string().contains("trial 3, voxel 7"), "{err}");
}

#[test]
fn text_only_and_image_only_supervision_both_train() {
    let data = planted();
    let full = training_data(&data, &data.train, None);
    let mut text_only = full.clone();
    text_only.images = None;
    let outcome = train(&text_only, &train_config(15, 4));
    let top1 = zero_shot_top1(&outcome, &data);
    assert!(top1 >= 0.5, "text-only zero-shot top-1 {top1}");
    let mut image_only = full;
    image_only.texts = None;
    let outcome = train(&image_only, &train_config(2, 4));
    assert!(outcome.history[0].val_text_top1.is_none());
    assert!(outcome.history[0].val_image_top1.is_some());
}

use crate::mapper_fixtures;

/// A mapper saved from PyTorch (`state_dict()` through safetensors, by
/// tools/reference/mapper_fixtures.py) loads and reproduces PyTorch's outputs.
#[test]
fn pytorch_trained_mappers_load_and_match_their_outputs() {
    for (name, config_json, weights, io) in mapper_fixtures::MAPPERS {
        let config: MapperConfig = serde_json::from_slice(config_json).unwrap();
        let device = ComputeDevice::cpu(None);
        let file = safetensors::SafeTensors::deserialize(weights).unwrap();
        let stored: usize = file
            .tensors()
            .iter()
            .map(|(_, t)| t.shape().iter().product::<usize>())
            .sum();
        assert_eq!(stored, config.parameter_count(), "{name}");
        let mapper = Mapper::from_safetensors(
            config,
            weights.to_vec(),
            "mapper.safetensors",
            &device.device,
        )
        .unwrap();
        let read =
            |key: &str| brainclip::data::bundle::read_f32("io.safetensors", io, key).unwrap();
        let out = pollster::block_on(mapper.embed(&device, &read("input"), 50)).unwrap();
        let image_diff = tasks::max_abs_diff(out.image.values(), &read("image"));
        let text_diff = tasks::max_abs_diff(out.text.values(), &read("text"));
        println!("{name}: max abs diff vs PyTorch: image {image_diff:.2e}, text {text_diff:.2e}");
        assert!(
            image_diff <= 1e-5 && text_diff <= 1e-5,
            "{name}: {image_diff} {text_diff}"
        );
    }
}

use crate::decoder_bundle;

/// The pipeline the web API and the CLI call: bundle → Decoder → decode / retrieve, equal to
/// the steps done one by one.
#[test]
fn the_decoder_pipeline_equals_its_steps() {
    use brainclip::tasks::{Decoder, Space};
    let device = ComputeDevice::cpu(None);
    let decoder = Decoder::from_bundle(&decoder_bundle::bundle(true), device.clone()).unwrap();
    let fmri = decoder_bundle::fmri(6, decoder_bundle::VOXELS);
    let labels = decoder_bundle::labels();
    let templates = vec![
        "a photo of a {}.".to_string(),
        "an image of a {label}.".to_string(),
    ];
    let ranked =
        pollster::block_on(decoder.decode_categories(&fmri, &labels, &templates, 0)).unwrap();

    let mut normalized = fmri.clone();
    normalized
        .normalize(&brainclip::data::Normalization::Batch)
        .unwrap();
    let predicted =
        pollster::block_on(decoder.mapper.embed(&device, normalized.values(), 40)).unwrap();
    let clip = decoder.clip.as_ref().unwrap();
    let label_embeddings =
        pollster::block_on(tasks::embed_labels(&device, clip, &labels, &templates)).unwrap();
    // The Decoder re-normalises whatever label embeddings it is given (a last-ulp change).
    let unit_label_embeddings = label_embeddings.clone().unit_rows("labels").unwrap();
    let scores = pollster::block_on(tasks::similarities(
        &device,
        &predicted.text,
        &unit_label_embeddings,
    ))
    .unwrap();
    assert_eq!(ranked.len(), 6);
    for (row, trial) in ranked.iter().zip(scores.iter_rows()) {
        assert_eq!(row.len(), labels.len(), "top_k 0 ranks every label");
        let total: f32 = row.iter().map(|r| r.probability).sum();
        assert!((total - 1.0).abs() < 1e-5);
        for pair in row.windows(2) {
            assert!(pair[0].similarity >= pair[1].similarity, "best first");
        }
        for r in row {
            assert_eq!(r.similarity, trial[r.index]);
            assert_eq!(r.label.as_deref(), Some(labels[r.index].as_str()));
        }
    }
    // Retrieval among the label embeddings in text space gives the same order.
    let retrieved =
        pollster::block_on(decoder.retrieve(&fmri, &label_embeddings, Space::Text, 3)).unwrap();
    for (r, d) in retrieved.iter().zip(&ranked) {
        assert_eq!(r.len(), 3);
        assert_eq!(
            r.iter().map(|x| x.index).collect::<Vec<_>>(),
            d[..3].iter().map(|x| x.index).collect::<Vec<_>>()
        );
    }
    // The caller's batch is untouched.
    assert_eq!(fmri.values(), decoder_bundle::fmri(6, 40).values());

    let err = pollster::block_on(decoder.decode_categories(
        &decoder_bundle::fmri(2, 39),
        &labels,
        &[],
        5,
    ))
    .err()
    .unwrap();
    assert_eq!(err.code(), "voxel_count_mismatch");
    assert!(
        err.to_string()
            .contains("fMRI has 39 voxels; this model expects 40"),
        "{err}"
    );

    let without_clip = Decoder::from_bundle(&decoder_bundle::bundle(false), device).unwrap();
    let err = pollster::block_on(without_clip.decode_categories(&fmri, &labels, &[], 5))
        .err()
        .unwrap();
    assert_eq!(err.code(), "invalid_config");
    let ranked_again = pollster::block_on(without_clip.decode_with_embeddings(
        &fmri,
        &labels,
        &label_embeddings,
        0,
    ))
    .unwrap();
    assert_eq!(ranked_again, ranked);
}

/// Every tensor of a mapper's weights file, by name, as stored bytes.
fn stored_tensors(mapper: &Mapper) -> BTreeMap<String, (Vec<usize>, Vec<u8>)> {
    let bytes = mapper.to_safetensors().unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    tensors
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, (view.shape().to_vec(), view.data().to_vec())))
        .collect()
}

#[test]
fn calibration_learns_only_a_new_input_layer_for_another_subject() {
    let data = planted();
    let trained = train(
        &training_data(&data, &data.train, None),
        &train_config(25, 1),
    );
    // As a user's base arrives: read from its weights file.
    let base = Mapper::from_safetensors(
        trained.mapper.config.clone(),
        trained.mapper.to_safetensors().unwrap(),
        "mapper.safetensors",
        &burn::tensor::Device::flex(),
    )
    .unwrap();
    // Another subject: other voxels (fewer of them), another planted mapping.
    let other = planted_with(120, 9);
    let other_data = training_data(&other, &other.train, None);
    let calibrate = |data: &TrainingData| {
        calibrate_mapper(
            data,
            &base,
            &train_config(25, 1),
            None,
            false,
            &mut |_| true,
            &mut |_, _| {},
        )
        .unwrap()
    };
    let calibrated = calibrate(&other_data);
    assert_eq!(calibrated.mapper.config.voxels, 120);
    let before = stored_tensors(&base);
    let after = stored_tensors(&calibrated.mapper);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    for (name, (shape, bytes)) in &before {
        if name.starts_with("trunk.") {
            assert_ne!(&after[name].1, bytes, "{name} is learned anew");
        } else {
            assert_eq!(
                &after[name],
                &(shape.clone(), bytes.clone()),
                "{name} is kept"
            );
        }
    }
    let top1 = zero_shot_top1(&calibrated, &other);
    let control = zero_shot_top1(
        &calibrate(&shuffled_supervision(&other_data, &train_config(25, 1))),
        &other,
    );
    println!(
        "calibrated to another subject: zero-shot top-1 {:.1} %, shuffled-label calibration {:.1} % (chance 10 %)",
        top1 * 100.0,
        control * 100.0
    );
    assert!(top1 >= 0.5, "calibrated zero-shot top-1 {top1}");
    assert!(control <= 0.3, "the shuffled calibration reached {control}");

    let linear = Mapper {
        config: MapperConfig::new(MapperVariant::Linear, 160, 24, 24),
        ..base
    };
    let err = calibrate_mapper(
        &other_data,
        &linear,
        &train_config(1, 1),
        None,
        false,
        &mut |_| true,
        &mut |_, _| {},
    )
    .err()
    .expect("a linear base is refused");
    assert!(err.to_string().contains("linear"), "{err}");
}

/// A loss that turns non-finite ends the epoch with a typed error, and the run stays usable:
/// its next epoch, checkpoint and result answer (the next epoch with the same error) instead
/// of panicking on weights the failed step had taken out.
#[test]
fn a_non_finite_loss_is_an_error_and_the_run_stays_usable() {
    let data = planted();
    let train_data = training_data(&data, &data.train, None);
    let config = TrainConfig {
        learning_rate: 1e30,
        grad_clip: None,
        ..train_config(3, 4)
    };
    let mapper_config = mapper_config(train_data.fmri.cols(), 24);
    let mut trainer = MapperTrainer::new(&train_data, &mapper_config, &config).unwrap();
    let first = (0..config.epochs)
        .map(|_| trainer.run_epoch(&mut |_, _| {}))
        .find_map(Result::err)
        .expect("a learning rate of 1e30 makes the loss non-finite");
    assert!(
        first.to_string().contains("lower the learning rate"),
        "{first}"
    );
    let again = trainer.run_epoch(&mut |_, _| {}).unwrap_err();
    assert!(
        again.to_string().contains("lower the learning rate"),
        "{again}"
    );
    let dir = tempfile::tempdir().unwrap();
    trainer.save_checkpoint(dir.path()).unwrap();
    let outcome = trainer.finish();
    assert_eq!(outcome.mapper.config.voxels, train_data.fmri.cols());
}

fn recording_source() -> brainclip::data::FmriSource {
    brainclip::data::FmriSource {
        file_name: "run.npy".into(),
        format: brainclip::data::SourceFormat::Npy,
        array_name: None,
        mask_name: None,
        dtype: "float32".into(),
        shape: vec![],
    }
}

/// Labels given beside their embeddings (no CLIP embedded them) are checked against the
/// trials and become the held-out candidates, scored by their own embeddings; before, a short
/// list was indexed out of bounds and the candidates were empty.
#[test]
fn held_out_evaluation_checks_labels_and_scores_them_by_their_embeddings() {
    use brainclip::train::mapper::held_out_evaluation;
    let data = planted();
    let train_data = training_data(&data, &data.train, None);
    let config = train_config(1, 5);
    let trials = train_data.fmri.rows();
    let labels: Vec<Vec<String>> = data.train.categories[..trials]
        .iter()
        .map(|c| vec![format!("category {c}")])
        .collect();
    let short = held_out_evaluation(
        &train_data,
        &recording_source(),
        &labels[..trials - 1],
        &[],
        &[],
        &config,
    )
    .err()
    .expect("a label list one short is refused");
    assert!(
        short.to_string().contains("labels") && short.to_string().contains(&trials.to_string()),
        "{short}"
    );

    let held = held_out_evaluation(&train_data, &recording_source(), &labels, &[], &[], &config)
        .unwrap()
        .expect("the default split holds trials out");
    let candidates = held.request.candidates.clone().unwrap();
    let distinct: std::collections::BTreeSet<&String> = labels.iter().map(|l| &l[0]).collect();
    assert_eq!(candidates.len(), distinct.len());
    let embeddings = held.request.label_embeddings.as_ref().unwrap();
    assert_eq!(embeddings.rows(), candidates.len());
    // Each candidate is scored by the embedding of a trial that carries it.
    let texts = train_data.texts.as_ref().unwrap();
    for (row, candidate) in candidates.iter().enumerate() {
        let trial = labels.iter().position(|l| &l[0] == candidate).unwrap();
        assert_eq!(
            embeddings.row(row),
            texts.embeddings.row(texts.per_trial[trial][0])
        );
    }
    assert_eq!(
        held.fmri.trials(),
        held.request.labels.as_ref().unwrap().len()
    );
    // The scoring path accepts it: decoding among the training labels, with chance.
    let outcome = train(&train_data, &config);
    let bundle = mapper_bundle(
        &outcome,
        "held-out",
        "test",
        "MIT",
        true,
        BTreeMap::new(),
        Default::default(),
    )
    .unwrap();
    let decoder = tasks::Decoder::from_bundle(&bundle, ComputeDevice::cpu(None)).unwrap();
    let report = pollster::block_on(decoder.evaluate(&held.fmri, &held.request)).unwrap();
    let json = serde_json::to_string(&report).unwrap();
    assert!(json.contains("chance"), "{json}");
}
