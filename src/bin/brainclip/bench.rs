//! `brainclip bench …`: timings printed as numbers, compared by ratio within one run.

use std::time::Instant;

use brainclip::clip::{Clip, ClipConfig};
use brainclip::error::Error;
use burn::tensor::{Device, Distribution, Tensor};
use serde_json::{Value, json};

/// Runs `f` once to warm up, then `repeats` times, returning the best wall time in ms.
fn best_ms(repeats: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..repeats.max(1))
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .fold(f64::INFINITY, f64::min)
}

/// Forces a tensor's computation to finish (the CPU backend may run lazily).
fn sync<const D: usize>(t: Tensor<D>) {
    let _ = t.into_data();
}

pub fn clip(preset: &str, repeats: usize) -> Result<Value, Error> {
    let device = Device::flex();
    let config = ClipConfig::preset(preset)?;
    let size = config.vision.image_size;
    let clip = Clip::new(config, &device)?;
    let short: Vec<String> = [
        "goldfish",
        "tabby cat",
        "traffic light",
        "red square",
        "violin",
    ]
    .iter()
    .cycle()
    .take(50)
    .map(|c| format!("an image of a {c}."))
    .collect();
    let short: Vec<&str> = short.iter().map(String::as_str).collect();
    let long_text = "The quick brown fox jumps over the lazy dog. ".repeat(12);
    let long: Vec<&str> = vec![long_text.as_str(); 50];
    let short_tokens = clip.tokenize(&short);
    let long_tokens = clip.tokenize(&long);
    // The same short prompts padded to the full context, as frameworks without the cut run them.
    let padded_rows: Vec<Vec<u32>> = brainclip::clip::tokenizer::tokenize_padded(&short, 77);
    let padded_tokens =
        brainclip::clip::TokenBatch::from_rows(&padded_rows, clip.config.text.eos_token_id);
    let pixels =
        |n: usize| Tensor::<4>::random([n, 3, size, size], Distribution::Normal(0.0, 1.0), &device);
    let (one, sixteen) = (pixels(1), pixels(16));

    let mut cases = Vec::new();
    let mut run = |label: &str, items: usize, unit: &str, f: &mut dyn FnMut()| {
        let ms = best_ms(repeats, f);
        println!(
            "clip {preset} {label}: {ms:.1} ms ({:.1} {unit}/s)",
            items as f64 / (ms / 1e3)
        );
        cases.push(json!({ "case": label, "ms": ms }));
    };
    run("image batch 1", 1, "images", &mut || {
        sync(
            clip.image_features(one.clone())
                .expect("shape is the preset's"),
        )
    });
    run("image batch 16", 16, "images", &mut || {
        sync(
            clip.image_features(sixteen.clone())
                .expect("shape is the preset's"),
        )
    });
    run(
        &format!("text 50 short prompts (cut to {} tokens)", short_tokens.seq),
        50,
        "prompts",
        &mut || sync(clip.text_features(&short_tokens).expect("valid tokens")),
    );
    run(
        "text 50 short prompts padded to 77",
        50,
        "prompts",
        &mut || sync(clip.text_features(&padded_tokens).expect("valid tokens")),
    );
    run(
        "text 50 full-length prompts (77)",
        50,
        "prompts",
        &mut || sync(clip.text_features(&long_tokens).expect("valid tokens")),
    );

    // The same batch-16 image pass reduced to its weight matmuls (q, k, v, out, fc1, fc2 per
    // layer, plus the patch embedding): a lower bound that shows how much of the full pass
    // is GEMM and how much is everything else (attention, norms, activations, copies).
    let v = &clip.config.vision;
    let grid = v.image_size / v.patch_size;
    let rows = 16 * (grid * grid + 1);
    let activations = Tensor::<2>::random(
        [rows, v.hidden_size],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let square = Tensor::<2>::random(
        [v.hidden_size, v.hidden_size],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let up = Tensor::<2>::random(
        [v.hidden_size, v.intermediate_size],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let wide = Tensor::<2>::random(
        [rows, v.intermediate_size],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let down = Tensor::<2>::random(
        [v.intermediate_size, v.hidden_size],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let patches = Tensor::<2>::random(
        [16 * grid * grid, 3 * v.patch_size * v.patch_size],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let embed = Tensor::<2>::random(
        [3 * v.patch_size * v.patch_size, v.hidden_size],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let gemm_ms = best_ms(repeats, || {
        sync(patches.clone().matmul(embed.clone()));
        for _ in 0..v.num_hidden_layers {
            for _ in 0..4 {
                sync(activations.clone().matmul(square.clone()));
            }
            sync(activations.clone().matmul(up.clone()));
            sync(wide.clone().matmul(down.clone()));
        }
    });
    let flops = 2.0
        * (16 * grid * grid * 3 * v.patch_size * v.patch_size * v.hidden_size
            + v.num_hidden_layers
                * rows
                * v.hidden_size
                * (4 * v.hidden_size + 2 * v.intermediate_size)) as f64;
    println!(
        "clip {preset} image batch 16, weight matmuls only: {gemm_ms:.1} ms ({:.1} GFLOP/s)",
        flops / (gemm_ms / 1e3) / 1e9
    );
    cases.push(json!({ "case": "image batch 16, weight matmuls only", "ms": gemm_ms }));

    // Dense matmul throughput of the same backend, to compare with the machine's sgemm peak.
    let n = 1024;
    let a = Tensor::<2>::random([n, n], Distribution::Normal(0.0, 1.0), &device);
    let b = Tensor::<2>::random([n, n], Distribution::Normal(0.0, 1.0), &device);
    let ms = best_ms(repeats, || sync(a.clone().matmul(b.clone())));
    let gflops = 2.0 * (n as f64).powi(3) / (ms / 1e3) / 1e9;
    println!("matmul {n}×{n}×{n} f32 on the CPU backend: {ms:.1} ms ({gflops:.1} GFLOP/s)");
    Ok(json!({ "preset": preset, "cases": cases, "matmul_gflops": gflops }))
}

/// Mapper training and inference throughput at GOD scale (4,466 voxels) and NSD scale
/// (15,724 voxels), CLIP ViT-B size embeddings (512), default VAE architecture. Inference
/// throughput is the in-run baseline training is compared against.
pub fn mapper(trials: usize, epochs: usize) -> Result<Value, Error> {
    use brainclip::ComputeDevice;
    use brainclip::mapper::{MapperConfig, MapperVariant};
    use brainclip::sim::{PlantedConfig, PlantedDataset};
    use brainclip::train::{TextTargets, TrainConfig, TrainingData, train_mapper};

    let mut rows = Vec::new();
    for (scale, voxels) in [("GOD", 4_466usize), ("NSD", 15_724)] {
        let per_category = 8;
        let data = PlantedDataset::generate(&PlantedConfig {
            voxels,
            dim: 512,
            train_categories: trials.div_ceil(per_category),
            test_categories: 2,
            train_per_category: per_category,
            test_per_category: 1,
            ..PlantedConfig::default()
        })?;
        let split = &data.train;
        let n = split.fmri.rows();
        let texts: Vec<f32> = split
            .categories
            .iter()
            .flat_map(|c| data.category_embeddings.row(*c).iter().copied())
            .collect();
        let training = TrainingData {
            fmri: split.fmri.clone(),
            images: Some(split.images.clone()),
            texts: Some(TextTargets::from_per_trial(&texts, n, 1, 512)?),
            stimulus: None,
            groups: None,
        };
        let config = MapperConfig::new(MapperVariant::Vae, voxels, 512, 512);
        let settings = TrainConfig {
            epochs,
            val_fraction: 0.0,
            patience: 0,
            ..TrainConfig::default()
        };
        let mut per_epoch = Vec::new();
        let outcome = train_mapper(
            &training,
            &config,
            &settings,
            None,
            false,
            &mut |report| {
                per_epoch.push(report.samples_per_second);
                true
            },
            &mut |_, _| {},
        )?;
        // The first epoch includes allocator and thread-pool warm-up.
        let train_rate = per_epoch
            .iter()
            .skip(1)
            .cloned()
            .fold(0.0, f64::max)
            .max(per_epoch[0]);
        let device = ComputeDevice::cpu(None);
        let values = split.fmri.values();
        let embed =
            || pollster::block_on(outcome.mapper.embed(&device, values, voxels)).map(|_| ());
        embed()?;
        let start = Instant::now();
        embed()?;
        let infer_rate = n as f64 / start.elapsed().as_secs_f64();
        let params = config.parameter_count();
        println!(
            "{scale:>4}: {voxels:>6} voxels, {:>10} parameters ({:>5.1} MB f16) | train {train_rate:>7.0} samples/s | inference {infer_rate:>7.0} samples/s | train/inference {:.3}",
            brainclip::error::thousands(params),
            params as f64 * 2.0 / 1e6,
            train_rate / infer_rate
        );
        rows.push(json!({
            "scale": scale, "voxels": voxels, "parameters": params,
            "f16_megabytes": params as f64 * 2.0 / 1e6,
            "train_samples_per_second": train_rate,
            "inference_samples_per_second": infer_rate,
            "trials": n, "batch_size": settings.batch_size,
            "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        }));
    }
    Ok(json!({ "mapper": rows }))
}

/// Reconstruction speed on the CPU backend: a denoiser step, an autoencoder decode, a
/// 4-step student reconstruction of one trial (with and without a decoded preview after
/// every step) and, as the baseline in the same run, the teacher at 50 guided steps.
/// World-sized models with seeded random weights (timing does not depend on the weights),
/// or the image decoder of `bundle`.
pub fn reconstruct(bundle: Option<&std::path::Path>, repeats: usize) -> Result<Value, Error> {
    use brainclip::diffusion::{
        Autoencoder, DenoiserConfig, DenoiserModel, FlowSampler, SamplerSettings,
    };
    use brainclip::train::autoencoder::world_autoencoder_config;
    let device = Device::flex();
    let (autoencoder, denoiser) = match bundle {
        Some(dir) => {
            let bundle = brainclip::data::bundle::Bundle::load_dir(dir)?;
            let decoder = brainclip::tasks::Decoder::from_bundle(
                &bundle,
                brainclip::device::ComputeDevice::cpu(None),
            )?;
            let r = decoder
                .reconstructor
                .into_inner()
                .ok_or_else(|| Error::InvalidConfig {
                    what: "bench reconstruct --bundle".into(),
                    reason: "this bundle has no image decoder".into(),
                })?;
            (r.autoencoder, r.denoiser)
        }
        None => {
            let config = world_autoencoder_config();
            let model = brainclip::device::init_seeded(&device, Some(1), || {
                brainclip::diffusion::autoencoder::AutoencoderTinyModel::new(&config, &device)
            });
            let denoiser = brainclip::device::init_seeded(&device, Some(2), || {
                DenoiserModel::new(&DenoiserConfig::world(4, 8, 64), &device)
            });
            (Autoencoder { config, model }, denoiser)
        }
    };
    let config = denoiser.config.clone();
    let condition = Tensor::<2>::random(
        [1, config.condition_dim],
        Distribution::Normal(0.0, 0.1),
        &device,
    );
    let latent = Tensor::<4>::random(
        [
            1,
            config.latent_channels,
            config.latent_size,
            config.latent_size,
        ],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let sample = |steps: usize, guidance: f32, previews: bool| {
        let settings = SamplerSettings {
            steps,
            guidance,
            strength: 1.0,
            seed: 0,
        };
        let mut sampler = FlowSampler::new(&denoiser, condition.clone(), None, &[0], &settings)
            .expect("shapes are the model's");
        while let Some(estimate) = sampler.step() {
            if previews {
                sync(autoencoder.model.decode(estimate));
            } else {
                sync(estimate);
            }
        }
        sync(autoencoder.model.decode(sampler.finish()));
    };
    let mut cases = Vec::new();
    let mut run = |label: &str, f: &mut dyn FnMut()| {
        let ms = best_ms(repeats, f);
        println!("reconstruct {label}: {ms:.1} ms");
        cases.push(json!({ "case": label, "ms": ms }));
        ms
    };
    let t = Tensor::<1>::full([1], 0.5, &device);
    run("one denoiser step (guidance 1)", &mut || {
        sync(denoiser.forward(latent.clone(), t.clone(), condition.clone()))
    });
    run("one autoencoder decode", &mut || {
        sync(autoencoder.model.decode(latent.clone()))
    });
    let student = run("4-step student, one trial, decoded", &mut || {
        sample(4, 1.0, false)
    });
    run("4-step student with a preview per step", &mut || {
        sample(4, 1.0, true)
    });
    let teacher = run("teacher 50 steps, guidance 2, one trial", &mut || {
        sample(50, 2.0, false)
    });
    let ratio = teacher / student;
    println!("reconstruct: the 4-step student is {ratio:.1}× faster than the 50-step teacher");
    Ok(json!({
        "image_size": config.latent_size * autoencoder.config.downscale(),
        "cases": cases,
        "teacher_over_student": ratio,
    }))
}
