//! The BrainCLIP mapping network: an fMRI pattern `[voxels]` → a CLIP image embedding and a
//! CLIP text embedding, both L2-normalised.
//!
//! Variants (`vae` is the default, the others exist for ablations):
//! - `linear`: two linear heads straight from voxels (a ridge-regression-like baseline);
//! - `mlp`:    voxels → hidden → residual blocks → latent → two heads;
//! - `vae`:    as `mlp`, but the latent is a Gaussian (μ, log σ²), sampled with the
//!   reparameterisation trick in training and taken at μ at inference.
//!
//! The weights file uses PyTorch layouts and names (`trunk.weight` is `[hidden, voxels]`,
//! LayerNorm `weight`/`bias`), so a mapper trained in PyTorch with the same module names can
//! be dropped in.
//!
//! One file per part: the configuration and its variants (`config`), the network and its
//! forward pass (`model`), the explicit backward pass attribution uses (`backward`), and the
//! ready mapper that loads, saves and embeds (`inference`).

mod backward;
mod config;
mod inference;
mod model;

pub use backward::SimilarityGradients;
pub use config::{MapperConfig, MapperVariant, Space};
pub use inference::{MappedEmbeddings, Mapper};
pub use model::{MapperModel, MapperOutput, NoNoise, ResidualBlock, TrainingNoise};

#[cfg(test)]
mod tests {
    use burn::module::Module;
    use burn::tensor::Device;

    use super::*;

    #[test]
    fn parameter_count_matches_the_module() {
        let device = Device::flex();
        for variant in [
            MapperVariant::Linear,
            MapperVariant::Mlp,
            MapperVariant::Vae,
        ] {
            let mut config = MapperConfig::new(variant, 37, 16, 12);
            config.hidden = 24;
            config.latent = 8;
            let model = MapperModel::new(&config, &mut || 0.25, &device).unwrap();
            assert_eq!(model.num_params(), config.parameter_count(), "{variant:?}");
        }
    }

    #[test]
    fn invalid_configs_are_rejected_with_the_field_named() {
        let mut config = MapperConfig::new(MapperVariant::Vae, 100, 512, 512);
        config.dropout = 1.5;
        let err = config.validate().unwrap_err();
        assert_eq!(err.code(), "invalid_config");
        assert!(err.to_string().contains("dropout is 1.5"), "{err}");
        config.dropout = 0.1;
        config.latent = 0;
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("latent")
        );
    }
}
