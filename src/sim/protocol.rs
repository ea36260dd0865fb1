//! The simulated experiment, shaped like Generic Object Decoding (Horikawa & Kamitani 2017),
//! the protocol BrainCLIP reports zero-shot decoding on: training runs show 8 images of each
//! of 150 categories once; test runs show one image of each of 50 *other* categories 35
//! times, and the repeats are averaged. A mapper trained on the training trials never sees a
//! test category, so decoding one is zero-shot (chance: 2 % top-1, 10 % top-5).

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use crate::matrix::Matrix;
use crate::sim::stimuli::{CATEGORIES, COLOURS, Category, SHAPES, Stimulus};
use crate::sim::subject::Subject;

/// Sizes of the experiment.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProtocolConfig {
    pub seed: u64,
    /// Novel categories per shape: each shape keeps this many of its colours for the test.
    pub test_colours_per_shape: usize,
    pub train_images_per_category: usize,
    pub test_images_per_category: usize,
    /// Presentations of each test image, averaged into one test trial.
    pub test_repeats: usize,
}

impl Default for ProtocolConfig {
    fn default() -> Self {
        ProtocolConfig {
            seed: 0,
            test_colours_per_shape: 2,
            train_images_per_category: 8,
            test_images_per_category: 1,
            test_repeats: 35,
        }
    }
}

/// A fresh recording of the test stimuli: what a student varies to see decoding fail.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TestRecordingConfig {
    /// Single-presentation signal-to-noise ratio (signal and noise standard deviations).
    pub snr: f32,
    /// Presentations averaged into each trial.
    pub repeats: usize,
    /// Seed of the noise.
    pub seed: u64,
}

/// Most presentations a test recording may average (GOD has 35).
pub const MAX_TEST_REPEATS: usize = 1000;

/// Which stimuli the experiment shows, in presentation order.
#[derive(Debug, Clone, PartialEq)]
pub struct Protocol {
    pub config: ProtocolConfig,
    pub train_categories: Vec<Category>,
    pub test_categories: Vec<Category>,
    pub train: Vec<Stimulus>,
    pub test: Vec<Stimulus>,
}

/// One subject's recordings: `[trials, voxels]`, rows in the protocol's stimulus order.
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    pub train: Matrix,
    pub test: Matrix,
}

impl Protocol {
    /// Splits the categories so that every shape and every colour is seen in training (the
    /// novel categories are new *combinations*), with novel colours spread evenly over shapes.
    pub fn new(config: ProtocolConfig) -> Result<Protocol> {
        if config.test_colours_per_shape >= COLOURS.len() {
            return Err(Error::InvalidConfig {
                what: "simulated protocol".into(),
                reason: format!(
                    "test_colours_per_shape is {}; it must be below {} so every shape keeps a training colour",
                    config.test_colours_per_shape,
                    COLOURS.len()
                ),
            });
        }
        if config.train_images_per_category == 0 || config.test_images_per_category == 0 {
            return Err(Error::InvalidConfig {
                what: "simulated protocol".into(),
                reason: "images per category must be at least 1".into(),
            });
        }
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let mut colour_order: Vec<usize> = (0..COLOURS.len()).collect();
        colour_order.shuffle(&mut rng);
        let mut test_categories = Vec::new();
        let mut train_categories = Vec::new();
        for shape in 0..SHAPES.len() {
            let novel: Vec<usize> = (0..config.test_colours_per_shape)
                .map(|k| colour_order[(shape * config.test_colours_per_shape + k) % COLOURS.len()])
                .collect();
            for colour in 0..COLOURS.len() {
                let category = Category { shape, colour };
                if novel.contains(&colour) {
                    test_categories.push(category);
                } else {
                    train_categories.push(category);
                }
            }
        }
        debug_assert_eq!(train_categories.len() + test_categories.len(), CATEGORIES);
        let images = |categories: &[Category], per: usize, offset: u64| -> Vec<Stimulus> {
            categories
                .iter()
                .flat_map(|&category| {
                    (0..per as u64)
                        .map(move |k| Stimulus::generate(config.seed, category, offset + k))
                })
                .collect()
        };
        // Test images use their own index range so they never coincide with training images.
        let mut train = images(&train_categories, config.train_images_per_category, 0);
        let test = images(&test_categories, config.test_images_per_category, 1 << 20);
        // Presentation order is shuffled, as in a real session.
        train.shuffle(&mut rng);
        Ok(Protocol {
            config,
            train_categories,
            test_categories,
            train,
            test,
        })
    }

