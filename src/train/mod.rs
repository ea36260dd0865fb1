//! Training on burn's autodiff over the CPU backend. Natively everything; in the browser
//! (feature `training`) the mapper only, whose loop the page drives epoch by epoch.

#[cfg(not(target_family = "wasm"))]
pub mod autoencoder;
pub mod checkpoint;
#[cfg(not(target_family = "wasm"))]
pub mod clip;
#[cfg(not(target_family = "wasm"))]
pub mod denoiser;
pub mod epoch;
pub mod losses;
#[cfg(not(target_family = "wasm"))]
pub mod low_level;
pub mod mapper;

pub use mapper::{
    AuxLoss, BundleContents, EpochReport, TextTargets, TrainConfig, TrainOutcome, TrainingData,
    mapper_bundle, train_mapper,
};
