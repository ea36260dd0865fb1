//! Voxel attribution: how much each voxel of a trial contributed to the similarity between
//! the brain's predicted embedding and a label (or a candidate image), the score decoding
//! ranks by.
//!
//! - gradient × input: one backward pass; a first-order, local picture.
//! - integrated gradients (Sundararajan et al. 2017) from the all-zero pattern, which after
//!   the bundle's normalisation is the training mean: the path integral of the gradient, so
//!   the attributions add up to the similarity's change from the baseline (completeness).

use serde::{Deserialize, Serialize};

use super::{Decoder, Space};
use crate::data::FmriBatch;
use crate::error::{Error, Result};

/// Which attribution to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AttributionMethod {
    /// The similarity's gradient times the input.
    GradientTimesInput,
    /// Integrated gradients from the all-zero (training-mean) pattern.
    #[default]
    IntegratedGradients,
}

impl std::str::FromStr for AttributionMethod {
    type Err = Error;
    fn from_str(name: &str) -> Result<Self> {
        match name {
            "gradient-times-input" | "gradient" => Ok(AttributionMethod::GradientTimesInput),
            "integrated-gradients" | "ig" => Ok(AttributionMethod::IntegratedGradients),
            other => Err(Error::InvalidConfig {
                what: "attribution method".into(),
                reason: format!(
                    "'{other}' is not one; expected 'integrated-gradients' or 'gradient-times-input'"
                ),
            }),
        }
    }
}

/// Integration steps when none are asked for: the completeness gap on the demo subjects is
/// then below 1 % of the similarity's change.
pub const DEFAULT_STEPS: usize = 32;
/// More steps than this cost time without changing the map.
pub const MAX_STEPS: usize = 1024;

/// What to attribute: which trial, how, and through which mapper.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeRequest {
    /// Row of the fMRI batch.
    pub trial: usize,
    pub method: AttributionMethod,
    /// Integration steps (integrated gradients only).
    pub steps: usize,
    /// A control mapper of the bundle by name ("shuffled labels", "ridge") instead of the
    /// model: the map a mapper that learned nothing draws.
    pub control: Option<String>,
}

impl Default for AttributeRequest {
    fn default() -> Self {
        AttributeRequest {
            trial: 0,
            method: AttributionMethod::default(),
            steps: DEFAULT_STEPS,
            control: None,
        }
    }
}

/// One trial's voxel attribution.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attribution {
    pub trial: usize,
    pub method: AttributionMethod,
    /// Integration steps (1 for gradient × input).
    pub steps: usize,
    pub space: Space,
    /// Each voxel's contribution to the cosine similarity, in the bundle's voxel order.
    pub values: Vec<f32>,
    /// Cosine similarity of the trial's predicted embedding with the target.
    pub similarity: f32,
    /// The same for the baseline (all-zero, training-mean) pattern.
    pub baseline_similarity: f32,
    /// `sum(values) − (similarity − baseline_similarity)`: zero for exact integrated
    /// gradients; its size says how far to trust the map's total.
    pub completeness_gap: f32,
}

