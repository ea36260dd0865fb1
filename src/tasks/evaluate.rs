//! Evaluation: the one scoring path. `brainclip eval`, the npm package's
//! `decoder.evaluate` and the demo page all call [`Decoder::evaluate`], so a number means the
//! same wherever it is shown.
//!
//! Every metric comes with what it must be read against: its chance level, the same metric
//! for each control the bundle ships (a mapper trained on shuffled labels, a ridge
//! regression baseline), and — when the labels are the simulated world's categories — the
//! ceilings of a decoder that knew only the colour or only the shape of each stimulus.
//! Similarities are computed on the host in f64 ([`metrics::similarity`]), so the scores do
//! not depend on the backend's summation order.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, thousands};
use crate::mapper::MappedEmbeddings;
use crate::matrix::Matrix;
use crate::metrics::{self, AttributeCeiling, Metric};
use crate::sim::stimuli::Category;
use crate::tasks::{Decoder, MapperSlot, distinct_labels};

/// What to evaluate against. Embeddings are L2-normalised here, whatever the caller passed.
#[derive(Debug, Clone)]
pub struct EvalRequest {
    /// The true category label of each trial: enables category decoding.
    pub labels: Option<Vec<String>>,
    /// Candidate labels (default: the distinct true labels, in order of first appearance).
    pub candidates: Option<Vec<String>>,
    /// Prompt templates when the bundle's CLIP embeds the candidates (default
    /// "an image of a {}.").
    pub templates: Vec<String>,
    /// CLIP text embeddings of the candidates, `[candidates, dim]`, instead of CLIP.
    pub label_embeddings: Option<Matrix>,
    /// CLIP image embedding of each trial's stimulus, `[trials, dim]`: enables retrieval and
    /// identification. Trials with identical rows are repeats of one stimulus.
    pub image_embeddings: Option<Matrix>,
    /// CLIP text embedding of each trial's caption, `[trials, dim]`: fMRI → text retrieval.
    pub text_embeddings: Option<Matrix>,
    /// N of N-way identification.
    pub way: usize,
    /// Random draws N-way identification averages over.
    pub draws: usize,
    pub seed: u64,
}

impl Default for EvalRequest {
    fn default() -> Self {
        EvalRequest {
            labels: None,
            candidates: None,
            templates: Vec::new(),
            label_embeddings: None,
            image_embeddings: None,
            text_embeddings: None,
            way: 300,
            draws: 30,
            seed: 0,
        }
    }
}

/// Per-trial outcomes, for showing which trials were decoded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PerTrial {
    /// Rank of each trial's true label among the candidates (0: decoded correctly; ties
    /// count against the truth).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category_rank: Option<Vec<usize>>,
    /// How far each trial's true label is ahead of the best other candidate (cosine
    /// similarity; negative when another wins). Tells whether a decision is a near-tie that
    /// another backend's rounding could flip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category_margin: Option<Vec<f64>>,
    /// Rank of each trial's own stimulus among the candidate images, scored with the
    /// averaged prediction of the trials that show it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_rank: Option<Vec<usize>>,
    /// The margin of each trial's own stimulus over the best other candidate image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_margin: Option<Vec<f64>>,
}

/// Score of candidate `truth` minus the best other score in `row` (in f64, so the JSON the
/// CLI prints and the numbers JavaScript receives are the same values).
fn margin(row: &[f32], truth: usize) -> f64 {
    let best_other = row
        .iter()
        .enumerate()
        .filter(|(j, _)| *j != truth)
        .map(|(_, s)| *s)
        .fold(f32::NEG_INFINITY, f32::max);
    (row[truth] - best_other) as f64
}

/// The result: the same object `brainclip eval --json` prints and `decoder.evaluate` returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    pub trials: usize,
    pub metrics: Vec<Metric>,
    /// Remarks on how to read the metrics (e.g. a metric left out because it would repeat
    /// another).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub per_trial: PerTrial,
}

/// One attribute of a world category (its colour or its shape).
type Attribute = fn(&Category) -> usize;

/// Names under which the simulated world's attribute ceilings are reported.
pub const COLOUR_ONLY: &str = "colour only";
pub const SHAPE_ONLY: &str = "shape only";

