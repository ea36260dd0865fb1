//! Fitting the low-level head: ridge regression from normalised fMRI to the diffusion-space
//! autoencoder latents of the seen images, with the penalty chosen on held-out stimuli
//! (every repeat of a stimulus on the same side), then refitted on every trial.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::matrix::Matrix;
use crate::ridge::{LAMBDA_SCALES, RidgeProblem, RidgeSolution};

/// One penalty tried: its multiple of `tr(X Xᵀ)/n` and the held-out mean squared error.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LambdaScore {
    pub scale: f64,
    pub validation_mse: f64,
}

/// The fit, the penalties tried, and what predicting the training mean would score on the
/// held-out stimuli (the baseline the chosen fit must beat).
#[derive(Debug, Clone)]
pub struct LowLevelFit {
    pub solution: RidgeSolution,
    pub scores: Vec<LambdaScore>,
    pub mean_baseline_mse: f64,
}

fn rows_of(matrix: &Matrix, rows: &[usize]) -> Matrix {
    matrix.select_rows(rows)
}

fn mse(predicted: &Matrix, truth: &Matrix) -> f64 {
    let n = truth.values().len().max(1) as f64;
    predicted
        .values()
        .iter()
        .zip(truth.values())
        .map(|(p, t)| ((p - t) as f64).powi(2))
        .sum::<f64>()
        / n
}

/// `fmri` `[n, voxels]` normalised as the bundle prescribes; `latents` `[n, dim]`;
/// `held_out[i]` marks the validation trials (whole stimuli).
pub fn fit_low_level(fmri: &Matrix, latents: &Matrix, held_out: &[bool]) -> Result<LowLevelFit> {
    let n = fmri.rows();
    if latents.rows() != n || held_out.len() != n {
        return Err(Error::ShapeMismatch {
            what: "low-level training data".into(),
            got: format!(
                "{} latents and {} split flags",
                latents.rows(),
                held_out.len()
            ),
            expected: format!("one per fMRI trial ({n})"),
        });
    }
    let (validation, train): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| held_out[i]);
    if validation.is_empty() || train.len() < 2 {
        return Err(Error::InvalidConfig {
            what: "low-level training".into(),
            reason: format!(
                "{} training and {} held-out trials; needs at least 2 and 1",
                train.len(),
                validation.len()
            ),
        });
    }
    let (x_train, y_train) = (rows_of(fmri, &train), rows_of(latents, &train));
    let (x_val, y_val) = (rows_of(fmri, &validation), rows_of(latents, &validation));
    let problem = RidgeProblem::new(x_train.values(), train.len(), fmri.cols())?;
    let unit = problem.lambda_unit();
    let mut scores = Vec::new();
    for scale in LAMBDA_SCALES {
        let solution = problem.solve(&y_train, scale * unit)?;
        scores.push(LambdaScore {
            scale,
            validation_mse: mse(&solution.predict(x_val.values())?, &y_val),
        });
    }
    let best = scores
        .iter()
        .min_by(|a, b| a.validation_mse.total_cmp(&b.validation_mse))
        .expect("a non-empty grid")
        .scale;
    let mean_baseline_mse = {
        let dim = latents.cols();
        let mut mean = vec![0f32; dim];
        for row in y_train.iter_rows() {
            mean.iter_mut()
                .zip(row)
                .for_each(|(m, v)| *m += v / train.len() as f32);
        }
        let predicted = Matrix::new(mean.repeat(validation.len()), validation.len(), dim)?;
        mse(&predicted, &y_val)
    };
    let all = RidgeProblem::new(fmri.values(), n, fmri.cols())?;
    let solution = all.solve(latents, best * all.lambda_unit())?;
    Ok(LowLevelFit {
        solution,
        scores,
        mean_baseline_mse,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};

    #[test]
    fn a_planted_linear_map_is_recovered_on_held_out_trials() {
        let (n, voxels, dim) = (60, 40, 6);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut gauss = || -> f32 { StandardNormal.sample(&mut rng) };
        let latents: Vec<f32> = (0..n * dim).map(|_| gauss()).collect();
        let map: Vec<f32> = (0..dim * voxels).map(|_| gauss()).collect();
        let mut fmri = vec![0f32; n * voxels];
        for i in 0..n {
            for v in 0..voxels {
                let signal: f32 = (0..dim)
                    .map(|d| latents[i * dim + d] * map[d * voxels + v])
                    .sum();
                fmri[i * voxels + v] = signal + 0.3 * gauss();
            }
        }
        let fmri = Matrix::new(fmri, n, voxels).unwrap();
        let latents = Matrix::new(latents, n, dim).unwrap();
        let held_out: Vec<bool> = (0..n).map(|i| i % 5 == 0).collect();
        let fit = fit_low_level(&fmri, &latents, &held_out).unwrap();
        let best = fit
            .scores
            .iter()
            .map(|s| s.validation_mse)
            .fold(f64::INFINITY, f64::min);
        assert!(
            best < 0.1 * fit.mean_baseline_mse,
            "held-out MSE {best} vs the mean's {}",
            fit.mean_baseline_mse
        );
        let predicted = fit.solution.predict(fmri.values()).unwrap();
        assert!(mse(&predicted, &latents) < 0.05);
    }
}
