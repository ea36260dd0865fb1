//! Contrastive pretraining of a CLIP from scratch, as OpenAI trained theirs: a symmetric
//! InfoNCE loss between image and caption embeddings with a learnable temperature. The
//! simulated world's tiny CLIP is trained this way on world images of *all* categories, as
//! real CLIP had seen the kinds of objects GOD shows.
//!
//! Reproducible and resumable like the mapper trainer: seeded streams per epoch and step,
//! and an atomic checkpoint after every epoch.

use std::collections::HashMap;
use std::path::Path;

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::clip::text::TokenBatch;
use crate::clip::{Clip, ClipConfig, ClipModel, l2_normalize, tokenizer};
use crate::error::{Error, Result};
use crate::train::checkpoint::{RunState, adamw, scalar, stream_seed};
use crate::train::epoch::{RunPlan, Streams, optimise_epoch};
use crate::train::losses;

mod data;

pub use data::{ClipTrainingData, WorldImages};

/// Optimisation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipTrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f32,
    pub warmup_fraction: f64,
    /// Per-tensor gradient-norm clip.
    pub grad_clip: Option<f32>,
    /// Every this many images is held out to measure zero-shot classification.
    pub holdout_every: usize,
    /// Standard deviation the token embeddings start from (Hugging Face: 0.02). Larger
    /// values make words distinct from the first step: with near-identical embeddings, words
    /// the vision tower cannot yet tell apart (shapes) are pulled together before it can.
    #[serde(default = "hf_token_std")]
    pub token_embedding_std: f64,
    /// A curriculum: for this many first epochs each image is described only by its warm-up
    /// caption ([`ClipTrainingData::warmup_captions`]; for the world, the object alone).
    /// Colour is what a small vision tower learns first, and once it has, shape words are
    /// pulled together before vision can tell shapes apart; with object-only captions the
    /// loss can fall only by learning shape.
    #[serde(default)]
    pub warmup_caption_epochs: usize,
    pub seed: u64,
}

impl Default for ClipTrainConfig {
    fn default() -> Self {
        // A plain run; the demo's recipe (tools/demo_bundle.sh) lowers the learning rate and
        // weight decay and adds fresh images, larger token embeddings and the warm-up.
        ClipTrainConfig {
            epochs: 50,
            batch_size: 128,
            learning_rate: 3e-3,
            weight_decay: 0.1,
            warmup_fraction: 0.05,
            grad_clip: Some(1.0),
            holdout_every: 20,
            token_embedding_std: hf_token_std(),
            warmup_caption_epochs: 0,
            seed: 0,
        }
    }
}

fn hf_token_std() -> f64 {
    0.02
}

/// One line of the training log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipEpochReport {
    pub epoch: usize,
    pub loss: f64,
    /// Held-out images classified by their nearest class prompt.
    pub zero_shot_top1: f64,
    /// The same on as many training images (a gap to the above means overfitting).
    pub train_top1: f64,
    pub chance: f64,
    pub learning_rate: f64,
    pub temperature: f64,
    pub samples_per_second: f64,
}

pub struct ClipTrainOutcome {
    pub clip: Clip,
    pub history: Vec<ClipEpochReport>,
}

#[derive(Module, Debug)]
struct ClipTrainee {
    network: ClipModel,
    log_scale: Param<Tensor<1>>,
}

const TRAINEE_FILE: &str = "trainee.bpk";
const PURPOSE_INIT: u64 = 11;
const PURPOSE_ORDER: u64 = 12;
const PURPOSE_STEP: u64 = 13;

fn pixels(images: &[&Vec<f32>], config: &ClipConfig, device: &Device) -> Tensor<4> {
    let size = config.vision.image_size;
    let flat: Vec<f32> = images.iter().flat_map(|img| img.iter().copied()).collect();
    Tensor::from_data(
        TensorData::new(flat, [images.len(), config.vision.num_channels, size, size]),
        device,
    )
}