/// Everything about the truth that does not depend on which mapper is scored.
struct Truth {
    category: Option<CategoryTruth>,
    image: Option<RetrievalTruth>,
    text: Option<RetrievalTruth>,
    way: usize,
    draws: usize,
    seed: u64,
}

struct CategoryTruth {
    /// Index of each trial's true label among the candidates.
    truth: Vec<usize>,
    candidates: usize,
    embeddings: Matrix,
    /// The world category of each candidate, when every label is one.
    world: Option<Vec<Category>>,
}

/// Retrieval among distinct stimuli: repeats (identical embedding rows) are one candidate,
/// scored with their averaged prediction.
struct RetrievalTruth {
    /// Stimulus (candidate) of each trial.
    group: Vec<usize>,
    candidates: Matrix,
    /// World category of each candidate stimulus, when the trials' labels are world
    /// categories.
    world: Option<Vec<Category>>,
}

impl RetrievalTruth {
    fn new(
        embeddings: &Matrix,
        trials: usize,
        what: &str,
        labels: Option<&[String]>,
    ) -> Result<Self> {
        if embeddings.rows() != trials {
            return Err(Error::ShapeMismatch {
                what: format!("{what} embedding rows"),
                got: thousands(embeddings.rows()),
                expected: format!("one per fMRI trial ({})", thousands(trials)),
            });
        }
        let mut index: HashMap<Vec<u32>, usize> = HashMap::new();
        let mut first = Vec::new();
        let group: Vec<usize> = embeddings
            .iter_rows()
            .enumerate()
            .map(|(row, values)| {
                let next = index.len();
                *index
                    .entry(values.iter().map(|v| v.to_bits()).collect())
                    .or_insert_with(|| {
                        first.push(row);
                        next
                    })
            })
            .collect();
        if first.len() < 2 {
            return Err(Error::InvalidConfig {
                what: format!("{what} embeddings"),
                reason: "every row is the same stimulus; retrieval and identification need at least 2 distinct stimuli".into(),
            });
        }
        let world = labels.and_then(|labels| {
            first
                .iter()
                .map(|&row| Category::parse(&labels[row]))
                .collect::<Option<Vec<_>>>()
        });
        Ok(RetrievalTruth {
            group,
            candidates: embeddings.select_rows(&first),
            world,
        })
    }

    /// Mean of the (unit) predictions of each stimulus's trials, renormalised.
    fn averaged(&self, predicted: &Matrix) -> Result<Matrix> {
        let (count, dim) = (self.candidates.rows(), predicted.cols());
        let mut sums = vec![0f32; count * dim];
        for (row, g) in predicted.iter_rows().zip(&self.group) {
            for (s, v) in sums[g * dim..(g + 1) * dim].iter_mut().zip(row) {
                *s += v;
            }
        }
        for row in sums.chunks_mut(dim.max(1)) {
            crate::matrix::l2_normalize(row);
        }
        Matrix::new(sums, count, dim)
    }
}

