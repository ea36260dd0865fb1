//! The decoder handle: a bundle's models on a device; decoding, retrieval, embeddings and
//! evaluation through `tasks::Decoder`, the pipeline the CLI runs too.

use std::rc::Rc;

use serde::Deserialize;
use wasm_bindgen::prelude::*;

use super::abort::abortable_call;
use super::bundle::*;
use super::convert::*;
use super::device::*;
use super::fmri::*;
use crate::tasks::{self, Decoder};

/// A bundle's models loaded on a device, ready to decode fMRI.
#[wasm_bindgen]
pub struct DecoderHandle {
    pub(super) decoder: Rc<Decoder>,
}

/// Encoded files from JS with their names (`"<fallback> i"` where a name is missing), for
/// errors that say which file was wrong.
pub(super) fn named_files(
    files: &[js_sys::Uint8Array],
    names: &[String],
    fallback: &str,
) -> Vec<(Vec<u8>, String)> {
    files
        .iter()
        .enumerate()
        .map(|(i, bytes)| {
            let name = names
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("{fallback} {i}"));
            (bytes.to_vec(), name)
        })
        .collect()
}

/// Options of `embedLabels`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
struct JsEmbedLabelsOptions {
    templates: Vec<String>,
}

/// Options of `decodeCategories`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
struct JsDecodeOptions {
    /// Best labels per trial (0 or absent: 5).
    top_k: usize,
    /// Prompt templates, "{}" standing for the label; several are ensembled.
    templates: Vec<String>,
    /// CLIP text embeddings of the labels, row-major `[labels, dim]`, when the bundle has no
    /// CLIP or the caller has them already.
    label_embeddings: Option<Vec<f32>>,
}

/// Options of `retrieve`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
struct JsRetrieveOptions {
    top_k: usize,
    space: tasks::Space,
}

/// Options of `evaluate`: the truth to score against, as `brainclip eval` takes it.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
struct JsEvalOptions {
    /// True label of each trial.
    labels: Option<Vec<String>>,
    /// Candidate labels (default: the distinct true labels).
    candidates: Option<Vec<String>>,
    templates: Vec<String>,
    /// CLIP text embeddings of the candidates, row-major `[candidates, textDim]`.
    label_embeddings: Option<Vec<f32>>,
    /// CLIP image embedding of each trial's stimulus, row-major `[trials, imageDim]`.
    image_embeddings: Option<Vec<f32>>,
    /// CLIP text embedding of each trial's caption, row-major `[trials, textDim]`.
    text_embeddings: Option<Vec<f32>>,
    way: Option<usize>,
    draws: Option<usize>,
    seed: Option<u64>,
}

pub(super) const DEFAULT_TOP_K: usize = 5;

/// Options of calls that take nothing but `signal`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct JsCallOptions {}

#[cfg(feature = "training")]
impl DecoderHandle {
    pub(super) fn from_decoder(decoder: Rc<Decoder>) -> Self {
        DecoderHandle { decoder }
    }
}

#[wasm_bindgen]
impl DecoderHandle {
    /// Frees the models (once calls still running have finished) now, as `free()` does; the handle cannot be used afterwards.
    pub fn dispose(self) {}

    /// Adds the image decoder of `bundle` (best loaded with `{ parts: "image-decoder" }`) to
    /// a decoder loaded without one (`{ parts: "decoding" }`), so that decoding can start
    /// before the larger reconstruction models have downloaded.
    #[wasm_bindgen(js_name = addImageDecoder)]
    pub fn add_image_decoder(&self, bundle: &BundleHandle) -> Result<(), JsValue> {
        self.decoder
            .add_image_decoder(&bundle.bundle)
            .map_err(to_js_error)
    }

    /// `{ backend, adapter, fallbackReason, voxels, variant, imageDim, textDim, hasClip }`.
    #[wasm_bindgen(unchecked_return_type = "DecoderInfo")]
    pub fn info(&self) -> Result<JsValue, JsValue> {
        let device = device_info(&self.decoder.device);
        let mut info = serde_json::to_value(self.decoder.summary()).expect("summary serialises");
        info["backend"] = device.backend.into();
        info["adapter"] = device.adapter.into();
        info["fallbackReason"] = device.fallback_reason.into();
        to_js(&info)
    }

