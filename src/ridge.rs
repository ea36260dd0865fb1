//! Ridge regression from fMRI to CLIP embeddings: the linear decoder this field compares
//! every model against (Horikawa & Kamitani's feature decoders, brain-diffuser's first stage,
//! MindEye's baselines). Closed form, so it needs no training loop and runs wherever the
//! crate runs, the browser included.
//!
//! The fit is stored as a `linear` [`Mapper`], so the decoder, the metrics and the bundle
//! treat it exactly like a trained mapper.
//!
//! With more voxels than trials (the usual case) the dual form is solved:
//! `W = Xᵀ (X Xᵀ + λ I)⁻¹ (Y − ȳ)`, an `n × n` Cholesky solve per λ in f64. The penalty is
//! chosen on a validation split from a grid scaled to the data (`λ = s · tr(X Xᵀ) / n`).

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};

use crate::error::{Error, Result};
use crate::mapper::{Mapper, MapperConfig, MapperModel, MapperVariant};
use crate::matrix::Matrix;

/// Multiples of `tr(X Xᵀ) / n` tried for λ: from nearly unregularised to nearly all
/// shrinkage, evenly on a log scale.
pub const LAMBDA_SCALES: [f64; 9] = [1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0];

/// A fitted ridge decoder for one target space.
#[derive(Debug, Clone, PartialEq)]
pub struct RidgeSolution {
    /// `[voxels, dim]` (burn's `Linear` layout).
    pub weights: Vec<f32>,
    /// `[dim]`: the training targets' mean.
    pub bias: Vec<f32>,
    pub voxels: usize,
    pub dim: usize,
    /// The penalty used.
    pub lambda: f64,
}

impl RidgeSolution {
    /// Predictions `[rows, dim]` for z-scored fMRI `x` (`[rows, voxels]`, row-major).
    pub fn predict(&self, x: &[f32]) -> Result<Matrix> {
        let rows = x.len() / self.voxels.max(1);
        let device = Device::flex();
        let x = Tensor::<2>::from_data(TensorData::new(x.to_vec(), [rows, self.voxels]), &device);
        let w = Tensor::<2>::from_data(
            TensorData::new(self.weights.clone(), [self.voxels, self.dim]),
            &device,
        );
        let b = Tensor::<1>::from_data(TensorData::new(self.bias.clone(), [self.dim]), &device);
        Matrix::from_tensor(x.matmul(w) + b.unsqueeze::<2>())
    }
}

/// The Gram matrix `X Xᵀ` of the training fMRI, computed once and shared by every λ.
pub struct RidgeProblem {
    x: Vec<f32>,
    rows: usize,
    voxels: usize,
    gram: Vec<f64>,
}

impl RidgeProblem {
    /// `x`: z-scored training fMRI, `[rows, voxels]` row-major. Each voxel must be centred
    /// over these rows: the intercept is the targets' mean.
    pub fn new(x: &[f32], rows: usize, voxels: usize) -> Result<Self> {
        if rows < 2 || voxels == 0 || x.len() != rows * voxels {
            return Err(Error::ShapeMismatch {
                what: "ridge training fMRI".into(),
                got: format!("{} values", x.len()),
                expected: format!("[trials ≥ 2, voxels ≥ 1] = {rows} × {voxels}"),
            });
        }
        let device = Device::flex();
        let xt = Tensor::<2>::from_data(TensorData::new(x.to_vec(), [rows, voxels]), &device);
        let gram = Matrix::from_tensor(xt.clone().matmul(xt.transpose()))?
            .into_values()
            .into_iter()
            .map(f64::from)
            .collect();
        Ok(RidgeProblem {
            x: x.to_vec(),
            rows,
            voxels,
            gram,
        })
    }

    /// `tr(X Xᵀ) / n`: the scale λ is expressed in.
    pub fn lambda_unit(&self) -> f64 {
        let trace: f64 = (0..self.rows).map(|i| self.gram[i * self.rows + i]).sum();
        (trace / self.rows as f64).max(1e-12)
    }

    /// Solves for targets `y` (`[rows, dim]`) with penalty `lambda`.
    pub fn solve(&self, y: &Matrix, lambda: f64) -> Result<RidgeSolution> {
        if y.rows() != self.rows {
            return Err(Error::ShapeMismatch {
                what: "ridge targets".into(),
                got: format!("{} rows", y.rows()),
                expected: format!("one per training trial ({})", self.rows),
            });
        }
        let (n, dim) = (self.rows, y.cols());
        let mut bias = vec![0f64; dim];
        for row in y.iter_rows() {
            bias.iter_mut()
                .zip(row)
                .for_each(|(b, v)| *b += *v as f64 / n as f64);
        }
        let mut system = self.gram.clone();
        for i in 0..n {
            system[i * n + i] += lambda;
        }
        let factor = cholesky(system, n).ok_or_else(|| Error::InvalidConfig {
            what: "ridge regression".into(),
            reason: format!("X Xᵀ + {lambda:.3e} I is not positive definite"),
        })?;
        // α = (X Xᵀ + λI)⁻¹ (Y − ȳ), one column at a time.
        let mut alpha = vec![0f32; n * dim];
        let mut column = vec![0f64; n];
        for d in 0..dim {
            for (i, c) in column.iter_mut().enumerate() {
                *c = y.row(i)[d] as f64 - bias[d];
            }
            cholesky_solve(&factor, n, &mut column);
            for (i, c) in column.iter().enumerate() {
                alpha[i * dim + d] = *c as f32;
            }
        }
        let device = Device::flex();
        let x = Tensor::<2>::from_data(TensorData::new(self.x.clone(), [n, self.voxels]), &device);
        let alpha = Tensor::<2>::from_data(TensorData::new(alpha, [n, dim]), &device);
        let weights = Matrix::from_tensor(x.transpose().matmul(alpha))?.into_values();
        Ok(RidgeSolution {
            weights,
            bias: bias.into_iter().map(|b| b as f32).collect(),
            voxels: self.voxels,
            dim,
            lambda,
        })
    }
}

