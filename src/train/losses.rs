//! Training objectives of the BrainCLIP mapper.

use burn::tensor::Tensor;
use burn::tensor::activation::log_softmax;

/// Symmetric InfoNCE between predictions `[b, d]` and targets `[b, d]` (both L2-normalised):
/// logits = `scale · P Tᵀ`, cross-entropy over targets for each prediction and over
/// predictions for each target, averaged.
///
/// `positives[i][j]` is 1 where target `j` is a correct match for prediction `i` (at least the
/// diagonal). Several trials of one stimulus, or several images sharing the caption
/// "an image of a dog.", are all correct matches: they share the probability mass instead of
/// being pushed apart as negatives.
pub fn info_nce(
    predictions: Tensor<2>,
    targets: Tensor<2>,
    scale: Tensor<1>,
    positives: Tensor<2>,
) -> Tensor<1> {
    let logits = predictions.matmul(targets.transpose()) * scale.reshape([1, 1]);
    let row_targets = positives.clone() / positives.clone().sum_dim(1);
    let positives_t = positives.transpose();
    let col_targets = positives_t.clone() / positives_t.sum_dim(1);
    let forward = -(row_targets * log_softmax(logits.clone(), 1))
        .sum_dim(1)
        .mean();
    let backward = -(col_targets * log_softmax(logits.transpose(), 1))
        .sum_dim(1)
        .mean();
    (forward + backward).div_scalar(2.0)
}

/// KL divergence of `N(μ, σ²)` from `N(0, 1)`, averaged over batch and latent dimensions
/// (so the weight β does not depend on the latent size). Zero exactly at μ = 0, log σ² = 0.
pub fn kl_divergence(mu: Tensor<2>, logvar: Tensor<2>) -> Tensor<1> {
    (mu.powi_scalar(2) + logvar.clone().exp() - logvar - 1.0)
        .mean()
        .mul_scalar(0.5)
}

/// Mean `1 − cos` between rows of normalised predictions and targets.
pub fn cosine_distance(predictions: Tensor<2>, targets: Tensor<2>) -> Tensor<1> {
    (predictions * targets)
        .sum_dim(1)
        .neg()
        .add_scalar(1.0)
        .mean()
}

/// Mean squared error between rows of predictions and targets.
pub fn mse(predictions: Tensor<2>, targets: Tensor<2>) -> Tensor<1> {
    (predictions - targets).powi_scalar(2).mean()
}