    /// Predicted CLIP embeddings of every trial:
    /// `{ trials, imageDim, textDim, image: Float32Array, text: Float32Array }` (row-major,
    /// L2-normalised). The fMRI handle is not modified.
    #[wasm_bindgen(unchecked_return_type = "Promise<Embeddings>")]
    pub fn embed(
        &self,
        fmri: &FmriHandle,
        #[wasm_bindgen(unchecked_optional_param_type = "CallOptions")] options: Option<JsValue>,
    ) -> js_sys::Promise {
        let options = options.unwrap_or(JsValue::UNDEFINED);
        let decoder = self.decoder.clone();
        let batch = fmri.batch.clone();
        abortable_call("embed", "embedding", options, |rest| {
            // Nothing but `signal` is taken.
            let checked: Result<JsCallOptions, JsValue> = from_js(rest, "embed");
            async move {
                checked?;
                let out = decoder.embed(&batch).await.map_err(to_js_error)?;
                js_object(&[
                    ("trials", out.image.rows().into()),
                    ("imageDim", out.image.cols().into()),
                    ("textDim", out.text.cols().into()),
                    (
                        "image",
                        js_sys::Float32Array::from(out.image.values()).into(),
                    ),
                    ("text", js_sys::Float32Array::from(out.text.values()).into()),
                ])
            }
        })
    }

    /// CLIP text embeddings of `labels` as decoding uses them (`options`: `{ templates }`,
    /// default "an image of a {}."): a Float32Array `[labels, textDim]`, row-major, for
    /// callers that decode or evaluate against the same labels repeatedly
    /// (`labelEmbeddings`).
    #[wasm_bindgen(js_name = embedLabels, unchecked_return_type = "Promise<Float32Array>")]
    pub fn embed_labels(
        &self,
        labels: Vec<String>,
        #[wasm_bindgen(unchecked_optional_param_type = "EmbedLabelsOptions")] options: Option<
            JsValue,
        >,
    ) -> js_sys::Promise {
        let options = options.unwrap_or(JsValue::UNDEFINED);
        let decoder = self.decoder.clone();
        abortable_call("embedLabels", "label embedding", options, |options| {
            let options: Result<JsEmbedLabelsOptions, JsValue> = from_js(options, "embedLabels");
            async move {
                let options = options?;
                let embeddings = decoder
                    .embed_labels(&labels, &options.templates)
                    .await
                    .map_err(to_js_error)?;
                Ok(js_sys::Float32Array::from(embeddings.values()).into())
            }
        })
    }

