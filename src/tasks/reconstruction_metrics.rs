//! How well reconstructions match what was seen: PixCorr, SSIM, 2-way identification in
//! CLIP's and the autoencoder's spaces, and what they depict among candidate labels, each
//! beside its chance level. The scoring `eval --reconstruct`, the wasm API and the page share.

use burn::tensor::{Tensor, TensorData};

use crate::error::{Error, Result};
use crate::tasks::Decoder;

/// A seen image as [`Decoder::reconstruction_metrics`] compares it: an encoded PNG or JPEG
/// file (`name` for errors) of exactly `size × size`, as `[size, size, 3]` RGB in [0, 1].
pub fn seen_image(bytes: &[u8], name: &str, size: usize) -> Result<Vec<f32>> {
    let image = image::load_from_memory(bytes)
        .map_err(|err| Error::CorruptFile {
            file: name.to_string(),
            reason: format!("it is not a readable image ({err})"),
        })?
        .to_rgb8();
    if image.width() as usize != size || image.height() as usize != size {
        return Err(Error::ShapeMismatch {
            what: name.to_string(),
            got: format!("{} × {}", image.width(), image.height()),
            expected: format!("{size} × {size}, the reconstructions' size"),
        });
    }
    Ok(image.as_raw().iter().map(|&v| v as f32 / 255.0).collect())
}

impl Decoder {
    /// How well reconstructions match the seen images: PixCorr and SSIM (each beside the
    /// same score on mismatched pairs, reconstruction i against stimulus i + 1, as its
    /// chance level) and, with a CLIP in the bundle, 2-way identification on CLIP image
    /// embeddings (chance 50 %). `images` are RGBA `size × size`; `stimuli` the seen images
    /// as `[size, size, 3]` RGB in [0, 1], one per reconstruction.
    pub async fn reconstruction_metrics(
        &self,
        images: &[Vec<u8>],
        size: usize,
        stimuli: &[Vec<f32>],
        labels: Option<&SeenLabels<'_>>,
    ) -> Result<Vec<crate::metrics::Metric>> {
        use crate::metrics::image::{grayscale, pixcorr, ssim};
        let n = images.len();
        if n < 2 || stimuli.len() != n {
            return Err(Error::ShapeMismatch {
                what: "seen images for the reconstructions".into(),
                got: format!("{} images for {n} reconstructions", stimuli.len()),
                expected: "one per reconstruction, at least 2".into(),
            });
        }
        let rgb: Vec<Vec<f32>> = images
            .iter()
            .map(|rgba| {
                rgba.chunks_exact(4)
                    .flat_map(|p| p[..3].iter().map(|&v| v as f32 / 255.0))
                    .collect()
            })
            .collect();
        if let Some(bad) = stimuli.iter().position(|s| s.len() != size * size * 3) {
            return Err(Error::ShapeMismatch {
                what: format!("seen image {bad}"),
                got: format!("{} values", stimuli[bad].len()),
                expected: format!("{size} × {size} × 3, the reconstructions' size"),
            });
        }
        let mut scores = [(0.0, 0.0), (0.0, 0.0)];
        for i in 0..n {
            let other = (i + 1) % n;
            let (gray, seen, mismatched) = (
                grayscale(&rgb[i]),
                grayscale(&stimuli[i]),
                grayscale(&stimuli[other]),
            );
            scores[0].0 += pixcorr(&rgb[i], &stimuli[i])?;
            scores[0].1 += pixcorr(&rgb[i], &stimuli[other])?;
            scores[1].0 += ssim(&gray, &seen, size, size)?;
            scores[1].1 += ssim(&gray, &mismatched, size, size)?;
        }
        let mean = |v: f64| v / n as f64;
        let mut metrics = vec![
            crate::metrics::Metric {
                id: "pixcorr".into(),
                name: format!("PixCorr (RGB, {size}×{size})"),
                value: mean(scores[0].0),
                chance: mean(scores[0].1),
                trials: n,
                controls: Default::default(),
            },
            crate::metrics::Metric {
                id: "ssim".into(),
                name: format!("SSIM (grayscale, σ 1.5, {size}×{size})"),
                value: mean(scores[1].0),
                chance: mean(scores[1].1),
                trials: n,
                controls: Default::default(),
            },
        ];
        if let Some(clip) = &self.clip {
            let to_rgba = |rgb: &[f32]| -> Vec<u8> {
                rgb.chunks_exact(3)
                    .flat_map(|p| {
                        let mut px: Vec<u8> = p
                            .iter()
                            .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
                            .collect();
                        px.push(255);
                        px
                    })
                    .collect()
            };
            let clip_size = clip.config.vision.image_size;
            let prepare =
                |rgba: &[u8]| crate::clip::preprocess::from_rgba(rgba, size, size, clip_size);
            let recon = images
                .iter()
                .map(|i| prepare(i))
                .collect::<Result<Vec<_>>>()?;
            let seen = stimuli
                .iter()
                .map(|s| prepare(&to_rgba(s)))
                .collect::<Result<Vec<_>>>()?;
            let recon = clip.embed_images(&self.device, &recon).await?;
            let seen = clip.embed_images(&self.device, &seen).await?;
            let scores = crate::metrics::similarity(&recon, &seen)?;
            metrics.push(
                crate::metrics::two_way_identification(&scores)?
                    .named("clip_two_way", "CLIP 2-way identification".into()),
            );
            if let Some(labels) = labels {
                metrics.extend(labels.depicted(&recon)?);
            }
        }
        if let Some(reconstructor) = self.reconstructor.get() {
            let encode = |images: Vec<Vec<f32>>| -> Result<crate::matrix::Matrix> {
                let values = images
                    .iter()
                    .map(|rgb| crate::diffusion::hwc_unit_to_chw_signed(rgb, size))
                    .collect::<Result<Vec<_>>>()?
                    .concat();
                let x = Tensor::<4>::from_data(
                    TensorData::new(values, [n, 3, size, size]),
                    &self.device.device,
                );
                let z = reconstructor.autoencoder.encode(x)?;
                let [_, c, h, w] = z.dims();
                crate::matrix::Matrix::from_tensor(z.reshape([n, c * h * w]))
            };
            let recon = centred_rows(encode(rgb)?).unit_rows("reconstruction latents")?;
            let seen = centred_rows(encode(stimuli.to_vec())?).unit_rows("seen-image latents")?;
            let scores = crate::metrics::similarity(&recon, &seen)?;
            metrics.push(crate::metrics::two_way_identification(&scores)?.named(
                "latent_two_way",
                "autoencoder-latent 2-way identification".into(),
            ));
        }
        Ok(metrics)
    }
}

