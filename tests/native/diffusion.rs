//! The denoiser, the rectified-flow sampler and the autoencoder trainer.
#![cfg(not(target_family = "wasm"))]

use brainclip::data::bundle::StoredDtype;
use brainclip::diffusion::sampler::trial_noise;
use brainclip::diffusion::{DenoiserConfig, DenoiserModel, FlowSampler, SamplerSettings};
use brainclip::train::autoencoder::{
    AutoencoderTrainConfig, train_autoencoder, world_autoencoder_config,
};
use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

fn small_config() -> DenoiserConfig {
    DenoiserConfig {
        latent_channels: 4,
        latent_size: 4,
        condition_dim: 8,
        hidden_size: 16,
        depth: 2,
        num_heads: 2,
        mlp_ratio: 2,
        frequency_embedding_size: 8,
    }
}

/// Adds seeded noise to every weight: a fresh adaLN-Zero DiT predicts exactly zero, which
/// would make every sampler test pass trivially.
struct Perturb(ChaCha8Rng);

impl ModuleMapper for Perturb {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let rng = &mut self.0;
        param.map(|tensor| {
            let dims = tensor.dims();
            let noise: Vec<f32> = (0..dims.iter().product::<usize>())
                .map(|_| {
                    let z: f32 = StandardNormal.sample(&mut *rng);
                    0.3 * z
                })
                .collect();
            let device = tensor.device();
            tensor + Tensor::from_data(TensorData::new(noise, dims), &device)
        })
    }
}

/// A fresh denoiser, initialised under the lock that seeded initialisation holds: burn's
/// initialisers draw from one process-wide generator, lazily, so an unseeded build in a
/// parallel test would shift another test's seeded draws.
fn fresh_denoiser(seed: u64) -> DenoiserModel {
    let device = Device::flex();
    brainclip::device::init_seeded(&device, Some(seed), || {
        DenoiserModel::new(&small_config(), &device)
    })
}

fn random_denoiser(seed: u64) -> DenoiserModel {
    fresh_denoiser(seed).map(&mut Perturb(ChaCha8Rng::seed_from_u64(seed)))
}

fn conditions(n: usize, seed: u64) -> Tensor<2> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let values: Vec<f32> = (0..n * 8)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    Tensor::from_data(TensorData::new(values, [n, 8]), &Device::flex())
}

fn values(t: Tensor<4>) -> Vec<f32> {
    t.into_data().try_to_vec().unwrap()
}

fn settings(steps: usize, guidance: f32, seed: u64) -> SamplerSettings {
    SamplerSettings {
        steps,
        guidance,
        strength: 1.0,
        seed,
    }
}

fn sample(model: &DenoiserModel, c: Tensor<2>, trials: &[u64], s: &SamplerSettings) -> Vec<f32> {
    values(
        FlowSampler::new(model, c, None, trials, s)
            .unwrap()
            .finish(),
    )
}

#[test]
fn a_fresh_denoiser_predicts_zero_velocity() {
    let device = Device::flex();
    let model = fresh_denoiser(0);
    let x = Tensor::<4>::ones([2, 4, 4, 4], &device);
    let v = model.forward(x, Tensor::full([2], 0.5, &device), conditions(2, 1));
    assert!(
        values(v).iter().all(|&v| v == 0.0),
        "adaLN-Zero output layer"
    );
}

#[test]
fn the_same_seed_gives_the_same_latents_and_a_trial_does_not_depend_on_its_batch() {
    let model = random_denoiser(3);
    let c = conditions(3, 4);
    let s = settings(4, 2.0, 9);
    assert_ne!(
        trial_noise(9, 10, 64),
        trial_noise(9, 11, 64),
        "each trial its own noise"
    );
    let first = sample(&model, c.clone(), &[10, 11, 12], &s);
    let again = sample(&model, c.clone(), &[10, 11, 12], &s);
    assert_eq!(first, again);
    let other_seed = sample(&model, c.clone(), &[10, 11, 12], &settings(4, 2.0, 10));
    assert_ne!(first, other_seed);
    // Trial 11 alone, with its own condition row.
    let alone = sample(&model, c.narrow(0, 1, 1), &[11], &s);
    let per_trial = first.len() / 3;
    let in_batch = &first[per_trial..2 * per_trial];
    let diff = alone
        .iter()
        .zip(in_batch)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(diff < 1e-5, "trial 11 alone vs in its batch: {diff}");
}

