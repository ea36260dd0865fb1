//! The evaluation metrics of the brain-decoding literature, each with its chance level.
//!
//! Scores are similarity matrices `[queries, candidates]` (cosine similarities of
//! L2-normalised embeddings). Ties always count against the true candidate, so a predictor
//! that says the same thing for every trial scores zero rather than perfectly.

pub mod image;

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, thousands};
use crate::matrix::Matrix;

/// One reported number with what it should be compared against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// Stable identifier, e.g. "category_top1", for programs that look a metric up.
    #[serde(default)]
    pub id: String,
    /// What a person reads, e.g. "category top-1 of 50 labels".
    pub name: String,
    /// Fraction in [0, 1].
    pub value: f64,
    /// What a guess would score, in [0, 1].
    pub chance: f64,
    /// Number of trials (queries) the value averages over.
    pub trials: usize,
    /// The same metric for each control, baseline and ceiling that was available, by name
    /// ("shuffled labels", "ridge", "colour only", "shape only"): what the value must be read
    /// against.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub controls: BTreeMap<String, f64>,
}

impl Metric {
    pub fn new(id: &str, name: String, value: f64, chance: f64, trials: usize) -> Metric {
        Metric {
            id: id.into(),
            name,
            value,
            chance,
            trials,
            controls: BTreeMap::new(),
        }
    }

    /// The same metric renamed: `id` and `name` describe what was scored.
    pub fn named(mut self, id: &str, name: String) -> Metric {
        self.id = id.into();
        self.name = name;
        self
    }
}

/// Area under the ROC curve of `scores` for telling `positive` items from the rest: the
/// probability that a random positive scores above a random negative (ties count half).
/// `None` when either class is empty.
pub fn roc_auc(scores: &[f32], positive: &[bool]) -> Option<f64> {
    assert_eq!(scores.len(), positive.len(), "one label per score");
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Mann–Whitney U from mid-ranks, so tied scores share their ranks.
    let mut rank_sum = 0f64;
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && scores[order[end]] == scores[order[start]] {
            end += 1;
        }
        let mid_rank = (start + end + 1) as f64 / 2.0;
        rank_sum += mid_rank * order[start..end].iter().filter(|&&i| positive[i]).count() as f64;
        start = end;
    }
    let positives = positive.iter().filter(|&&p| p).count() as f64;
    let negatives = scores.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return None;
    }
    Some((rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives))
}

/// `queries · candidatesᵀ` on the host in f64 (evaluation sets are small).
pub fn similarity(queries: &Matrix, candidates: &Matrix) -> Result<Matrix> {
    if queries.cols() != candidates.cols() {
        return Err(Error::ShapeMismatch {
            what: "embedding size of the candidates".into(),
            got: thousands(candidates.cols()),
            expected: format!("{} (the size of the queries)", thousands(queries.cols())),
        });
    }
    let mut values = Vec::with_capacity(queries.rows() * candidates.rows());
    for q in queries.iter_rows() {
        for c in candidates.iter_rows() {
            values.push(
                q.iter()
                    .zip(c)
                    .map(|(a, b)| *a as f64 * *b as f64)
                    .sum::<f64>() as f32,
            );
        }
    }
    Matrix::new(values, queries.rows(), candidates.rows())
}

/// 0-based rank of candidate `truth` in `row`: how many others score at least as high.
pub fn rank_of(row: &[f32], truth: usize) -> usize {
    let target = row[truth];
    row.iter()
        .enumerate()
        .filter(|(j, s)| *j != truth && **s >= target)
        .count()
}

fn check_truth(scores: &Matrix, truth: &[usize]) -> Result<()> {
    if truth.len() != scores.rows() {
        return Err(Error::ShapeMismatch {
            what: "number of true labels".into(),
            got: thousands(truth.len()),
            expected: format!("one per trial ({})", thousands(scores.rows())),
        });
    }
    if let Some(bad) = truth.iter().find(|t| **t >= scores.cols()) {
        return Err(Error::ShapeMismatch {
            what: "true label index".into(),
            got: thousands(*bad),
            expected: format!("below the number of candidates ({})", scores.cols()),
        });
    }
    if scores.rows() == 0 {
        return Err(Error::Empty {
            what: "evaluation set".into(),
            unit: "trial".into(),
        });
    }
    Ok(())
}

/// Fraction of queries whose true candidate is among the `k` best. Chance is `k / candidates`.
pub fn top_k_accuracy(scores: &Matrix, truth: &[usize], k: usize) -> Result<Metric> {
    check_truth(scores, truth)?;
    let hits = scores
        .iter_rows()
        .zip(truth)
        .filter(|(row, t)| rank_of(row, **t) < k)
        .count();
    Ok(Metric::new(
        &format!("top{k}"),
        format!("top-{k} of {}", scores.cols()),
        hits as f64 / truth.len() as f64,
        (k as f64 / scores.cols() as f64).min(1.0),
        truth.len(),
    ))
}

