//! What the mapper is trained on, and how its trials are split for validation.

use std::collections::HashMap;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result, thousands};
use crate::matrix::Matrix;
use crate::train::checkpoint::stream_seed;

/// Seed stream of the validation split (the trainer's other streams use 1, 3 and 4).
const PURPOSE_SPLIT: u64 = 2;

/// Text supervision: a table of distinct text embeddings and, per trial, the rows that are
/// valid captions for it (the category template and any free captions). One is sampled per
/// step.
#[derive(Debug, Clone, PartialEq)]
pub struct TextTargets {
    /// `[distinct texts, dim]`.
    pub embeddings: Matrix,
    /// For each trial, indices into `embeddings` (at least one).
    pub per_trial: Vec<Vec<usize>>,
}

impl TextTargets {
    /// From per-trial embeddings `[trials, captions, dim]` (row-major), merging identical rows
    /// so that trials sharing a caption count as matches, not negatives.
    pub fn from_per_trial(
        values: &[f32],
        trials: usize,
        captions: usize,
        dim: usize,
    ) -> Result<Self> {
        if trials * captions * dim != values.len() || captions == 0 || dim == 0 {
            return Err(Error::ShapeMismatch {
                what: "text embeddings".into(),
                got: format!("{} values", thousands(values.len())),
                expected: format!("[{trials} trials, captions ≥ 1, dim ≥ 1]"),
            });
        }
        let mut index: HashMap<Vec<u32>, usize> = HashMap::new();
        let mut distinct = Vec::new();
        let mut per_trial = vec![Vec::with_capacity(captions); trials];
        for (row_number, row) in values.chunks(dim).enumerate() {
            let key: Vec<u32> = row.iter().map(|v| v.to_bits()).collect();
            let next = index.len();
            let id = *index.entry(key).or_insert_with(|| {
                distinct.extend_from_slice(row);
                next
            });
            let trial = &mut per_trial[row_number / captions];
            if !trial.contains(&id) {
                trial.push(id);
            }
        }
        let rows = index.len();
        Ok(TextTargets {
            embeddings: Matrix::new(distinct, rows, dim)?,
            per_trial,
        })
    }
}

/// Text supervision before embedding: the distinct captions to embed and, per trial, which
/// of them are its captions. Shared by `brainclip train-mapper` and the browser's
/// `trainMapper`, so that both embed the same captions in the same order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CaptionTable {
    pub distinct: Vec<String>,
    pub per_trial: Vec<Vec<usize>>,
    /// The distinct labels, in order of first appearance.
    pub seen_labels: Vec<String>,
}

impl CaptionTable {
    /// Per trial its free captions, then each of its labels filled into every template
    /// (`templates` empty: "an image of a {}."). Identical captions are embedded once, so
    /// trials sharing one count as matches of each other.
    pub fn new(
        captions: Option<&[Vec<String>]>,
        labels: Option<&[Vec<String>]>,
        templates: &[String],
        trials: usize,
    ) -> Result<Self> {
        let default_template = [crate::tasks::DEFAULT_TEMPLATE.to_string()];
        let templates = if templates.is_empty() {
            &default_template[..]
        } else {
            templates
        };
        let mut seen_labels: Vec<String> = Vec::new();
        let mut texts: Vec<Vec<String>> = vec![Vec::new(); trials];
        for (lists, is_labels) in [(captions, false), (labels, true)] {
            let Some(lists) = lists else { continue };
            if lists.len() != trials {
                return Err(Error::ShapeMismatch {
                    what: if is_labels { "labels" } else { "captions" }.into(),
                    got: thousands(lists.len()),
                    expected: format!("one entry per fMRI trial ({})", thousands(trials)),
                });
            }
            for (trial, list) in texts.iter_mut().zip(lists) {
                if !is_labels {
                    trial.extend(list.iter().cloned());
                    continue;
                }
                for label in list {
                    if !seen_labels.contains(label) {
                        seen_labels.push(label.clone());
                    }
                    trial.extend(
                        templates
                            .iter()
                            .map(|t| crate::tasks::fill_template(t, label)),
                    );
                }
            }
        }
        // Numbered trial by trial, in order of first appearance.
        let mut distinct: Vec<String> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let per_trial = texts
            .into_iter()
            .map(|trial| {
                trial
                    .into_iter()
                    .map(|text| {
                        *index.entry(text.clone()).or_insert_with(|| {
                            distinct.push(text);
                            distinct.len() - 1
                        })
                    })
                    .collect()
            })
            .collect();
        let table = CaptionTable {
            distinct,
            per_trial,
            seen_labels,
        };
        Ok(table)
    }