impl Truth {
    fn score(&self, predicted: &MappedEmbeddings) -> Result<(Vec<Metric>, PerTrial)> {
        let mut out = Vec::new();
        let mut per_trial = PerTrial::default();
        if let Some(c) = &self.category {
            let scores = metrics::similarity(&predicted.text, &c.embeddings)?;
            per_trial.category_rank = Some(
                scores
                    .iter_rows()
                    .zip(&c.truth)
                    .map(|(row, t)| metrics::rank_of(row, *t))
                    .collect(),
            );
            per_trial.category_margin = Some(
                scores
                    .iter_rows()
                    .zip(&c.truth)
                    .map(|(row, t)| margin(row, *t))
                    .collect(),
            );
            for k in [1, 5] {
                if k <= c.candidates {
                    out.push(metrics::top_k_accuracy(&scores, &c.truth, k)?.named(
                        &format!("category_top{k}"),
                        format!("category top-{k} of {} labels", c.candidates),
                    ));
                }
            }
        }
        if let Some(image) = &self.image {
            let averaged = image.averaged(&predicted.image)?;
            let scores = metrics::similarity(&averaged, &image.candidates)?;
            let n = image.candidates.rows();
            let diagonal: Vec<usize> = (0..n).collect();
            per_trial.image_rank = Some(
                image
                    .group
                    .iter()
                    .map(|&g| metrics::rank_of(scores.row(g), g))
                    .collect(),
            );
            per_trial.image_margin = Some(
                image
                    .group
                    .iter()
                    .map(|&g| margin(scores.row(g), g))
                    .collect(),
            );
            out.push(
                metrics::top_k_accuracy(&scores, &diagonal, 1)?
                    .named("image_top1", format!("fMRI → image top-1 of {n}")),
            );
            out.push(
                metrics::top_k_accuracy(&scores.transposed(), &diagonal, 1)?
                    .named("image_to_fmri_top1", format!("image → fMRI top-1 of {n}")),
            );
            // N-way with N at least the stimulus count is top-1; with N = 2 it is 2-way.
            if self.way < n && self.way > 2 {
                let m = metrics::n_way_top1(&scores, self.way, self.draws, self.seed)?;
                let name = format!("fMRI → image {}", m.name);
                out.push(m.named("image_nway", name));
            }
            out.push(
                metrics::two_way_identification(&scores)?
                    .named("image_two_way", "2-way identification (image)".into()),
            );
        }
        if let Some(text) = &self.text {
            let averaged = text.averaged(&predicted.text)?;
            let scores = metrics::similarity(&averaged, &text.candidates)?;
            let n = text.candidates.rows();
            let diagonal: Vec<usize> = (0..n).collect();
            out.push(
                metrics::top_k_accuracy(&scores, &diagonal, 1)?
                    .named("text_top1", format!("fMRI → text top-1 of {n}")),
            );
        }
        Ok((out, per_trial))
    }