/// N-way identification as in MindEye and BrainCLIP: draw `way` trials at random, and for each
/// of them ask whether its own candidate (row `i` ↔ column `i` of the square `scores`) wins
/// among the `way` drawn candidates; average over all drawn trials and `draws` repetitions.
/// With fewer than `way` trials the whole set is used once per draw. Chance is `1 / way`.
pub fn n_way_top1(scores: &Matrix, way: usize, draws: usize, seed: u64) -> Result<Metric> {
    let n = scores.rows();
    if n != scores.cols() {
        return Err(Error::ShapeMismatch {
            what: "identification score matrix".into(),
            got: format!("{} × {}", thousands(n), thousands(scores.cols())),
            expected: "a square matrix (one candidate per trial)".into(),
        });
    }
    if n < 2 || way < 2 {
        return Err(Error::TooFewTrials {
            file: "evaluation set".into(),
            got: n,
            needed: 2,
            purpose: "N-way identification".into(),
        });
    }
    let way = way.min(n);
    let value = mean_over_draws(n, way, draws, seed, |subset, i| {
        let own = scores.row(i)[i];
        let beaten = subset.iter().any(|&j| j != i && scores.row(i)[j] >= own);
        if beaten { 0.0 } else { 1.0 }
    });
    Ok(Metric::new(
        "nway",
        format!("{way}-way top-1 ({} draws)", draws.max(1)),
        value,
        1.0 / way as f64,
        n,
    ))
}

/// The mean of `score(subset, i)` over every trial `i` of `draws` random subsets of `way`
/// of the `n` trials: the draws of N-way identification, shared by the metric and its
/// ceilings so both see the same subsets.
fn mean_over_draws(
    n: usize,
    way: usize,
    draws: usize,
    seed: u64,
    mut score: impl FnMut(&[usize], usize) -> f64,
) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..n).collect();
    let (mut sum, mut total) = (0.0, 0usize);
    for _ in 0..draws.max(1) {
        order.shuffle(&mut rng);
        let subset = &order[..way];
        for &i in subset {
            sum += score(subset, i);
            total += 1;
        }
    }
    sum / total.max(1) as f64
}

/// 2-way identification: for each trial and each other trial, does the trial's own candidate
/// score higher than the other one's? Ties count half. Chance is 50 %.
pub fn two_way_identification(scores: &Matrix) -> Result<Metric> {
    let n = scores.rows();
    if n != scores.cols() || n < 2 {
        return Err(Error::ShapeMismatch {
            what: "2-way identification score matrix".into(),
            got: format!("{} × {}", thousands(n), thousands(scores.cols())),
            expected: "a square matrix with at least 2 trials".into(),
        });
    }
    let mut wins = 0.0;
    for i in 0..n {
        let row = scores.row(i);
        for (j, s) in row.iter().enumerate() {
            if j == i {
                continue;
            }
            wins += if row[i] > *s {
                1.0
            } else if row[i] == *s {
                0.5
            } else {
                0.0
            };
        }
    }
    Ok(Metric::new(
        "two_way",
        "2-way identification".into(),
        wins / (n * (n - 1)) as f64,
        0.5,
        n,
    ))
}

/// Ceilings of a decoder that knows only one attribute of each stimulus (e.g. its colour)
/// and guesses uniformly among the candidates that share it: what a metric would reach if
/// the brain signal carried that attribute alone, perfectly. `attribute[c]` is candidate
/// `c`'s value of the attribute.
pub struct AttributeCeiling<'a> {
    pub attribute: &'a [usize],
}

impl AttributeCeiling<'_> {
    fn sharing(&self, among: impl Iterator<Item = usize>, value: usize) -> usize {
        among.filter(|&c| self.attribute[c] == value).count().max(1)
    }

    /// Expected top-k accuracy when trial `t`'s truth is candidate `truth[t]`.
    pub fn top_k(&self, truth: &[usize], k: usize) -> f64 {
        let n = self.attribute.len();
        let sum: f64 = truth
            .iter()
            .map(|&t| {
                let m = self.sharing(0..n, self.attribute[t]);
                k.min(m) as f64 / m as f64
            })
            .sum();
        sum / truth.len().max(1) as f64
    }

    /// Expected N-way top-1 over the same draws as [`n_way_top1`] (candidate `i` is trial
    /// `i`'s own).
    pub fn n_way(&self, way: usize, draws: usize, seed: u64) -> f64 {
        let n = self.attribute.len();
        mean_over_draws(n, way.min(n), draws, seed, |subset, i| {
            1.0 / self.sharing(subset.iter().copied(), self.attribute[i]) as f64
        })
    }

    /// Expected 2-way identification: a pair is told apart when the attribute differs and
    /// is a coin flip when it does not.
    pub fn two_way(&self) -> f64 {
        let n = self.attribute.len();
        let mut wins = 0.0;
        for i in 0..n {
            for j in (0..n).filter(|&j| j != i) {
                wins += if self.attribute[i] != self.attribute[j] {
                    1.0
                } else {
                    0.5
                };
            }
        }
        wins / (n * (n - 1)).max(1) as f64
    }
}