    /// The text targets once `embeddings` (`[distinct, dim]`, one row per caption of
    /// [`CaptionTable::distinct`]) are known.
    pub fn targets(&self, embeddings: Matrix) -> Result<TextTargets> {
        if embeddings.rows() != self.distinct.len() {
            return Err(Error::ShapeMismatch {
                what: "caption embeddings".into(),
                got: format!("{} rows", embeddings.rows()),
                expected: format!("one per distinct caption ({})", self.distinct.len()),
            });
        }
        Ok(TextTargets {
            embeddings,
            per_trial: self.per_trial.clone(),
        })
    }
}

/// What the mapper is trained on.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingData {
    /// `[trials, voxels]`, as recorded (normalisation statistics are computed on the
    /// training split and applied here).
    pub fmri: Matrix,
    /// CLIP image embedding of each trial's stimulus, `[trials, dim]`.
    pub images: Option<Matrix>,
    /// CLIP text embeddings of each trial's captions.
    pub texts: Option<TextTargets>,
    /// Stimulus id of each trial; trials of one stimulus stay on one side of the split and
    /// count as matches of each other. Default: trials with identical image embeddings share a
    /// stimulus; without images every trial is its own.
    pub stimulus: Option<Vec<usize>>,
    /// Recording group of each trial (run, session or block). When given, validation holds
    /// out whole groups: volumes of one run are near-copies, and a split that puts
    /// neighbours on both sides validates on what it trained on.
    pub groups: Option<Vec<usize>>,
}

impl TrainingData {
    /// Checks that everything describes the same trials; errors say which input is off.
    pub fn validate(&self) -> Result<()> {
        let trials = self.fmri.rows();
        if trials < 2 || self.fmri.cols() == 0 {
            return Err(Error::TooFewTrials {
                file: "fMRI".into(),
                got: trials,
                needed: 2,
                purpose: "training".into(),
            });
        }
        crate::matrix::check_finite(self.fmri.values(), self.fmri.cols(), "fMRI")?;
        let rows_must_match = |what: &str, rows: usize| {
            if rows != trials {
                return Err(Error::ShapeMismatch {
                    what: format!("{what} rows"),
                    got: thousands(rows),
                    expected: format!("one per fMRI trial ({})", thousands(trials)),
                });
            }
            Ok(())
        };
        if self.images.is_none() && self.texts.is_none() {
            return Err(Error::InvalidConfig {
                what: "training data".into(),
                reason: "no supervision: give image embeddings, text embeddings or captions".into(),
            });
        }
        if let Some(images) = &self.images {
            rows_must_match("image embeddings", images.rows())?;
        }
        if let Some(texts) = &self.texts {
            rows_must_match("text targets", texts.per_trial.len())?;
            if texts.per_trial.iter().any(|t| t.is_empty())
                || texts
                    .per_trial
                    .iter()
                    .flatten()
                    .any(|i| *i >= texts.embeddings.rows())
            {
                return Err(Error::InvalidConfig {
                    what: "text targets".into(),
                    reason: "every trial needs at least one caption that exists".into(),
                });
            }
        }
        if let Some(stimulus) = &self.stimulus {
            rows_must_match("stimulus ids", stimulus.len())?;
        }
        if let Some(groups) = &self.groups {
            rows_must_match("group ids", groups.len())?;
        }
        Ok(())
    }

