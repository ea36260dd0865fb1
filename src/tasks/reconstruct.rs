//! fMRI → image: mapper → predicted CLIP image embedding → denoiser sampled in a few steps →
//! autoencoder decoder → RGBA pixels. The one path used by `brainclip reconstruct`, the
//! tests and the wasm API, with the decoded estimate handed to a callback after every step.

use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

pub use crate::diffusion::pipeline::{DenoiserComponent, Reconstructor};
use crate::diffusion::{FlowSampler, LowLevel, SamplerSettings, chw_signed_to_rgba};
use crate::error::{Error, Result};
use crate::tasks::Decoder;

impl Reconstructor {
    /// The request's sampler settings, the schedule's where it leaves them unset.
    fn settings(&self, request: &ReconstructRequest) -> SamplerSettings {
        let steps = request.steps.unwrap_or(self.schedule.steps[0]);
        let (schedule, _) = self.denoiser_for(steps);
        SamplerSettings {
            steps,
            // A student's guidance is baked in: its own schedule's, not the default's.
            guidance: request.guidance.unwrap_or(schedule.guidance),
            strength: request
                .strength
                .or(self.low_level.as_ref().and_then(|l| l.config.strength))
                .unwrap_or(1.0),
            seed: request.seed,
        }
    }
}

/// What to reconstruct and how; unset fields take the bundle schedule's values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ReconstructRequest {
    /// Rows of the fMRI batch to reconstruct (all when empty).
    pub trials: Vec<usize>,
    pub steps: Option<usize>,
    pub guidance: Option<f32>,
    /// Img2img strength: below 1, sampling starts from the low-level head's latents noised
    /// to this level (needs a `low_level` component); 1 starts from noise. Unset: the head's
    /// own `strength` if it names one, else 1.
    pub strength: Option<f32>,
    pub seed: u64,
}

/// Called after every sampling step with (step, steps, the decoded estimates, RGBA).
pub type StepCallback<'a> = dyn FnMut(usize, usize, &[Vec<u8>]) + 'a;

/// Reconstructed images, RGBA, `size × size`, one per requested trial.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reconstruction {
    pub trials: Vec<usize>,
    pub size: usize,
    pub images: Vec<Vec<u8>>,
    pub steps: usize,
    pub guidance: f32,
}

/// The rows of `fmri` a request names (all when none), each checked to exist.
fn requested_trials(fmri: &crate::data::FmriBatch, trials: &[usize]) -> Result<Vec<usize>> {
    if let Some(&bad) = trials.iter().find(|&&t| t >= fmri.trials()) {
        return Err(Error::ShapeMismatch {
            what: "trial to reconstruct".into(),
            got: bad.to_string(),
            expected: format!("a row of the fMRI batch (0 to {})", fmri.trials() - 1),
        });
    }
    Ok(if trials.is_empty() {
        (0..fmri.trials()).collect()
    } else {
        trials.to_vec()
    })
}

impl Decoder {
    /// Reconstructs the seen images of the requested trials. `on_step(step, steps, images)`
    /// receives the decoded estimate of the clean images after every step (RGBA, in trial
    /// order); the last one is the result. Without a callback only the result is decoded.
    pub async fn reconstruct(
        &self,
        fmri: &crate::data::FmriBatch,
        request: &ReconstructRequest,
        on_step: Option<&mut StepCallback<'_>>,
    ) -> Result<Reconstruction> {
        let reconstructor = self.image_decoder()?;
        let trials = requested_trials(fmri, &request.trials)?;
        let settings = reconstructor.settings(request);
        settings.validate()?;
        let predicted = self.embed(fmri).await?;
        let conditions = predicted.image.select_rows(&trials);
        let start = if settings.strength < 1.0 {
            let low_level = reconstructor.low_level.as_ref().ok_or_else(|| Error::InvalidConfig {
                what: "reconstruction strength".into(),
                reason: format!(
                    "strength {} starts from the low-level latents, and this bundle has no low-level head (component of kind 'low_level'); use strength 1",
                    settings.strength
                ),
            })?;
            Some(self.low_level_latents(low_level, fmri, &trials)?)
        } else {
            None
        };
        self.sample(
            reconstructor,
            &conditions,
            start,
            trials,
            &settings,
            on_step,
        )
        .await
    }

    /// Draws images for given CLIP image embeddings (one row each) instead of those the
    /// mapper predicts from fMRI: with the seen images' own embeddings, the decoder's upper
    /// bound. Row i is drawn with the noise of trial i; `request.trials` must be empty and
    /// `strength` unset (there is no fMRI for the low-level path).
    pub async fn reconstruct_from_embeddings(
        &self,
        embeddings: &crate::matrix::Matrix,
        request: &ReconstructRequest,
        on_step: Option<&mut StepCallback<'_>>,
    ) -> Result<Reconstruction> {
        let reconstructor = self.image_decoder()?;
        if !request.trials.is_empty() || request.strength.is_some_and(|s| s < 1.0) {
            return Err(Error::InvalidConfig {
                what: "reconstruction from embeddings".into(),
                reason: "draws every row, from noise: leave trials empty and strength unset".into(),
            });
        }
        let expected = reconstructor.denoiser.config.condition_dim;
        if embeddings.cols() != expected || embeddings.rows() == 0 {
            return Err(Error::ShapeMismatch {
                what: "image embeddings to reconstruct from".into(),
                got: format!("{} × {}", embeddings.rows(), embeddings.cols()),
                expected: format!("at least one row of {expected} values"),
            });
        }
        let conditions = embeddings.clone().unit_rows("image embeddings")?;
        let settings = reconstructor.settings(request);
        settings.validate()?;
        let trials = (0..embeddings.rows()).collect();
        self.sample(reconstructor, &conditions, None, trials, &settings, on_step)
            .await
    }