    /// A development split inside the *seen* categories, for choosing settings without
    /// touching the novel test categories: one seen colour of every shape is held out (25
    /// categories, chance 4 %), spread over the colours so every shape and every colour
    /// keeps training categories. Trained on the rest, a mapper decodes these zero-shot,
    /// as the test protocol does.
    pub fn development_categories(&self) -> Vec<Category> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.config.seed ^ 0xde7);
        let mut colour_order: Vec<usize> = (0..COLOURS.len()).collect();
        colour_order.shuffle(&mut rng);
        let mut out = Vec::new();
        for shape in 0..SHAPES.len() {
            // The first colour in a rotating order that this shape has among its seen ones.
            let start = shape % COLOURS.len();
            let colour = (0..COLOURS.len())
                .map(|k| colour_order[(start + k) % COLOURS.len()])
                .find(|&colour| self.train_categories.contains(&Category { shape, colour }))
                .expect("every shape keeps seen colours");
            out.push(Category { shape, colour });
        }
        out
    }

    /// Training-trial indices of the development split: (dev-train, dev-test).
    pub fn development_split(&self) -> (Vec<usize>, Vec<usize>) {
        let held = self.development_categories();
        (0..self.train.len()).partition(|&i| !held.contains(&self.train[i].category))
    }

    /// A new recording of the test stimuli by `subject` (rows in the protocol's test order,
    /// as the world's `test_fmri.npy`): each trial averages `repeats` presentations with
    /// noise drawn from `seed`.
    pub fn record_test(&self, subject: &Subject, config: &TestRecordingConfig) -> Result<Matrix> {
        if !(config.snr.is_finite() && config.snr > 0.0) {
            return Err(Error::InvalidConfig {
                what: "simulated recording".into(),
                reason: format!("SNR is {}; it must be a positive number", config.snr),
            });
        }
        if config.repeats == 0 || config.repeats > MAX_TEST_REPEATS {
            return Err(Error::InvalidConfig {
                what: "simulated recording".into(),
                reason: format!("{} repeats; give 1 to {MAX_TEST_REPEATS}", config.repeats),
            });
        }
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let voxels = subject.config.voxels;
        let mut values = Vec::with_capacity(self.test.len() * voxels);
        for stimulus in &self.test {
            values.extend(subject.trial_at(stimulus, config.repeats, config.snr, &mut rng));
        }
        Matrix::new(values, self.test.len(), voxels)
    }

    /// Records a subject: single-presentation training trials and averaged test trials.
    pub fn record(&self, subject: &Subject) -> Result<Recording> {
        let mut rng =
            ChaCha8Rng::seed_from_u64(subject.config.seed ^ self.config.seed.rotate_left(17));
        let voxels = subject.config.voxels;
        let mut run = |stimuli: &[Stimulus], repeats: usize| {
            let mut values = Vec::with_capacity(stimuli.len() * voxels);
            for stimulus in stimuli {
                values.extend(subject.trial(stimulus, repeats, &mut rng));
            }
            Matrix::new(values, stimuli.len(), voxels)
        };
        Ok(Recording {
            train: run(&self.train, 1)?,
            test: run(&self.test, self.config.test_repeats)?,
        })
    }
}

/// "red star" → "red-star".
fn slug(category: Category) -> String {
    category.name().replace(' ', "-")
}

/// The id of each stimulus as `brainclip sim world` names its files (`train-red-star-0`):
/// the category slug and the stimulus's index within its split and category.
pub fn stimulus_ids(stimuli: &[Stimulus], split: &str) -> Vec<String> {
    let mut seen = std::collections::HashMap::new();
    let mut ids = vec![String::new(); stimuli.len()];
    // Number images of a category in a stable (category, generation) order, not presentation order.
    let mut order: Vec<usize> = (0..stimuli.len()).collect();
    order.sort_by_key(|&i| (stimuli[i].category.index(), stimulus_key(&stimuli[i])));
    for i in order {
        let count = seen.entry(stimuli[i].category).or_insert(0usize);
        ids[i] = format!("{split}-{}-{}", slug(stimuli[i].category), count);
        *count += 1;
    }
    ids
}

/// A total order on stimuli of one category that does not depend on presentation order.
fn stimulus_key(stimulus: &Stimulus) -> [u32; 4] {
    [
        stimulus.scale.to_bits(),
        stimulus.centre[0].to_bits(),
        stimulus.centre[1].to_bits(),
        stimulus.rotation.to_bits(),
    ]
}