#[test]
fn one_step_lands_on_the_guided_clean_estimate() {
    let model = random_denoiser(5);
    let c = conditions(2, 6);
    let device = Device::flex();
    let noise: Vec<f32> = [0u64, 1]
        .iter()
        .flat_map(|&trial| trial_noise(7, trial, 4 * 4 * 4))
        .collect();
    let noise = Tensor::<4>::from_data(TensorData::new(noise, [2, 4, 4, 4]), &device);
    let t = Tensor::<1>::full([2], 1.0, &device);
    let conditional = model.forward(noise.clone(), t.clone(), c.clone());
    let unconditional = model.forward(noise.clone(), t, c.zeros_like());
    for guidance in [1.0f32, 3.0] {
        let expected = values(
            noise.clone()
                - (unconditional.clone()
                    + (conditional.clone() - unconditional.clone()) * guidance),
        );
        let got = sample(&model, c.clone(), &[0, 1], &settings(1, guidance, 7));
        let diff = got
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(diff < 1e-5, "guidance {guidance}: {diff}");
    }
}

#[test]
fn every_step_gives_a_preview_and_the_last_is_the_result() {
    let model = random_denoiser(8);
    let c = conditions(2, 9);
    let s = settings(4, 1.5, 1);
    let mut sampler = FlowSampler::new(&model, c.clone(), None, &[0, 1], &s).unwrap();
    assert_eq!(sampler.steps(), 4);
    let mut previews = Vec::new();
    while let Some(estimate) = sampler.step() {
        previews.push(values(estimate));
    }
    assert_eq!(previews.len(), 4);
    assert_ne!(
        previews[0], previews[3],
        "the estimate changes as it is refined"
    );
    let result = sample(&model, c, &[0, 1], &s);
    let diff = result
        .iter()
        .zip(&previews[3])
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(diff < 1e-5, "{diff}");
}

#[test]
fn strength_starts_from_the_given_latents_part_way() {
    // A fresh denoiser's velocity is zero, so sampling keeps its starting point: with
    // strength s that is (1 − s)·start + s·noise.
    let device = Device::flex();
    let model = fresh_denoiser(0);
    let start = Tensor::<4>::full([1, 4, 4, 4], 2.0, &device);
    let s = SamplerSettings {
        strength: 0.25,
        ..settings(2, 1.0, 4)
    };
    let out = values(
        FlowSampler::new(&model, conditions(1, 2), Some(start.clone()), &[3], &s)
            .unwrap()
            .finish(),
    );
    let noise = trial_noise(4, 3, 64);
    for (o, n) in out.iter().zip(&noise) {
        assert!((o - (0.75 * 2.0 + 0.25 * n)).abs() < 1e-5);
    }
    let wrong = Tensor::<4>::zeros([1, 4, 2, 2], &device);
    let err = FlowSampler::new(&model, conditions(1, 2), Some(wrong), &[3], &s)
        .err()
        .unwrap();
    assert!(err.to_string().contains("starting latents"), "{err}");
    let err = FlowSampler::new(
        &model,
        conditions(1, 2),
        None,
        &[3],
        &SamplerSettings { strength: 0.0, ..s },
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("strength 0"), "{err}");
}