    /// A hash of every value, so a checkpoint is never resumed on different data.
    pub(crate) fn content_hash(&self) -> String {
        use std::hash::{Hash, Hasher};
        // SipHash with fixed keys: the same data gives the same hash in every run.
        let mut hasher = std::hash::DefaultHasher::new();
        let mut matrix = |m: &Matrix| {
            (m.rows(), m.cols()).hash(&mut hasher);
            m.values()
                .iter()
                .for_each(|v| v.to_bits().hash(&mut hasher));
        };
        matrix(&self.fmri);
        if let Some(images) = &self.images {
            matrix(images);
        }
        if let Some(texts) = &self.texts {
            matrix(&texts.embeddings);
            texts.per_trial.hash(&mut hasher);
        }
        self.stimulus.hash(&mut hasher);
        if let Some(groups) = &self.groups {
            groups.hash(&mut hasher);
        }
        format!("{:016x}", hasher.finish())
    }

    /// Stimulus id per trial (see [`TrainingData::stimulus`]).
    pub fn stimulus_ids(&self) -> Vec<usize> {
        if let Some(ids) = &self.stimulus {
            return ids.clone();
        }
        match &self.images {
            Some(images) => {
                let mut index: HashMap<Vec<u32>, usize> = HashMap::new();
                images
                    .iter_rows()
                    .map(|row| {
                        let next = index.len();
                        *index
                            .entry(row.iter().map(|v| v.to_bits()).collect())
                            .or_insert(next)
                    })
                    .collect()
            }
            None => (0..self.fmri.rows()).collect(),
        }
    }
}

impl TrainingData {
    /// Training and validation trials: whole groups held out when groups are given,
    /// otherwise whole stimuli.
    pub fn validation_split(&self, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
        match &self.groups {
            Some(groups) => split_by_key(groups, fraction, seed, 1),
            None => split_by_key(&self.stimulus_ids(), fraction, seed, 2),
        }
    }

    /// The trials `rows`, in that order, with everything that describes them.
    pub fn select(&self, rows: &[usize]) -> TrainingData {
        let pick = |v: &Vec<usize>| rows.iter().map(|&r| v[r]).collect::<Vec<_>>();
        TrainingData {
            fmri: self.fmri.select_rows(rows),
            images: self.images.as_ref().map(|m| m.select_rows(rows)),
            texts: self.texts.as_ref().map(|t| TextTargets {
                embeddings: t.embeddings.clone(),
                per_trial: rows.iter().map(|&r| t.per_trial[r].clone()).collect(),
            }),
            stimulus: Some(pick(&self.stimulus_ids())),
            groups: self.groups.as_ref().map(pick),
        }
    }

    /// The same trials with their supervision shuffled across stimuli: every stimulus takes
    /// the image embedding and captions of another, chosen by a seeded permutation. A mapper
    /// trained on this is the label-shuffled control: what training finds in noise.
    pub fn with_shuffled_supervision(&self, seed: u64) -> TrainingData {
        let stimulus = self.stimulus_ids();
        let count = stimulus.iter().max().map_or(0, |m| m + 1);
        // A representative trial of every stimulus.
        let mut first = vec![usize::MAX; count];
        for (trial, s) in stimulus.iter().enumerate() {
            if first[*s] == usize::MAX {
                first[*s] = trial;
            }
        }
        let permutation = crate::metrics::permutation(count, seed);
        let donor: Vec<usize> = stimulus.iter().map(|s| first[permutation[*s]]).collect();
        TrainingData {
            fmri: self.fmri.clone(),
            images: self.images.as_ref().map(|m| m.select_rows(&donor)),
            texts: self.texts.as_ref().map(|t| TextTargets {
                embeddings: t.embeddings.clone(),
                per_trial: donor.iter().map(|d| t.per_trial[*d].clone()).collect(),
            }),
            stimulus: Some(stimulus),
            groups: self.groups.clone(),
        }
    }
}

