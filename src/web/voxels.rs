//! Voxel-level views of a trial: its pattern as the mapper reads it, and which voxels drove
//! its similarity to a label or an image (attribution).

use serde::Deserialize;
use wasm_bindgen::prelude::*;

use super::abort::abortable_call;
use super::convert::*;
use super::decoder::*;
use super::fmri::*;
use crate::error::Error;
use crate::tasks::{self};

/// Options of `attribute`: the trial, what its similarity is to (a label, or an embedding
/// in either space) and how to attribute it.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
struct JsAttributeOptions {
    trial: usize,
    label: Option<String>,
    templates: Vec<String>,
    label_embedding: Option<Vec<f32>>,
    image_embedding: Option<Vec<f32>>,
    method: tasks::AttributionMethod,
    steps: Option<usize>,
    control: Option<String>,
}

#[wasm_bindgen]
impl DecoderHandle {
    /// One trial's voxel pattern as the mapper reads it (normalised as the bundle prescribes),
    /// a Float32Array of `voxels` values; what a brain view draws.
    #[wasm_bindgen(js_name = voxelPattern)]
    pub fn voxel_pattern(
        &self,
        fmri: &FmriHandle,
        trial: usize,
    ) -> Result<js_sys::Float32Array, JsValue> {
        let values = self
            .decoder
            .voxel_pattern(&fmri.batch, trial)
            .map_err(to_js_error)?;
        Ok(js_sys::Float32Array::from(values.as_slice()))
    }

    /// Which voxels drove one trial's similarity to a label (or to a CLIP embedding in the
    /// text or image space): `{ trial, method, steps, space, values: Float32Array (one per
    /// voxel), similarity, baselineSimilarity, completenessGap }`.
    #[wasm_bindgen(unchecked_return_type = "Promise<Attribution>")]
    pub fn attribute(
        &self,
        fmri: &FmriHandle,
        #[wasm_bindgen(unchecked_param_type = "AttributeOptions")] options: JsValue,
    ) -> js_sys::Promise {
        let decoder = self.decoder.clone();
        let batch = fmri.batch.clone();
        abortable_call("attribute", "voxel attribution", options, |options| {
            let options = take_f32_arrays(options, &["labelEmbedding", "imageEmbedding"]).and_then(
                |(rest, arrays)| {
                    let mut options: JsAttributeOptions = from_js(rest, "attribute")?;
                    let [label, image] = <[_; 2]>::try_from(arrays).expect("two keys");
                    options.label_embedding = label.or(options.label_embedding);
                    options.image_embedding = image.or(options.image_embedding);
                    Ok(options)
                },
            );
            async move {
                let options = options?;
                let request = tasks::AttributeRequest {
                    trial: options.trial,
                    method: options.method,
                    steps: options
                        .steps
                        .unwrap_or(tasks::AttributeRequest::default().steps),
                    control: options.control,
                };
                let map = match (
                    options.label,
                    options.label_embedding,
                    options.image_embedding,
                ) {
                    (Some(label), None, None) => {
                        decoder
                            .attribute_label(&batch, &label, &options.templates, &request)
                            .await
                    }
                    (None, Some(target), None) => {
                        decoder
                            .attribute(&batch, &target, tasks::Space::Text, &request)
                            .await
                    }
                    (None, None, Some(target)) => {
                        decoder
                            .attribute(&batch, &target, tasks::Space::Image, &request)
                            .await
                    }
                    _ => {
                        return Err(to_js_error(Error::InvalidConfig {
                            what: "attribute options".into(),
                            reason: "give exactly one of label, labelEmbedding and imageEmbedding"
                                .into(),
                        }));
                    }
                }
                .map_err(to_js_error)?;
                js_object(&[
                    ("trial", map.trial.into()),
                    ("method", to_js(&map.method)?),
                    ("steps", map.steps.into()),
                    ("space", to_js(&map.space)?),
                    (
                        "values",
                        js_sys::Float32Array::from(map.values.as_slice()).into(),
                    ),
                    ("similarity", map.similarity.into()),
                    ("baselineSimilarity", map.baseline_similarity.into()),
                    ("completenessGap", map.completeness_gap.into()),
                ])
            }
        })
    }
}