#[test]
fn an_interrupted_autoencoder_run_resumes_to_exactly_the_uninterrupted_result() {
    let ae_config = brainclip::diffusion::AutoencoderTinyConfig {
        encoder_block_out_channels: vec![4; 4],
        decoder_block_out_channels: vec![4; 4],
        ..world_autoencoder_config()
    };
    let config = AutoencoderTrainConfig {
        epochs: 3,
        images_per_epoch: 6,
        batch_size: 4,
        validation_images: 4,
        ..AutoencoderTrainConfig::default()
    };
    let train = |dir: &std::path::Path, resume: bool, stop_after: usize| {
        train_autoencoder(
            &ae_config,
            &config,
            Some(dir),
            resume,
            &mut |report| report.epoch < stop_after,
            &mut |_, _| {},
        )
        .unwrap()
    };
    let whole_dir = tempfile::tempdir().unwrap();
    let whole = train(whole_dir.path(), false, usize::MAX);
    assert_eq!(whole.history.len(), 3);
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(train(dir.path(), false, 1).history.len(), 1);
    let resumed = train(dir.path(), true, usize::MAX);
    assert_eq!(resumed.history.len(), 3);
    assert_eq!(
        resumed.history.iter().map(|r| r.loss).collect::<Vec<_>>(),
        whole.history.iter().map(|r| r.loss).collect::<Vec<_>>()
    );
    assert_eq!(
        resumed
            .autoencoder
            .to_safetensors(StoredDtype::F32)
            .unwrap(),
        whole.autoencoder.to_safetensors(StoredDtype::F32).unwrap()
    );
    // Latent statistics set the diffusion scaling.
    let scaling = whole.autoencoder.config.scaling_factor;
    assert!(
        scaling.is_finite() && scaling > 0.0 && scaling != 1.0,
        "{scaling}"
    );
}

/// Two classes of latents (all +1 or all −1, slightly noisy), told apart only by the condition.
fn two_class_data(count: usize) -> brainclip::train::denoiser::DenoiserTrainingData {
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let (mut latents, mut conditions) = (Vec::new(), Vec::new());
    for i in 0..count {
        let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
        for _ in 0..64 {
            let z: f32 = StandardNormal.sample(&mut rng);
            latents.push(sign + 0.1 * z);
        }
        let mut condition = vec![0.0f32; 8];
        condition[i % 2] = 1.0;
        conditions.extend(condition);
    }
    brainclip::train::denoiser::DenoiserTrainingData {
        latents,
        conditions,
        count,
        latent_channels: 4,
        latent_size: 4,
        condition_dim: 8,
    }
}

fn class_means(model: &DenoiserModel, steps: usize) -> (f32, f32, Vec<f32>) {
    let mut c = vec![0.0f32; 16];
    c[0] = 1.0;
    c[9] = 1.0;
    let c = Tensor::<2>::from_data(TensorData::new(c, [2, 8]), &Device::flex());
    let out = sample(model, c, &[0, 1], &settings(steps, 1.0, 3));
    let mean = |half: &[f32]| half.iter().sum::<f32>() / half.len() as f32;
    (mean(&out[..64]), mean(&out[64..]), out)
}

#[test]
fn a_teacher_learns_what_the_condition_selects_and_a_student_takes_half_the_steps() {
    use brainclip::train::denoiser::{DenoiserTrainConfig, distill_round, train_denoiser};
    let data = two_class_data(64);
    let config = DenoiserTrainConfig {
        epochs: 30,
        batch_size: 16,
        learning_rate: 3e-3,
        condition_dropout: 0.0,
        holdout_every: 8,
        ..DenoiserTrainConfig::default()
    };
    let teacher = train_denoiser(
        &small_config(),
        &data,
        &config,
        None,
        false,
        &mut |_| true,
        &mut |_, _| {},
    )
    .unwrap();
    let first = teacher.history.first().unwrap().validation_loss;
    let last = teacher.history.last().unwrap().validation_loss;
    assert!(last < 0.5 * first, "held-out loss {first} → {last}");
    let (plus, minus, teacher_out) = class_means(&teacher.model, 8);
    assert!(plus > 0.7 && minus < -0.7, "class means {plus} / {minus}");

    let student = distill_round(
        &teacher.model,
        8,
        1.0,
        &data,
        &DenoiserTrainConfig {
            epochs: 10,
            learning_rate: 1e-3,
            ..config
        },
        None,
        false,
        &mut |_| true,
        &mut |_, _| {},
    )
    .unwrap();
    let (plus, minus, student_out) = class_means(&student.model, 4);
    assert!(
        plus > 0.7 && minus < -0.7,
        "student class means {plus} / {minus}"
    );
    let gap = student_out
        .iter()
        .zip(&teacher_out)
        .map(|(a, b)| (a - b).abs())
        .sum::<f32>()
        / student_out.len() as f32;
    assert!(
        gap < 0.2,
        "4 student steps vs 8 teacher steps: mean |diff| {gap}"
    );
}

use crate::decoder_bundle;