/// Each row minus its mean: the dot product of centred unit rows is Pearson correlation.
fn centred_rows(m: crate::matrix::Matrix) -> crate::matrix::Matrix {
    let cols = m.cols();
    let rows = m.rows();
    let mut values = m.into_values();
    for row in values.chunks_exact_mut(cols) {
        let mean = row.iter().sum::<f32>() / cols as f32;
        row.iter_mut().for_each(|v| *v -= mean);
    }
    crate::matrix::Matrix::new(values, rows, cols).expect("same shape")
}

/// What each reconstruction should depict: the seen image's label and the candidate labels
/// (with their CLIP text embeddings) the reconstruction is classified among.
pub struct SeenLabels<'a> {
    /// Index of each reconstruction's true label among `candidates`.
    pub truth: &'a [usize],
    pub candidates: &'a [String],
    /// Unit CLIP text embeddings of the candidates, one row each.
    pub embeddings: &'a crate::matrix::Matrix,
}

impl SeenLabels<'_> {
    /// Category top-1 of the reconstructions' CLIP image embeddings among the candidates,
    /// and, when the labels are simulated-world categories, whether the chosen category has
    /// the seen colour and the seen shape (chance: the share of candidates that do).
    pub fn depicted(
        &self,
        reconstructions: &crate::matrix::Matrix,
    ) -> Result<Vec<crate::metrics::Metric>> {
        use crate::metrics::Metric;
        use crate::sim::stimuli::Category;
        let n = reconstructions.rows();
        if self.truth.len() != n || self.embeddings.rows() != self.candidates.len() {
            return Err(Error::ShapeMismatch {
                what: "labels of the reconstructions".into(),
                got: format!(
                    "{} truths and {} embeddings for {} candidates",
                    self.truth.len(),
                    self.embeddings.rows(),
                    self.candidates.len()
                ),
                expected: format!("{n} truths and one embedding per candidate"),
            });
        }
        let scores = crate::metrics::similarity(reconstructions, self.embeddings)?;
        let chosen: Vec<usize> = scores
            .iter_rows()
            .map(|row| {
                (0..row.len())
                    .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                    .expect("at least one candidate")
            })
            .collect();
        let k = self.candidates.len();
        let mut metrics = vec![
            crate::metrics::top_k_accuracy(&scores, self.truth, 1)?.named(
                "depicted_category",
                format!("category of the reconstruction (CLIP, top-1 of {k})"),
            ),
        ];
        let world: Option<Vec<Category>> =
            self.candidates.iter().map(|c| Category::parse(c)).collect();
        if let Some(world) = world {
            type Attribute = fn(&Category) -> usize;
            let attributes: [(&str, &str, Attribute); 2] = [
                ("depicted_colour", "colour", |c| c.colour),
                ("depicted_shape", "shape", |c| c.shape),
            ];
            for (id, what, attribute) in attributes {
                let hits = chosen
                    .iter()
                    .zip(self.truth)
                    .filter(|(c, t)| attribute(&world[**c]) == attribute(&world[**t]))
                    .count();
                let chance = self
                    .truth
                    .iter()
                    .map(|t| {
                        world
                            .iter()
                            .filter(|c| attribute(c) == attribute(&world[*t]))
                            .count() as f64
                            / k as f64
                    })
                    .sum::<f64>()
                    / n as f64;
                metrics.push(Metric::new(
                    id,
                    format!("{what} of the reconstruction (its category's)"),
                    hits as f64 / n as f64,
                    chance,
                    n,
                ));
            }
        }
        Ok(metrics)
    }
}
