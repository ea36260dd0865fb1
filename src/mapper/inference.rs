//! A ready mapper: configuration and weights, loaded from safetensors or a bundle, saved
//! back, and mapping normalised fMRI into CLIP space in batches.

use burn::tensor::{Device, Tensor, TensorData};

use super::config::MapperConfig;
use super::model::{MapperModel, NoNoise};
use crate::data::bundle::{LoadOptions, load_module};
use crate::device::ComputeDevice;
use crate::error::{Error, Result, thousands};
use crate::matrix::Matrix;

/// Trials per forward pass at inference; bounds memory for large uploads.
const INFERENCE_BATCH: usize = 256;

/// A ready mapper: configuration and weights.
#[derive(Debug, Clone)]
pub struct Mapper {
    pub config: MapperConfig,
    pub model: MapperModel,
}

/// Predicted embeddings for a batch of trials.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedEmbeddings {
    /// `[trials, image_dim]`, L2-normalised.
    pub image: Matrix,
    /// `[trials, text_dim]`, L2-normalised.
    pub text: Matrix,
}

impl Mapper {
    /// Loads weights saved by [`Mapper::to_safetensors`] (or a PyTorch mapper with the same
    /// module names), checking every tensor's presence and shape.
    pub fn from_safetensors(
        config: MapperConfig,
        weights: Vec<u8>,
        file_name: &str,
        device: &Device,
    ) -> Result<Self> {
        // Only shapes: the file's values are the first the parameters hold.
        let skeleton = MapperModel::skeleton(&config, device)?;
        let options = LoadOptions {
            key_remapping: Vec::new(),
            pytorch_layout: true,
            skip_enum_variants: false,
        };
        let model = load_module(skeleton, file_name, weights, &options)?;
        Ok(Mapper { config, model })
    }

    /// Loads the mapper component of a bundle.
    pub fn from_bundle(
        bundle: &crate::data::bundle::Bundle,
        component: &str,
        device: &Device,
    ) -> Result<Self> {
        let (entry, bytes) = bundle.component(component)?;
        let config: MapperConfig =
            serde_json::from_value(entry.config.clone()).map_err(|err| Error::BundleManifest {
                file: crate::data::bundle::MANIFEST_FILE.into(),
                field: format!("components.{component}.config"),
                reason: err.to_string(),
            })?;
        if config.voxels != bundle.manifest.voxels {
            return Err(Error::BundleManifest {
                file: crate::data::bundle::MANIFEST_FILE.into(),
                field: format!("components.{component}.config.voxels"),
                reason: format!(
                    "is {}, but the bundle's voxels is {}",
                    thousands(config.voxels),
                    thousands(bundle.manifest.voxels)
                ),
            });
        }
        Self::from_safetensors(config, bytes.to_vec(), &entry.weights, device)
    }

    /// The weights as safetensors bytes in PyTorch layout.
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        crate::data::weights::save_module(&self.model, crate::data::bundle::StoredDtype::F32, false)
    }

    /// Maps normalised fMRI `[trials, voxels]` (row-major) into CLIP space, batched.
    pub async fn embed(
        &self,
        device: &ComputeDevice,
        fmri: &[f32],
        voxels: usize,
    ) -> Result<MappedEmbeddings> {
        if voxels != self.config.voxels {
            return Err(Error::VoxelCountMismatch {
                file: "fMRI".into(),
                got: voxels,
                expected: self.config.voxels,
            });
        }
        if fmri.is_empty() || !fmri.len().is_multiple_of(voxels) {
            return Err(Error::ShapeMismatch {
                what: "fMRI values".into(),
                got: thousands(fmri.len()),
                expected: format!("a positive multiple of {} voxels", thousands(voxels)),
            });
        }
        let trials = fmri.len() / voxels;
        let mut image = Vec::with_capacity(trials * self.config.image_dim);
        let mut text = Vec::with_capacity(trials * self.config.text_dim);
        for chunk in fmri.chunks(INFERENCE_BATCH * voxels) {
            let x = Tensor::<2>::from_data(
                TensorData::new(chunk.to_vec(), [chunk.len() / voxels, voxels]),
                &device.device,
            );
            let out = self.model.forward(x, &self.config, &mut NoNoise);
            image.extend(device.read_f32(out.image).await?);
            text.extend(device.read_f32(out.text).await?);
            device.yield_point().await;
        }
        Ok(MappedEmbeddings {
            image: Matrix::new(image, trials, self.config.image_dim)?,
            text: Matrix::new(text, trials, self.config.text_dim)?,
        })
    }
}