/// A bundle's decoder: the same seed gives the same images; the decoder is checked against
/// the mapper when the bundle is loaded.
#[test]
fn a_bundle_reconstructs_reproducibly_and_refuses_a_mismatched_denoiser() {
    use brainclip::data::bundle::Component;
    use brainclip::tasks::{Decoder, ReconstructRequest};
    let bundle = decoder_bundle::bundle_with_decoder();
    let decoder =
        Decoder::from_bundle(&bundle, brainclip::device::ComputeDevice::cpu(None)).unwrap();
    let fmri = decoder_bundle::fmri(3, decoder_bundle::VOXELS);
    let request = ReconstructRequest {
        seed: 4,
        ..Default::default()
    };
    let run = |request: &ReconstructRequest| {
        pollster::block_on(decoder.reconstruct(&fmri, request, None)).unwrap()
    };
    let first = run(&request);
    assert_eq!(
        (first.steps, first.guidance),
        (4, 2.0),
        "the bundle's schedule"
    );
    assert_eq!(first.trials, vec![0, 1, 2]);
    assert_eq!(run(&request), first);
    assert_ne!(
        run(&ReconstructRequest {
            seed: 5,
            ..request.clone()
        })
        .images,
        first.images
    );
    assert_ne!(first.images[0], first.images[1], "each trial its own image");

    // The upper-bound path: drawn from given embeddings, the mapper's own predictions give
    // exactly the fMRI path's images (same rows, same noise).
    let predicted = pollster::block_on(decoder.embed(&fmri)).unwrap().image;
    let from_embeddings =
        pollster::block_on(decoder.reconstruct_from_embeddings(&predicted, &request, None))
            .unwrap();
    assert_eq!(from_embeddings, first);
    let err = pollster::block_on(decoder.reconstruct_from_embeddings(
        &predicted.select_rows(&[0]).transposed(),
        &request,
        None,
    ))
    .unwrap_err();
    assert!(
        err.to_string().contains("at least one row of 24 values"),
        "{err}"
    );

    let (denoiser, weights) = bundle.component("denoiser").unwrap();
    let mut config = denoiser.config.clone();
    config["model"]["condition_dim"] = 12.into();
    let mismatched = bundle
        .with_component(
            "denoiser",
            Component {
                config,
                ..denoiser.clone()
            },
            weights.to_vec(),
        )
        .unwrap();
    let err = Decoder::from_bundle(&mismatched, brainclip::device::ComputeDevice::cpu(None))
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("conditioned on 12-d embeddings; the mapper predicts 24-d"),
        "{err}"
    );
}

