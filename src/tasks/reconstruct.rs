//! fMRI → image: mapper → predicted CLIP image embedding → denoiser sampled in a few steps →
//! autoencoder decoder → RGBA pixels. The one path used by `brainclip reconstruct`, the
//! tests and the wasm API, with the decoded estimate handed to a callback after every step.

use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::data::bundle::Bundle;
use crate::diffusion::{
    Autoencoder, AutoencoderTinyConfig, DenoiserConfig, DenoiserModel, FlowSampler, LowLevel,
    LowLevelConfig, SamplerSettings, Schedule, chw_signed_to_rgba,
};
use crate::error::{Error, Result};
use crate::tasks::Decoder;

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

/// A seen image as [`Decoder::reconstruction_metrics`] compares it: an encoded PNG or JPEG
/// file (`name` for errors) of exactly `size × size`, as `[size, size, 3]` RGB in [0, 1].
pub fn seen_image(bytes: &[u8], name: &str, size: usize) -> Result<Vec<f32>> {
    let image = image::load_from_memory(bytes)
        .map_err(|err| Error::CorruptFile {
            file: name.to_string(),
            reason: format!("it is not a readable image ({err})"),
        })?
        .to_rgb8();
    if image.width() as usize != size || image.height() as usize != size {
        return Err(Error::ShapeMismatch {
            what: name.to_string(),
            got: format!("{} × {}", image.width(), image.height()),
            expected: format!("{size} × {size}, the reconstructions' size"),
        });
    }
    Ok(image.as_raw().iter().map(|&v| v as f32 / 255.0).collect())
}

impl Decoder {
    /// How well reconstructions match the seen images: PixCorr and SSIM (each beside the
    /// same score on mismatched pairs, reconstruction i against stimulus i + 1, as its
    /// chance level) and, with a CLIP in the bundle, 2-way identification on CLIP image
    /// embeddings (chance 50 %). `images` are RGBA `size × size`; `stimuli` the seen images
    /// as `[size, size, 3]` RGB in [0, 1], one per reconstruction.
    pub async fn reconstruction_metrics(
        &self,
        images: &[Vec<u8>],
        size: usize,
        stimuli: &[Vec<f32>],
        labels: Option<&SeenLabels<'_>>,
    ) -> Result<Vec<crate::metrics::Metric>> {
        use crate::metrics::image::{grayscale, pixcorr, ssim};
        let n = images.len();
        if n < 2 || stimuli.len() != n {
            return Err(Error::ShapeMismatch {
                what: "seen images for the reconstructions".into(),
                got: format!("{} images for {n} reconstructions", stimuli.len()),
                expected: "one per reconstruction, at least 2".into(),
            });
        }
        let rgb: Vec<Vec<f32>> = images
            .iter()
            .map(|rgba| {
                rgba.chunks_exact(4)
                    .flat_map(|p| p[..3].iter().map(|&v| v as f32 / 255.0))
                    .collect()
            })
            .collect();
        if let Some(bad) = stimuli.iter().position(|s| s.len() != size * size * 3) {
            return Err(Error::ShapeMismatch {
                what: format!("seen image {bad}"),
                got: format!("{} values", stimuli[bad].len()),
                expected: format!("{size} × {size} × 3, the reconstructions' size"),
            });
        }
        let mut scores = [(0.0, 0.0), (0.0, 0.0)];
        for i in 0..n {
            let other = (i + 1) % n;
            let (gray, seen, mismatched) = (
                grayscale(&rgb[i]),
                grayscale(&stimuli[i]),
                grayscale(&stimuli[other]),
            );
            scores[0].0 += pixcorr(&rgb[i], &stimuli[i])?;
            scores[0].1 += pixcorr(&rgb[i], &stimuli[other])?;
            scores[1].0 += ssim(&gray, &seen, size, size)?;
            scores[1].1 += ssim(&gray, &mismatched, size, size)?;
        }
        let mean = |v: f64| v / n as f64;
        let mut metrics = vec![
            crate::metrics::Metric {
                id: "pixcorr".into(),
                name: format!("PixCorr (RGB, {size}×{size})"),
                value: mean(scores[0].0),
                chance: mean(scores[0].1),
                trials: n,
                controls: Default::default(),
            },
            crate::metrics::Metric {
                id: "ssim".into(),
                name: format!("SSIM (grayscale, σ 1.5, {size}×{size})"),
                value: mean(scores[1].0),
                chance: mean(scores[1].1),
                trials: n,
                controls: Default::default(),
            },
        ];
        if let Some(clip) = &self.clip {
            let to_rgba = |rgb: &[f32]| -> Vec<u8> {
                rgb.chunks_exact(3)
                    .flat_map(|p| {
                        let mut px: Vec<u8> = p
                            .iter()
                            .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
                            .collect();
                        px.push(255);
                        px
                    })
                    .collect()
            };
            let clip_size = clip.config.vision.image_size;
            let prepare =
                |rgba: &[u8]| crate::clip::preprocess::from_rgba(rgba, size, size, clip_size);
            let recon = images
                .iter()
                .map(|i| prepare(i))
                .collect::<Result<Vec<_>>>()?;
            let seen = stimuli
                .iter()
                .map(|s| prepare(&to_rgba(s)))
                .collect::<Result<Vec<_>>>()?;
            let recon = clip.embed_images(&self.device, &recon).await?;
            let seen = clip.embed_images(&self.device, &seen).await?;
            let scores = crate::metrics::similarity(&recon, &seen)?;
            metrics.push(
                crate::metrics::two_way_identification(&scores)?
                    .named("clip_two_way", "CLIP 2-way identification".into()),
            );
            if let Some(labels) = labels {
                metrics.extend(labels.depicted(&recon)?);
            }
        }
        if let Some(reconstructor) = self.reconstructor.get() {
            let encode = |images: Vec<Vec<f32>>| -> Result<crate::matrix::Matrix> {
                let values = images
                    .iter()
                    .map(|rgb| crate::diffusion::hwc_unit_to_chw_signed(rgb, size))
                    .collect::<Result<Vec<_>>>()?
                    .concat();
                let x = Tensor::<4>::from_data(
                    TensorData::new(values, [n, 3, size, size]),
                    &self.device.device,
                );
                let z = reconstructor.autoencoder.encode(x)?;
                let [_, c, h, w] = z.dims();
                crate::matrix::Matrix::from_tensor(z.reshape([n, c * h * w]))
            };
            let recon = centred_rows(encode(rgb)?).unit_rows("reconstruction latents")?;
            let seen = centred_rows(encode(stimuli.to_vec())?).unit_rows("seen-image latents")?;
            let scores = crate::metrics::similarity(&recon, &seen)?;
            metrics.push(crate::metrics::two_way_identification(&scores)?.named(
                "latent_two_way",
                "autoencoder-latent 2-way identification".into(),
            ));
        }
        Ok(metrics)
    }
}

