//! The decoder: a bundle's models loaded on one device, and the tasks every front end runs
//! on it (mapping fMRI, decoding categories, retrieval).

use crate::device::ComputeDevice;
use crate::error::{Error, Result};
use crate::matrix::Matrix;
use crate::tasks::{Ranked, Reconstructor, Space, decode_categories, embed_labels, retrieve};

/// A bundle's models, loaded on one device: what decoding and retrieval run on.
pub struct Decoder {
    pub device: ComputeDevice,
    pub mapper: crate::mapper::Mapper,
    /// Mappers the bundle ships as controls and baselines ("shuffled labels", "ridge"), by
    /// name: evaluation scores each of them beside the model.
    pub controls: Vec<(String, crate::mapper::Mapper)>,
    /// CLIP, when the bundle has one: needed to embed free-text labels.
    pub clip: Option<crate::clip::Clip>,
    /// The image decoder, when the bundle has an autoencoder and a denoiser; set at load or
    /// later by [`Decoder::add_image_decoder`] (a page decodes before it has downloaded).
    pub reconstructor: std::sync::OnceLock<Reconstructor>,
    normalization: crate::data::Normalization,
    mapped: std::sync::Mutex<MappedMemo>,
}

/// [`Decoder::summary`]: the mapper's shape and what else the bundle brought.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DecoderSummary {
    pub voxels: usize,
    pub variant: crate::mapper::MapperVariant,
    pub image_dim: usize,
    pub text_dim: usize,
    pub has_clip: bool,
    pub has_image_decoder: bool,
    pub has_low_level: bool,
    /// The strength a reconstruction starts from the low-level image with by default.
    pub low_level_strength: Option<f32>,
    pub image_size: Option<usize>,
    pub schedule: Option<ScheduleSummary>,
}

/// The image decoder's sampling: every step count its denoisers offer (the default first)
/// and the default's guidance.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ScheduleSummary {
    pub kind: String,
    pub steps: Vec<usize>,
    pub guidance: f32,
}

/// Which of a decoder's mappers: the model or one of its controls (by position).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MapperSlot {
    Model,
    Control(usize),
}

/// The last fMRI batch each mapper embedded, by content, so that decoding, identifying,
/// evaluating and reconstructing the same recording maps it once.
#[derive(Default)]
struct MappedMemo {
    entries: Vec<(MapperSlot, u64, crate::mapper::MappedEmbeddings)>,
    runs: usize,
}

/// A fingerprint of a batch's shape and every value's bits.
fn batch_fingerprint(fmri: &crate::data::FmriBatch) -> u64 {
    use std::hash::Hasher;
    let mut hasher = std::hash::DefaultHasher::new();
    hasher.write_usize(fmri.trials());
    hasher.write_usize(fmri.voxels());
    for chunk in fmri.values().chunks(2) {
        let high = chunk.get(1).map_or(0, |v| u64::from(v.to_bits()));
        hasher.write_u64(u64::from(chunk[0].to_bits()) | (high << 32));
    }
    hasher.finish()
}

impl Decoder {
    /// Loads the bundle's mapper (the first component of kind `mapper` that is not a
    /// control), its controls, its CLIP (the first of kind `clip`, a Hugging Face
    /// `config.json` + `model.safetensors`) and its image decoder, if any.
    pub fn from_bundle(
        bundle: &crate::data::bundle::Bundle,
        device: ComputeDevice,
    ) -> Result<Self> {
        let components = &bundle.manifest.components;
        let mapper_name = components
            .iter()
            .find(|(_, c)| c.kind == "mapper" && c.control.is_none())
            .map(|(name, _)| name.clone())
            .ok_or_else(|| Error::BundleManifest {
                file: crate::data::bundle::MANIFEST_FILE.into(),
                field: "components".into(),
                reason: "has no component of kind 'mapper' (other than controls)".into(),
            })?;
        let mapper = crate::mapper::Mapper::from_bundle(bundle, &mapper_name, &device.device)?;
        let controls = components
            .iter()
            .filter(|(_, c)| c.kind == "mapper")
            .filter_map(|(name, c)| c.control.as_ref().map(|label| (name, label)))
            .map(|(name, label)| {
                let control = crate::mapper::Mapper::from_bundle(bundle, name, &device.device)?;
                Ok((label.clone(), control))
            })
            .collect::<Result<Vec<_>>>()?;
        let clip = crate::clip::Clip::from_bundle(bundle, &device.device)?;
        let reconstructor = Reconstructor::from_bundle(
            bundle,
            mapper.config.voxels,
            mapper.config.image_dim,
            &device.device,
        )?;
        Ok(Decoder {
            normalization: bundle.normalization()?,
            device,
            mapper,
            controls,
            clip,
            reconstructor: reconstructor
                .map(std::sync::OnceLock::from)
                .unwrap_or_default(),
            mapped: Default::default(),
        })
    }

