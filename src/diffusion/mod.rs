//! fMRI → image: the tiny autoencoder whose latents the diffusion decoder works in.

pub mod autoencoder;

pub use autoencoder::{Autoencoder, AutoencoderTinyConfig};
