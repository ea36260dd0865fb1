//! Image metrics of reconstructions, as MindEye reports them: PixCorr (Pearson r of the
//! flattened RGB pixels) and SSIM (grayscale, Gaussian weights σ = 1.5, data range 1), with
//! the definitions of `skimage.metrics.structural_similarity(gaussian_weights=True,
//! sigma=1.5, use_sample_covariance=False, data_range=1)`. brainclip computes them at the
//! stimulus resolution (64 × 64 for the simulated world); MindEye resizes to 425 × 425.

use crate::error::{Error, Result};

fn mismatch(what: &str, got: usize, expected: usize) -> Error {
    Error::ShapeMismatch {
        what: what.into(),
        got: format!("{got} values"),
        expected: format!("{expected} values"),
    }
}

/// Pearson correlation of two equally long pixel arrays (PixCorr on flattened RGB); 0 when
/// either is constant.
pub fn pixcorr(a: &[f32], b: &[f32]) -> Result<f64> {
    if a.len() != b.len() || a.is_empty() {
        return Err(mismatch("pixels of the second image", b.len(), a.len()));
    }
    let n = a.len() as f64;
    let mean = |x: &[f32]| x.iter().map(|&v| v as f64).sum::<f64>() / n;
    let (ma, mb) = (mean(a), mean(b));
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (dx, dy) = (x as f64 - ma, y as f64 - mb);
        ab += dx * dy;
        aa += dx * dx;
        bb += dy * dy;
    }
    if aa == 0.0 || bb == 0.0 {
        return Ok(0.0);
    }
    Ok(ab / (aa * bb).sqrt())
}

/// RGB `[h, w, 3]` in [0, 1] → grayscale `[h, w]`, with `skimage.color.rgb2gray`'s weights.
pub fn grayscale(rgb: &[f32]) -> Vec<f64> {
    rgb.chunks_exact(3)
        .map(|p| 0.2125 * p[0] as f64 + 0.7154 * p[1] as f64 + 0.0721 * p[2] as f64)
        .collect()
}

/// SciPy's `gaussian_filter(sigma=1.5, truncate=3.5, mode="reflect")` along one axis of a
/// row-major `[h, w]` image.
fn blur_axis(
    image: &[f64],
    height: usize,
    width: usize,
    along_rows: bool,
    kernel: &[f64],
) -> Vec<f64> {
    let radius = (kernel.len() / 2) as isize;
    // "reflect": d c b a | a b c d | d c b a.
    let reflect = |i: isize, n: isize| {
        let period = 2 * n;
        let mut i = i.rem_euclid(period);
        if i >= n {
            i = period - 1 - i;
        }
        i as usize
    };
    let mut out = vec![0.0; image.len()];
    for row in 0..height {
        for column in 0..width {
            let mut sum = 0.0;
            for (k, weight) in kernel.iter().enumerate() {
                let offset = k as isize - radius;
                let (r, c) = if along_rows {
                    (reflect(row as isize + offset, height as isize), column)
                } else {
                    (row, reflect(column as isize + offset, width as isize))
                };
                sum += weight * image[r * width + c];
            }
            out[row * width + column] = sum;
        }
    }
    out
}

fn gaussian_filter(image: &[f64], height: usize, width: usize) -> Vec<f64> {
    const SIGMA: f64 = 1.5;
    let radius = (3.5 * SIGMA + 0.5) as isize;
    let mut kernel: Vec<f64> = (-radius..=radius)
        .map(|x| (-0.5 * (x as f64 / SIGMA).powi(2)).exp())
        .collect();
    let total: f64 = kernel.iter().sum();
    kernel.iter_mut().for_each(|w| *w /= total);
    let once = blur_axis(image, height, width, true, &kernel);
    blur_axis(&once, height, width, false, &kernel)
}

/// Mean SSIM of two grayscale `[height, width]` images in [0, 1], the border of half the
/// 11-pixel window left out as skimage does.
pub fn ssim(a: &[f64], b: &[f64], height: usize, width: usize) -> Result<f64> {
    let n = height * width;
    if a.len() != n {
        return Err(mismatch("pixels of the first image", a.len(), n));
    }
    if b.len() != n {
        return Err(mismatch("pixels of the second image", b.len(), n));
    }
    const PAD: usize = 5;
    if height <= 2 * PAD || width <= 2 * PAD {
        return Err(Error::ShapeMismatch {
            what: "image size for SSIM".into(),
            got: format!("{height} × {width}"),
            expected: "at least 11 × 11 (the Gaussian window)".into(),
        });
    }
    let filter = |x: &[f64]| gaussian_filter(x, height, width);
    let product = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(p, q)| p * q).collect::<Vec<_>>();
    let (ux, uy) = (filter(a), filter(b));
    let (uxx, uyy, uxy) = (
        filter(&product(a, a)),
        filter(&product(b, b)),
        filter(&product(a, b)),
    );
    let (c1, c2) = (0.01f64.powi(2), 0.03f64.powi(2));
    let mut sum = 0.0;
    for row in PAD..height - PAD {
        for column in PAD..width - PAD {
            let i = row * width + column;
            let vx = uxx[i] - ux[i] * ux[i];
            let vy = uyy[i] - uy[i] * uy[i];
            let vxy = uxy[i] - ux[i] * uy[i];
            sum += (2.0 * ux[i] * uy[i] + c1) * (2.0 * vxy + c2)
                / ((ux[i] * ux[i] + uy[i] * uy[i] + c1) * (vx + vy + c2));
        }
    }
    Ok(sum / ((height - 2 * PAD) * (width - 2 * PAD)) as f64)
}
