//! The controls a mapper's numbers are read against, trained on exactly the same split:
//! a mapper trained on shuffled supervision (what training finds without a real
//! brain–stimulus relation) and ridge regression (the linear decoder of the field).

use crate::error::Result;
use crate::mapper::Mapper;
use crate::matrix::Matrix;
use crate::ridge::{LAMBDA_SCALES, RidgeProblem, RidgeSolution, ridge_mapper};
use crate::train::mapper::{
    TrainConfig, TrainOutcome, TrainingData, prepare, validation::validate,
};

/// Display names of the controls, as evaluation reports them.
pub const SHUFFLED_CONTROL: &str = "shuffled labels";
pub const RIDGE_BASELINE: &str = "ridge";

/// Seed offset of the shuffled control's permutation, apart from the trainer's streams.
const SHUFFLE_SEED: u64 = 0x5_4ff1e;

/// Which training of [`train_with_controls`] runs: the mapper, or its label-shuffled control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Model,
    ShuffledControl,
}

impl Phase {
    /// As reports and epoch logs name it.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Model => "model",
            Phase::ShuffledControl => SHUFFLED_CONTROL,
        }
    }
}

/// A trained mapper with the controls its numbers are read against.
pub struct WithControls {
    pub outcome: TrainOutcome,
    pub shuffled: Option<TrainOutcome>,
    pub ridge: Option<RidgeBaseline>,
}

impl WithControls {
    /// The controls as a bundle carries them: component name, display name, mapper.
    pub fn bundled(&self) -> Vec<(&'static str, &'static str, &Mapper)> {
        let shuffled = self
            .shuffled
            .as_ref()
            .map(|s| ("shuffled", SHUFFLED_CONTROL, &s.mapper));
        let ridge = self
            .ridge
            .as_ref()
            .map(|r| ("ridge", RIDGE_BASELINE, &r.mapper));
        shuffled.into_iter().chain(ridge).collect()
    }
}

/// The pipeline `train-mapper` and the page's `trainMapper` share: the mapper, then (with
/// `controls`) its label-shuffled control, trained the same way on the same split, and the
/// ridge baseline. `train` runs one training to its end (the CLI with checkpoints, the page
/// epoch by epoch); for [`Phase::ShuffledControl`] it gets the shuffled data.
pub async fn train_with_controls(
    data: &TrainingData,
    config: &TrainConfig,
    controls: bool,
    mut train: impl AsyncFnMut(&TrainingData, Phase) -> Result<TrainOutcome>,
) -> Result<WithControls> {
    let outcome = train(data, Phase::Model).await?;
    if !controls {
        return Ok(WithControls {
            outcome,
            shuffled: None,
            ridge: None,
        });
    }
    let shuffled = train(&shuffled_supervision(data, config), Phase::ShuffledControl).await?;
    let ridge = fit_ridge(data, config, outcome.mapper.config.logit_scale)?;
    Ok(WithControls {
        outcome,
        shuffled: Some(shuffled),
        ridge: Some(ridge),
    })
}

/// The data the label-shuffled control trains on: every stimulus given another stimulus's
/// supervision, by a permutation drawn from the run's seed.
pub fn shuffled_supervision(data: &TrainingData, config: &TrainConfig) -> TrainingData {
    data.with_shuffled_supervision(config.seed ^ SHUFFLE_SEED)
}

/// A ridge decoder fitted on the mapper's training split, λ chosen per space on its
/// validation split.
pub struct RidgeBaseline {
    pub mapper: Mapper,
    /// The chosen λ of each space as a multiple of `tr(X Xᵀ)/n`.
    pub image_lambda_scale: f64,
    pub text_lambda_scale: f64,
}

