//! The denoiser's training data: world images encoded into the autoencoder's diffusion
//! space, each with the CLIP image embedding it is conditioned on.

use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::PURPOSE_ORDER;
use crate::diffusion::denoiser::DenoiserConfig;
use crate::error::{Error, Result};
use crate::train::checkpoint::stream_seed;

/// Latents (in the diffusion space: shifted and scaled) with the condition of each.
#[derive(Debug, Clone, PartialEq)]
pub struct DenoiserTrainingData {
    /// `[n, channels, size, size]` flattened.
    pub latents: Vec<f32>,
    /// `[n, condition_dim]` flattened (unit CLIP image embeddings).
    pub conditions: Vec<f32>,
    pub count: usize,
    pub latent_channels: usize,
    pub latent_size: usize,
    pub condition_dim: usize,
}

/// Denoiser training images use their own index range, apart from the protocol's (so no
/// test stimulus is ever generated here), the CLIP's and the autoencoder's.
const WORLD_INDEX: u64 = 1 << 28;

impl DenoiserTrainingData {
    /// `count` world images of every category (drawn by `seed`), encoded by the autoencoder
    /// into its diffusion space and embedded by the CLIP: what the denoiser learns to invert.
    /// Like unCLIP's decoder, it learns images from CLIP embeddings of all kinds of images;
    /// it never sees fMRI.
    pub async fn from_world(
        world_seed: u64,
        count: usize,
        seed: u64,
        autoencoder: &crate::diffusion::Autoencoder,
        clip: &crate::clip::Clip,
        device: &crate::device::ComputeDevice,
    ) -> Result<Self> {
        use crate::sim::stimuli::{CATEGORIES, Category, IMAGE_SIZE, Stimulus};
        let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(seed, PURPOSE_ORDER, usize::MAX, 0));
        let stimuli: Vec<Stimulus> = (0..count)
            .map(|i| {
                let category =
                    Category::from_index(rng.random_range(0..CATEGORIES)).expect("in range");
                Stimulus::generate(world_seed, category, WORLD_INDEX + i as u64)
            })
            .collect();
        let clip_size = clip.config.vision.image_size;
        let mut latents = Vec::with_capacity(count * 64);
        let mut pixels_for_clip = Vec::with_capacity(count);
        let mut shape = [0usize; 3];
        for chunk in stimuli.chunks(64) {
            let mut batch = Vec::with_capacity(chunk.len() * 3 * IMAGE_SIZE * IMAGE_SIZE);
            for stimulus in chunk {
                let rgb = stimulus.render(IMAGE_SIZE);
                batch.extend(crate::diffusion::hwc_unit_to_chw_signed(&rgb, IMAGE_SIZE)?);
                let rgba =
                    image::DynamicImage::from(stimulus.render_image(IMAGE_SIZE)).into_rgba8();
                pixels_for_clip.push(crate::clip::preprocess::from_rgba(
                    &rgba, IMAGE_SIZE, IMAGE_SIZE, clip_size,
                )?);
            }
            let images = Tensor::<4>::from_data(
                TensorData::new(batch, [chunk.len(), 3, IMAGE_SIZE, IMAGE_SIZE]),
                &device.device,
            );
            let z = autoencoder.to_diffusion_space(autoencoder.encode(images)?);
            let [_, c, h, w] = z.dims();
            shape = [c, h, w];
            latents.extend(device.read_f32(z).await?);
        }
        if shape[1] != shape[2] {
            return Err(Error::InvalidConfig {
                what: "denoiser training data".into(),
                reason: format!(
                    "latents are {} × {}; the denoiser takes square latents",
                    shape[1], shape[2]
                ),
            });
        }
        let embeddings = clip.embed_images(device, &pixels_for_clip).await?;
        Ok(DenoiserTrainingData {
            latents,
            conditions: embeddings.values().to_vec(),
            count,
            latent_channels: shape[0],
            latent_size: shape[1],
            condition_dim: embeddings.cols(),
        })
    }

    pub(super) fn per_latent(&self) -> usize {
        self.latent_channels * self.latent_size * self.latent_size
    }

    pub fn validate(&self, config: &DenoiserConfig) -> Result<()> {
        let bad = |reason: String| {
            Err(Error::InvalidConfig {
                what: "denoiser training data".into(),
                reason,
            })
        };
        if self.count < 2 {
            return bad(format!("{} samples; at least 2 are needed", self.count));
        }
        if self.latents.len() != self.count * self.per_latent()
            || self.conditions.len() != self.count * self.condition_dim
        {
            return bad("latents and conditions do not hold `count` rows each".into());
        }
        if (self.latent_channels, self.latent_size, self.condition_dim)
            != (
                config.latent_channels,
                config.latent_size,
                config.condition_dim,
            )
        {
            return bad(format!(
                "the data has {} × {}² latents and {}-d conditions; the denoiser expects {} × {}² and {}",
                self.latent_channels,
                self.latent_size,
                self.condition_dim,
                config.latent_channels,
                config.latent_size,
                config.condition_dim
            ));
        }
        if let Some(v) = self
            .latents
            .iter()
            .chain(&self.conditions)
            .find(|v| !v.is_finite())
        {
            return bad(format!("a value is {v}; every value must be finite"));
        }
        Ok(())
    }

    pub(super) fn rows(&self, rows: &[usize], device: &Device) -> (Tensor<4>, Tensor<2>) {
        let per = self.per_latent();
        let latents: Vec<f32> = rows
            .iter()
            .flat_map(|&r| self.latents[r * per..(r + 1) * per].iter().copied())
            .collect();
        let d = self.condition_dim;
        let conditions: Vec<f32> = rows
            .iter()
            .flat_map(|&r| self.conditions[r * d..(r + 1) * d].iter().copied())
            .collect();
        (
            Tensor::from_data(
                TensorData::new(
                    latents,
                    [
                        rows.len(),
                        self.latent_channels,
                        self.latent_size,
                        self.latent_size,
                    ],
                ),
                device,
            ),
            Tensor::from_data(TensorData::new(conditions, [rows.len(), d]), device),
        )
    }
}
