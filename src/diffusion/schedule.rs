//! Rectified flow (flow matching with straight paths): `x_t = (1 − t)·x₀ + t·ε`, t from 0
//! (data) to 1 (noise); the denoiser predicts the velocity `v = ε − x₀`, and sampling
//! integrates `dx/dt = v` from t = 1 (or from t = strength, for img2img) down to 0.
//!
//! The schedule is the bundle's `schedule` component: which times a sampler visits for a
//! given number of steps. Straight paths make few-step sampling well-posed, and the
//! distilled student is trained on exactly the step grid it is sampled with.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The `schedule` component of a bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Always "rectified_flow" for now; named so a bundle says what it holds.
    pub kind: String,
    /// The step counts the denoiser was trained or distilled for, most preferred first.
    pub steps: Vec<usize>,
    /// Classifier-free guidance scale the denoiser expects: 1 for a distilled student
    /// (guidance is baked in), the teacher's scale otherwise.
    pub guidance: f32,
}

pub const RECTIFIED_FLOW: &str = "rectified_flow";

impl Schedule {
    pub fn rectified_flow(steps: Vec<usize>, guidance: f32) -> Self {
        Schedule {
            kind: RECTIFIED_FLOW.into(),
            steps,
            guidance,
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.kind != RECTIFIED_FLOW {
            return Err(Error::InvalidConfig {
                what: "schedule".into(),
                reason: format!("kind '{}' is unknown; expected {RECTIFIED_FLOW}", self.kind),
            });
        }
        if self.steps.is_empty() || self.steps.contains(&0) {
            return Err(Error::InvalidConfig {
                what: "schedule".into(),
                reason: "steps must list at least one positive step count".into(),
            });
        }
        if !(self.guidance.is_finite() && self.guidance >= 0.0) {
            return Err(Error::InvalidConfig {
                what: "schedule".into(),
                reason: format!("guidance {} must be finite and ≥ 0", self.guidance),
            });
        }
        Ok(())
    }
}

/// The times a `steps`-step sampler visits, from `start` (1 = pure noise) down to 0:
/// `steps + 1` values, evenly spaced.
pub fn timesteps(steps: usize, start: f32) -> Vec<f32> {
    (0..=steps)
        .map(|i| start * (1.0 - i as f32 / steps as f32))
        .collect()
}

/// `x_t` from clean `x0` and noise `eps` (elementwise, host values).
pub fn noised(x0: &[f32], eps: &[f32], t: f32) -> Vec<f32> {
    x0.iter()
        .zip(eps)
        .map(|(x, e)| (1.0 - t) * x + t * e)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timesteps_run_from_start_to_zero_evenly() {
        assert_eq!(timesteps(4, 1.0), vec![1.0, 0.75, 0.5, 0.25, 0.0]);
        assert_eq!(timesteps(2, 0.5), vec![0.5, 0.25, 0.0]);
        assert_eq!(timesteps(1, 1.0), vec![1.0, 0.0]);
    }

    #[test]
    fn the_path_is_straight_and_its_velocity_recovers_the_data() {
        let x0 = [0.5, -1.0];
        let eps = [2.0, 0.25];
        assert_eq!(noised(&x0, &eps, 0.0), x0.to_vec());
        assert_eq!(noised(&x0, &eps, 1.0), eps.to_vec());
        // One Euler step with the true velocity ε − x₀ lands on x₀ from any t.
        let t = 0.3;
        let xt = noised(&x0, &eps, t);
        for i in 0..2 {
            let v = eps[i] - x0[i];
            assert!((xt[i] - t * v - x0[i]).abs() < 1e-6);
        }
    }

    #[test]
    fn bad_schedules_are_refused() {
        assert!(
            Schedule::rectified_flow(vec![4, 2, 1], 1.0)
                .validate()
                .is_ok()
        );
        assert!(Schedule::rectified_flow(vec![], 1.0).validate().is_err());
        let mut other = Schedule::rectified_flow(vec![4], 1.0);
        other.kind = "ddpm".into();
        assert!(other.validate().unwrap_err().to_string().contains("ddpm"));
    }
}