    /// The bundle's image decoder, or the error that names what a bundle needs for one.
    pub fn image_decoder(&self) -> Result<&Reconstructor> {
        self.reconstructor.get().ok_or_else(|| Error::InvalidConfig {
            what: "reconstruction".into(),
            reason: "this bundle has no image decoder (components of kind 'autoencoder' and 'denoiser')"
                .into(),
        })
    }

    /// Runs the sampler for the conditions (rows in `trials` order), decoding the clean
    /// estimate after every step when a callback wants it, else the final one only (a
    /// decode per step would dominate a many-step teacher).
    async fn sample(
        &self,
        reconstructor: &Reconstructor,
        conditions: &crate::matrix::Matrix,
        start: Option<Tensor<4>>,
        trials: Vec<usize>,
        settings: &SamplerSettings,
        on_step: Option<&mut StepCallback<'_>>,
    ) -> Result<Reconstruction> {
        let conditions = conditions.to_tensor(&self.device.device);
        let noise_ids: Vec<u64> = trials.iter().map(|&t| t as u64).collect();
        let (_, denoiser) = reconstructor.denoiser_for(settings.steps);
        let mut sampler = FlowSampler::new(denoiser, conditions, start, &noise_ids, settings)?;
        let steps = sampler.steps();
        let mut on_step = on_step;
        let mut images = Vec::new();
        let mut step = 0;
        while let Some(estimate) = sampler.step() {
            step += 1;
            if let Some(callback) = on_step.as_mut() {
                images = self.decode_latents(reconstructor, estimate).await?;
                callback(step, steps, &images);
            } else if step == steps {
                images = self.decode_latents(reconstructor, estimate).await?;
            }
            self.device.yield_point().await;
        }
        Ok(Reconstruction {
            trials,
            size: reconstructor.image_size(),
            images,
            steps,
            guidance: settings.guidance,
        })
    }

    /// The low-level head's latents for the requested rows of the batch.
    fn low_level_latents(
        &self,
        low_level: &LowLevel,
        fmri: &crate::data::FmriBatch,
        trials: &[usize],
    ) -> Result<Tensor<4>> {
        let normalized = self.normalized(fmri)?;
        let voxels = normalized.voxels();
        let rows: Vec<f32> = trials
            .iter()
            .flat_map(|&t| {
                normalized.values()[t * voxels..(t + 1) * voxels]
                    .iter()
                    .copied()
            })
            .collect();
        let x = Tensor::<2>::from_data(
            TensorData::new(rows, [trials.len(), voxels]),
            &self.device.device,
        );
        Ok(low_level.predict(x))
    }

    /// The low-level path alone: the head's latents decoded, a blurry reconstruction of
    /// layout and colour (rows of `fmri` in `trials`, all when empty; no sampling steps).
    pub async fn reconstruct_low_level(
        &self,
        fmri: &crate::data::FmriBatch,
        trials: &[usize],
    ) -> Result<Reconstruction> {
        let reconstructor = self.image_decoder()?;
        let low_level = reconstructor
            .low_level
            .as_ref()
            .ok_or_else(|| Error::InvalidConfig {
                what: "low-level reconstruction".into(),
                reason: "this bundle has no low-level head (component of kind 'low_level')".into(),
            })?;
        let trials = requested_trials(fmri, trials)?;
        let latents = self.low_level_latents(low_level, fmri, &trials)?;
        Ok(Reconstruction {
            images: self.decode_latents(reconstructor, latents).await?,
            trials,
            size: reconstructor.image_size(),
            steps: 0,
            guidance: 0.0,
        })
    }

    /// The seen images (`[size, size, 3]` RGB in [0, 1]) through the autoencoder alone,
    /// encoded and decoded: the best any reconstruction in its latent space can look.
    /// Trial i of the result is image i; they are drawn at the decoder's image size.
    pub async fn autoencode(&self, images: &[Vec<f32>]) -> Result<Reconstruction> {
        let reconstructor = self.image_decoder()?;
        let size = reconstructor.image_size();
        if let Some(bad) = images.iter().position(|i| i.len() != size * size * 3) {
            return Err(Error::ShapeMismatch {
                what: format!("image {bad} to autoencode"),
                got: format!("{} values", images[bad].len()),
                expected: format!("{size} × {size} × 3"),
            });
        }
        let values = images
            .iter()
            .map(|rgb| crate::diffusion::hwc_unit_to_chw_signed(rgb, size))
            .collect::<Result<Vec<_>>>()?
            .concat();
        let x = Tensor::<4>::from_data(
            TensorData::new(values, [images.len(), 3, size, size]),
            &self.device.device,
        );
        let autoencoder = &reconstructor.autoencoder;
        let latents = autoencoder.to_diffusion_space(autoencoder.encode(x)?);
        Ok(Reconstruction {
            images: self.decode_latents(reconstructor, latents).await?,
            trials: (0..images.len()).collect(),
            size,
            steps: 0,
            guidance: 0.0,
        })
    }

    /// Latents in the diffusion space → RGBA images.
    async fn decode_latents(
        &self,
        reconstructor: &Reconstructor,
        latents: Tensor<4>,
    ) -> Result<Vec<Vec<u8>>> {
        let autoencoder = &reconstructor.autoencoder;
        let pixels = autoencoder.decode(autoencoder.from_diffusion_space(latents))?;
        let [n, _, h, w] = pixels.dims();
        let values = self.device.read_f32(pixels).await?;
        let per = 3 * h * w;
        values
            .chunks(per)
            .take(n)
            .map(|image| chw_signed_to_rgba(image, h, w))
            .collect()
    }
}