fn embed_images(model: &ClipModel, pixels: Tensor<4>) -> Tensor<2> {
    l2_normalize(
        model
            .visual_projection
            .forward(model.vision_model.forward(pixels)),
    )
}

fn embed_tokens(model: &ClipModel, tokens: &TokenBatch) -> Tensor<2> {
    l2_normalize(
        model
            .text_projection
            .forward(model.text_model.forward(tokens)),
    )
}

/// The class each image is closest to among `class_prompts` (zero-shot classification).
pub fn classify(clip: &Clip, data: &ClipTrainingData) -> Result<Vec<usize>> {
    let device = clip.model.visual_projection.weight.device();
    let all: Vec<usize> = (0..data.images.len()).collect();
    predictions(&clip.model, &clip.config, data, &all, &device)
}

/// One epoch's batches from a shuffled `order`: plain chunks, or with `groups`, half of them
/// from one group at a time, interleaved with plain ones.
fn epoch_batches(order: &[usize], groups: &[usize], size: usize) -> Vec<Vec<usize>> {
    if groups.is_empty() {
        return order.chunks(size).map(<[usize]>::to_vec).collect();
    }
    let (grouped, mixed) = order.split_at(order.len() / 2);
    let mut by_group: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for &i in grouped {
        by_group.entry(groups[i]).or_default().push(i);
    }
    // Each group is cut into its own batches, so none mixes two groups.
    let hard_batches: Vec<&[usize]> = by_group.values().flat_map(|g| g.chunks(size)).collect();
    let mut hard = hard_batches.into_iter();
    let mut plain = mixed.chunks(size);
    let mut out = Vec::new();
    loop {
        match (hard.next(), plain.next()) {
            (None, None) => break out,
            (a, b) => out.extend([a, b].into_iter().flatten().map(<[usize]>::to_vec)),
        }
    }
}

/// The nearest class prompt of each of `images` (indices into `data`).
fn predictions(
    model: &ClipModel,
    config: &ClipConfig,
    data: &ClipTrainingData,
    images: &[usize],
    device: &Device,
) -> Result<Vec<usize>> {
    let prompts: Vec<&str> = data.class_prompts.iter().map(String::as_str).collect();
    let mut class_embeddings = Vec::new();
    for chunk in prompts.chunks(64) {
        let tokens = tokenizer::batch(
            chunk,
            config.text.max_position_embeddings,
            config.text.eos_token_id,
        );
        class_embeddings.push(embed_tokens(model, &tokens));
    }
    let classes = Tensor::cat(class_embeddings, 0);
    let mut out = Vec::with_capacity(images.len());
    for chunk in images.chunks(64) {
        let batch: Vec<&Vec<f32>> = chunk.iter().map(|&i| &data.images[i]).collect();
        let scores =
            embed_images(model, pixels(&batch, config, device)).matmul(classes.clone().transpose());
        let best: Vec<i64> = scores
            .argmax(1)
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .map_err(|err| Error::InvalidConfig {
                what: "CLIP evaluation".into(),
                reason: format!("{err:?}"),
            })?;
        out.extend(best.into_iter().map(|b| b as usize));
    }
    Ok(out)
}

/// Each image's captions as indices into a table of distinct captions, tokenised once.
/// With `warmup`, each image's warm-up caption is its only one.
fn caption_table(
    data: &ClipTrainingData,
    config: &ClipConfig,
    warmup: bool,
) -> (Vec<Vec<usize>>, Vec<Vec<u32>>) {
    let mut caption_ids: HashMap<&str, usize> = HashMap::new();
    let mut caption_tokens: Vec<Vec<u32>> = Vec::new();
    let per_image = data
        .captions
        .iter()
        .enumerate()
        .map(|(image, captions)| {
            let captions: &[String] = if warmup {
                std::slice::from_ref(&data.warmup_captions[image])
            } else {
                captions
            };
            captions
                .iter()
                .map(|caption| {
                    *caption_ids.entry(caption.as_str()).or_insert_with(|| {
                        caption_tokens.push(tokenizer::tokenize(
                            caption,
                            config.text.max_position_embeddings,
                        ));
                        caption_tokens.len() - 1
                    })
                })
                .collect()
        })
        .collect();
    (per_image, caption_tokens)
}

