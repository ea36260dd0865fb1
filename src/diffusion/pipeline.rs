//! The image decoder assembled from a bundle's components, as diffusers' and candle's
//! pipelines assemble theirs: the autoencoder, the denoiser with its schedule, optionally the
//! low-level head and further denoisers distilled for other step counts, each checked
//! against the others and against the mapper it will be conditioned by.

use serde::{Deserialize, Serialize};

use crate::data::bundle::Bundle;
use crate::diffusion::{
    Autoencoder, AutoencoderTinyConfig, DenoiserConfig, DenoiserModel, LowLevel, LowLevelConfig,
    Schedule,
};
use crate::error::{Error, Result};

/// The `config` of a bundle component of kind `denoiser`: the network and the schedule it
/// was trained or distilled for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DenoiserComponent {
    pub model: DenoiserConfig,
    pub schedule: Schedule,
}

/// The reconstruction decoder: autoencoder, denoiser and its schedule, and optionally the
/// low-level head and further denoisers for other step counts (e.g. a distillation's 2- and
/// 1-step students beside its 4-step one).
#[derive(Debug, Clone)]
pub struct Reconstructor {
    pub autoencoder: Autoencoder,
    pub denoiser: DenoiserModel,
    pub schedule: Schedule,
    pub low_level: Option<LowLevel>,
    /// Other denoisers, each used for the step counts its schedule names.
    pub alternatives: Vec<(Schedule, DenoiserModel)>,
}

impl Reconstructor {
    /// Loads the bundle's first `autoencoder` and first `denoiser` components, if it has
    /// both, and its `low_level` head if any; checks that they fit each other and the mapper
    /// (its voxels and its image embedding).
    pub fn from_bundle(
        bundle: &Bundle,
        voxels: usize,
        condition_dim: usize,
        device: &burn::tensor::Device,
    ) -> Result<Option<Self>> {
        let components = &bundle.manifest.components;
        let named = |kind: &str| {
            components
                .iter()
                .find(|(_, c)| c.kind == kind)
                .map(|(name, _)| name.clone())
        };
        // The denoiser called "denoiser" is the default; any other is an alternative.
        let denoiser_name = components
            .get_key_value("denoiser")
            .filter(|(_, c)| c.kind == "denoiser")
            .map(|(name, _)| name.clone())
            .or_else(|| named("denoiser"));
        let (Some(ae_name), Some(denoiser_name)) = (named("autoencoder"), denoiser_name) else {
            return Ok(None);
        };
        let manifest_error = |field: String, reason: String| Error::BundleManifest {
            file: crate::data::bundle::MANIFEST_FILE.into(),
            field,
            reason,
        };
        let (component, weights) = bundle.component(&ae_name)?;
        let ae_config: AutoencoderTinyConfig = serde_json::from_value(component.config.clone())
            .map_err(|err| {
                manifest_error(format!("components.{ae_name}.config"), err.to_string())
            })?;
        let autoencoder =
            Autoencoder::from_safetensors(ae_config, weights.to_vec(), &component.weights, device)?;
        let load_denoiser = |name: &str| -> Result<(Schedule, DenoiserModel)> {
            let (component, weights) = bundle.component(name)?;
            let field = format!("components.{name}.config");
            let config: DenoiserComponent = serde_json::from_value(component.config.clone())
                .map_err(|err| manifest_error(field.clone(), err.to_string()))?;
            config.schedule.validate()?;
            if config.model.latent_channels != autoencoder.config.latent_channels {
                return Err(manifest_error(
                    field,
                    format!(
                        "the denoiser works on {} latent channels; the autoencoder has {}",
                        config.model.latent_channels, autoencoder.config.latent_channels
                    ),
                ));
            }
            if config.model.condition_dim != condition_dim {
                return Err(manifest_error(
                    field,
                    format!(
                        "the denoiser is conditioned on {}-d embeddings; the mapper predicts {}-d image embeddings",
                        config.model.condition_dim, condition_dim
                    ),
                ));
            }
            let denoiser = DenoiserModel::from_safetensors(
                &config.model,
                weights.to_vec(),
                &component.weights,
                device,
            )?;
            Ok((config.schedule, denoiser))
        };
        let (schedule, denoiser) = load_denoiser(&denoiser_name)?;
        let config = DenoiserComponent {
            model: denoiser.config.clone(),
            schedule: schedule.clone(),
        };
        let alternatives = components
            .iter()
            .filter(|(name, c)| c.kind == "denoiser" && **name != denoiser_name)
            .map(|(name, _)| {
                let (schedule, alternative) = load_denoiser(name)?;
                if alternative.config.latent_size != denoiser.config.latent_size {
                    return Err(manifest_error(
                        format!("components.{name}.config"),
                        format!(
                            "draws {}² latents; the default denoiser draws {}²",
                            alternative.config.latent_size, denoiser.config.latent_size
                        ),
                    ));
                }
                Ok((schedule, alternative))
            })
            .collect::<Result<Vec<_>>>()?;
        let low_level = match named("low_level") {
            None => None,
            Some(name) => {
                let (component, weights) = bundle.component(&name)?;
                let field = format!("components.{name}.config");
                let ll: LowLevelConfig = serde_json::from_value(component.config.clone())
                    .map_err(|err| manifest_error(field.clone(), err.to_string()))?;
                let expected = (
                    voxels,
                    config.model.latent_channels,
                    config.model.latent_size,
                );
                if let Some(strength) = ll.strength
                    && !(strength > 0.0 && strength <= 1.0)
                {
                    return Err(manifest_error(
                        field,
                        format!("the low-level head's strength {strength} must be in (0, 1]"),
                    ));
                }
                if (ll.voxels, ll.latent_channels, ll.latent_size) != expected {
                    return Err(manifest_error(
                        field,
                        format!(
                            "the low-level head maps {} voxels to {} × {}² latents; the bundle has {} voxels and {} × {}² latents",
                            ll.voxels,
                            ll.latent_channels,
                            ll.latent_size,
                            expected.0,
                            expected.1,
                            expected.2
                        ),
                    ));
                }
                Some(LowLevel::from_safetensors(
                    ll,
                    weights.to_vec(),
                    &component.weights,
                    device,
                )?)
            }
        };
        Ok(Some(Reconstructor {
            autoencoder,
            denoiser,
            schedule: config.schedule,
            low_level,
            alternatives,
        }))
    }

    /// Every step count a denoiser of this decoder was trained or distilled for: the
    /// default's first, then the alternatives', most steps first.
    pub fn step_choices(&self) -> Vec<usize> {
        let mut others: Vec<usize> = self
            .alternatives
            .iter()
            .flat_map(|(schedule, _)| schedule.steps.iter().copied())
            .filter(|s| !self.schedule.steps.contains(s))
            .collect();
        others.sort_unstable_by(|a, b| b.cmp(a));
        others.dedup();
        let mut steps = self.schedule.steps.clone();
        steps.extend(others);
        steps
    }

    /// The denoiser (with its schedule) made for `steps`: the default when it names them,
    /// else the first alternative that does, else the default (run off its grid).
    pub fn denoiser_for(&self, steps: usize) -> (&Schedule, &DenoiserModel) {
        if self.schedule.steps.contains(&steps) {
            return (&self.schedule, &self.denoiser);
        }
        self.alternatives
            .iter()
            .find(|(schedule, _)| schedule.steps.contains(&steps))
            .map_or((&self.schedule, &self.denoiser), |(s, d)| (s, d))
    }

    /// Side of the images it draws.
    pub fn image_size(&self) -> usize {
        self.denoiser.config.latent_size * self.autoencoder.config.downscale()
    }
}
