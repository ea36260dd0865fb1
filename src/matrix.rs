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