    /// What the decoder holds, as a page or a report shows it (no model internals needed).
    pub fn summary(&self) -> DecoderSummary {
        let config = &self.mapper.config;
        let reconstructor = self.reconstructor.get();
        DecoderSummary {
            voxels: config.voxels,
            variant: config.variant,
            image_dim: config.image_dim,
            text_dim: config.text_dim,
            has_clip: self.clip.is_some(),
            has_image_decoder: reconstructor.is_some(),
            has_low_level: reconstructor.is_some_and(|r| r.low_level.is_some()),
            low_level_strength: reconstructor
                .and_then(|r| r.low_level.as_ref())
                .and_then(|l| l.config.strength),
            image_size: reconstructor.map(Reconstructor::image_size),
            schedule: reconstructor.map(|r| ScheduleSummary {
                kind: r.schedule.kind.clone(),
                steps: r.step_choices(),
                guidance: r.schedule.guidance,
            }),
        }
    }

    /// Adds the image decoder of `bundle` (loaded with [`crate::data::bundle::BundleParts::ImageDecoder`]
    /// or whole) to a decoder loaded without one, checked against this decoder's mapper.
    pub fn add_image_decoder(&self, bundle: &crate::data::bundle::Bundle) -> Result<()> {
        let invalid = |reason: &str| Error::InvalidConfig {
            what: "image decoder".into(),
            reason: reason.into(),
        };
        if self.reconstructor.get().is_some() {
            return Err(invalid("this decoder already has an image decoder"));
        }
        let reconstructor = Reconstructor::from_bundle(
            bundle,
            self.mapper.config.voxels,
            self.mapper.config.image_dim,
            &self.device.device,
        )?
        .ok_or_else(|| {
            invalid(
                "the bundle has no image decoder (components of kind 'autoencoder' and 'denoiser')",
            )
        })?;
        self.reconstructor
            .set(reconstructor)
            .map_err(|_| invalid("this decoder already has an image decoder"))
    }

    /// A decoder over models already in memory (e.g. one fold of a cross-validation), with
    /// the normalisation their training used.
    pub fn from_parts(
        device: ComputeDevice,
        mapper: crate::mapper::Mapper,
        controls: Vec<(String, crate::mapper::Mapper)>,
        clip: Option<crate::clip::Clip>,
        normalization: crate::data::Normalization,
    ) -> Self {
        Decoder {
            device,
            mapper,
            controls,
            clip,
            reconstructor: Default::default(),
            normalization,
            mapped: Default::default(),
        }
    }

    /// Maps fMRI into CLIP space, normalising it as the bundle prescribes. The caller's
    /// batch is left untouched. The same values asked again are not mapped again.
    pub async fn embed(
        &self,
        fmri: &crate::data::FmriBatch,
    ) -> Result<crate::mapper::MappedEmbeddings> {
        self.embed_by(MapperSlot::Model, fmri).await
    }

    /// How many times a mapper (the model or a control) has run on a batch: requests for
    /// fMRI already mapped reuse the embeddings instead.
    pub fn mapping_runs(&self) -> usize {
        self.memo().runs
    }

