//! Training (native only: burn's autodiff on the CPU backend).

pub mod autoencoder;
pub mod checkpoint;
pub mod clip;
pub mod denoiser;
pub mod losses;
pub mod low_level;
pub mod mapper;

pub use mapper::{
    AuxLoss, BundleContents, EpochReport, TextTargets, TrainConfig, TrainOutcome, TrainingData,
    mapper_bundle, train_mapper,
};
