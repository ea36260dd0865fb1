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
use crate::train::checkpoint::{finite_loss, scalar, stream_seed};

/// A trainer's random streams: its seed, and the purposes that keep the epochs' orders and
/// the steps' draws independent of each other and of the trainer's other streams.
#[derive(Debug, Clone, Copy)]
pub struct Streams {
    pub seed: u64,
    pub order: u64,
    pub step: u64,
}

impl Streams {
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

/// Where the run stands and what its steps are called, for one epoch of steps.
pub struct EpochPlan<'a> {
    /// Names the training in a non-finite-loss error ("denoiser training").
    pub what: &'a str,
    pub epoch: usize,
    pub total_steps: usize,
    pub streams: Streams,
    /// The learning rate at a step of the run.
    pub learning_rate: &'a dyn Fn(usize) -> f64,
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

/// Runs one optimiser step per batch on `model`, advancing the run's `step`. `loss` gets
/// the model, the batch and the step's generator. The model always comes back: on an error
/// (a non-finite loss) it holds the weights from before the failed step, so the run stays
/// usable.
pub fn optimise_epoch<M: Module, B>(
    mut model: M,
    optimizer: &mut ModuleOptimizer,
    step: &mut usize,
    plan: &EpochPlan,
    batches: impl IntoIterator<Item = B>,
    mut loss: impl FnMut(&M, B, &mut ChaCha8Rng) -> Tensor<1>,
    progress: &mut dyn FnMut(usize, usize),
) -> (M, Result<EpochSteps>) {
    let started = Instant::now();
    let (mut sum_loss, mut batch_count, mut learning_rate) = (0.0, 0usize, 0.0);
    for batch in batches {
        let mut rng = plan.streams.for_step(plan.epoch, *step);
        let value = loss(&model, batch, &mut rng);
        let loss_value = match finite_loss(scalar(value.clone()), plan.what, plan.epoch, *step) {
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