/// Each row minus its mean: the dot product of centred unit rows is Pearson correlation.
fn centred_rows(m: crate::matrix::Matrix) -> crate::matrix::Matrix {
    let cols = m.cols();
    let rows = m.rows();
    let mut values = m.into_values();
    for row in values.chunks_exact_mut(cols) {
        let mean = row.iter().sum::<f32>() / cols as f32;
        row.iter_mut().for_each(|v| *v -= mean);
    }
    crate::matrix::Matrix::new(values, rows, cols).expect("same shape")
}

/// What each reconstruction should depict: the seen image's label and the candidate labels
/// (with their CLIP text embeddings) the reconstruction is classified among.
pub struct SeenLabels<'a> {
    /// Index of each reconstruction's true label among `candidates`.
    pub truth: &'a [usize],
    pub candidates: &'a [String],
    /// Unit CLIP text embeddings of the candidates, one row each.
    pub embeddings: &'a crate::matrix::Matrix,
}

impl SeenLabels<'_> {
    /// Category top-1 of the reconstructions' CLIP image embeddings among the candidates,
    /// and, when the labels are simulated-world categories, whether the chosen category has
    /// the seen colour and the seen shape (chance: the share of candidates that do).
    pub fn depicted(
        &self,
        reconstructions: &crate::matrix::Matrix,
    ) -> Result<Vec<crate::metrics::Metric>> {
        use crate::metrics::Metric;
        use crate::sim::stimuli::Category;
        let n = reconstructions.rows();
        if self.truth.len() != n || self.embeddings.rows() != self.candidates.len() {
            return Err(Error::ShapeMismatch {
                what: "labels of the reconstructions".into(),
                got: format!(
                    "{} truths and {} embeddings for {} candidates",
                    self.truth.len(),
                    self.embeddings.rows(),
                    self.candidates.len()
                ),
                expected: format!("{n} truths and one embedding per candidate"),
            });
        }
        let scores = crate::metrics::similarity(reconstructions, self.embeddings)?;
        let chosen: Vec<usize> = scores
            .iter_rows()
            .map(|row| {
                (0..row.len())
                    .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                    .expect("at least one candidate")
            })
            .collect();
        let k = self.candidates.len();
        let mut metrics = vec![
            crate::metrics::top_k_accuracy(&scores, self.truth, 1)?.named(
                "depicted_category",
                format!("category of the reconstruction (CLIP, top-1 of {k})"),
            ),
        ];
        let world: Option<Vec<Category>> =
            self.candidates.iter().map(|c| Category::parse(c)).collect();
        if let Some(world) = world {
            type Attribute = fn(&Category) -> usize;
            let attributes: [(&str, &str, Attribute); 2] = [
                ("depicted_colour", "colour", |c| c.colour),
                ("depicted_shape", "shape", |c| c.shape),
            ];
            for (id, what, attribute) in attributes {
                let hits = chosen
                    .iter()
                    .zip(self.truth)
                    .filter(|(c, t)| attribute(&world[**c]) == attribute(&world[**t]))
                    .count();
                let chance = self
                    .truth
                    .iter()
                    .map(|t| {
                        world
                            .iter()
                            .filter(|c| attribute(c) == attribute(&world[*t]))
                            .count() as f64
                            / k as f64
                    })
                    .sum::<f64>()
                    / n as f64;
                metrics.push(Metric::new(
                    id,
                    format!("{what} of the reconstruction (its category's)"),
                    hits as f64 / n as f64,
                    chance,
                    n,
                ));
            }
        }
        Ok(metrics)
    }
}
