//! A dataset with a planted ground truth, for testing and demonstrating the mapper: every
//! category has a text embedding (a random unit vector), each stimulus's image embedding lies
//! near its category's, and each trial's voxels are a fixed random linear function of the
//! image embedding plus Gaussian noise. A mapper that learns the inverse of that function
//! decodes categories it never saw, because their text embeddings live in the same space.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::error::Result;
use crate::matrix::Matrix;

/// Sizes and noise of a planted dataset.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PlantedConfig {
    pub voxels: usize,
    /// Embedding size (CLIP's would be 512 or 768).
    pub dim: usize,
    /// Categories seen in training.
    pub train_categories: usize,
    /// Novel categories, only in the test set.
    pub test_categories: usize,
    /// Stimuli per training category (one trial each).
    pub train_per_category: usize,
    /// Stimuli per novel category (one trial each).
    pub test_per_category: usize,
    /// Spread of image embeddings around their category's text embedding.
    pub image_spread: f32,
    /// Standard deviation of voxel noise relative to the signal's.
    pub noise: f32,
    pub seed: u64,
}

impl Default for PlantedConfig {
    fn default() -> Self {
        PlantedConfig {
            voxels: 300,
            dim: 32,
            train_categories: 60,
            test_categories: 10,
            train_per_category: 8,
            test_per_category: 5,
            image_spread: 0.3,
            noise: 1.0,
            seed: 0,
        }
    }
}

/// One split: trials with their image embeddings and category (an index into the
/// dataset's category list).
#[derive(Debug, Clone, PartialEq)]
pub struct PlantedSplit {
    /// `[trials, voxels]`.
    pub fmri: Matrix,
    /// `[trials, dim]`, L2-normalised.
    pub images: Matrix,
    /// Category index of each trial.
    pub categories: Vec<usize>,
}

/// A generated dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct PlantedDataset {
    /// Category names; the first `train_categories` are seen in training, the rest novel.
    pub category_names: Vec<String>,
    /// `[categories, dim]`: each category's text embedding, L2-normalised.
    pub category_embeddings: Matrix,
    pub train: PlantedSplit,
    pub test: PlantedSplit,
}

fn normalized(mut v: Vec<f32>) -> Vec<f32> {
    crate::matrix::l2_normalize(&mut v);
    v
}

impl PlantedDataset {
    pub fn generate(config: &PlantedConfig) -> Result<Self> {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let gaussian = |rng: &mut ChaCha8Rng, n: usize| -> Vec<f32> {
            (0..n).map(|_| StandardNormal.sample(rng)).collect()
        };
        let dim = config.dim;
        let categories = config.train_categories + config.test_categories;
        let category_names: Vec<String> = (0..categories).map(|c| format!("object {c}")).collect();
        let mut category_values = Vec::with_capacity(categories * dim);
        for _ in 0..categories {
            category_values.extend(normalized(gaussian(&mut rng, dim)));
        }
        let category_embeddings = Matrix::new(category_values, categories, dim)?;
        // The brain's encoding: voxels = A · image embedding + noise, with A scaled so the
        // signal has unit standard deviation per voxel.
        let encoding: Vec<f32> = gaussian(&mut rng, config.voxels * dim);
        let split = |rng: &mut ChaCha8Rng, cats: std::ops::Range<usize>, per: usize| {
            let trials = cats.len() * per;
            let mut fmri = Vec::with_capacity(trials * config.voxels);
            let mut images = Vec::with_capacity(trials * dim);
            let mut labels = Vec::with_capacity(trials);
            for c in cats {
                for _ in 0..per {
                    let image: Vec<f32> = normalized(
                        category_embeddings
                            .row(c)
                            .iter()
                            .zip(gaussian(rng, dim))
                            .map(|(t, n)| t + config.image_spread * n / (dim as f32).sqrt())
                            .collect(),
                    );
                    for v in 0..config.voxels {
                        let row = &encoding[v * dim..(v + 1) * dim];
                        let signal: f32 = row.iter().zip(&image).map(|(a, e)| a * e).sum();
                        let noise: f32 = StandardNormal.sample(rng);
                        fmri.push(signal + config.noise * noise);
                    }
                    images.extend(image);
                    labels.push(c);
                }
            }
            Ok::<_, crate::error::Error>(PlantedSplit {
                fmri: Matrix::new(fmri, trials, config.voxels)?,
                images: Matrix::new(images, trials, dim)?,
                categories: labels,
            })
        };
        let train = split(
            &mut rng,
            0..config.train_categories,
            config.train_per_category,
        )?;
        let test = split(
            &mut rng,
            config.train_categories..categories,
            config.test_per_category,
        )?;
        Ok(PlantedDataset {
            category_names,
            category_embeddings,
            train,
            test,
        })
    }
}