    fn memo(&self) -> std::sync::MutexGuard<'_, MappedMemo> {
        // The memo holds only finished results, so a panic elsewhere cannot leave it torn.
        self.mapped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) async fn embed_by(
        &self,
        slot: MapperSlot,
        fmri: &crate::data::FmriBatch,
    ) -> Result<crate::mapper::MappedEmbeddings> {
        let key = batch_fingerprint(fmri);
        if let Some((_, _, hit)) = self
            .memo()
            .entries
            .iter()
            .find(|(s, k, _)| *s == slot && *k == key)
        {
            return Ok(hit.clone());
        }
        let mapper = match slot {
            MapperSlot::Model => &self.mapper,
            MapperSlot::Control(index) => &self.controls[index].1,
        };
        let batch = self.normalized(fmri)?;
        let embedded = mapper
            .embed(&self.device, batch.values(), batch.voxels())
            .await?;
        let mut memo = self.memo();
        memo.entries.retain(|(s, _, _)| *s != slot);
        memo.entries.push((slot, key, embedded.clone()));
        memo.runs += 1;
        Ok(embedded)
    }

    /// A copy of `fmri`, checked and normalised as the bundle prescribes.
    pub fn normalized(&self, fmri: &crate::data::FmriBatch) -> Result<crate::data::FmriBatch> {
        fmri.expect_voxels(self.mapper.config.voxels)?;
        let mut batch = fmri.clone();
        batch.normalize(&self.normalization)?;
        Ok(batch)
    }

    /// One trial's voxel pattern as the mapper reads it (normalised as the bundle
    /// prescribes): what the brain view draws.
    pub fn voxel_pattern(&self, fmri: &crate::data::FmriBatch, trial: usize) -> Result<Vec<f32>> {
        if trial >= fmri.trials() {
            return Err(Error::ShapeMismatch {
                what: "trial to show".into(),
                got: trial.to_string(),
                expected: format!("a row of the fMRI batch (0 to {})", fmri.trials() - 1),
            });
        }
        let normalized = self.normalized(fmri)?;
        let voxels = normalized.voxels();
        Ok(normalized.values()[trial * voxels..(trial + 1) * voxels].to_vec())
    }

    /// Zero-shot category decoding of every trial against free-text labels, which CLIP
    /// embeds through `templates` (default "an image of a {}."; several are ensembled).
    pub async fn decode_categories(
        &self,
        fmri: &crate::data::FmriBatch,
        labels: &[String],
        templates: &[String],
        top_k: usize,
    ) -> Result<Vec<Vec<Ranked>>> {
        let label_embeddings = self.embed_labels(labels, templates).await?;
        self.decode_with_embeddings(fmri, labels, &label_embeddings, top_k)
            .await
    }

    /// The labels' CLIP text embeddings as decoding and evaluation use them, through the
    /// bundle's CLIP (see [`embed_labels`]).
    pub async fn embed_labels(&self, labels: &[String], templates: &[String]) -> Result<Matrix> {
        let clip = self.clip.as_ref().ok_or_else(|| Error::InvalidConfig {
            what: "category decoding".into(),
            reason:
                "this bundle has no CLIP text tower to embed labels; pass label embeddings instead"
                    .into(),
        })?;
        embed_labels(&self.device, clip, labels, templates).await
    }

    /// Category decoding against labels whose CLIP text embeddings the caller already has
    /// (L2-normalised here; NaN/±Inf or all-zero rows are refused).
    pub async fn decode_with_embeddings(
        &self,
        fmri: &crate::data::FmriBatch,
        labels: &[String],
        label_embeddings: &Matrix,
        top_k: usize,
    ) -> Result<Vec<Vec<Ranked>>> {
        let label_embeddings = label_embeddings.clone().unit_rows("label embeddings")?;
        let predicted = self.embed(fmri).await?;
        decode_categories(
            &self.device,
            &predicted.text,
            &label_embeddings,
            labels,
            self.mapper.config.logit_scale,
            top_k,
        )
        .await
    }

    /// CLIP image embeddings of encoded images (PNG or JPEG bytes with their file names),
    /// preprocessed as Hugging Face's `CLIPImageProcessor` does: candidates for `retrieve`.
    pub async fn embed_images(&self, images: &[(Vec<u8>, String)]) -> Result<Matrix> {
        let clip = self.clip.as_ref().ok_or_else(|| Error::InvalidConfig {
            what: "image embedding".into(),
            reason: "this bundle has no CLIP vision tower; pass image embeddings instead".into(),
        })?;
        if images.is_empty() {
            return Err(Error::Empty {
                what: "image list".into(),
                unit: "image".into(),
            });
        }
        let size = clip.config.vision.image_size;
        let pixels = images
            .iter()
            .map(|(bytes, name)| crate::clip::preprocess::from_encoded(bytes, name, size))
            .collect::<Result<Vec<_>>>()?;
        clip.embed_images(&self.device, &pixels).await
    }

    /// Ranks candidate embeddings (CLIP image or text embeddings, one row each, L2-normalised
    /// here) for every trial.
    pub async fn retrieve(
        &self,
        fmri: &crate::data::FmriBatch,
        candidates: &Matrix,
        space: Space,
        top_k: usize,
    ) -> Result<Vec<Vec<Ranked>>> {
        let candidates = &candidates.clone().unit_rows("candidate embeddings")?;
        let predicted = self.embed(fmri).await?;
        let queries = match space {
            Space::Image => &predicted.image,
            Space::Text => &predicted.text,
        };
        retrieve(
            &self.device,
            queries,
            candidates,
            self.mapper.config.logit_scale,
            top_k,
        )
        .await
    }
}
