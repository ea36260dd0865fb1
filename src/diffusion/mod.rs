//! fMRI → image: the tiny autoencoder whose latents the diffusion decoder works in, the
//! conditional denoiser, its rectified-flow schedule, and the step-by-step sampler.

pub mod autoencoder;
pub mod denoiser;
pub mod low_level;
pub mod sampler;
pub mod schedule;

pub use autoencoder::{Autoencoder, AutoencoderTinyConfig};
pub use denoiser::{DenoiserConfig, DenoiserModel};
pub use low_level::{LowLevel, LowLevelConfig};
pub use sampler::{FlowSampler, SamplerSettings};
pub use schedule::Schedule;

/// `[size, size, 3]` RGB in [0, 1] (HWC, as the world renders) → `[3, size, size]` in
/// [-1, 1] (CHW, as the autoencoder takes images).
pub fn hwc_unit_to_chw_signed(pixels: &[f32], size: usize) -> Vec<f32> {
    let mut out = vec![0.0; 3 * size * size];
    for (i, rgb) in pixels.chunks_exact(3).enumerate() {
        for (channel, value) in rgb.iter().enumerate() {
            out[channel * size * size + i] = value * 2.0 - 1.0;
        }
    }
    out
}

/// `[3, h, w]` in [-1, 1] → RGBA bytes (what a canvas `ImageData` and a PNG take).
pub fn chw_signed_to_rgba(values: &[f32], height: usize, width: usize) -> Vec<u8> {
    let plane = height * width;
    let mut out = Vec::with_capacity(plane * 4);
    for i in 0..plane {
        for channel in 0..3 {
            let value = (values[channel * plane + i] + 1.0) / 2.0;
            out.push((value.clamp(0.0, 1.0) * 255.0).round() as u8);
        }
        out.push(255);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_layouts_round_trip() {
        // 2 × 2 pixels, distinct values per channel.
        let hwc: Vec<f32> = (0..12).map(|i| i as f32 / 11.0).collect();
        let chw = hwc_unit_to_chw_signed(&hwc, 2);
        // Red plane first: pixels 0..4 of channel 0.
        assert_eq!(chw[1], hwc[3] * 2.0 - 1.0);
        assert_eq!(chw[4], hwc[1] * 2.0 - 1.0);
        let rgba = chw_signed_to_rgba(&chw, 2, 2);
        assert_eq!(rgba.len(), 16);
        for (i, rgb) in hwc.chunks_exact(3).enumerate() {
            for c in 0..3 {
                assert_eq!(rgba[i * 4 + c], (rgb[c] * 255.0).round() as u8);
            }
            assert_eq!(rgba[i * 4 + 3], 255);
        }
    }
}
