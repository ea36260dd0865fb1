//! The mapper's backward pass written out (no autodiff, so it runs in every build): the
//! gradient of a predicted embedding's cosine similarity to a target with respect to the
//! input voxels, for voxel attribution.

use burn::nn::{LayerNorm, Linear};
use burn::tensor::activation::gelu;
use burn::tensor::{Tensor, TensorData};

use super::config::Space;
use super::inference::Mapper;
use super::model::{LAYER_NORM_EPSILON, MapperModel};
use crate::device::ComputeDevice;
use crate::error::{Error, Result, thousands};

/// The exact GELU's derivative, Φ(a) + a·φ(a).
fn gelu_derivative(a: Tensor<2>) -> Tensor<2> {
    let cdf = a
        .clone()
        .div_scalar(std::f64::consts::SQRT_2)
        .erf()
        .add_scalar(1.0)
        .mul_scalar(0.5);
    let pdf = a
        .clone()
        .powi_scalar(2)
        .mul_scalar(-0.5)
        .exp()
        .mul_scalar(1.0 / (2.0 * std::f64::consts::PI).sqrt());
    cdf + a * pdf
}

/// A LayerNorm's input gradient from its output gradient `dy`, given its input `x`.
fn layer_norm_backward(norm: &LayerNorm, x: Tensor<2>, dy: Tensor<2>) -> Tensor<2> {
    let centred = x.clone() - x.mean_dim(1);
    let inverse_std = centred
        .clone()
        .powi_scalar(2)
        .mean_dim(1)
        .add_scalar(LAYER_NORM_EPSILON)
        .sqrt()
        .recip();
    let normalized = centred * inverse_std.clone();
    let dn = dy * norm.gamma.val().unsqueeze::<2>();
    let dn_mean = dn.clone().mean_dim(1);
    let dn_x_mean = (dn.clone() * normalized.clone()).mean_dim(1);
    (dn - dn_mean - normalized * dn_x_mean) * inverse_std
}

/// A Linear layer's input gradient (burn stores the weight `[inputs, outputs]`).
fn linear_backward(linear: &Linear, dy: Tensor<2>) -> Tensor<2> {
    dy.matmul(linear.weight.val().transpose())
}

impl MapperModel {
    /// Inference (no dropout, VAE at its mean) of `x` `[rows, voxels]` to the cosine
    /// similarity `[rows, 1]` of each row's prediction in `space` with `target` `[dim, 1]`
    /// (unit length), and its gradient with respect to `x`, by an explicit backward pass.
    /// Written out rather than taken from burn's autodiff, which would add a quarter of a
    /// megabyte to the CPU browser build and differentiates GELU by its tanh approximation.
    pub fn similarity_backward(
        &self,
        x: Tensor<2>,
        target: &Tensor<2>,
        space: Space,
    ) -> (Tensor<2>, Tensor<2>) {
        // Forward, keeping what the backward pass needs.
        let mut blocks = Vec::with_capacity(self.blocks.len());
        let mut before_norm = None;
        let mut latent_pre_activation = None;
        let z = match &self.trunk {
            None => x,
            Some(trunk) => {
                let mut h = trunk.forward(x);
                for block in &self.blocks {
                    let pre_activation = block.fc1.forward(block.norm.forward(h.clone()));
                    let out = block.fc2.forward(gelu(pre_activation.clone()));
                    blocks.push((h.clone(), pre_activation));
                    h = h + out;
                }
                if let Some(norm) = &self.norm {
                    before_norm = Some(h.clone());
                    h = norm.forward(h);
                }
                latent_pre_activation = Some(h.clone());
                self.mu
                    .as_ref()
                    .expect("mlp and vae mappers have a latent layer")
                    .forward(gelu(h))
            }
        };
        let head = match space {
            Space::Image => &self.image_head,
            Space::Text => &self.text_head,
        };
        let out = head.forward(z);
        let length = out
            .clone()
            .powi_scalar(2)
            .sum_dim(1)
            .sqrt()
            .clamp_min(1e-12);
        let predicted = out / length.clone();
        let cosine = predicted.clone().matmul(target.clone());
        // Backward: d cos / d out = (t − cos · p) / |out|.
        let d_out = (target.clone().transpose() - predicted * cosine.clone()) / length;
        let mut grad = linear_backward(head, d_out);
        if let Some(pre_activation) = latent_pre_activation {
            let mu = self
                .mu
                .as_ref()
                .expect("mlp and vae mappers have a latent layer");
            grad = linear_backward(mu, grad) * gelu_derivative(pre_activation);
            if let (Some(norm), Some(input)) = (&self.norm, before_norm) {
                grad = layer_norm_backward(norm, input, grad);
            }
            for (block, (input, pre_activation)) in self.blocks.iter().zip(blocks).rev() {
                let inner =
                    linear_backward(&block.fc2, grad.clone()) * gelu_derivative(pre_activation);
                let normed = linear_backward(&block.fc1, inner);
                grad = grad + layer_norm_backward(&block.norm, input, normed);
            }
            let trunk = self.trunk.as_ref().expect("set with the latent layer");
            grad = linear_backward(trunk, grad);
        }
        (cosine, grad)
    }
}

