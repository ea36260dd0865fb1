//! The pipeline steps that the site, the npm package, the CLI and the tests all call.
//!
//! Every task scores a batch of query embeddings against candidate embeddings in a shared
//! space (CLIP's): cosine-style similarity via a matrix product, scaled by CLIP's logit
//! scale, turned into a probability over candidates with a softmax.

use burn::tensor::activation::softmax;
use burn::tensor::{Tensor, TensorData};

use crate::device::ComputeDevice;
use crate::error::{Error, Result};

/// Probability of each candidate for each query: `softmax(scale · Q Cᵀ)` over candidates.
///
/// `queries` is `[n, dim]` and `candidates` is `[m, dim]`, both row-major; the result is
/// `[n, m]` row-major.
pub async fn candidate_probabilities(
    device: &ComputeDevice,
    queries: &[f32],
    candidates: &[f32],
    dim: usize,
    scale: f32,
) -> Result<Vec<f32>> {
    let n = rows(queries, dim, "queries")?;
    let m = rows(candidates, dim, "candidates")?;
    let q = Tensor::<2>::from_data(TensorData::new(queries.to_vec(), [n, dim]), &device.device);
    let c = Tensor::<2>::from_data(
        TensorData::new(candidates.to_vec(), [m, dim]),
        &device.device,
    );
    let probabilities = softmax(q.matmul(c.transpose()).mul_scalar(scale), 1);
    device.read_f32(probabilities).await
}

/// Number of rows in a flat row-major matrix, or a typed error naming what is off.
fn rows(values: &[f32], dim: usize, what: &str) -> Result<usize> {
    if dim == 0 {
        return Err(Error::Empty {
            what: "embedding dimension".into(),
            unit: "component".into(),
        });
    }
    if values.is_empty() {
        return Err(Error::Empty {
            what: what.into(),
            unit: "row".into(),
        });
    }
    if !values.len().is_multiple_of(dim) {
        return Err(Error::ShapeMismatch {
            what: format!("{what} length"),
            got: values.len().to_string(),
            expected: format!("a multiple of the embedding dimension {dim}"),
        });
    }
    Ok(values.len() / dim)
}

/// Plain f64 reference of [`candidate_probabilities`], used to check every backend.
pub fn candidate_probabilities_reference(
    queries: &[f32],
    candidates: &[f32],
    dim: usize,
    scale: f32,
) -> Vec<f32> {
    let mut out = Vec::new();
    for q in queries.chunks(dim) {
        let logits: Vec<f64> = candidates
            .chunks(dim)
            .map(|c| {
                scale as f64
                    * q.iter()
                        .zip(c)
                        .map(|(a, b)| *a as f64 * *b as f64)
                        .sum::<f64>()
            })
            .collect();
        let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let total: f64 = logits.iter().map(|l| (l - max).exp()).sum();
        out.extend(logits.iter().map(|l| ((l - max).exp() / total) as f32));
    }
    out
}

/// Largest absolute difference between two equally long slices (infinite if lengths differ).
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return f32::INFINITY;
    }
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_rows_sum_to_one_and_prefer_the_matching_candidate() {
        let q = [1.0, 0.0, 0.0, 1.0];
        let c = [1.0, 0.0, 0.0, 1.0, 0.7, 0.7];
        let p = candidate_probabilities_reference(&q, &c, 2, 10.0);
        assert_eq!(p.len(), 6);
        for row in p.chunks(3) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        }
        assert!(p[0] > p[1] && p[0] > p[2]);
        assert!(p[4] > p[3] && p[4] > p[5]);
    }

    #[test]
    fn ragged_input_is_a_shape_error() {
        let err = rows(&[1.0, 2.0, 3.0], 2, "queries").unwrap_err();
        assert_eq!(err.code(), "shape_mismatch");
        assert!(err.to_string().contains("got 3"));
        assert_eq!(rows(&[], 2, "queries").unwrap_err().code(), "empty_input");
    }
}
