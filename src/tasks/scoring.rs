//! Scoring queries against candidates in CLIP's space: similarity by a matrix product,
//! scaled by CLIP's logit scale, a softmax over candidates, rankings; the label prompts.

use burn::tensor::activation::softmax;
use burn::tensor::{Tensor, TensorData};

use crate::device::ComputeDevice;
use crate::error::{Error, Result};
use crate::matrix::Matrix;

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

/// One candidate in a ranking.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Ranked {
    /// Index of the candidate in the list the caller passed.
    pub index: usize,
    /// The candidate's label, when candidates are labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Cosine similarity between the query and the candidate.
    pub similarity: f32,
    /// `softmax(scale · similarity)` over all candidates.
    pub probability: f32,
}

/// The default prompt for zero-shot category decoding (BrainCLIP's).
pub const DEFAULT_TEMPLATE: &str = "an image of a {}.";

/// The distinct labels in order of first appearance: the default candidates when only the
/// true labels are given.
pub fn distinct_labels(labels: &[String]) -> Vec<String> {
    let mut distinct: Vec<String> = Vec::new();
    for l in labels {
        if !distinct.contains(l) {
            distinct.push(l.clone());
        }
    }
    distinct
}

/// Fills a prompt template: `{}` (or `{label}`) is replaced by the label.
pub fn fill_template(template: &str, label: &str) -> String {
    if template.contains("{label}") {
        template.replace("{label}", label)
    } else {
        template.replace("{}", label)
    }
}

/// CLIP text embeddings of candidate labels, one row per label. With several templates the
/// normalised embeddings of the filled prompts are averaged and renormalised (prompt
/// ensembling, as in CLIP's zero-shot classifiers).
pub async fn embed_labels(
    device: &ComputeDevice,
    clip: &crate::clip::Clip,
    labels: &[String],
    templates: &[String],
) -> Result<Matrix> {
    if labels.is_empty() {
        return Err(Error::Empty {
            what: "candidate label list".into(),
            unit: "label".into(),
        });
    }
    let templates: Vec<String> = if templates.is_empty() {
        vec![DEFAULT_TEMPLATE.to_string()]
    } else {
        templates.to_vec()
    };
    let prompts: Vec<String> = labels
        .iter()
        .flat_map(|label| templates.iter().map(move |t| fill_template(t, label)))
        .collect();
    let prompt_refs: Vec<&str> = prompts.iter().map(String::as_str).collect();
    let embedded = clip.embed_text(device, &prompt_refs).await?;
    let dim = embedded.cols();
    let mut values = Vec::with_capacity(labels.len() * dim);
    for group in embedded.values().chunks(templates.len() * dim) {
        let mut mean = vec![0f32; dim];
        for row in group.chunks(dim) {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += v;
            }
        }
        crate::matrix::l2_normalize(&mut mean);
        values.extend(mean);
    }
    Matrix::new(values, labels.len(), dim)
}

/// Cosine similarities `[queries, candidates]` of L2-normalised embeddings, on the device.
pub async fn similarities(
    device: &ComputeDevice,
    queries: &Matrix,
    candidates: &Matrix,
) -> Result<Matrix> {
    if queries.cols() != candidates.cols() {
        return Err(Error::ShapeMismatch {
            what: "embedding size of the candidates".into(),
            got: candidates.cols().to_string(),
            expected: format!("{} (the size of the predicted embeddings)", queries.cols()),
        });
    }
    let n = rows(queries.values(), queries.cols(), "queries")?;
    let m = rows(candidates.values(), candidates.cols(), "candidates")?;
    let q = Tensor::<2>::from_data(
        TensorData::new(queries.values().to_vec(), [n, queries.cols()]),
        &device.device,
    );
    let c = Tensor::<2>::from_data(
        TensorData::new(candidates.values().to_vec(), [m, candidates.cols()]),
        &device.device,
    );
    let scores = device.read_f32(q.matmul(c.transpose())).await?;
    Matrix::new(scores, n, m)
}

/// Ranks candidates for every query: the best `top_k` (all when `top_k` is 0), best first.
pub fn rank(
    scores: &Matrix,
    scale: f32,
    labels: Option<&[String]>,
    top_k: usize,
) -> Vec<Vec<Ranked>> {
    scores
        .iter_rows()
        .map(|row| {
            let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let exp: Vec<f64> = row
                .iter()
                .map(|s| ((s - max) as f64 * scale as f64).exp())
                .collect();
            let total: f64 = exp.iter().sum();
            let mut order: Vec<usize> = (0..row.len()).collect();
            // Stable sort: equal scores keep the caller's order.
            order.sort_by(|a, b| row[*b].total_cmp(&row[*a]));
            let keep = if top_k == 0 {
                row.len()
            } else {
                top_k.min(row.len())
            };
            order[..keep]
                .iter()
                .map(|&index| Ranked {
                    index,
                    label: labels.and_then(|l| l.get(index).cloned()),
                    similarity: row[index],
                    probability: (exp[index] / total) as f32,
                })
                .collect()
        })
        .collect()
}

/// Zero-shot category decoding: ranks candidate labels (their CLIP text embeddings, one row
/// per label) against the brain's predicted text embeddings (one row per trial).
pub async fn decode_categories(
    device: &ComputeDevice,
    predicted_text: &Matrix,
    label_embeddings: &Matrix,
    labels: &[String],
    scale: f32,
    top_k: usize,
) -> Result<Vec<Vec<Ranked>>> {
    if labels.len() != label_embeddings.rows() {
        return Err(Error::ShapeMismatch {
            what: "label embeddings".into(),
            got: format!("{} rows", label_embeddings.rows()),
            expected: format!("one per label ({})", labels.len()),
        });
    }
    let scores = similarities(device, predicted_text, label_embeddings).await?;
    Ok(rank(&scores, scale, Some(labels), top_k))
}

/// Retrieval: ranks candidate embeddings (images or texts, one row each) for every query
/// (predicted embeddings, one row per trial).
pub async fn retrieve(
    device: &ComputeDevice,
    queries: &Matrix,
    candidates: &Matrix,
    scale: f32,
    top_k: usize,
) -> Result<Vec<Vec<Ranked>>> {
    let scores = similarities(device, queries, candidates).await?;
    Ok(rank(&scores, scale, None, top_k))
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