/// How often validation trials have a near-copy among the training trials.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NearCopyReport {
    /// Validation trials compared (a sample of at most [`NEAR_COPY_SAMPLE`]).
    pub checked: usize,
    /// Of those, how many have a near-copy on the training side.
    pub with_near_copy: usize,
}

impl NearCopyReport {
    /// Whether the split likely leaks: at least a tenth of the validation trials have a
    /// near-copy on the training side (trials in random order: about 1 in 50).
    pub fn leaks(&self) -> bool {
        self.checked > 0 && self.with_near_copy * 10 >= self.checked
    }
}

/// Validation trials checked for near-copies (a seeded sample keeps it fast at NSD scale).
pub const NEAR_COPY_SAMPLE: usize = 256;
/// Pearson correlation at which two trials count as copies whatever their order.
pub const NEAR_COPY_CORRELATION: f64 = 0.9;

/// Looks for validation trials that have a near-copy among the training trials: a
/// training trial they correlate with at r ≥ [`NEAR_COPY_CORRELATION`], or — the signature
/// of autocorrelated recordings such as block designs — a training trial *next to them in
/// the file* that is among their 1 % most correlated training trials. In a recording whose
/// trials come in random order one of the two neighbours is that close about once in fifty.
/// `x` holds the normalised patterns of every trial, in file order.
pub fn near_copies(x: &Matrix, train: &[usize], val: &[usize]) -> Result<NearCopyReport> {
    let mut sample = val.to_vec();
    if sample.len() > NEAR_COPY_SAMPLE {
        sample.shuffle(&mut ChaCha8Rng::seed_from_u64(0));
        sample.truncate(NEAR_COPY_SAMPLE);
    }
    if sample.is_empty() || train.is_empty() {
        return Ok(NearCopyReport {
            checked: 0,
            with_near_copy: 0,
        });
    }
    // Rows centred and scaled to unit length: dot products are Pearson correlations.
    let centred = |rows: &[usize]| -> Vec<f32> {
        rows.iter()
            .flat_map(|&r| {
                let row = x.row(r);
                let mean = row.iter().sum::<f32>() / row.len().max(1) as f32;
                let mut centred: Vec<f32> = row.iter().map(|v| v - mean).collect();
                crate::matrix::l2_normalize(&mut centred);
                centred
            })
            .collect()
    };
    let device = burn::tensor::Device::flex();
    let tensor = |values: Vec<f32>, rows: usize| {
        burn::tensor::Tensor::<2>::from_data(
            burn::tensor::TensorData::new(values, [rows, x.cols()]),
            &device,
        )
    };
    let a = tensor(centred(&sample), sample.len());
    let b = tensor(centred(train), train.len());
    let correlations = Matrix::from_tensor(a.matmul(b.transpose()))?.into_values();
    let position: HashMap<usize, usize> = train.iter().enumerate().map(|(i, &t)| (t, i)).collect();
    let allowed_above = train.len() / 100;
    let with_near_copy = sample
        .iter()
        .zip(correlations.chunks(train.len()))
        .filter(|(trial, row)| {
            let best = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let neighbour = [trial.wrapping_sub(1), **trial + 1]
                .iter()
                .filter_map(|n| position.get(n))
                .map(|&i| row[i])
                .fold(f32::NEG_INFINITY, f32::max);
            let closer = row.iter().filter(|r| **r > neighbour).count();
            best as f64 >= NEAR_COPY_CORRELATION
                || (neighbour.is_finite() && closer <= allowed_above)
        })
        .count();
    Ok(NearCopyReport {
        checked: sample.len(),
        with_near_copy,
    })
}

