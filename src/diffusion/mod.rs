//! fMRI → image: the tiny autoencoder whose latents the diffusion decoder works in, the
//! conditional denoiser, its rectified-flow schedule, and the step-by-step sampler.

pub mod autoencoder;
pub mod denoiser;
pub mod low_level;
pub mod pipeline;
pub mod sampler;
pub mod schedule;

pub use autoencoder::{Autoencoder, AutoencoderTinyConfig};
pub use denoiser::{DenoiserConfig, DenoiserModel};
pub use low_level::{LowLevel, LowLevelConfig};
pub use sampler::{FlowSampler, SamplerSettings};
pub use schedule::Schedule;

use crate::error::{Error, Result};

/// `[size, size, 3]` RGB in [0, 1] (HWC, as the world renders) → `[3, size, size]` in
/// [-1, 1] (CHW, as the autoencoder takes images).
pub fn hwc_unit_to_chw_signed(pixels: &[f32], size: usize) -> Result<Vec<f32>> {
    let plane = size * size;
    expect_values(
        "image pixels",
        pixels.len(),
        3 * plane,
        &format!("{size} × {size} × 3"),
    )?;
    let mut out = vec![0.0; 3 * plane];
    for (i, rgb) in pixels.chunks_exact(3).enumerate() {
        for (channel, value) in rgb.iter().enumerate() {
            out[channel * plane + i] = value * 2.0 - 1.0;
        }
    }
    Ok(out)
}

/// `[3, h, w]` in [-1, 1] → RGBA bytes (what a canvas `ImageData` and a PNG take).
pub fn chw_signed_to_rgba(values: &[f32], height: usize, width: usize) -> Result<Vec<u8>> {
    let plane = height * width;
    expect_values(
        "image values",
        values.len(),
        3 * plane,
        &format!("3 × {height} × {width}"),
    )?;
    let mut out = Vec::with_capacity(plane * 4);
    for i in 0..plane {
        for channel in 0..3 {
            let value = (values[channel * plane + i] + 1.0) / 2.0;
            out.push((value.clamp(0.0, 1.0) * 255.0).round() as u8);
        }
        out.push(255);
    }
    Ok(out)
}

fn expect_values(what: &str, got: usize, expected: usize, shape: &str) -> Result<()> {
    if got == expected {
        return Ok(());
    }
    Err(Error::ShapeMismatch {
        what: what.into(),
        got: format!("{got} values"),
        expected: format!("{expected} ({shape})"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_layouts_round_trip() {
        // 2 × 2 pixels, distinct values per channel.
        let hwc: Vec<f32> = (0..12).map(|i| i as f32 / 11.0).collect();
        let chw = hwc_unit_to_chw_signed(&hwc, 2).unwrap();
        // Red plane first: pixels 0..4 of channel 0.
        assert_eq!(chw[1], hwc[3] * 2.0 - 1.0);
        assert_eq!(chw[4], hwc[1] * 2.0 - 1.0);
        let rgba = chw_signed_to_rgba(&chw, 2, 2).unwrap();
        assert_eq!(rgba.len(), 16);
        for (i, rgb) in hwc.chunks_exact(3).enumerate() {
            for c in 0..3 {
                assert_eq!(rgba[i * 4 + c], (rgb[c] * 255.0).round() as u8);
            }
            assert_eq!(rgba[i * 4 + 3], 255);
        }
    }

    #[test]
    fn images_of_another_size_are_refused_by_name() {
        // One pixel too many, and one value short: a shape error each, never an index panic.
        let err = hwc_unit_to_chw_signed(&[0.5; 15], 2).unwrap_err();
        assert!(err.to_string().contains("12 (2 × 2 × 3)"), "{err}");
        let err = chw_signed_to_rgba(&[0.0; 11], 2, 2).unwrap_err();
        assert!(err.to_string().contains("11 values"), "{err}");
    }
}