    /// Colour-only and shape-only ceilings of every metric they apply to, by metric id.
    fn ceilings(&self) -> Vec<(&'static str, Vec<(String, f64)>)> {
        let attributes: [(&'static str, Attribute); 2] =
            [(COLOUR_ONLY, |c| c.colour), (SHAPE_ONLY, |c| c.shape)];
        attributes
            .iter()
            .map(|(name, attribute)| {
                let mut values = Vec::new();
                if let Some(c) = &self.category
                    && let Some(world) = &c.world
                {
                    let attribute: Vec<usize> = world.iter().map(attribute).collect();
                    let ceiling = AttributeCeiling {
                        attribute: &attribute,
                    };
                    for k in [1, 5] {
                        if k <= c.candidates {
                            values.push((format!("category_top{k}"), ceiling.top_k(&c.truth, k)));
                        }
                    }
                }
                if let Some(image) = &self.image
                    && let Some(world) = &image.world
                {
                    let attribute: Vec<usize> = world.iter().map(attribute).collect();
                    let ceiling = AttributeCeiling {
                        attribute: &attribute,
                    };
                    let diagonal: Vec<usize> = (0..attribute.len()).collect();
                    let top1 = ceiling.top_k(&diagonal, 1);
                    values.push(("image_top1".into(), top1));
                    values.push(("image_to_fmri_top1".into(), top1));
                    if self.way < attribute.len() && self.way > 2 {
                        values.push((
                            "image_nway".into(),
                            ceiling.n_way(self.way, self.draws, self.seed),
                        ));
                    }
                    values.push(("image_two_way".into(), ceiling.two_way()));
                }
                (*name, values)
            })
            .filter(|(_, values)| !values.is_empty())
            .collect()
    }
}

fn attach(metrics: &mut [Metric], control: &str, values: impl IntoIterator<Item = (String, f64)>) {
    for (id, value) in values {
        if let Some(m) = metrics.iter_mut().find(|m| m.id == id) {
            m.controls.insert(control.to_string(), value);
        }
    }
}

impl Decoder {
    /// Scores the mapper (and every control the bundle ships) on `fmri` against the truth
    /// in `request`: category decoding, retrieval, N-way and 2-way identification, each
    /// with chance, controls and (for simulated-world labels) attribute ceilings.
    pub async fn evaluate(
        &self,
        fmri: &crate::data::FmriBatch,
        request: &EvalRequest,
    ) -> Result<Evaluation> {
        fmri.expect_voxels(self.mapper.config.voxels)?;
        let trials = fmri.trials();
        let truth = self.truth(request, trials).await?;
        if truth.category.is_none() && truth.image.is_none() && truth.text.is_none() {
            return Err(Error::InvalidConfig {
                what: "evaluation".into(),
                reason:
                    "nothing to evaluate: give true labels, image embeddings or text embeddings"
                        .into(),
            });
        }
        let predicted = self.embed_by(MapperSlot::Model, fmri).await?;
        let (mut metrics, per_trial) = truth.score(&predicted)?;
        for (index, (name, _)) in self.controls.iter().enumerate() {
            let predicted = self.embed_by(MapperSlot::Control(index), fmri).await?;
            let (values, _) = truth.score(&predicted)?;
            attach(
                &mut metrics,
                name,
                values.into_iter().map(|m| (m.id, m.value)),
            );
        }
        for (name, values) in truth.ceilings() {
            attach(&mut metrics, name, values);
        }
        let mut notes = Vec::new();
        if let Some(image) = &truth.image
            && truth.way >= image.candidates.rows()
        {
            notes.push(format!(
                "{}-way identification among {} stimuli is top-1 among all of them: see fMRI → image top-1",
                truth.way,
                image.candidates.rows()
            ));
        }
        Ok(Evaluation {
            trials,
            metrics,
            notes,
            per_trial,
        })
    }

    async fn truth(&self, request: &EvalRequest, trials: usize) -> Result<Truth> {
        let labels = request.labels.as_deref();
        if let Some(labels) = labels
            && labels.len() != trials
        {
            return Err(Error::ShapeMismatch {
                what: "true labels".into(),
                got: thousands(labels.len()),
                expected: format!("one per fMRI trial ({})", thousands(trials)),
            });
        }
        let category = match labels {
            None => None,
            Some(labels) => Some(self.category_truth(request, labels).await?),
        };
        let unit = |m: &Option<Matrix>, what: &str| -> Result<Option<Matrix>> {
            m.clone().map(|m| m.unit_rows(what)).transpose()
        };
        let image = unit(&request.image_embeddings, "image embeddings")?
            .map(|m| RetrievalTruth::new(&m, trials, "image", labels))
            .transpose()?;
        let text = unit(&request.text_embeddings, "text embeddings")?
            .map(|m| RetrievalTruth::new(&m, trials, "text", labels))
            .transpose()?;
        Ok(Truth {
            category,
            image,
            text,
            way: request.way.max(2),
            draws: request.draws,
            seed: request.seed,
        })
    }

    async fn category_truth(
        &self,
        request: &EvalRequest,
        labels: &[String],
    ) -> Result<CategoryTruth> {
        let candidates = match &request.candidates {
            Some(c) => c.clone(),
            None => distinct_labels(labels),
        };
        if let Some((i, c)) = candidates
            .iter()
            .enumerate()
            .find(|(i, c)| candidates[..*i].contains(c))
        {
            return Err(Error::InvalidConfig {
                what: "candidate labels".into(),
                reason: format!(
                    "'{c}' is listed twice (entries {} and {}); each candidate must be distinct",
                    candidates.iter().position(|x| x == c).unwrap_or(0) + 1,
                    i + 1
                ),
            });
        }
        if candidates.len() < 2 {
            return Err(Error::InvalidConfig {
                what: "candidate labels".into(),
                reason: format!(
                    "{} candidate; category decoding needs at least 2",
                    candidates.len()
                ),
            });
        }
        let truth = labels
            .iter()
            .map(|l| {
                candidates
                    .iter()
                    .position(|c| c == l)
                    .ok_or_else(|| Error::InvalidConfig {
                        what: "candidate labels".into(),
                        reason: format!("the true label '{l}' is not among the candidates"),
                    })
            })
            .collect::<Result<Vec<usize>>>()?;
        let embeddings = match &request.label_embeddings {
            Some(m) => m.clone().unit_rows("label embeddings")?,
            None => self.embed_labels(&candidates, &request.templates).await?,
        };
        if embeddings.rows() != candidates.len() {
            return Err(Error::ShapeMismatch {
                what: "label embedding rows".into(),
                got: thousands(embeddings.rows()),
                expected: format!("one per candidate label ({})", candidates.len()),
            });
        }
        if embeddings.cols() != self.mapper.config.text_dim {
            return Err(Error::ShapeMismatch {
                what: "label embedding size".into(),
                got: embeddings.cols().to_string(),
                expected: format!("{} (the mapper's text space)", self.mapper.config.text_dim),
            });
        }
        let world = candidates
            .iter()
            .map(|c| Category::parse(c))
            .collect::<Option<Vec<_>>>();
        Ok(CategoryTruth {
            truth,
            candidates: candidates.len(),
            embeddings,
            world,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(labels: &[&str]) -> Vec<String> {
        labels.iter().map(|l| l.to_string()).collect()
    }

    /// Four world categories with orthonormal embeddings; trial t shows candidate t, and the
    /// fourth trial is predicted as the first candidate.
    fn truth_and_predictions() -> (Truth, MappedEmbeddings) {
        let candidates = names(&["red star", "blue star", "red circle", "blue circle"]);
        let identity = Matrix::new(
            (0..16)
                .map(|i| if i % 5 == 0 { 1.0 } else { 0.0 })
                .collect(),
            4,
            4,
        )
        .unwrap();
        let predicted = identity.select_rows(&[0, 1, 2, 0]);
        let image = RetrievalTruth::new(&identity, 4, "image", Some(&candidates)).unwrap();
        let truth = Truth {
            category: Some(CategoryTruth {
                truth: vec![0, 1, 2, 3],
                candidates: 4,
                embeddings: identity.clone(),
                world: candidates.iter().map(|c| Category::parse(c)).collect(),
            }),
            image: Some(image),
            text: None,
            way: 300,
            draws: 30,
            seed: 0,
        };
        let mapped = MappedEmbeddings {
            image: predicted.clone(),
            text: predicted,
        };
        (truth, mapped)
    }

    #[test]
    fn scores_ranks_margins_and_ceilings_of_known_predictions() {
        let (truth, mapped) = truth_and_predictions();
        let (metrics, per_trial) = truth.score(&mapped).unwrap();
        let ids: Vec<&str> = metrics.iter().map(|m| m.id.as_str()).collect();
        // 300-way over 4 stimuli would repeat top-1, so it is left out.
        assert_eq!(
            ids,
            [
                "category_top1",
                "image_top1",
                "image_to_fmri_top1",
                "image_two_way"
            ]
        );
        assert_eq!(metrics[0].value, 0.75);
        // Trial 3 scores 0 on its truth, which ties two others and loses to one: rank 3.
        assert_eq!(per_trial.category_rank, Some(vec![0, 0, 0, 3]));
        let margins = per_trial.category_margin.unwrap();
        assert_eq!(margins[0], 1.0);
        assert_eq!(margins[3], -1.0);
        // Each colour and each shape is shared by two of the four candidates.
        let ceilings = truth.ceilings();
        assert_eq!(ceilings.len(), 2);
        for (name, values) in &ceilings {
            assert!([COLOUR_ONLY, SHAPE_ONLY].contains(name));
            let top1 = values.iter().find(|(id, _)| id == "category_top1").unwrap();
            assert_eq!(top1.1, 0.5);
        }
        let mut metrics = metrics;
        attach(&mut metrics, "ridge", [("image_top1".to_string(), 0.25)]);
        assert_eq!(metrics[1].controls["ridge"], 0.25);
        assert!(metrics[0].controls.is_empty(), "attached by id only");
    }

    #[test]
    fn retrieval_needs_two_distinct_stimuli() {
        let same = Matrix::new(vec![1.0, 0.0, 1.0, 0.0], 2, 2).unwrap();
        let err = RetrievalTruth::new(&same, 2, "image", None).err().unwrap();
        assert!(
            err.to_string().contains("at least 2 distinct stimuli"),
            "{err}"
        );
    }
}
