//! A simulated block-design recording: the shape most small real datasets have. A subject
//! sees blocks of one category at a time, several volumes per block, in several runs, and
//! every volume is a training example. Neighbouring volumes are near-copies — the same
//! stimulus, slow hemodynamics, autocorrelated noise and a per-run baseline — which is what
//! makes validation by volume leak and why brainclip splits such data by run.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::error::{Error, Result};
use crate::matrix::Matrix;
use crate::sim::stimuli::{COLOURS, Category, SHAPES, Stimulus};
use crate::sim::subject::{Subject, SubjectConfig};

/// Sizes and noise of the recording.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BlockDesignConfig {
    pub seed: u64,
    /// Categories shown (one block each per run).
    pub categories: usize,
    pub runs: usize,
    pub volumes_per_block: usize,
    pub voxels: usize,
    /// Single-volume signal-to-noise ratio.
    pub snr: f32,
    /// Lag-1 autocorrelation of the noise within a run.
    pub autocorrelation: f32,
    /// Standard deviation of each voxel's per-run baseline, relative to the noise.
    pub run_offset: f32,
}

impl Default for BlockDesignConfig {
    fn default() -> Self {
        BlockDesignConfig {
            seed: 0,
            categories: 8,
            runs: 12,
            volumes_per_block: 6,
            voxels: 500,
            snr: 0.4,
            autocorrelation: 0.7,
            run_offset: 0.5,
        }
    }
}

/// The recording, one row per volume in acquisition order.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockRecording {
    /// `[volumes, voxels]`.
    pub fmri: Matrix,
    /// Category name of each volume ("red star").
    pub labels: Vec<String>,
    /// Run of each volume, from 1.
    pub runs: Vec<usize>,
    /// Which image each volume's block showed (one image per block).
    pub stimulus_ids: Vec<String>,
}

/// Hemodynamic ramp over a block's volumes: the response builds up over the first seconds.
const RAMP: [f32; 3] = [0.35, 0.75, 0.95];

impl BlockDesignConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: &str| {
            Err(Error::InvalidConfig {
                what: "block-design simulation".into(),
                reason: reason.into(),
            })
        };
        // Categories take shapes 0, 3, 6, … (all distinct while fewer than the 25 shapes).
        if self.categories < 2 || self.categories >= SHAPES.len() {
            return bad("categories must be between 2 and 24");
        }
        if !(self.run_offset.is_finite() && self.run_offset >= 0.0) {
            return bad("run_offset must be a standard deviation ≥ 0");
        }
        if self.runs < 2 || self.volumes_per_block == 0 || self.voxels == 0 {
            return bad("needs at least 2 runs, 1 volume per block and 1 voxel");
        }
        if !(self.snr.is_finite() && self.snr > 0.0) {
            return bad("snr must be positive");
        }
        if !(0.0..1.0).contains(&self.autocorrelation) {
            return bad("autocorrelation must be in [0, 1)");
        }
        Ok(())
    }

    /// The categories shown: distinct shapes, colours cycling, so no two share both.
    pub fn chosen_categories(&self) -> Vec<Category> {
        (0..self.categories)
            .map(|k| Category {
                shape: (k * 3) % SHAPES.len(),
                colour: k % COLOURS.len(),
            })
            .collect()
    }

    /// Simulates the recording (a subject of `voxels` voxels seeded by `seed`).
    pub fn record(&self) -> Result<BlockRecording> {
        self.validate()?;
        let subject = Subject::new(SubjectConfig {
            name: "blocks".into(),
            seed: self.seed ^ 0xb10c,
            voxels: self.voxels,
            early_fraction: 0.6,
            snr: self.snr,
        });
        let categories = self.chosen_categories();
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let noise_scale = 1.0 / self.snr;
        let innovation = (1.0 - self.autocorrelation.powi(2)).sqrt();
        let (mut values, mut labels, mut runs, mut stimulus_ids) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for run in 0..self.runs {
            let mut order: Vec<usize> = (0..categories.len()).collect();
            order.shuffle(&mut rng);
            let offset: Vec<f32> = (0..self.voxels)
                .map(|_| self.run_offset * noise_scale * gaussian(&mut rng))
                .collect();
            let mut noise: Vec<f32> = (0..self.voxels).map(|_| gaussian(&mut rng)).collect();
            for &k in &order {
                let stimulus = Stimulus::generate(self.seed, categories[k], run as u64);
                let signal = subject.signal(&stimulus);
                for volume in 0..self.volumes_per_block {
                    let gain = RAMP.get(volume).copied().unwrap_or(1.0);
                    for n in noise.iter_mut() {
                        *n = self.autocorrelation * *n + innovation * gaussian(&mut rng);
                    }
                    values.extend(
                        signal
                            .iter()
                            .zip(&noise)
                            .zip(&offset)
                            .map(|((s, n), o)| gain * s + noise_scale * n + o),
                    );
                    labels.push(categories[k].name());
                    runs.push(run + 1);
                    stimulus_ids.push(format!(
                        "run{}-{}",
                        run + 1,
                        categories[k].name().replace(' ', "-")
                    ));
                }
            }
        }
        let volumes = labels.len();
        Ok(BlockRecording {
            fmri: Matrix::new(values, volumes, self.voxels)?,
            labels,
            runs,
            stimulus_ids,
        })
    }
}

fn gaussian(rng: &mut impl Rng) -> f32 {
    StandardNormal.sample(rng)
}
