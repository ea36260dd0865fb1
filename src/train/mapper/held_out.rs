//! What a freshly trained mapper is scored on before it ships: its validation trials, decoded
//! among the labels it was trained on, by the one scoring path (`Decoder::evaluate`).

use crate::data::{FmriBatch, FmriSource};
use crate::error::{Error, Result, thousands};
use crate::tasks::EvalRequest;

use super::{TrainConfig, TrainingData};

/// The validation trials as a recording of their own, and the evaluation to run on them.
pub struct HeldOut {
    pub fmri: FmriBatch,
    pub request: EvalRequest,
}

/// The held-out evaluation of a run on `data`, or `None` when it has no validation trials.
/// `labels` holds each trial's labels (the first is its true one). The candidates are
/// `seen_labels` when a CLIP embedded the labels (it embeds the candidates too); otherwise the
/// labels came with their embeddings, and each distinct label is scored by the embedding of
/// the first trial that carries it.
pub fn held_out_evaluation(
    data: &TrainingData,
    source: &FmriSource,
    labels: &[Vec<String>],
    seen_labels: &[String],
    templates: &[String],
    config: &TrainConfig,
) -> Result<Option<HeldOut>> {
    let trials = data.fmri.rows();
    if labels.len() != trials {
        return Err(Error::ShapeMismatch {
            what: "labels".into(),
            got: thousands(labels.len()),
            expected: format!("one entry per fMRI trial ({})", thousands(trials)),
        });
    }
    let first_label = |trial: usize| -> Result<&String> {
        labels[trial].first().ok_or_else(|| Error::ShapeMismatch {
            what: format!("labels of trial {trial}"),
            got: "an empty list".into(),
            expected: "at least one label".into(),
        })
    };
    let (_, validation) = data.validation_split(config.val_fraction, config.seed);
    if validation.is_empty() {
        return Ok(None);
    }
    let truth = validation
        .iter()
        .map(|&trial| first_label(trial).cloned())
        .collect::<Result<Vec<_>>>()?;
    let (candidates, label_embeddings) = if seen_labels.is_empty() {
        let texts = data.texts.as_ref().ok_or_else(|| Error::InvalidConfig {
            what: "held-out evaluation".into(),
            reason: "the labels were neither embedded by a CLIP nor given with embeddings".into(),
        })?;
        let mut candidates: Vec<String> = Vec::new();
        let mut rows = Vec::new();
        for trial in 0..trials {
            let label = first_label(trial)?;
            if !candidates.contains(label) {
                candidates.push(label.clone());
                rows.push(texts.per_trial[trial][0]);
            }
        }
        (candidates, Some(texts.embeddings.select_rows(&rows)))
    } else {
        (seen_labels.to_vec(), None)
    };
    let mut values = Vec::with_capacity(validation.len() * data.fmri.cols());
    for &trial in &validation {
        values.extend_from_slice(data.fmri.row(trial));
    }
    let mut source = source.clone();
    source.file_name = format!("{} (validation trials)", source.file_name);
    Ok(Some(HeldOut {
        fmri: FmriBatch::new(values, validation.len(), data.fmri.cols(), source)?,
        request: EvalRequest {
            labels: Some(truth),
            candidates: Some(candidates),
            templates: templates.to_vec(),
            label_embeddings,
            image_embeddings: data.images.as_ref().map(|m| m.select_rows(&validation)),
            ..EvalRequest::default()
        },
    }))
}