/// Zero-shot classification accuracy on `holdout` images against every class prompt.
fn zero_shot_top1(
    model: &ClipModel,
    config: &ClipConfig,
    data: &ClipTrainingData,
    holdout: &[usize],
    device: &Device,
) -> Result<f64> {
    if holdout.is_empty() {
        return Ok(f64::NAN);
    }
    let predicted = predictions(model, config, data, holdout, device)?;
    let correct = holdout
        .iter()
        .zip(predicted)
        .filter(|(i, p)| data.categories[**i] == *p)
        .count();
    Ok(correct as f64 / holdout.len() as f64)
}

/// Trains a CLIP of `clip_config` from random initialisation. With `checkpoint_dir`, state
/// is saved after every epoch; with `resume` the run continues from it (refusing other
/// settings or data). `on_epoch` returns whether to go on.
pub fn train_clip(
    clip_config: &ClipConfig,
    data: &ClipTrainingData,
    config: &ClipTrainConfig,
    checkpoint_dir: Option<&Path>,
    resume: bool,
    on_epoch: &mut dyn FnMut(&ClipEpochReport) -> bool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<ClipTrainOutcome> {
    clip_config.validate()?;
    data.validate(clip_config)?;
    if config.batch_size < 2 || config.epochs == 0 {
        return Err(Error::InvalidConfig {
            what: "CLIP training".into(),
            reason: "needs batch_size ≥ 2 and epochs ≥ 1".into(),
        });
    }
    let device = Device::flex().autodiff();
    let mut trainee = ClipTrainee {
        network: ClipModel::random(
            clip_config,
            &device,
            Some(stream_seed(config.seed, PURPOSE_INIT, 0, 0)),
        ),
        log_scale: Param::from_tensor(Tensor::<1>::from_data(
            TensorData::new(vec![clip_config.logit_scale_init], [1]),
            &device,
        )),
    };
    if config.token_embedding_std != hf_token_std() {
        let scale = (config.token_embedding_std / hf_token_std()) as f32;
        let embedding = &mut trainee.network.text_model.embeddings.token_embedding;
        // Through host data: a parameter must start as a leaf of the autodiff graph.
        let scaled = embedding.weight.val().mul_scalar(scale).into_data();
        embedding.weight = Param::from_tensor(Tensor::from_data(scaled, &device));
    }
    let optimizer = adamw(config.weight_decay, config.grad_clip);

    let holdout_every = config.holdout_every.max(2);
    let (holdout, train): (Vec<usize>, Vec<usize>) = if config.holdout_every == 0 {
        (Vec::new(), (0..data.images.len()).collect())
    } else {
        (0..data.images.len()).partition(|i| i % holdout_every == holdout_every - 1)
    };
    let steps_per_epoch = train.len().div_ceil(config.batch_size);
    let total_steps = steps_per_epoch * config.epochs;
    let fingerprint = serde_json::json!({
        "clip": clip_config,
        "train": config,
        "data": data.content_hash(),
    })
    .to_string();
    let (mut state, mut trainee, mut optimizer) = RunState::start(
        fingerprint,
        checkpoint_dir,
        resume,
        TRAINEE_FILE,
        trainee,
        optimizer,
    )?;

    let plan = RunPlan::warmup_cosine(
        "CLIP training",
        total_steps,
        Streams::new(config.seed, PURPOSE_ORDER, PURPOSE_STEP),
        config.learning_rate,
        config.warmup_fraction,
    );
    while state.epochs_done < config.epochs {
        let epoch = state.epochs_done;
        let order = plan.streams.shuffled(&train, epoch);
        let epoch_data = data.for_epoch(epoch)?;
        let data = epoch_data.as_ref();
        let warmup = epoch < config.warmup_caption_epochs && !data.warmup_captions.is_empty();
        let (per_image, caption_tokens) = caption_table(data, clip_config, warmup);
        let batches = epoch_batches(&order, &data.hard_negative_groups, config.batch_size)
            .into_iter()
            .filter(|batch| batch.len() >= 2);
        let steps;
        (trainee, steps) = optimise_epoch(
            trainee,
            &mut optimizer,
            &mut state.step,
            &plan,
            epoch,
            batches,
            |trainee, batch, rng| {
                let chosen: Vec<usize> = batch
                    .iter()
                    .map(|&i| per_image[i][rng.random_range(0..per_image[i].len())])
                    .collect();
                let rows: Vec<Vec<u32>> =
                    chosen.iter().map(|&c| caption_tokens[c].clone()).collect();
                let tokens = TokenBatch::from_rows(&rows, clip_config.text.eos_token_id);
                let images: Vec<&Vec<f32>> = batch.iter().map(|&i| &data.images[i]).collect();
                let image_embeddings =
                    embed_images(&trainee.network, pixels(&images, clip_config, &device));
                let text_embeddings = embed_tokens(&trainee.network, &tokens);
                // Images that drew the same caption are all correct matches for it.
                let positives = Tensor::<2>::from_data(
                    TensorData::new(
                        losses::positives_from_groups(&chosen),
                        [batch.len(), batch.len()],
                    ),
                    &device,
                );
                let scale = trainee.log_scale.val().exp().clamp_max(100.0);
                losses::info_nce(image_embeddings, text_embeddings, scale, positives)
            },
            progress,
        );
        let steps = steps?;
        let eval = trainee.valid();
        let plain = Device::flex();
        let top1 = zero_shot_top1(&eval.network, clip_config, data, &holdout, &plain)?;
        // Every k-th training image: a sample spread over all categories.
        let stride = (train.len() / holdout.len().max(1)).max(1);
        let seen: Vec<usize> = train.iter().step_by(stride).copied().collect();
        let train_top1 = zero_shot_top1(&eval.network, clip_config, data, &seen, &plain)?;
        let report = ClipEpochReport {
            epoch: epoch + 1,
            loss: steps.loss,
            zero_shot_top1: top1,
            train_top1,
            chance: 1.0 / data.class_prompts.len().max(1) as f64,
            learning_rate: steps.learning_rate,
            temperature: 1.0 / scalar(eval.log_scale.val()).exp(),
            samples_per_second: train.len() as f64 / steps.seconds.max(1e-9),
        };
        let keep_going = on_epoch(&report);
        state.finish_epoch(report, checkpoint_dir, TRAINEE_FILE, &trainee, &optimizer)?;
        if !keep_going {
            break;
        }
    }
    let trained = trainee.valid();
    let logit_scale = scalar(trained.log_scale.val()).exp() as f32;
    Ok(ClipTrainOutcome {
        clip: Clip {
            config: clip_config.clone(),
            model: trained.network.to_device(&Device::flex()),
            logit_scale,
        },
        history: state.history,
    })
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn hard_negative_batches_cover_every_image_once_and_half_are_single_group() {
        let groups: Vec<usize> = (0..64).map(|i| i % 4).collect();
        let mut order: Vec<usize> = (0..64).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(1));
        let batches = epoch_batches(&order, &groups, 8);
        let mut seen: Vec<usize> = batches.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..64).collect::<Vec<_>>());
        let single_group = batches
            .iter()
            .filter(|b| b.iter().all(|&i| groups[i] == groups[b[0]]))
            .count();
        // Half the images come in single-colour batches (a plain batch may be one by chance).
        assert!(
            single_group >= 4,
            "{single_group} of {} batches",
            batches.len()
        );
        let in_hard: usize = batches
            .iter()
            .filter(|b| b.iter().all(|&i| groups[i] == groups[b[0]]))
            .map(Vec::len)
            .sum();
        assert!(in_hard >= 32, "{in_hard} images in single-group batches");
        // Without groups, batches are the order's plain chunks.
        assert_eq!(epoch_batches(&order, &[], 8).concat(), order);
    }
}