/// Lower-triangular `L` with `L Lᵀ = a` (`n × n`, row-major), or None if `a` is not
/// positive definite.
fn cholesky(mut a: Vec<f64>, n: usize) -> Option<Vec<f64>> {
    for j in 0..n {
        let mut diagonal = a[j * n + j];
        for k in 0..j {
            diagonal -= a[j * n + k] * a[j * n + k];
        }
        if diagonal <= 0.0 || !diagonal.is_finite() {
            return None;
        }
        let pivot = diagonal.sqrt();
        a[j * n + j] = pivot;
        for i in j + 1..n {
            let (upper, lower) = a.split_at_mut(i * n);
            let row_j = &upper[j * n..j * n + j];
            let row_i = &mut lower[..n];
            let dot: f64 = row_i[..j].iter().zip(row_j).map(|(p, q)| p * q).sum();
            row_i[j] = (row_i[j] - dot) / pivot;
        }
    }
    for i in 0..n {
        for j in i + 1..n {
            a[i * n + j] = 0.0;
        }
    }
    Some(a)
}

/// Solves `L Lᵀ x = b` in place.
fn cholesky_solve(l: &[f64], n: usize, b: &mut [f64]) {
    for i in 0..n {
        let dot: f64 = (0..i).map(|k| l[i * n + k] * b[k]).sum();
        b[i] = (b[i] - dot) / l[i * n + i];
    }
    for i in (0..n).rev() {
        let dot: f64 = (i + 1..n).map(|k| l[k * n + i] * b[k]).sum();
        b[i] = (b[i] - dot) / l[i * n + i];
    }
}

/// A ridge decoder into both of CLIP's spaces, as a `linear` mapper.
pub fn ridge_mapper(
    image: &RidgeSolution,
    text: &RidgeSolution,
    logit_scale: f32,
) -> Result<Mapper> {
    let mut config = MapperConfig::new(MapperVariant::Linear, image.voxels, image.dim, text.dim);
    config.input_dropout = 0.0;
    config.dropout = 0.0;
    config.logit_scale = logit_scale;
    let device = Device::flex();
    let linear = |s: &RidgeSolution| Linear {
        weight: Param::from_tensor(Tensor::from_data(
            TensorData::new(s.weights.clone(), [s.voxels, s.dim]),
            &device,
        )),
        bias: Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(s.bias.clone(), [s.dim]),
            &device,
        ))),
    };
    Ok(Mapper {
        config,
        model: MapperModel {
            trunk: None,
            blocks: Vec::new(),
            norm: None,
            mu: None,
            logvar: None,
            image_head: linear(image),
            text_head: linear(text),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_a_small_system() {
        // [[4, 2], [2, 3]] x = [2, 1] → x = [0.5, 0].
        let l = cholesky(vec![4.0, 2.0, 2.0, 3.0], 2).unwrap();
        let mut b = vec![2.0, 1.0];
        cholesky_solve(&l, 2, &mut b);
        assert!((b[0] - 0.5).abs() < 1e-12 && b[1].abs() < 1e-12, "{b:?}");
        assert!(cholesky(vec![1.0, 2.0, 2.0, 1.0], 2).is_none());
    }

    #[test]
    fn recovers_a_planted_linear_map_and_shrinks_with_lambda() {
        // y = x · w_true with 3 voxels, 2 outputs, 40 trials: small λ recovers w_true.
        let w_true = [1.0f32, -2.0, 0.5, 0.0, -1.0, 3.0];
        let rows = 40;
        let mut x: Vec<f32> = (0..rows * 3)
            .map(|i| (i * 7919 % 97) as f32 / 97.0)
            .collect();
        // Centred per voxel, as z-scored training fMRI is.
        let (mean, _) = crate::data::normalize::batch_statistics(&x, rows, 3);
        for row in x.chunks_mut(3) {
            row.iter_mut().zip(&mean).for_each(|(v, m)| *v -= m);
        }
        // Targets with an offset: the intercept must come back as their mean.
        let y: Vec<f32> = x
            .chunks(3)
            .flat_map(|r| {
                (0..2).map(move |d| {
                    (0..3).map(|v| r[v] * w_true[v * 2 + d]).sum::<f32>() + [5.0, -2.0][d]
                })
            })
            .collect();
        let y = Matrix::new(y, rows, 2).unwrap();
        let problem = RidgeProblem::new(&x, rows, 3).unwrap();
        let fit = problem.solve(&y, 1e-6).unwrap();
        let predicted = fit.predict(&x).unwrap();
        let error = crate::tasks::max_abs_diff(predicted.values(), y.values());
        assert!(error < 1e-3, "max error {error}");
        assert!((fit.bias[0] - 5.0).abs() < 1e-4 && (fit.bias[1] + 2.0).abs() < 1e-4);
        let shrunk = problem.solve(&y, 1e6).unwrap();
        let norm = |w: &[f32]| w.iter().map(|v| v * v).sum::<f32>();
        assert!(norm(&shrunk.weights) < 1e-3 * norm(&fit.weights));
    }
}
