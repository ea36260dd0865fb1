//! # brainclip
//!
//! BrainCLIP brain decoding that runs natively and in the browser. Preprocessed fMRI voxel
//! patterns are mapped into CLIP's joint image–text space, where they can be matched against
//! text labels (zero-shot category decoding), candidate images (retrieval) or used to
//! condition a small diffusion decoder (reconstruction).
//!
//! The same code runs on burn's WebGPU backend and on its pure-Rust CPU backend; see
//! [`device`] for how one is chosen.

pub mod clip;
pub mod data;
pub mod device;
pub mod diffusion;
pub mod error;
pub mod mapper;
pub mod matrix;
pub mod metrics;
pub mod ridge;
pub mod sim;
pub mod tasks;

#[cfg(any(not(target_family = "wasm"), feature = "training"))]
pub mod train;

#[cfg(target_family = "wasm")]
pub mod web;

pub use device::{BackendKind, BackendPreference, ComputeDevice, select_device};
pub use error::{Error, Result};