/// Reconstructions identical to the seen images score PixCorr and SSIM of 1 (up to 8-bit
/// rounding), far above the same scores on mismatched pairs.
#[test]
fn perfect_reconstructions_score_one_and_mismatched_pairs_set_the_chance_level() {
    use brainclip::tasks::Decoder;
    let decoder = Decoder::from_bundle(
        &decoder_bundle::bundle_with_decoder(),
        brainclip::device::ComputeDevice::cpu(None),
    )
    .unwrap();
    let size = 64;
    let mut next = decoder_bundle::lcg(3);
    let stimuli: Vec<Vec<f32>> = (0..3)
        .map(|_| {
            let (fx, fy, phase) = (next() * 0.8, next() * 0.8, next() * 6.0);
            (0..size * size * 3)
                .map(|i| {
                    let (p, c) = (i / 3, i % 3);
                    let (x, y) = ((p % size) as f32, (p / size) as f32);
                    0.5 + 0.5 * (fx * x + fy * y + phase + c as f32).sin()
                })
                .collect()
        })
        .collect();
    let images: Vec<Vec<u8>> = stimuli
        .iter()
        .map(|s| {
            s.chunks_exact(3)
                .flat_map(|p| [p[0], p[1], p[2], 1.0].map(|v| (v * 255.0).round() as u8))
                .collect()
        })
        .collect();
    let metrics =
        pollster::block_on(decoder.reconstruction_metrics(&images, size, &stimuli, None)).unwrap();
    let ids: Vec<&str> = metrics.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(
        ids,
        ["pixcorr", "ssim", "latent_two_way"],
        "no CLIP in this bundle: no CLIP 2-way"
    );
    for m in &metrics {
        assert!(m.value > 0.999, "{}: {}", m.id, m.value);
        assert!(m.chance < 0.9, "{}: mismatched pairs {}", m.id, m.chance);
    }
    // The autoencoder ceiling: the seen images encoded and decoded, the diffusion-space
    // shift and scale (made non-trivial here) undone exactly on the way back.
    let mut decoder = decoder;
    let config = &mut decoder.reconstructor.get_mut().unwrap().autoencoder.config;
    (config.scaling_factor, config.shift_factor) = (1.7, 0.4);
    let reconstructor = decoder.reconstructor.get().unwrap();
    let autoencoded = pollster::block_on(decoder.autoencode(&stimuli))
        .unwrap()
        .images;
    let x = burn::tensor::Tensor::<4>::from_data(
        burn::tensor::TensorData::new(
            stimuli
                .iter()
                .flat_map(|s| brainclip::diffusion::hwc_unit_to_chw_signed(s, size).unwrap())
                .collect::<Vec<f32>>(),
            [3, 3, size, size],
        ),
        &decoder.device.device,
    );
    let ae = &reconstructor.autoencoder;
    let direct = ae.decode(ae.encode(x).unwrap()).unwrap();
    let direct: Vec<f32> = direct.into_data().try_to_vec::<f32>().unwrap();
    for (i, image) in autoencoded.iter().enumerate() {
        let plane = 3 * size * size;
        let expected = brainclip::diffusion::chw_signed_to_rgba(
            &direct[i * plane..(i + 1) * plane],
            size,
            size,
        )
        .unwrap();
        let worst = image
            .iter()
            .zip(&expected)
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        assert!(worst <= 1, "image {i}: off by {worst} levels");
    }
    let err = pollster::block_on(decoder.autoencode(&[vec![0.5; 3 * 32 * 32]])).unwrap_err();
    assert!(err.to_string().contains("64 × 64 × 3"), "{err}");

    let err =
        pollster::block_on(decoder.reconstruction_metrics(&images, size, &stimuli[..2], None))
            .unwrap_err();
    assert!(
        err.to_string().contains("2 images for 3 reconstructions"),
        "{err}"
    );
}

/// What a reconstruction depicts: its CLIP embedding classified among the candidate labels,
/// and on world categories whether the chosen one has the seen colour and shape.
#[test]
fn reconstructions_are_classified_by_category_colour_and_shape() {
    use brainclip::matrix::Matrix;
    use brainclip::tasks::SeenLabels;
    let candidates: Vec<String> = ["red circle", "red square", "blue circle", "green star"]
        .map(String::from)
        .to_vec();
    // Orthonormal label embeddings: a reconstruction embedded as label j is classified as j.
    let k = candidates.len();
    let embeddings = Matrix::new(
        (0..k * k).map(|i| f32::from(i / k == i % k)).collect(),
        k,
        k,
    )
    .unwrap();
    let as_label = |chosen: &[usize]| {
        Matrix::new(
            chosen
                .iter()
                .flat_map(|&j| embeddings.row(j).to_vec())
                .collect(),
            chosen.len(),
            k,
        )
        .unwrap()
    };
    let truth = [0, 1, 2, 3];
    let labels = SeenLabels {
        truth: &truth,
        candidates: &candidates,
        embeddings: &embeddings,
    };
    // Seen red circle → drew red square (colour right), red square → red square (all right),
    // blue circle → red circle (shape right), green star → blue circle (nothing right).
    let metrics = labels.depicted(&as_label(&[1, 1, 0, 2])).unwrap();
    let by_id = |id: &str| metrics.iter().find(|m| m.id == id).unwrap();
    assert_eq!(by_id("depicted_category").value, 0.25);
    assert_eq!(by_id("depicted_category").chance, 0.25);
    assert_eq!(by_id("depicted_colour").value, 0.5);
    assert_eq!(by_id("depicted_shape").value, 0.5);
    // Candidates sharing the seen colour: 2, 2, 1, 1 of 4; the seen shape: 2, 1, 2, 1.
    assert_eq!(by_id("depicted_colour").chance, 0.375);
    assert_eq!(by_id("depicted_shape").chance, 0.375);

    let free_text: Vec<String> = ["a dog", "a cat", "a car", "a tree"]
        .map(String::from)
        .to_vec();
    let labels = SeenLabels {
        candidates: &free_text,
        ..labels
    };
    let metrics = labels.depicted(&as_label(&truth)).unwrap();
    assert_eq!(metrics.len(), 1, "no world attributes for free-text labels");
    assert_eq!(metrics[0].value, 1.0);
}