/// Rows of `[rows, voxels]` gradients per forward-and-backward pass in [`Mapper::similarity_gradients`]:
/// the backward pass keeps every activation, so fewer rows than inference.
const GRADIENT_BATCH: usize = 64;

/// For each row of inputs: the cosine similarity of its predicted embedding (in `space`)
/// with a target, and that similarity's gradient with respect to every input voxel.
pub struct SimilarityGradients {
    /// `[rows]`.
    pub similarities: Vec<f32>,
    /// `[rows, voxels]`, row-major.
    pub gradients: Vec<f32>,
}

impl Mapper {
    /// The cosine similarity between each normalised fMRI row's predicted embedding in `space`
    /// and `target` (L2-normalised here), with its gradient with respect to the input.
    pub async fn similarity_gradients(
        &self,
        device: &ComputeDevice,
        inputs: &[f32],
        target: &[f32],
        space: Space,
    ) -> Result<SimilarityGradients> {
        let voxels = self.config.voxels;
        if inputs.is_empty() || !inputs.len().is_multiple_of(voxels) {
            return Err(Error::ShapeMismatch {
                what: "fMRI values".into(),
                got: thousands(inputs.len()),
                expected: format!("a positive multiple of {} voxels", thousands(voxels)),
            });
        }
        let dim = match space {
            Space::Image => self.config.image_dim,
            Space::Text => self.config.text_dim,
        };
        if target.len() != dim {
            return Err(Error::ShapeMismatch {
                what: format!("target embedding ({space:?} space)"),
                got: target.len().to_string(),
                expected: format!("{dim} (the mapper's head size)"),
            });
        }
        let mut target = target.to_vec();
        if target.iter().any(|v| !v.is_finite()) || crate::matrix::l2_normalize(&mut target) == 0.0
        {
            return Err(Error::InvalidConfig {
                what: "target embedding".into(),
                reason: "is all zeros or holds NaN/Inf; a similarity to it is undefined".into(),
            });
        }
        let target = Tensor::<2>::from_data(TensorData::new(target, [dim, 1]), &device.device);
        let rows = inputs.len() / voxels;
        let mut similarities = Vec::with_capacity(rows);
        let mut gradients = Vec::with_capacity(inputs.len());
        for chunk in inputs.chunks(GRADIENT_BATCH * voxels) {
            let x = Tensor::<2>::from_data(
                TensorData::new(chunk.to_vec(), [chunk.len() / voxels, voxels]),
                &device.device,
            );
            let (cosine, grad) = self.model.similarity_backward(x, &target, space);
            similarities.extend(device.read_f32(cosine).await?);
            gradients.extend(device.read_f32(grad).await?);
            device.yield_point().await;
        }
        Ok(SimilarityGradients {
            similarities,
            gradients,
        })
    }
}
