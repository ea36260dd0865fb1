//! CLIP image preprocessing, exactly as Hugging Face's `CLIPImageProcessor` (torchvision
//! backend) does it: composite RGBA onto white, resize the shortest side to the model
//! resolution with antialiased bicubic filtering, round to 8 bits, centre crop, scale to
//! [0, 1] and normalise with CLIP's mean and std. Output is `[3, size, size]`.
//!
//! The resampler is the separable antialiased bicubic (a = −0.5) of PyTorch's uint8 kernel
//! (which torchvision uses for 8-bit images, and which follows Pillow): when shrinking, the
//! kernel is stretched by the scale factor so every source pixel contributes; weights are
//! int16 fixed point; rows are filtered first, rounded to 8 bits, then columns.

use crate::error::{Error, Result, thousands};

/// OpenAI CLIP's per-channel mean (`OPENAI_CLIP_MEAN`).
pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// OpenAI CLIP's per-channel standard deviation (`OPENAI_CLIP_STD`).
pub const CLIP_STD: [f32; 3] = [0.268_629_55, 0.261_302_6, 0.275_777_1];

/// An 8-bit RGB image, channels planar (`[3, height, width]`).
struct Planes {
    data: Vec<u8>,
    width: usize,
    height: usize,
}

/// Preprocesses RGBA pixels (a canvas `ImageData`, or a decoded file).
pub fn from_rgba(rgba: &[u8], width: usize, height: usize, size: usize) -> Result<Vec<f32>> {
    let expected = width.checked_mul(height).and_then(|n| n.checked_mul(4));
    if width == 0 || height == 0 || size == 0 || expected != Some(rgba.len()) {
        return Err(Error::ShapeMismatch {
            what: "RGBA image data".into(),
            got: format!("{} bytes for {width} × {height}", thousands(rgba.len())),
            expected: "4 bytes per pixel of a non-empty image".into(),
        });
    }
    let plane = width * height;
    let mut data = vec![0u8; 3 * plane];
    for (i, px) in rgba.chunks_exact(4).enumerate() {
        for c in 0..3 {
            data[c * plane + i] = over_white(px[c], px[3]);
        }
    }
    Ok(finish(
        Planes {
            data,
            width,
            height,
        },
        size,
    ))
}

/// One channel of Pillow's `alpha_composite` of a pixel onto opaque white, in Pillow's
/// fixed-point arithmetic (what `convert_to_rgb` does to transparent images).
fn over_white(value: u8, alpha: u8) -> u8 {
    const PRECISION_BITS: u32 = 7;
    let shift_div_255 = |a: u32| ((a >> 8) + a) >> 8;
    if alpha == 0 {
        return 255;
    }
    let (v, a) = (value as u32, alpha as u32);
    let blend = 255 * (255 - a);
    let outa255 = a * 255 + blend;
    let coef1 = a * 255 * 255 * (1 << PRECISION_BITS) / outa255;
    let coef2 = 255 * (1 << PRECISION_BITS) - coef1;
    let tmp = v * coef1 + 255 * coef2;
    (shift_div_255(tmp + (0x80 << PRECISION_BITS)) >> PRECISION_BITS) as u8
}

/// Preprocesses an encoded image file (PNG, JPEG).
pub fn from_encoded(bytes: &[u8], name: &str, size: usize) -> Result<Vec<f32>> {
    let image = image::load_from_memory(bytes).map_err(|err| Error::CorruptFile {
        file: name.to_string(),
        reason: format!("it is not a readable image ({err})"),
    })?;
    let rgba = image.to_rgba8();
    let (w, h) = (rgba.width() as usize, rgba.height() as usize);
    from_rgba(rgba.as_raw(), w, h, size)
}

fn finish(image: Planes, size: usize) -> Vec<f32> {
    let (w, h) = (image.width, image.height);
    // Hugging Face: the short side becomes `size`, the long side int(size · long / short).
    let (new_w, new_h) = if w <= h {
        (size, size * h / w)
    } else {
        (size * w / h, size)
    };
    // Width first, then height, as PyTorch's separable kernel does.
    let resized = resample_rows(&image, new_w);
    let resized = resample_columns(&resized, new_h);
    let top = new_h.saturating_sub(size) / 2;
    let left = new_w.saturating_sub(size) / 2;
    let mut out = vec![0f32; 3 * size * size];
    for c in 0..3 {
        for y in 0..size {
            for x in 0..size {
                let (sx, sy) = (left + x, top + y);
                // Crops larger than the image are zero-padded, as torchvision's center_crop does.
                let value = if sx < new_w && sy < new_h {
                    resized.data[c * new_w * new_h + sy * new_w + sx] as f32
                } else {
                    0.0
                };
                out[c * size * size + y * size + x] = (value / 255.0 - CLIP_MEAN[c]) / CLIP_STD[c];
            }
        }
    }
    out
}