    /// Zero-shot category decoding: for every trial, the best `topK` of `labels`
    /// (`[{ index, label, similarity, probability }]`, best first).
    #[wasm_bindgen(
        js_name = decodeCategories,
        unchecked_return_type = "Promise<RankedLabel[][]>"
    )]
    pub fn decode_categories(
        &self,
        fmri: &FmriHandle,
        labels: Vec<String>,
        #[wasm_bindgen(unchecked_optional_param_type = "DecodeOptions")] options: Option<JsValue>,
    ) -> js_sys::Promise {
        let options = options.unwrap_or(JsValue::UNDEFINED);
        let decoder = self.decoder.clone();
        let batch = fmri.batch.clone();
        abortable_call(
            "decodeCategories",
            "category decoding",
            options,
            |options| {
                let options =
                    take_f32_arrays(options, &["labelEmbeddings"]).and_then(|(rest, arrays)| {
                        let mut options: JsDecodeOptions = from_js(rest, "decodeCategories")?;
                        let [label_embeddings] = <[_; 1]>::try_from(arrays).expect("one key");
                        options.label_embeddings = label_embeddings.or(options.label_embeddings);
                        Ok(options)
                    });
                async move {
                    let options = options?;
                    let top_k = if options.top_k == 0 {
                        DEFAULT_TOP_K
                    } else {
                        options.top_k
                    };
                    let ranked = match options.label_embeddings {
                        Some(values) => {
                            let embeddings =
                                rows_of(values, decoder.mapper.config.text_dim, "labelEmbeddings")
                                    .map_err(to_js_error)?;
                            decoder
                                .decode_with_embeddings(&batch, &labels, &embeddings, top_k)
                                .await
                        }
                        None => {
                            decoder
                                .decode_categories(&batch, &labels, &options.templates, top_k)
                                .await
                        }
                    }
                    .map_err(to_js_error)?;
                    to_js(&ranked)
                }
            },
        )
    }

    /// Scores the decoder on `fmri` against the truth in `options` (`{ labels, candidates,
    /// templates, labelEmbeddings, imageEmbeddings, textEmbeddings, way, draws, seed }`):
    /// `{ trials, metrics: [{ id, name, value, chance, trials, controls }], notes, perTrial }`,
    /// the same object `brainclip eval --json` prints.
    #[wasm_bindgen(unchecked_return_type = "Promise<Evaluation>")]
    pub fn evaluate(
        &self,
        fmri: &FmriHandle,
        #[wasm_bindgen(unchecked_optional_param_type = "EvaluateOptions")] options: Option<JsValue>,
    ) -> js_sys::Promise {
        let options = options.unwrap_or(JsValue::UNDEFINED);
        let decoder = self.decoder.clone();
        let batch = fmri.batch.clone();
        let keys = ["labelEmbeddings", "imageEmbeddings", "textEmbeddings"];
        abortable_call("evaluate", "evaluation", options, |options| {
            let options = take_f32_arrays(options, &keys).and_then(|(rest, arrays)| {
                let mut options: JsEvalOptions = from_js(rest, "evaluate")?;
                let [labels, images, texts] = <[_; 3]>::try_from(arrays).expect("three keys");
                options.label_embeddings = labels.or(options.label_embeddings);
                options.image_embeddings = images.or(options.image_embeddings);
                options.text_embeddings = texts.or(options.text_embeddings);
                Ok(options)
            });
            async move {
                let options = options?;
                let config = &decoder.mapper.config;
                let matrix = |values: Option<Vec<f32>>, dim: usize, what: &str| {
                    values.map(|v| rows_of(v, dim, what)).transpose()
                };
                let defaults = tasks::EvalRequest::default();
                let request = tasks::EvalRequest {
                    labels: options.labels,
                    candidates: options.candidates,
                    templates: options.templates,
                    label_embeddings: matrix(
                        options.label_embeddings,
                        config.text_dim,
                        "labelEmbeddings",
                    )
                    .map_err(to_js_error)?,
                    image_embeddings: matrix(
                        options.image_embeddings,
                        config.image_dim,
                        "imageEmbeddings",
                    )
                    .map_err(to_js_error)?,
                    text_embeddings: matrix(
                        options.text_embeddings,
                        config.text_dim,
                        "textEmbeddings",
                    )
                    .map_err(to_js_error)?,
                    way: options.way.unwrap_or(defaults.way),
                    draws: options.draws.unwrap_or(defaults.draws),
                    seed: options.seed.unwrap_or(defaults.seed),
                };
                let evaluation = decoder
                    .evaluate(&batch, &request)
                    .await
                    .map_err(to_js_error)?;
                to_js(&evaluation)
            }
        })
    }

    /// CLIP image embeddings (L2-normalised, row-major `Float32Array [images, imageDim]`) of
    /// encoded images (`Uint8Array`s of PNG or JPEG files, with their names), for `retrieve`.
    #[wasm_bindgen(js_name = embedImages, unchecked_return_type = "Promise<Float32Array>")]
    pub fn embed_images(
        &self,
        images: Vec<js_sys::Uint8Array>,
        names: Vec<String>,
        #[wasm_bindgen(unchecked_optional_param_type = "CallOptions")] options: Option<JsValue>,
    ) -> js_sys::Promise {
        let options = options.unwrap_or(JsValue::UNDEFINED);
        let decoder = self.decoder.clone();
        let encoded = named_files(&images, &names, "image");
        abortable_call("embedImages", "image embedding", options, |rest| {
            // Nothing but `signal` is taken.
            let checked: Result<JsCallOptions, JsValue> = from_js(rest, "embedImages");
            async move {
                checked?;
                let embeddings = decoder.embed_images(&encoded).await.map_err(to_js_error)?;
                Ok(js_sys::Float32Array::from(embeddings.values()).into())
            }
        })
    }

    /// Retrieval: for every trial, the best `topK` candidates (row-major CLIP embeddings in
    /// `space` "image" (default) or "text"): `[{ index, similarity, probability }]`.
    #[wasm_bindgen(unchecked_return_type = "Promise<RankedCandidate[][]>")]
    pub fn retrieve(
        &self,
        fmri: &FmriHandle,
        candidates: Vec<f32>,
        #[wasm_bindgen(unchecked_optional_param_type = "RetrieveOptions")] options: Option<JsValue>,
    ) -> js_sys::Promise {
        let options = options.unwrap_or(JsValue::UNDEFINED);
        let decoder = self.decoder.clone();
        let batch = fmri.batch.clone();
        abortable_call("retrieve", "retrieval", options, |options| {
            let options: Result<JsRetrieveOptions, JsValue> = from_js(options, "retrieve");
            async move {
                let options = options?;
                let dim = match options.space {
                    tasks::Space::Image => decoder.mapper.config.image_dim,
                    tasks::Space::Text => decoder.mapper.config.text_dim,
                };
                let candidates = rows_of(candidates, dim, "candidates").map_err(to_js_error)?;
                let top_k = if options.top_k == 0 {
                    DEFAULT_TOP_K
                } else {
                    options.top_k
                };
                let ranked = decoder
                    .retrieve(&batch, &candidates, options.space, top_k)
                    .await
                    .map_err(to_js_error)?;
                to_js(&ranked)
            }
        })
    }
}

/// Loads a bundle's models on a backend (`"auto"` by default, `"webgpu"` or `"cpu"`).
#[wasm_bindgen(js_name = loadDecoder)]
pub async fn load_decoder(
    bundle: &BundleHandle,
    preference: Option<String>,
) -> Result<DecoderHandle, JsValue> {
    let device = device_for(preference).await?;
    let decoder = Decoder::from_bundle(&bundle.bundle, device).map_err(to_js_error)?;
    Ok(DecoderHandle {
        decoder: Rc::new(decoder),
    })
}
