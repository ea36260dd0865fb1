//! Simulated data: worlds with a known ground truth, so every part of brainclip can be trained,
//! tested and demonstrated without real fMRI.

pub mod blocks;
pub mod planted;
pub mod protocol;
pub mod stimuli;
pub mod subject;

pub use planted::{PlantedConfig, PlantedDataset, PlantedSplit};
