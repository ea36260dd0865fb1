//! Per-voxel z-scoring: with statistics stored in a bundle (computed on the training set),
//! or from the uploaded batch itself ("batch" mode, as pipelines that z-score each session
//! do, e.g. MindEye's NSD preprocessing).

use serde::{Deserialize, Serialize};

use crate::data::FmriBatch;
use crate::error::{Error, Result};

/// Standard deviations at or below this are treated as zero variance.
pub const MIN_STD: f32 = 1e-6;

/// How to normalise an fMRI batch before it enters the mapper.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Normalization {
    /// Use the values as they are (already z-scored upstream).
    #[default]
    None,
    /// z-score each voxel across the trials of this batch.
    Batch,
    /// z-score each voxel with stored statistics (one mean and std per voxel).
    Stats { mean: Vec<f32>, std: Vec<f32> },
}

/// What normalisation did, so the UI and CLI can tell the user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NormalizationReport {
    pub mode: String,
    /// Voxels whose standard deviation was (near) zero; they are set to 0 — "no signal" —
    /// rather than divided by ~0 into huge values.
    pub zero_variance_voxels: usize,
}

impl Normalization {
    fn name(&self) -> &'static str {
        match self {
            Normalization::None => "none",
            Normalization::Batch => "batch",
            Normalization::Stats { .. } => "stats",
        }
    }
}

impl FmriBatch {
    /// Normalises the batch in place.
    pub fn normalize(&mut self, how: &Normalization) -> Result<NormalizationReport> {
        let voxels = self.voxels();
        let trials = self.trials();
        let (mean, std) = match how {
            Normalization::None => {
                return Ok(NormalizationReport {
                    mode: how.name().into(),
                    zero_variance_voxels: 0,
                });
            }
            Normalization::Batch => {
                if trials < 2 {
                    return Err(Error::TooFewTrials {
                        file: self.source.file_name.clone(),
                        got: trials,
                        needed: 2,
                        purpose: "batch z-scoring".into(),
                    });
                }
                batch_statistics(self.values(), trials, voxels)
            }
            Normalization::Stats { mean, std } => {
                if mean.len() != voxels || std.len() != voxels {
                    return Err(Error::VoxelCountMismatch {
                        file: self.source.file_name.clone(),
                        got: voxels,
                        expected: mean.len(),
                    });
                }
                (mean.clone(), std.clone())
            }
        };
        let zero_variance_voxels = zscore_rows(self.values_mut(), &mean, &std);
        Ok(NormalizationReport {
            mode: how.name().into(),
            zero_variance_voxels,
        })
    }
}

/// z-scores every row of a row-major `[rows, mean.len()]` matrix in place with per-column
/// `mean` and `std`. Columns whose std is (near) zero become 0 — "no signal" — rather than
/// being divided by ~0 into huge values; returns how many there are.
pub fn zscore_rows(values: &mut [f32], mean: &[f32], std: &[f32]) -> usize {
    let zero_variance: Vec<bool> = std.iter().map(|s| s.is_nan() || *s <= MIN_STD).collect();
    for row in values.chunks_mut(mean.len().max(1)) {
        for (v, ((m, s), zero)) in row.iter_mut().zip(mean.iter().zip(std).zip(&zero_variance)) {
            *v = if *zero { 0.0 } else { (*v - m) / s };
        }
    }
    zero_variance.iter().filter(|z| **z).count()
}

/// Per-voxel mean and (population) standard deviation over trials, in two f64 passes
/// (one-pass sums of squares lose precision when a voxel's mean is large, e.g. raw BOLD).
pub fn batch_statistics(values: &[f32], trials: usize, voxels: usize) -> (Vec<f32>, Vec<f32>) {
    let n = trials.max(1) as f64;
    let mut mean = vec![0f64; voxels];
    for row in values.chunks(voxels).take(trials) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += *v as f64 / n;
        }
    }
    let mut var = vec![0f64; voxels];
    for row in values.chunks(voxels).take(trials) {
        for ((s, m), v) in var.iter_mut().zip(&mean).zip(row) {
            let d = *v as f64 - m;
            *s += d * d / n;
        }
    }
    (
        mean.iter().map(|m| *m as f32).collect(),
        var.iter().map(|v| v.sqrt() as f32).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{FmriSource, SourceFormat};

    fn batch(values: Vec<f32>, trials: usize, voxels: usize) -> FmriBatch {
        let source = FmriSource {
            file_name: "t.npy".into(),
            format: SourceFormat::Npy,
            array_name: None,
            mask_name: None,
            dtype: "float32".into(),
            shape: vec![trials, voxels],
        };
        FmriBatch::new(values, trials, voxels, source).unwrap()
    }

    #[test]
    fn batch_mode_gives_zero_mean_unit_std_and_zeroes_constant_voxels() {
        // Voxel 0 varies around a large offset; voxel 1 is constant.
        let mut b = batch(vec![1000.0, 5.0, 1002.0, 5.0, 1004.0, 5.0], 3, 2);
        let report = b.normalize(&Normalization::Batch).unwrap();
        assert_eq!(report.zero_variance_voxels, 1);
        let (mean, std) = batch_statistics(b.values(), 3, 2);
        assert!(
            mean[0].abs() < 1e-6 && (std[0] - 1.0).abs() < 1e-5,
            "{mean:?} {std:?}"
        );
        assert_eq!([b.values()[1], b.values()[3], b.values()[5]], [0.0; 3]);
    }

    #[test]
    fn stats_mode_uses_the_stored_statistics() {
        let mut b = batch(vec![3.0, 10.0], 1, 2);
        let stats = Normalization::Stats {
            mean: vec![1.0, 10.0],
            std: vec![2.0, 0.0],
        };
        let report = b.normalize(&stats).unwrap();
        assert_eq!(b.values(), &[1.0, 0.0]);
        assert_eq!(report.zero_variance_voxels, 1);
    }

    #[test]
    fn stats_of_the_wrong_length_are_a_voxel_count_error() {
        let mut b = batch(vec![3.0, 10.0], 1, 2);
        let stats = Normalization::Stats {
            mean: vec![0.0; 3],
            std: vec![1.0; 3],
        };
        let err = b.normalize(&stats).unwrap_err();
        assert_eq!(err.code(), "voxel_count_mismatch");
        assert!(
            err.to_string()
                .contains("fMRI has 2 voxels; this model expects 3")
        );
    }

    #[test]
    fn batch_mode_needs_two_trials() {
        let mut b = batch(vec![3.0, 10.0], 1, 2);
        let err = b.normalize(&Normalization::Batch).unwrap_err();
        assert_eq!(err.code(), "too_few_trials");
        assert_eq!(
            b.values(),
            &[3.0, 10.0],
            "the user's data is untouched on error"
        );
    }
}