impl Decoder {
    /// Attribution of one trial's similarity to `target`, a CLIP embedding in `space` (the
    /// text space for labels, the image space for candidate images).
    pub async fn attribute(
        &self,
        fmri: &FmriBatch,
        target: &[f32],
        space: Space,
        request: &AttributeRequest,
    ) -> Result<Attribution> {
        let AttributeRequest {
            trial,
            method,
            steps,
            ref control,
        } = *request;
        let mapper = match control {
            None => &self.mapper,
            Some(name) => {
                &self
                    .controls
                    .iter()
                    .find(|(label, _)| label == name)
                    .ok_or_else(|| Error::InvalidConfig {
                        what: "attribution".into(),
                        reason: format!(
                            "the bundle has no control mapper '{name}' (it has: {})",
                            self.controls
                                .iter()
                                .map(|(label, _)| format!("'{label}'"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    })?
                    .1
            }
        };
        let steps = match method {
            AttributionMethod::GradientTimesInput => 1,
            AttributionMethod::IntegratedGradients => steps,
        };
        if !(1..=MAX_STEPS).contains(&steps) {
            return Err(Error::InvalidConfig {
                what: "attribution".into(),
                reason: format!("steps is {steps}; expected 1 to {MAX_STEPS}"),
            });
        }
        let pattern = self.voxel_pattern(fmri, trial)?;
        let voxels = pattern.len();
        // Rows: the baseline, the points along the path, the trial itself. The path is
        // sampled at α = u² for u at the midpoints of `steps` equal segments (weight 2u/steps):
        // LayerNorm makes the mapper nearly scale-invariant away from the baseline, so the
        // similarity changes most near α = 0, where this spacing puts its points.
        let path: Vec<(f32, f32)> = match method {
            AttributionMethod::GradientTimesInput => vec![],
            AttributionMethod::IntegratedGradients => (0..steps)
                .map(|k| {
                    let u = (k as f32 + 0.5) / steps as f32;
                    (u * u, 2.0 * u / steps as f32)
                })
                .collect(),
        };
        let mut inputs = vec![0f32; voxels];
        for (alpha, _) in &path {
            inputs.extend(pattern.iter().map(|v| v * alpha));
        }
        inputs.extend_from_slice(&pattern);
        let result = mapper
            .similarity_gradients(&self.device, &inputs, target, space)
            .await?;
        let rows = result.similarities.len();
        let gradient_of = |row: usize| &result.gradients[row * voxels..(row + 1) * voxels];
        // Gradient × input takes the trial's own gradient, with weight 1.
        let weighted: Vec<(usize, f32)> = match method {
            AttributionMethod::GradientTimesInput => vec![(rows - 1, 1.0)],
            AttributionMethod::IntegratedGradients => path
                .iter()
                .enumerate()
                .map(|(k, &(_, weight))| (k + 1, weight))
                .collect(),
        };
        let mut path_gradient = vec![0f32; voxels];
        for &(row, weight) in &weighted {
            for (m, g) in path_gradient.iter_mut().zip(gradient_of(row)) {
                *m += weight * g;
            }
        }
        let values: Vec<f32> = path_gradient
            .iter()
            .zip(&pattern)
            .map(|(g, x)| g * x)
            .collect();
        let similarity = result.similarities[rows - 1];
        let baseline_similarity = result.similarities[0];
        let total: f64 = values.iter().map(|&v| f64::from(v)).sum();
        Ok(Attribution {
            trial,
            method,
            steps,
            space,
            completeness_gap: (total - f64::from(similarity - baseline_similarity)) as f32,
            values,
            similarity,
            baseline_similarity,
        })
    }

    /// Attribution of one trial's similarity to a free-text label, embedded through
    /// `templates` by the bundle's CLIP as decoding embeds it.
    pub async fn attribute_label(
        &self,
        fmri: &FmriBatch,
        label: &str,
        templates: &[String],
        request: &AttributeRequest,
    ) -> Result<Attribution> {
        let embedded = self.embed_labels(&[label.to_string()], templates).await?;
        self.attribute(fmri, embedded.values(), Space::Text, request)
            .await
    }
}

// Native: the tests drive the async API with pollster; the browser runs it in `attribute.test.mjs`.
#[cfg(all(test, not(target_family = "wasm")))]
mod tests {
    use super::*;
    use crate::data::{FmriSource, Normalization, SourceFormat};
    use crate::device::ComputeDevice;
    use crate::mapper::{Mapper, MapperConfig, MapperModel, MapperVariant};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    const VOXELS: usize = 40;
    const DIM: usize = 12;

    fn random_mapper(seed: u64) -> Mapper {
        random_mapper_of(MapperVariant::Vae, seed)
    }

    fn random_mapper_of(variant: MapperVariant, seed: u64) -> Mapper {
        let mut config = MapperConfig::new(variant, VOXELS, DIM, DIM);
        config.hidden = 24;
        config.latent = 8;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let model = MapperModel::new(
            &config,
            &mut || rng.random::<f32>(),
            &burn::tensor::Device::flex(),
        )
        .unwrap();
        Mapper { config, model }
    }

    fn fixture() -> (Decoder, FmriBatch, Vec<f32>) {
        let decoder = Decoder::from_parts(
            ComputeDevice::cpu(None),
            random_mapper(1),
            vec![("shuffled labels".into(), random_mapper(2))],
            None,
            Normalization::None,
        );
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let values: Vec<f32> = (0..2 * VOXELS)
            .map(|_| rng.random_range(-2.0..2.0))
            .collect();
        let source = FmriSource {
            file_name: "t.npy".into(),
            format: SourceFormat::Npy,
            array_name: None,
            mask_name: None,
            dtype: "float32".into(),
            shape: vec![2, VOXELS],
        };
        let fmri = FmriBatch::new(values, 2, VOXELS, source).unwrap();
        let target: Vec<f32> = (0..DIM).map(|_| rng.random_range(-1.0..1.0)).collect();
        (decoder, fmri, target)
    }

    /// The similarity of one voxel pattern to `target` through the decoder's model.
    fn similarity(decoder: &Decoder, pattern: &[f32], target: &[f32]) -> f32 {
        let out = pollster::block_on(decoder.mapper.similarity_gradients(
            &decoder.device,
            pattern,
            target,
            Space::Text,
        ))
        .unwrap();
        out.similarities[0]
    }

    #[test]
    fn gradients_match_finite_differences_for_every_variant() {
        for variant in [
            MapperVariant::Linear,
            MapperVariant::Mlp,
            MapperVariant::Vae,
        ] {
            let (_, fmri, target) = fixture();
            let decoder = Decoder::from_parts(
                ComputeDevice::cpu(None),
                random_mapper_of(variant, 5),
                vec![],
                None,
                Normalization::None,
            );
            let pattern = decoder.voxel_pattern(&fmri, 1).unwrap();
            for space in [Space::Image, Space::Text] {
                let out = pollster::block_on(decoder.mapper.similarity_gradients(
                    &decoder.device,
                    &pattern,
                    &target,
                    space,
                ))
                .unwrap();
                let at = |pattern: &[f32]| {
                    pollster::block_on(decoder.mapper.similarity_gradients(
                        &decoder.device,
                        pattern,
                        &target,
                        space,
                    ))
                    .unwrap()
                    .similarities[0]
                };
                let h = 1e-2;
                for voxel in [0, 7, 23, VOXELS - 1] {
                    let mut up = pattern.clone();
                    up[voxel] += h;
                    let mut down = pattern.clone();
                    down[voxel] -= h;
                    let numeric = (at(&up) - at(&down)) / (2.0 * h);
                    let analytic = out.gradients[voxel];
                    assert!(
                        (numeric - analytic).abs() < 2e-3,
                        "{variant:?} {space:?} voxel {voxel}: backward {analytic}, finite differences {numeric}"
                    );
                }
            }
        }
    }

    #[test]
    fn integrated_gradients_add_up_to_the_similarity_change() {
        let (decoder, fmri, target) = fixture();
        let request = AttributeRequest {
            trial: 1,
            steps: 64,
            ..AttributeRequest::default()
        };
        let map =
            pollster::block_on(decoder.attribute(&fmri, &target, Space::Text, &request)).unwrap();
        assert_eq!(map.values.len(), VOXELS);
        let pattern = decoder.voxel_pattern(&fmri, 1).unwrap();
        assert!((map.similarity - similarity(&decoder, &pattern, &target)).abs() < 1e-6);
        let change = map.similarity - map.baseline_similarity;
        assert!(change.abs() > 0.05, "a change worth attributing: {change}");
        assert!(
            map.completeness_gap.abs() < 0.01 * change.abs(),
            "gap {} against a change of {change}",
            map.completeness_gap
        );
        // Gradient × input is a local picture: it need not add up.
        let local = AttributeRequest {
            method: AttributionMethod::GradientTimesInput,
            ..request.clone()
        };
        let map_local =
            pollster::block_on(decoder.attribute(&fmri, &target, Space::Text, &local)).unwrap();
        assert_eq!(map_local.steps, 1);
        assert_eq!(map_local.similarity, map.similarity);
        assert!(map_local.completeness_gap.abs() > map.completeness_gap.abs());
        // A control mapper draws another map.
        let control = AttributeRequest {
            control: Some("shuffled labels".into()),
            ..request
        };
        let map_control =
            pollster::block_on(decoder.attribute(&fmri, &target, Space::Text, &control)).unwrap();
        assert_ne!(map_control.values, map.values);
    }

    #[test]
    fn bad_requests_are_refused_by_name() {
        let (decoder, fmri, target) = fixture();
        let attribute = |target: &[f32], request: AttributeRequest| {
            pollster::block_on(decoder.attribute(&fmri, target, Space::Text, &request))
                .unwrap_err()
                .to_string()
        };
        let trial = attribute(
            &target,
            AttributeRequest {
                trial: 2,
                ..Default::default()
            },
        );
        assert!(trial.contains("(0 to 1)"), "{trial}");
        let steps = attribute(
            &target,
            AttributeRequest {
                steps: 0,
                ..Default::default()
            },
        );
        assert!(steps.contains("steps is 0"), "{steps}");
        let control = attribute(
            &target,
            AttributeRequest {
                control: Some("ridge".into()),
                ..Default::default()
            },
        );
        assert!(control.contains("no control mapper 'ridge'"), "{control}");
        let size = attribute(&target[1..], AttributeRequest::default());
        assert!(size.contains("got 11") || size.contains("11"), "{size}");
        let zeros = attribute(&[0.0; DIM], AttributeRequest::default());
        assert!(zeros.contains("all zeros"), "{zeros}");
    }
}