/// Fits ridge regression from the normalised training fMRI to the image embeddings and to
/// each trial's mean caption embedding, choosing λ for each space from [`LAMBDA_SCALES`] by
/// validation top-1 (the mapper's early-stopping score); ties go to the larger λ. Without
/// a validation split λ is `tr(X Xᵀ)/n`.
pub fn fit_ridge(
    data: &TrainingData,
    config: &TrainConfig,
    logit_scale: f32,
) -> Result<RidgeBaseline> {
    data.validate()?;
    let prepared = prepare(data, config)?;
    let voxels = data.fmri.cols();
    let problem = RidgeProblem::new(&prepared.train_x, prepared.train_rows.len(), voxels)?;
    let image_targets = match &data.images {
        Some(images) => images.select_rows(&prepared.train_rows),
        None => mean_captions(data, &prepared.train_rows)?,
    };
    let text_targets = match &data.texts {
        Some(_) => mean_captions(data, &prepared.train_rows)?,
        None => image_targets.clone(),
    };
    let unit = problem.lambda_unit();
    let fit = |scale: f64| -> Result<(RidgeSolution, RidgeSolution)> {
        Ok((
            problem.solve(&image_targets, scale * unit)?,
            problem.solve(&text_targets, scale * unit)?,
        ))
    };
    if prepared.val_rows.is_empty() {
        let (image, text) = fit(1.0)?;
        return Ok(RidgeBaseline {
            mapper: ridge_mapper(&image, &text, logit_scale)?,
            image_lambda_scale: 1.0,
            text_lambda_scale: 1.0,
        });
    }
    let stimulus = data.stimulus_ids();
    let mut best_image: Option<(f64, f64, RidgeSolution)> = None;
    let mut best_text: Option<(f64, f64, RidgeSolution)> = None;
    for scale in LAMBDA_SCALES {
        let (image, text) = fit(scale)?;
        let candidate = ridge_mapper(&image, &text, logit_scale)?;
        let [image_score, text_score] = validate(
            &candidate.model,
            &candidate.config,
            data,
            &prepared.val_rows,
            &prepared.val_x,
            &stimulus,
            data.images.is_some(),
            data.texts.is_some(),
        )?;
        let keep = |best: &mut Option<(f64, f64, RidgeSolution)>,
                    score: Option<(f64, f64)>,
                    solution: RidgeSolution| {
            let score = score.map_or(0.0, |(value, _)| value);
            // Scales rise, so ≥ keeps the larger λ on ties.
            if best.as_ref().is_none_or(|(s, _, _)| score >= *s) {
                *best = Some((score, scale, solution));
            }
        };
        keep(&mut best_image, image_score, image);
        keep(&mut best_text, text_score, text);
    }
    let (_, mut image_lambda_scale, mut image) = best_image.expect("the grid is not empty");
    let (_, mut text_lambda_scale, mut text) = best_text.expect("the grid is not empty");
    // A space without supervision was fitted to the other's targets and never scored: it
    // takes the other space's choice.
    if data.images.is_none() {
        (image_lambda_scale, image) = (text_lambda_scale, text.clone());
    }
    if data.texts.is_none() {
        (text_lambda_scale, text) = (image_lambda_scale, image.clone());
    }
    Ok(RidgeBaseline {
        mapper: ridge_mapper(&image, &text, logit_scale)?,
        image_lambda_scale,
        text_lambda_scale,
    })
}

/// Each trial's captions averaged into one unit target (their shared direction).
fn mean_captions(data: &TrainingData, rows: &[usize]) -> Result<Matrix> {
    let texts = data
        .texts
        .as_ref()
        .expect("callers check that captions exist");
    let dim = texts.embeddings.cols();
    let mut values = Vec::with_capacity(rows.len() * dim);
    for &row in rows {
        let mut mean = vec![0f32; dim];
        for &caption in &texts.per_trial[row] {
            mean.iter_mut()
                .zip(texts.embeddings.row(caption))
                .for_each(|(m, v)| *m += v);
        }
        crate::matrix::l2_normalize(&mut mean);
        values.extend(mean);
    }
    Matrix::new(values, rows.len(), dim)
}