/// Splits the distinct values of `key` (stimulus or group ids) into training and
/// validation sets, holding out at least `min_held` of them; returns trial indices of each.
fn split_by_key(
    key: &[usize],
    fraction: f64,
    seed: u64,
    min_held: usize,
) -> (Vec<usize>, Vec<usize>) {
    let mut distinct: Vec<usize> = key.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(seed, PURPOSE_SPLIT, 0, 0));
    distinct.shuffle(&mut rng);
    let held = if fraction > 0.0 && distinct.len() >= 2 * min_held {
        ((distinct.len() as f64 * fraction).round() as usize)
            .clamp(min_held, distinct.len() - min_held)
    } else {
        0
    };
    let validation: std::collections::HashSet<usize> = distinct[..held].iter().copied().collect();
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for (trial, s) in key.iter().enumerate() {
        if validation.contains(s) {
            val.push(trial);
        } else {
            train.push(trial);
        }
    }
    (train, val)
}

pub(crate) fn gather(matrix: &Matrix, rows: &[usize]) -> Vec<f32> {
    rows.iter()
        .flat_map(|&r| matrix.row(r).iter().copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_captions_are_merged() {
        // Trials 0 and 2 share their caption; trial 1 has two captions.
        let values = [1.0, 0.0, 0.5, 0.5, 0.0, 1.0, 0.5, 0.5, 1.0, 0.0, 1.0, 0.0];
        let t = TextTargets::from_per_trial(&values, 3, 2, 2).unwrap();
        assert_eq!(t.embeddings.rows(), 3);
        assert_eq!(t.per_trial, vec![vec![0, 1], vec![2, 1], vec![0]]);
    }

    #[test]
    fn split_keeps_stimuli_together_and_is_seeded() {
        let stimulus: Vec<usize> = (0..100).map(|i| i / 4).collect();
        let (train, val) = split_by_key(&stimulus, 0.2, 7, 2);
        assert_eq!(train.len() + val.len(), 100);
        assert_eq!(val.len(), 20);
        let val_stimuli: std::collections::HashSet<usize> =
            val.iter().map(|&t| stimulus[t]).collect();
        assert!(train.iter().all(|t| !val_stimuli.contains(&stimulus[*t])));
        assert_eq!(split_by_key(&stimulus, 0.2, 7, 2), (train, val));
    }

    fn data(fmri: Matrix, groups: Option<Vec<usize>>) -> TrainingData {
        let n = fmri.rows();
        TrainingData {
            images: Some(Matrix::new(vec![1.0; n], n, 1).unwrap()),
            fmri,
            texts: None,
            stimulus: Some((0..n).collect()),
            groups,
        }
    }

    #[test]
    fn a_group_split_keeps_every_group_on_one_side() {
        let n = 60;
        let groups: Vec<usize> = (0..n).map(|t| t / 10).collect();
        let d = data(
            Matrix::new(vec![0.0; n * 2], n, 2).unwrap(),
            Some(groups.clone()),
        );
        let (train, val) = d.validation_split(0.2, 3);
        assert!(!val.is_empty() && train.len() + val.len() == n);
        for t in &val {
            assert!(train.iter().all(|u| groups[*u] != groups[*t]));
        }
    }

    /// Neighbouring rows as near-copies (a slowly drifting pattern) against rows in random
    /// order: only the first is flagged.
    #[test]
    fn near_copies_flag_autocorrelated_rows_only() {
        let (n, v) = (200, 40);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut noise =
            || -> f32 { rand_distr::Distribution::sample(&rand_distr::StandardNormal, &mut rng) };
        let mut drifting = Vec::with_capacity(n * v);
        let mut state: Vec<f32> = (0..v).map(|_| noise()).collect();
        for _ in 0..n {
            for s in state.iter_mut() {
                *s = 0.9 * *s + 0.44 * noise();
            }
            drifting.extend(state.iter().map(|s| s + 0.3 * noise()));
        }
        let independent: Vec<f32> = (0..n * v).map(|_| noise()).collect();
        for (values, leaks) in [(drifting, true), (independent, false)] {
            let d = data(Matrix::new(values, n, v).unwrap(), None);
            let (train, val) = d.validation_split(0.2, 3);
            let report = near_copies(&d.fmri, &train, &val).unwrap();
            assert_eq!(report.leaks(), leaks, "{report:?}");
        }
    }
}
