//! Euler sampling of the rectified flow, one step at a time so a caller can decode and show
//! the current estimate of the clean image after every step (the preview), and await
//! read-backs between steps in the browser.
//!
//! Noise is drawn on the host from the seed and the trial's index, so the same seed gives the
//! same starting noise on every backend, and a trial's image does not depend on which other
//! trials share its batch.

use burn::tensor::{Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::diffusion::denoiser::DenoiserModel;
use crate::diffusion::schedule::timesteps;
use crate::error::{Error, Result};

/// How to sample.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SamplerSettings {
    pub steps: usize,
    /// Classifier-free guidance scale: 1 uses the conditional prediction alone (what a
    /// distilled student expects), above 1 pushes away from the unconditional one.
    pub guidance: f32,
    /// Where sampling starts when a starting latent is given (img2img): 1 is pure noise
    /// (the start is ignored), 0.5 noises the start halfway.
    pub strength: f32,
    pub seed: u64,
}

impl SamplerSettings {
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| {
            Err(Error::InvalidConfig {
                what: "sampler settings".into(),
                reason,
            })
        };
        if self.steps == 0 || self.steps > 1000 {
            return bad(format!("steps {} must be between 1 and 1000", self.steps));
        }
        if !(self.guidance.is_finite() && (0.0..=50.0).contains(&self.guidance)) {
            return bad(format!(
                "guidance {} must be between 0 and 50",
                self.guidance
            ));
        }
        if !(self.strength > 0.0 && self.strength <= 1.0) {
            return bad(format!("strength {} must be in (0, 1]", self.strength));
        }
        Ok(())
    }
}

/// Standard normal noise for one trial: `len` values from (seed, trial).
pub fn trial_noise(seed: u64, trial: u64, len: usize) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(trial);
    (0..len).map(|_| StandardNormal.sample(&mut rng)).collect()
}

/// A sampling run in progress.
pub struct FlowSampler<'a> {
    model: &'a DenoiserModel,
    conditions: Tensor<2>,
    guidance: f32,
    times: Vec<f32>,
    x: Tensor<4>,
    done: usize,
}

impl<'a> FlowSampler<'a> {
    /// Starts from noise (or from `start`, noised to `strength`) for every trial:
    /// `conditions` `[n, condition_dim]`, `trials` the n trial ids the noise is drawn for.
    pub fn new(
        model: &'a DenoiserModel,
        conditions: Tensor<2>,
        start: Option<Tensor<4>>,
        trials: &[u64],
        settings: &SamplerSettings,
    ) -> Result<Self> {
        settings.validate()?;
        let config = &model.config;
        let [n, dim] = conditions.dims();
        if n != trials.len() || dim != config.condition_dim {
            return Err(Error::ShapeMismatch {
                what: "conditions for sampling".into(),
                got: crate::error::dims(&[n, dim]),
                expected: crate::error::dims(&[trials.len(), config.condition_dim]),
            });
        }
        let shape = [
            n,
            config.latent_channels,
            config.latent_size,
            config.latent_size,
        ];
        let per_trial = shape[1] * shape[2] * shape[3];
        let noise: Vec<f32> = trials
            .iter()
            .flat_map(|&trial| trial_noise(settings.seed, trial, per_trial))
            .collect();
        let device = conditions.device();
        let noise = Tensor::<4>::from_data(TensorData::new(noise, shape), &device);
        let (x, start_time) = match start {
            Some(start) if settings.strength < 1.0 => {
                if start.dims() != shape {
                    return Err(Error::ShapeMismatch {
                        what: "starting latents".into(),
                        got: crate::error::dims(&start.dims()),
                        expected: crate::error::dims(&shape),
                    });
                }
                let t = settings.strength;
                (start * (1.0 - t) + noise * t, t)
            }
            _ => (noise, 1.0),
        };
        Ok(FlowSampler {
            model,
            conditions,
            guidance: settings.guidance,
            times: timesteps(settings.steps, start_time),
            x,
            done: 0,
        })
    }

    pub fn steps(&self) -> usize {
        self.times.len() - 1
    }

    /// The guided velocity at the current point.
    fn velocity(&self, t: f32) -> Tensor<4> {
        let n = self.x.dims()[0];
        let device = self.x.device();
        let times = Tensor::<1>::full([n], t, &device);
        if self.guidance == 1.0 {
            return self
                .model
                .forward(self.x.clone(), times, self.conditions.clone());
        }
        // One pass over [conditional; unconditional].
        let both = self.model.forward(
            Tensor::cat(vec![self.x.clone(), self.x.clone()], 0),
            Tensor::cat(vec![times.clone(), times], 0),
            Tensor::cat(
                vec![self.conditions.clone(), self.conditions.zeros_like()],
                0,
            ),
        );
        let conditional = both.clone().narrow(0, 0, n);
        let unconditional = both.narrow(0, n, n);
        unconditional.clone() + (conditional - unconditional) * self.guidance
    }

    /// Takes one Euler step; returns the estimate of the clean latents it implies
    /// (`x_t − t·v`), or `None` once every step is done.
    pub fn step(&mut self) -> Option<Tensor<4>> {
        if self.done >= self.steps() {
            return None;
        }
        let (t, next) = (self.times[self.done], self.times[self.done + 1]);
        let v = self.velocity(t);
        let estimate = self.x.clone() - v.clone() * t;
        self.x = self.x.clone() - v * (t - next);
        self.done += 1;
        Some(estimate)
    }

    /// Runs the remaining steps; the clean latents.
    pub fn finish(mut self) -> Tensor<4> {
        while self.step().is_some() {}
        self.x
    }
}