/// The low-level head: its latents decode on their own, img2img starts from them, and a head
/// that does not fit the bundle is refused by name.
#[test]
fn the_low_level_head_draws_alone_and_starts_img2img() {
    use brainclip::data::bundle::{Component, StoredDtype};
    use brainclip::diffusion::{LowLevel, LowLevelConfig};
    use brainclip::ridge::RidgeSolution;
    use brainclip::tasks::{Decoder, ReconstructRequest};
    let head = |voxels: usize, strength: Option<f32>| {
        let mut next = decoder_bundle::lcg(8);
        let dim = 4 * 8 * 8;
        let solution = RidgeSolution {
            weights: (0..voxels * dim).map(|_| next() - 0.5).collect(),
            bias: (0..dim).map(|_| next() - 0.5).collect(),
            voxels,
            dim,
            lambda: 1.0,
        };
        let config = LowLevelConfig {
            voxels,
            latent_channels: 4,
            latent_size: 8,
            strength,
        };
        let low_level = LowLevel::from_ridge(config.clone(), &solution).unwrap();
        (
            Component {
                kind: "low_level".into(),
                config: serde_json::json!(config),
                weights: "low_level.safetensors".into(),
                control: None,
            },
            low_level.to_safetensors(StoredDtype::F32).unwrap(),
        )
    };
    let (component, weights) = head(decoder_bundle::VOXELS, None);
    let bundle = decoder_bundle::bundle_with_decoder()
        .with_component("low_level", component, weights)
        .unwrap();
    let cpu = || brainclip::device::ComputeDevice::cpu(None);
    let decoder = Decoder::from_bundle(&bundle, cpu()).unwrap();
    let fmri = decoder_bundle::fmri(3, decoder_bundle::VOXELS);
    let blurry = pollster::block_on(decoder.reconstruct_low_level(&fmri, &[2])).unwrap();
    assert_eq!((blurry.trials, blurry.size, blurry.steps), (vec![2], 64, 0));
    let blurry = blurry.images;
    assert_eq!(blurry.len(), 1);
    assert_eq!(blurry[0].len(), 64 * 64 * 4);
    let run = |strength: f32| {
        let request = ReconstructRequest {
            trials: vec![2],
            strength: Some(strength),
            ..Default::default()
        };
        pollster::block_on(decoder.reconstruct(&fmri, &request, None))
            .unwrap()
            .images
    };
    assert_ne!(
        run(0.3),
        run(1.0),
        "strength 0.3 starts from the head's latents"
    );

    // A head that names its strength is where a request without one starts.
    let with_head = |voxels: usize, strength: Option<f32>| {
        let (component, weights) = head(voxels, strength);
        decoder_bundle::bundle_with_decoder()
            .with_component("low_level", component, weights)
            .unwrap()
    };
    let own = Decoder::from_bundle(&with_head(decoder_bundle::VOXELS, Some(0.3)), cpu()).unwrap();
    let request = ReconstructRequest {
        trials: vec![2],
        ..Default::default()
    };
    let by_default = pollster::block_on(own.reconstruct(&fmri, &request, None)).unwrap();
    assert_eq!(by_default.images, run(0.3));
    let from_noise = ReconstructRequest {
        strength: Some(1.0),
        ..request
    };
    let asked = pollster::block_on(own.reconstruct(&fmri, &from_noise, None)).unwrap();
    assert_eq!(asked.images, run(1.0), "a request's strength wins");

    let err = Decoder::from_bundle(&with_head(decoder_bundle::VOXELS, Some(1.5)), cpu())
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("strength 1.5 must be in (0, 1]"),
        "{err}"
    );
    let err = Decoder::from_bundle(&with_head(decoder_bundle::VOXELS + 1, None), cpu())
        .err()
        .unwrap();
    assert!(err.to_string().contains("maps 41 voxels"), "{err}");
}
