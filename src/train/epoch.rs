//! One epoch's optimisation steps, the loop every trainer runs: batches in a seeded order,
//! one random stream per step, a finite-loss check, backward, the learning rate of the
//! schedule and an optimiser step. The trainers differ only in their batches and their loss.

use web_time::Instant;

use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::Tensor;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::error::Result;
use crate::train::checkpoint::{finite_loss, scalar, stream_seed, warmup_cosine};

/// A trainer's random streams: its seed, and the purposes that keep the epochs' orders and
/// the steps' draws independent of each other and of the trainer's other streams.
#[derive(Debug, Clone, Copy)]
pub struct Streams {
    pub seed: u64,
    pub order: u64,
    pub step: u64,
}

impl Streams {
    pub fn new(seed: u64, order: u64, step: u64) -> Self {
        Streams { seed, order, step }
    }

    /// `rows` in epoch `epoch`'s order.
    pub fn shuffled(&self, rows: &[usize], epoch: usize) -> Vec<usize> {
        let mut order = rows.to_vec();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(stream_seed(
            self.seed, self.order, epoch, 0,
        )));
        order
    }

    /// The generator of the run's step `step` (counted over the whole run, so a resumed run
    /// draws what an uninterrupted one would).
    pub fn for_step(&self, epoch: usize, step: usize) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(stream_seed(self.seed, self.step, epoch, step))
    }
}

/// What every epoch of a run shares: its name, length, random streams and learning rates.
pub struct RunPlan<'a> {
    /// Names the training in a non-finite-loss error ("denoiser training").
    pub what: &'a str,
    pub total_steps: usize,
    pub streams: Streams,
    /// The learning rate at a step of the run.
    pub learning_rate: Box<dyn Fn(usize) -> f64 + 'a>,
}

impl<'a> RunPlan<'a> {
    /// A run whose learning rate warms up linearly over `warmup_fraction` of its steps, then
    /// decays to zero on a cosine (every trainer's schedule but the mapper's).
    pub fn warmup_cosine(
        what: &'a str,
        total_steps: usize,
        streams: Streams,
        learning_rate: f64,
        warmup_fraction: f64,
    ) -> Self {
        RunPlan {
            what,
            total_steps,
            streams,
            learning_rate: Box::new(move |step| {
                warmup_cosine(learning_rate, warmup_fraction, step, total_steps)
            }),
        }
    }
}

/// What an epoch's steps measured.
#[derive(Debug, Clone, Copy)]
pub struct EpochSteps {
    /// The mean training loss over the epoch's steps.
    pub loss: f64,
    pub batches: usize,
    /// The learning rate of the epoch's last step.
    pub learning_rate: f64,
    pub seconds: f64,
}

/// Runs epoch `epoch`'s optimiser steps, one per batch, on `model`, advancing the run's
/// `step`. `loss` gets the model, the batch and the step's generator. The model always comes back: on an error
/// (a non-finite loss) it holds the weights from before the failed step, so the run stays
/// usable.
// The arguments are the trainer's own pieces (weights, optimiser, step count, batches, loss,
// progress); gathering them in a struct would only rename them.
#[allow(clippy::too_many_arguments)]
pub fn optimise_epoch<M: Module, B>(
    mut model: M,
    optimizer: &mut ModuleOptimizer,
    step: &mut usize,
    plan: &RunPlan,
    epoch: usize,
    batches: impl IntoIterator<Item = B>,
    mut loss: impl FnMut(&M, B, &mut ChaCha8Rng) -> Tensor<1>,
    progress: &mut dyn FnMut(usize, usize),
) -> (M, Result<EpochSteps>) {
    let started = Instant::now();
    let (mut sum_loss, mut batch_count, mut learning_rate) = (0.0, 0usize, 0.0);
    for batch in batches {
        let mut rng = plan.streams.for_step(epoch, *step);
        let value = loss(&model, batch, &mut rng);
        let loss_value = match finite_loss(scalar(value.clone()), plan.what, epoch, *step) {
            Ok(v) => v,
            Err(err) => return (model, Err(err)),
        };
        let grads = GradientsParams::from_grads(value.backward(), &model);
        learning_rate = (plan.learning_rate)(*step);
        model = optimizer.step(learning_rate, model, grads);
        *step += 1;
        sum_loss += loss_value;
        batch_count += 1;
        progress(*step, plan.total_steps);
    }
    let steps = EpochSteps {
        loss: sum_loss / batch_count.max(1) as f64,
        batches: batch_count,
        learning_rate,
        seconds: started.elapsed().as_secs_f64(),
    };
    (model, Ok(steps))
}
