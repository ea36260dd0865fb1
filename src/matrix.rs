//! A host-side row-major `f32` matrix: what the pipeline hands between steps and to callers
//! (embeddings, scores), independent of any device.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, thousands};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Matrix {
    values: Vec<f32>,
    rows: usize,
    cols: usize,
}

impl Matrix {
    pub fn new(values: Vec<f32>, rows: usize, cols: usize) -> Result<Self> {
        if rows.checked_mul(cols) != Some(values.len()) {
            return Err(Error::ShapeMismatch {
                what: "matrix values".into(),
                got: thousands(values.len()),
                expected: format!("{} × {}", thousands(rows), thousands(cols)),
            });
        }
        Ok(Matrix { values, rows, cols })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    pub fn values(&self) -> &[f32] {
        &self.values
    }

    pub fn into_values(self) -> Vec<f32> {
        self.values
    }

    pub fn row(&self, index: usize) -> &[f32] {
        &self.values[index * self.cols..(index + 1) * self.cols]
    }

    pub fn iter_rows(&self) -> impl Iterator<Item = &[f32]> {
        self.values.chunks(self.cols.max(1))
    }
}

impl Matrix {
    /// Scales every row to unit length, refusing NaN/±Inf and all-zero rows: CLIP embeddings
    /// are compared by cosine, and a zero vector has no direction. `what` names the input in
    /// the error.
    pub fn unit_rows(mut self, what: &str) -> Result<Self> {
        check_finite(&self.values, self.cols, what)?;
        for (row_index, row) in self.values.chunks_mut(self.cols.max(1)).enumerate() {
            if l2_normalize(row) == 0.0 {
                return Err(Error::InvalidConfig {
                    what: what.into(),
                    reason: format!(
                        "row {row_index} is all zeros; an embedding needs a direction (L2 norm > 0)"
                    ),
                });
            }
        }
        Ok(self)
    }

    /// Rows `indices`, in that order.
    pub fn select_rows(&self, indices: &[usize]) -> Matrix {
        let values = indices
            .iter()
            .flat_map(|&r| self.row(r).iter().copied())
            .collect();
        Matrix {
            values,
            rows: indices.len(),
            cols: self.cols,
        }
    }

    /// The transpose.
    pub fn transposed(&self) -> Matrix {
        let mut values = vec![0f32; self.values.len()];
        for (i, row) in self.iter_rows().enumerate() {
            for (j, v) in row.iter().enumerate() {
                values[j * self.rows + i] = *v;
            }
        }
        Matrix {
            values,
            rows: self.cols,
            cols: self.rows,
        }
    }
}

impl Matrix {
    /// Reads a 2-D tensor back to the host (synchronously: CPU backend only).
    pub fn from_tensor(t: burn::tensor::Tensor<2>) -> Result<Self> {
        let [rows, cols] = t.dims();
        let values = t
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|err| Error::Readback {
                backend: "cpu".into(),
                reason: format!("{err:?}"),
            })?;
        Matrix::new(values, rows, cols)
    }

    /// The matrix as a 2-D tensor on `device`.
    pub fn to_tensor(&self, device: &burn::tensor::Device) -> burn::tensor::Tensor<2> {
        burn::tensor::Tensor::from_data(
            burn::tensor::TensorData::new(self.values.clone(), [self.rows, self.cols]),
            device,
        )
    }
}

/// Divides `v` by its L2 norm in place and returns the norm; a zero vector stays zero.
pub fn l2_normalize(v: &mut [f32]) -> f32 {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    norm
}

/// Where the first NaN/±Inf is and how many there are, if any.
pub fn first_non_finite(values: &[f32]) -> Option<(usize, usize)> {
    let first = values.iter().position(|v| !v.is_finite())?;
    let count = values[first..].iter().filter(|v| !v.is_finite()).count();
    Some((first, count))
}

/// Refuses NaN/±Inf in a `[rows, cols]` matrix read from `file`, naming the first one.
pub fn check_finite(values: &[f32], cols: usize, file: &str) -> Result<()> {
    match first_non_finite(values) {
        None => Ok(()),
        Some((index, count)) => Err(Error::NonFinite {
            file: file.into(),
            count,
            trial: index / cols.max(1),
            voxel: index % cols.max(1),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_rows_normalises_and_refuses_zero_rows() {
        let m = Matrix::new(vec![3.0, 4.0, 0.0, 2.0], 2, 2).unwrap();
        let unit = m.unit_rows("x").unwrap();
        assert_eq!(unit.values(), &[0.6, 0.8, 0.0, 1.0]);
        let zero = Matrix::new(vec![1.0, 0.0, 0.0, 0.0], 2, 2).unwrap();
        let err = zero.unit_rows("--label-embeddings").unwrap_err();
        assert_eq!(err.code(), "invalid_config");
        assert!(err.to_string().contains("row 1 is all zeros"), "{err}");
    }

    #[test]
    fn non_finite_values_are_located_and_counted() {
        assert_eq!(first_non_finite(&[1.0, 2.0]), None);
        assert_eq!(
            first_non_finite(&[1.0, f32::NAN, 2.0, f32::INFINITY]),
            Some((1, 2))
        );
        let err = check_finite(&[0.0, 0.0, 0.0, f32::NAN], 2, "e.npy").unwrap_err();
        assert!(err.to_string().contains("trial 1, voxel 1"), "{err}");
    }
}
