//! What a denoiser step trains towards: the teacher's rectified-flow targets, or a
//! distillation round's (two guided teacher steps in one).

use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::DenoiserTrainingData;
use crate::diffusion::denoiser::DenoiserModel;
use crate::diffusion::schedule::timesteps;

fn gaussian(rng: &mut ChaCha8Rng, len: usize) -> Vec<f32> {
    (0..len).map(|_| StandardNormal.sample(&mut *rng)).collect()
}

/// What a step trains towards: the input point, its time and condition, and the target
/// velocity, for the rows of one batch.
pub(super) struct Targets {
    pub x_t: Tensor<4>,
    pub t: Tensor<1>,
    pub condition: Tensor<2>,
    pub velocity: Tensor<4>,
}

/// The objective a run trains: the teacher's flow matching, or one distillation round.
pub(super) enum Objective<'a> {
    FlowMatching {
        condition_dropout: f64,
        condition_noise: f64,
    },
    Distill {
        teacher: &'a DenoiserModel,
        /// The teacher's step count; the student takes half as many.
        teacher_steps: usize,
        guidance: f32,
    },
}

impl Objective<'_> {
    /// Draws a batch's inputs and targets on the host-seeded `rng`; `device` is where the
    /// student trains.
    pub(super) fn targets(
        &self,
        data: &DenoiserTrainingData,
        rows: &[usize],
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> Targets {
        let n = rows.len();
        let per = data.per_latent();
        let shape = [n, data.latent_channels, data.latent_size, data.latent_size];
        let noise = gaussian(rng, n * per);
        match self {
            Objective::FlowMatching {
                condition_dropout,
                condition_noise,
            } => {
                let (x0, condition) = data.rows(rows, device);
                let noise = Tensor::<4>::from_data(TensorData::new(noise, shape), device);
                let times: Vec<f32> = (0..n).map(|_| rng.random::<f32>()).collect();
                let keep: Vec<f32> = (0..n)
                    .map(|_| {
                        if rng.random::<f64>() < *condition_dropout {
                            0.0
                        } else {
                            1.0
                        }
                    })
                    .collect();
                let t = Tensor::<1>::from_floats(times.as_slice(), device);
                let t4 = t.clone().reshape([n, 1, 1, 1]);
                let x_t = x0.clone() * (t4.clone().neg() + 1.0) + noise.clone() * t4;
                let keep = Tensor::<1>::from_floats(keep.as_slice(), device).reshape([n, 1]);
                // Drawn only when enabled, so runs without it keep their random streams.
                let condition = if *condition_noise > 0.0 {
                    let d = data.condition_dim;
                    let levels: Vec<f32> = (0..n)
                        .map(|_| (rng.random::<f64>() * condition_noise) as f32)
                        .collect();
                    let scale = 1.0 / (d as f32).sqrt();
                    let noise: Vec<f32> = gaussian(rng, n * d).iter().map(|v| v * scale).collect();
                    let noise = Tensor::<2>::from_data(TensorData::new(noise, [n, d]), device)
                        * Tensor::<1>::from_floats(levels.as_slice(), device).reshape([n, 1]);
                    let noisy = condition + noise;
                    let norm = noisy.clone().powf_scalar(2.0).sum_dim(1).sqrt();
                    noisy / norm
                } else {
                    condition
                };
                Targets {
                    x_t,
                    t,
                    condition: condition * keep,
                    velocity: noise - x0,
                }
            }
            Objective::Distill {
                teacher,
                teacher_steps,
                guidance,
            } => {
                // The teacher runs without autodiff; its targets come back through host data.
                let plain = Device::flex();
                let (x0, condition) = data.rows(rows, &plain);
                let noise = Tensor::<4>::from_data(TensorData::new(noise, shape), &plain);
                let grid = timesteps(*teacher_steps, 1.0);
                let student_steps = teacher_steps / 2;
                let starts: Vec<usize> =
                    (0..n).map(|_| rng.random_range(0..student_steps)).collect();
                let t0: Vec<f32> = starts.iter().map(|&k| grid[2 * k]).collect();
                let t1: Vec<f32> = starts.iter().map(|&k| grid[2 * k + 1]).collect();
                let t2: Vec<f32> = starts.iter().map(|&k| grid[2 * k + 2]).collect();
                let column = |v: &[f32]| Tensor::<1>::from_floats(v, &plain).reshape([n, 1, 1, 1]);
                let x_t = x0.clone() * (column(&t0).neg() + 1.0) + noise * column(&t0);
                let guided = |x: Tensor<4>, t: &[f32]| {
                    let times = Tensor::<1>::from_floats(t, &plain);
                    let conditional = teacher.forward(x.clone(), times.clone(), condition.clone());
                    if *guidance == 1.0 {
                        return conditional;
                    }
                    let unconditional = teacher.forward(x, times, condition.zeros_like());
                    unconditional.clone() + (conditional - unconditional) * *guidance
                };
                let step = |from: &[f32], to: &[f32]| {
                    let d: Vec<f32> = from.iter().zip(to).map(|(a, b)| a - b).collect();
                    column(&d)
                };
                let x1 = x_t.clone() - guided(x_t.clone(), &t0) * step(&t0, &t1);
                let x2 = x1.clone() - guided(x1, &t1) * step(&t1, &t2);
                // The one velocity that covers both teacher steps.
                let velocity = (x_t.clone() - x2) / step(&t0, &t2);
                let to_device = |x: Tensor<4>| Tensor::<4>::from_data(x.into_data(), device);
                Targets {
                    x_t: to_device(x_t),
                    t: Tensor::<1>::from_floats(t0.as_slice(), device),
                    condition: Tensor::<2>::from_data(condition.into_data(), device),
                    velocity: to_device(velocity),
                }
            }
        }
    }
}
