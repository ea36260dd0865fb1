//! Reconstruction from the page: the image decoder's samples (with a preview per step), the
//! low-level path, and their scores against the seen images.

use serde::Deserialize;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use super::abort::abortable_call;
use super::convert::*;
use super::decoder::*;
use super::fmri::*;
use crate::error::Error;
use crate::tasks::{self};

/// Options of `reconstruct` (besides `onStep`, a function read separately).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
struct JsReconstructOptions {
    trials: Vec<usize>,
    steps: Option<usize>,
    guidance: Option<f32>,
    strength: Option<f32>,
    seed: u64,
}

/// Options of `reconstructLowLevel`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
struct JsLowLevelOptions {
    trials: Vec<usize>,
}

/// `{ trials, size, steps, guidance, images }`, `images` RGBA `Uint8ClampedArray`s.
fn reconstruction_object(result: &tasks::Reconstruction) -> Result<JsValue, JsValue> {
    js_object(&[
        ("trials", to_js(&result.trials)?),
        ("size", result.size.into()),
        ("steps", result.steps.into()),
        ("guidance", result.guidance.into()),
        ("images", rgba_array(&result.images).into()),
    ])
}

#[wasm_bindgen]
impl DecoderHandle {
    /// Reconstructs the seen images (`options`: `{ trials, steps, guidance, strength, seed,
    /// onStep }`; unset values take the bundle's schedule). `onStep(step, steps, images)` is
    /// called after every step with the decoded estimates. Resolves to `{ trials, size,
    /// steps, guidance, images }`, `images` being RGBA `Uint8ClampedArray`s of `size × size`.
    #[wasm_bindgen(unchecked_return_type = "Promise<Reconstruction>")]
    pub fn reconstruct(
        &self,
        fmri: &FmriHandle,
        #[wasm_bindgen(unchecked_optional_param_type = "ReconstructOptions")] options: Option<
            JsValue,
        >,
    ) -> js_sys::Promise {
        let options = options.unwrap_or(JsValue::UNDEFINED);
        let decoder = self.decoder.clone();
        let batch = fmri.batch.clone();
        abortable_call("reconstruct", "reconstruction", options, |options| {
            let on_step = if options.is_object() {
                js_sys::Reflect::get(&options, &"onStep".into())
                    .ok()
                    .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
            } else {
                None
            };
            let rest = if options.is_object() {
                let copy = js_sys::Object::assign(&js_sys::Object::new(), &options.clone().into());
                let _ = js_sys::Reflect::delete_property(&copy, &"onStep".into());
                copy.into()
            } else {
                options
            };
            let options: Result<JsReconstructOptions, JsValue> = from_js(rest, "reconstruct");
            async move {
                let options = options?;
                let request = tasks::ReconstructRequest {
                    trials: options.trials,
                    steps: options.steps,
                    guidance: options.guidance,
                    strength: options.strength,
                    seed: options.seed,
                };
                let mut callback_error = None;
                let mut forward = |step: usize, steps: usize, images: &[Vec<u8>]| {
                    if let Some(f) = &on_step
                        && callback_error.is_none()
                        && let Err(err) = f.call3(
                            &JsValue::NULL,
                            &step.into(),
                            &steps.into(),
                            &rgba_array(images),
                        )
                    {
                        callback_error = Some(err);
                    }
                };
                // Previews are decoded only for a caller that asked for them.
                let wants_previews = on_step.is_some();
                let result = decoder
                    .reconstruct(
                        &batch,
                        &request,
                        wants_previews.then_some(&mut forward as &mut tasks::StepCallback<'_>),
                    )
                    .await
                    .map_err(to_js_error)?;
                if let Some(err) = callback_error {
                    return Err(err);
                }
                reconstruction_object(&result)
            }
        })
    }

    /// The low-level path alone (`options`: `{ trials }`, all when empty): the head's
    /// predicted latents decoded, a blurry image of layout and colour. Resolves like
    /// `reconstruct` (with `steps` 0: nothing is sampled).
    #[wasm_bindgen(
        js_name = reconstructLowLevel,
        unchecked_return_type = "Promise<Reconstruction>"
    )]
    pub fn reconstruct_low_level(
        &self,
        fmri: &FmriHandle,
        #[wasm_bindgen(unchecked_optional_param_type = "LowLevelOptions")] options: Option<JsValue>,
    ) -> js_sys::Promise {
        let options = options.unwrap_or(JsValue::UNDEFINED);
        let decoder = self.decoder.clone();
        let batch = fmri.batch.clone();
        abortable_call(
            "reconstructLowLevel",
            "low-level reconstruction",
            options,
            |options| {
                let options: Result<JsLowLevelOptions, JsValue> =
                    from_js(options, "reconstructLowLevel");
                async move {
                    let options = options?;
                    let result = decoder
                        .reconstruct_low_level(&batch, &options.trials)
                        .await
                        .map_err(to_js_error)?;
                    reconstruction_object(&result)
                }
            },
        )
    }

    /// Scores reconstructions against the images that were seen, as `brainclip eval
    /// --reconstruct` does: `[{ id, name, value, chance, trials }]` for PixCorr and SSIM
    /// (chance: the same score against another trial's image), CLIP 2-way identification
    /// (with a CLIP in the bundle) and autoencoder-latent 2-way (chance 50 %). `images` are
    /// RGBA `size × size` (what `reconstruct` returns); `seen` the seen images' PNG or JPEG
    /// files at that size, one per image, with their names.
    #[wasm_bindgen(js_name = scoreReconstructions, unchecked_return_type = "Promise<Metric[]>")]
    pub fn score_reconstructions(
        &self,
        images: Vec<js_sys::Uint8ClampedArray>,
        size: usize,
        seen: Vec<js_sys::Uint8Array>,
        names: Vec<String>,
    ) -> js_sys::Promise {
        let decoder = self.decoder.clone();
        let images: Vec<Vec<u8>> = images.iter().map(|i| i.to_vec()).collect();
        let seen = named_files(&seen, &names, "seen image");
        wasm_bindgen_futures::future_to_promise(async move {
            let stimuli = seen
                .iter()
                .map(|(bytes, name)| tasks::seen_image(bytes, name, size))
                .collect::<Result<Vec<_>, Error>>()
                .map_err(to_js_error)?;
            let metrics = decoder
                .reconstruction_metrics(&images, size, &stimuli, None)
                .await
                .map_err(to_js_error)?;
            to_js(&metrics)
        })
    }
}