/// A random permutation of `0..n` from `seed` (for shuffled-label controls).
pub fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roc_auc_counts_pairs_with_ties_as_half() {
        // Perfect separation, its reverse, and the brute-force pair count on a mixed case.
        assert_eq!(
            roc_auc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]),
            Some(1.0)
        );
        assert_eq!(
            roc_auc(&[0.9, 0.8, 0.2, 0.1], &[false, false, true, true]),
            Some(0.0)
        );
        let scores = [0.3, 0.5, 0.5, 0.1, 0.7, 0.5, 0.2];
        let positive = [true, false, true, false, true, true, false];
        let mut pairs = 0.0;
        let mut count = 0.0;
        for (i, &p) in positive.iter().enumerate() {
            for (j, &q) in positive.iter().enumerate() {
                if p && !q {
                    count += 1.0;
                    pairs += match scores[i].partial_cmp(&scores[j]).unwrap() {
                        std::cmp::Ordering::Greater => 1.0,
                        std::cmp::Ordering::Equal => 0.5,
                        std::cmp::Ordering::Less => 0.0,
                    };
                }
            }
        }
        assert_eq!(roc_auc(&scores, &positive), Some(pairs / count));
        assert_eq!(roc_auc(&[1.0, 2.0], &[true, true]), None);
    }

    fn matrix(rows: &[&[f32]]) -> Matrix {
        Matrix::new(
            rows.iter().flat_map(|r| r.iter().copied()).collect(),
            rows.len(),
            rows[0].len(),
        )
        .unwrap()
    }

    #[test]
    fn top_k_counts_ties_against_the_truth() {
        let scores = matrix(&[&[0.9, 0.1, 0.2], &[0.5, 0.5, 0.1], &[0.1, 0.3, 0.2]]);
        let top1 = top_k_accuracy(&scores, &[0, 1, 2], 1).unwrap();
        // Row 0 right; row 1 tied (counts as a miss); row 2 ranked second.
        assert!((top1.value - 1.0 / 3.0).abs() < 1e-12);
        assert!((top1.chance - 1.0 / 3.0).abs() < 1e-12);
        let top2 = top_k_accuracy(&scores, &[0, 1, 2], 2).unwrap();
        assert!((top2.value - 1.0).abs() < 1e-12);
        let constant = matrix(&[&[0.3, 0.3], &[0.3, 0.3]]);
        assert_eq!(top_k_accuracy(&constant, &[0, 1], 1).unwrap().value, 0.0);
    }

    #[test]
    fn identification_on_a_perfect_and_an_anti_diagonal_matrix() {
        let n = 12;
        let mut perfect = vec![0.0f32; n * n];
        let mut wrong = vec![1.0f32; n * n];
        for i in 0..n {
            perfect[i * n + i] = 1.0;
            wrong[i * n + i] = 0.0;
        }
        let perfect = Matrix::new(perfect, n, n).unwrap();
        let wrong = Matrix::new(wrong, n, n).unwrap();
        assert_eq!(n_way_top1(&perfect, 5, 10, 1).unwrap().value, 1.0);
        assert_eq!(n_way_top1(&wrong, 5, 10, 1).unwrap().value, 0.0);
        assert_eq!(two_way_identification(&perfect).unwrap().value, 1.0);
        assert_eq!(two_way_identification(&wrong).unwrap().value, 0.0);
        let m = n_way_top1(&perfect, 300, 30, 1).unwrap();
        assert_eq!(m.chance, 1.0 / n as f64, "way is capped at the set size");
    }

    #[test]
    fn attribute_ceilings_guess_among_the_candidates_that_share_the_attribute() {
        // Six candidates in three colours, two each; the truth of trial t is candidate t.
        let colour = [0, 0, 1, 1, 2, 2];
        let ceiling = AttributeCeiling { attribute: &colour };
        let truth: Vec<usize> = (0..6).collect();
        assert!((ceiling.top_k(&truth, 1) - 0.5).abs() < 1e-12);
        assert!((ceiling.top_k(&truth, 2) - 1.0).abs() < 1e-12);
        // Each stimulus shares its colour with one of the five others.
        assert!((ceiling.two_way() - (4.0 + 0.5) / 5.0).abs() < 1e-12);
        // Over all six at once, N-way is top-1; on pairs it is 2-way's expectation.
        assert!((ceiling.n_way(6, 3, 1) - 0.5).abs() < 1e-12);
        let pairs = ceiling.n_way(2, 4000, 1);
        assert!((pairs - ceiling.two_way()).abs() < 0.02, "{pairs}");
        // A unique attribute is a perfect decoder.
        let unique = AttributeCeiling {
            attribute: &[0, 1, 2],
        };
        assert_eq!(unique.top_k(&[0, 1, 2], 1), 1.0);
        assert_eq!(unique.two_way(), 1.0);
    }

    #[test]
    fn mismatched_truth_is_a_typed_error() {
        let scores = matrix(&[&[0.9, 0.1]]);
        assert_eq!(
            top_k_accuracy(&scores, &[0, 1], 1).unwrap_err().code(),
            "shape_mismatch"
        );
        assert_eq!(
            top_k_accuracy(&scores, &[2], 1).unwrap_err().code(),
            "shape_mismatch"
        );
    }
}