/// Keys cubic convolution with a = −0.5.
fn cubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// Fixed-point filter taps for one axis: per output index, the first input index and
/// int16 weights with `precision` fractional bits (PyTorch's uint8 antialias kernel).
struct Taps {
    starts: Vec<usize>,
    weights: Vec<Vec<i32>>,
    precision: u32,
}

fn taps(input: usize, output: usize) -> Taps {
    let scale = input as f64 / output as f64;
    let support_scale = scale.max(1.0);
    let support = 2.0 * support_scale;
    let inv = 1.0 / support_scale;
    let mut starts = Vec::with_capacity(output);
    let mut real = Vec::with_capacity(output);
    for i in 0..output {
        let center = scale * (i as f64 + 0.5);
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).clamp(0, input as i64) as usize;
        let mut w: Vec<f64> = (xmin..xmax)
            .map(|j| cubic((j as f64 - center + 0.5) * inv))
            .collect();
        let total: f64 = w.iter().sum();
        if total != 0.0 {
            w.iter_mut().for_each(|v| *v /= total);
        }
        starts.push(xmin);
        real.push(w);
    }
    // The largest precision at which every weight still fits in an int16.
    let max_weight = real.iter().flatten().fold(0f64, |m, w| m.max(*w));
    let mut precision = 0;
    while precision < 22
        && ((0.5 + max_weight * (1u64 << (precision + 1)) as f64) as i64) < (1 << 15)
    {
        precision += 1;
    }
    let weights = real
        .iter()
        .map(|w| {
            w.iter()
                .map(|v| {
                    let scaled = v * (1u64 << precision) as f64;
                    (if scaled < 0.0 {
                        scaled - 0.5
                    } else {
                        scaled + 0.5
                    }) as i32
                })
                .collect()
        })
        .collect();
    Taps {
        starts,
        weights,
        precision,
    }
}

/// Applies taps along rows (`stride` 1) or columns (`stride` = width) of a `u8` plane,
/// rounding and clamping back to 8 bits as the uint8 kernel does after each pass.
fn filter_axis(
    value: impl Fn(usize) -> u8,
    start: usize,
    stride: usize,
    weights: &[i32],
    precision: u32,
) -> u8 {
    let mut acc: i64 = if precision > 0 {
        1 << (precision - 1)
    } else {
        0
    };
    for (k, w) in weights.iter().enumerate() {
        acc += value((start + k) * stride) as i64 * *w as i64;
    }
    (acc >> precision).clamp(0, 255) as u8
}

fn resample_rows(image: &Planes, new_w: usize) -> Planes {
    if new_w == image.width {
        return Planes {
            data: image.data.clone(),
            ..*image
        };
    }
    let t = taps(image.width, new_w);
    let mut data = Vec::with_capacity(3 * image.height * new_w);
    for row in image.data.chunks(image.width) {
        for (start, weights) in t.starts.iter().zip(&t.weights) {
            data.push(filter_axis(|i| row[i], *start, 1, weights, t.precision));
        }
    }
    Planes {
        data,
        width: new_w,
        height: image.height,
    }
}

fn resample_columns(image: &Planes, new_h: usize) -> Planes {
    if new_h == image.height {
        return Planes {
            data: image.data.clone(),
            ..*image
        };
    }
    let (w, h) = (image.width, image.height);
    let t = taps(h, new_h);
    let mut data = Vec::with_capacity(3 * new_h * w);
    for plane in image.data.chunks(w * h) {
        for (start, weights) in t.starts.iter().zip(&t.weights) {
            for x in 0..w {
                data.push(filter_axis(
                    |i| plane[x + i],
                    *start,
                    w,
                    weights,
                    t.precision,
                ));
            }
        }
    }
    Planes {
        data,
        width: w,
        height: new_h,
    }
}