/// `positives[i][j] = 1` where `groups[i] == groups[j]` (same stimulus or same caption).
pub fn positives_from_groups(groups: &[usize]) -> Vec<f32> {
    let n = groups.len();
    let mut out = vec![0f32; n * n];
    for i in 0..n {
        for j in 0..n {
            if groups[i] == groups[j] {
                out[i * n + j] = 1.0;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn tensor(values: &[f32], shape: [usize; 2], device: &Device) -> Tensor<2> {
        Tensor::from_data(TensorData::new(values.to_vec(), shape), device)
    }

    fn scalar(t: Tensor<1>) -> f64 {
        t.into_data().try_to_vec::<f32>().unwrap()[0] as f64
    }

    /// Direct formula in f64 with soft targets: each prediction's target distribution is
    /// uniform over its positives, ½ (mean_i CE_i over targets + mean_j CE_j over predictions).
    fn info_nce_reference(
        p: &[f32],
        t: &[f32],
        positives: &[f32],
        b: usize,
        d: usize,
        scale: f64,
    ) -> f64 {
        let logit = |i: usize, j: usize| {
            scale
                * (0..d)
                    .map(|k| p[i * d + k] as f64 * t[j * d + k] as f64)
                    .sum::<f64>()
        };
        let positive = |i: usize, j: usize| positives[i * b + j] as f64;
        let ce = |row: &dyn Fn(usize) -> f64, weight: &dyn Fn(usize) -> f64| {
            let max = (0..b).map(row).fold(f64::NEG_INFINITY, f64::max);
            let lse = (0..b).map(|j| (row(j) - max).exp()).sum::<f64>().ln() + max;
            let total: f64 = (0..b).map(weight).sum();
            (0..b)
                .map(|j| weight(j) / total * (lse - row(j)))
                .sum::<f64>()
        };
        let forward: f64 = (0..b)
            .map(|i| ce(&|j| logit(i, j), &|j| positive(i, j)))
            .sum::<f64>()
            / b as f64;
        let backward: f64 = (0..b)
            .map(|j| ce(&|i| logit(i, j), &|i| positive(i, j)))
            .sum::<f64>()
            / b as f64;
        (forward + backward) / 2.0
    }

    fn loss(p: &[f32], t: &[f32], groups: &[usize], d: usize, scale: f32) -> f64 {
        let device = Device::flex();
        let b = groups.len();
        scalar(info_nce(
            tensor(p, [b, d], &device),
            tensor(t, [b, d], &device),
            Tensor::<1>::from_data(TensorData::new(vec![scale], [1]), &device),
            tensor(&positives_from_groups(groups), [b, b], &device),
        ))
    }

    #[test]
    fn info_nce_matches_the_direct_formula() {
        let p = [0.6f32, 0.8, 1.0, 0.0, -0.28, 0.96];
        let t = [0.8f32, 0.6, 0.0, 1.0, -0.6, 0.8];
        let got = loss(&p, &t, &[0, 1, 2], 2, 7.5);
        let want = info_nce_reference(&p, &t, &positives_from_groups(&[0, 1, 2]), 3, 2, 7.5);
        assert!((got - want).abs() < 1e-5, "got {got}, want {want}");
    }

    /// Broke once on purpose: with the positives ignored (`row_targets` and `col_targets`
    /// set from the identity) this test fails, as the loss is then the one-to-one value.
    #[test]
    fn shared_positives_spread_the_target_over_every_match() {
        // Trials 0 and 1 are matches of each other (e.g. two captions of one stimulus);
        // trial 2 is not. Their targets differ: with identical target rows, the soft and
        // the one-to-one losses coincide exactly, so such a case could not tell them apart.
        let p = [0.6f32, 0.8, 0.96, 0.28, -0.28, 0.96];
        let t = [0.8f32, 0.6, 1.0, 0.0, -0.6, 0.8];
        let groups = [7, 7, 9];
        let got = loss(&p, &t, &groups, 2, 5.0);
        let want = info_nce_reference(&p, &t, &positives_from_groups(&groups), 3, 2, 5.0);
        assert!((got - want).abs() < 1e-5, "got {got}, want {want}");
        let one_to_one = info_nce_reference(&p, &t, &positives_from_groups(&[0, 1, 2]), 3, 2, 5.0);
        assert!(
            (got - one_to_one).abs() > 0.05,
            "multi-positive {got} vs one-to-one {one_to_one}"
        );
    }

    #[test]
    fn kl_is_zero_at_the_prior_and_positive_elsewhere() {
        let device = Device::flex();
        let zeros = tensor(&[0.0; 6], [2, 3], &device);
        assert_eq!(scalar(kl_divergence(zeros.clone(), zeros.clone())), 0.0);
        let mu = tensor(&[1.0, 0.0, 0.0, 0.0, 0.0, 0.0], [2, 3], &device);
        // ½ · μ² / 6 elements.
        let kl = scalar(kl_divergence(mu, zeros));
        assert!((kl - 0.5 / 6.0).abs() < 1e-7, "{kl}");
    }

    #[test]
    fn cosine_distance_and_mse_vanish_on_equal_inputs() {
        let device = Device::flex();
        let x = tensor(&[0.6, 0.8, 1.0, 0.0], [2, 2], &device);
        assert!(scalar(cosine_distance(x.clone(), x.clone())).abs() < 1e-7);
        assert_eq!(scalar(mse(x.clone(), x)), 0.0);
    }
}
