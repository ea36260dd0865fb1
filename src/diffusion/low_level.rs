//! The low-level path (as MindEye and brain-diffuser have one): fMRI → the autoencoder
//! latent of the seen image, through one linear map fitted by ridge regression. Decoded on
//! its own it is a blurry reconstruction of layout and colour; noised part-way, it is where
//! the sampler starts (img2img `strength`), so the semantic path refines it.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::data::bundle::StoredDtype;
use crate::error::{Error, Result};
use crate::ridge::RidgeSolution;

/// The `config` of a bundle component of kind `low_level`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LowLevelConfig {
    pub voxels: usize,
    pub latent_channels: usize,
    pub latent_size: usize,
    /// The img2img strength a reconstruction starts from this head's latents with when the
    /// request names none (chosen on a development split); absent: sampling starts from noise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strength: Option<f32>,
}

impl LowLevelConfig {
    fn dim(&self) -> usize {
        self.latent_channels * self.latent_size * self.latent_size
    }
}

/// `linear`: normalised fMRI `[n, voxels]` → latents in the diffusion space, flattened.
#[derive(Module, Debug)]
pub struct LowLevelHead {
    pub linear: Linear,
}

/// A loaded low-level head.
#[derive(Debug, Clone)]
pub struct LowLevel {
    pub config: LowLevelConfig,
    pub head: LowLevelHead,
}

impl LowLevel {
    fn empty(config: &LowLevelConfig, device: &Device) -> LowLevelHead {
        LowLevelHead {
            linear: burn::nn::LinearConfig::new(config.voxels, config.dim()).init(device),
        }
    }

    /// From a ridge fit onto flattened latents.
    pub fn from_ridge(config: LowLevelConfig, solution: &RidgeSolution) -> Result<Self> {
        if solution.voxels != config.voxels || solution.dim != config.dim() {
            return Err(Error::ShapeMismatch {
                what: "low-level ridge fit".into(),
                got: format!("{} voxels → {} values", solution.voxels, solution.dim),
                expected: format!("{} voxels → {} values", config.voxels, config.dim()),
            });
        }
        let device = Device::flex();
        let linear = Linear {
            weight: Param::from_tensor(Tensor::from_data(
                TensorData::new(solution.weights.clone(), [solution.voxels, solution.dim]),
                &device,
            )),
            bias: Some(Param::from_tensor(Tensor::from_data(
                TensorData::new(solution.bias.clone(), [solution.dim]),
                &device,
            ))),
        };
        Ok(LowLevel {
            config,
            head: LowLevelHead { linear },
        })
    }

    /// Loads `linear.weight` / `linear.bias` in PyTorch layout (f32 or f16).
    pub fn from_safetensors(
        config: LowLevelConfig,
        weights: Vec<u8>,
        file_name: &str,
        device: &Device,
    ) -> Result<Self> {
        if config.voxels == 0 || config.dim() == 0 {
            return Err(Error::InvalidConfig {
                what: "low-level head".into(),
                reason: "voxels, latent_channels and latent_size must be positive".into(),
            });
        }
        let options = crate::data::weights::LoadOptions {
            pytorch_layout: true,
            ..Default::default()
        };
        let head = crate::data::weights::load_module(
            Self::empty(&config, device),
            file_name,
            weights,
            &options,
        )?;
        Ok(LowLevel { config, head })
    }

    pub fn to_safetensors(&self, dtype: StoredDtype) -> Result<Vec<u8>> {
        crate::data::weights::save_module(&self.head, dtype, false)
    }

    /// Latents `[n, channels, size, size]` for normalised fMRI `[n, voxels]`.
    pub fn predict(&self, fmri: Tensor<2>) -> Tensor<4> {
        let n = fmri.dims()[0];
        let c = &self.config;
        self.head
            .linear
            .forward(fmri)
            .reshape([n, c.latent_channels, c.latent_size, c.latent_size])
    }
}
