//! Simulated data: worlds with a known ground truth, so every part of brainclip can be trained,
//! tested and demonstrated without real fMRI.

pub mod planted;

pub use planted::{PlantedConfig, PlantedDataset, PlantedSplit};
