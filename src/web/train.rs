//! `trainMapper`: a mapper trained on the user's fMRI inside the page (the data never leaves
//! it), by the same trainer, data checks, split, early stopping and seeds as
//! `brainclip train-mapper`, on the CPU backend. Built into the `brainclip` and
//! `brainclip_threads` builds (feature `training`), not the CPU-only one.

use std::collections::BTreeMap;
use std::rc::Rc;

use serde::Deserialize;
use wasm_bindgen::convert::TryFromJsValue;
use wasm_bindgen::prelude::*;

use super::abort::abortable_call;
use super::bundle::BundleHandle;
use super::convert::{from_js, take_f32_arrays, to_js, to_js_error};
use super::decoder::DecoderHandle;
use super::device::device_for;
use super::fmri::FmriHandle;
use crate::data::FmriBatch;
use crate::error::{Error, Result};
use crate::mapper::{MapperConfig, MapperVariant};
use crate::matrix::Matrix;
use crate::tasks::Decoder;
use crate::train::mapper::{
    BundleContents, CLIP_COMPONENT, CaptionTable, HeldOut, MapperTrainer, Phase, TextTargets,
    TrainConfig, TrainOutcome, TrainingData, browser_preset, held_out_evaluation, mapper_bundle,
    train_with_controls,
};

/// A copy of a bundle for `trainMapper`'s `clipFrom` and `calibrateFrom`: the caller's bundle
/// stays theirs (a handle passed inside an options object would be given up).
#[wasm_bindgen]
pub struct BundleCopy {
    bundle: crate::data::bundle::Bundle,
}

#[wasm_bindgen]
impl BundleHandle {
    /// A copy of the bundle, for `trainMapper({ clipFrom, calibrateFrom })`, which calls this
    /// itself.
    #[wasm_bindgen(js_name = bundleCopy)]
    pub fn bundle_copy(&self) -> BundleCopy {
        BundleCopy {
            bundle: self.bundle.clone(),
        }
    }
}

/// A string or a list of strings per trial.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_list(self) -> Vec<String> {
        match self {
            OneOrMany::One(text) => vec![text],
            OneOrMany::Many(list) => list,
        }
    }
}

/// An id as JSON gives it: a string or a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum Id {
    Text(String),
    Number(f64),
}

/// Settings of `trainMapper`, as `brainclip train-mapper`'s options; unset ones take the
/// browser preset ([`browser_preset`]).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
struct JsTrainSettings {
    variant: Option<String>,
    hidden: Option<usize>,
    blocks: Option<usize>,
    latent: Option<usize>,
    input_dropout: Option<f64>,
    dropout: Option<f64>,
    epochs: Option<usize>,
    batch_size: Option<usize>,
    learning_rate: Option<f64>,
    weight_decay: Option<f32>,
    warmup: Option<f64>,
    /// 0 turns clipping off.
    grad_clip: Option<f32>,
    temperature: Option<f32>,
    learn_temperature: Option<bool>,
    lambda_image: Option<f32>,
    lambda_text: Option<f32>,
    beta: Option<f32>,
    beta_warmup: Option<usize>,
    val_fraction: Option<f64>,
    patience: Option<usize>,
    seed: Option<u64>,
}

/// Options of `trainMapper` besides `signal`, `onEpoch`, `clipFrom` and the typed arrays.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
struct JsTrainOptions {
    labels: Option<Vec<OneOrMany>>,
    captions: Option<Vec<OneOrMany>>,
    templates: Vec<String>,
    label_embeddings: Option<Vec<f32>>,
    image_embeddings: Option<Vec<f32>>,
    stimulus_ids: Option<Vec<Id>>,
    groups: Option<Vec<Id>>,
    settings: JsTrainSettings,
    /// Train the label-shuffled control and fit the ridge baseline (default true).
    controls: Option<bool>,
    name: Option<String>,
    provenance: Option<String>,
    license: Option<String>,
    simulated: bool,
    /// The subject the data is of (e.g. "sub-02"), recorded in the manifest.
    subject: Option<String>,
    /// Named candidate-label lists to ship in the manifest (e.g. the test categories).
    label_sets: BTreeMap<String, Vec<String>>,
}

/// Ids numbered in order of first appearance, as the CLI reads them.
fn number_ids(ids: Vec<Id>) -> Vec<usize> {
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    ids.into_iter()
        .map(|id| {
            let key = match id {
                Id::Text(text) => text,
                Id::Number(n) => n.to_string(),
            };
            let next = index.len();
            *index.entry(key).or_insert(next)
        })
        .collect()
}

fn apply_settings(
    settings: &JsTrainSettings,
    mapper: &mut MapperConfig,
    train: &mut TrainConfig,
) -> Result<()> {
    if let Some(variant) = &settings.variant {
        mapper.variant = MapperVariant::parse(variant)?;
    }
    let set = |slot: &mut usize, value: Option<usize>| {
        if let Some(v) = value {
            *slot = v;
        }
    };
    set(&mut mapper.hidden, settings.hidden);
    set(&mut mapper.blocks, settings.blocks);
    set(&mut mapper.latent, settings.latent);
    set(&mut train.epochs, settings.epochs);
    set(&mut train.batch_size, settings.batch_size);
    set(&mut train.beta_warmup_epochs, settings.beta_warmup);
    set(&mut train.patience, settings.patience);
    mapper.input_dropout = settings.input_dropout.unwrap_or(mapper.input_dropout);
    mapper.dropout = settings.dropout.unwrap_or(mapper.dropout);
    train.learning_rate = settings.learning_rate.unwrap_or(train.learning_rate);
    train.weight_decay = settings.weight_decay.unwrap_or(train.weight_decay);
    train.warmup_fraction = settings.warmup.unwrap_or(train.warmup_fraction);
    if let Some(clip) = settings.grad_clip {
        train.grad_clip = (clip > 0.0).then_some(clip);
    }
    train.temperature = settings.temperature.unwrap_or(train.temperature);
    train.learn_temperature = settings
        .learn_temperature
        .unwrap_or(train.learn_temperature);
    train.lambda_image = settings.lambda_image.unwrap_or(train.lambda_image);
    train.lambda_text = settings.lambda_text.unwrap_or(train.lambda_text);
    train.beta = settings.beta.unwrap_or(train.beta);
    train.val_fraction = settings.val_fraction.unwrap_or(train.val_fraction);
    train.seed = settings.seed.unwrap_or(train.seed);
    mapper.validate()?;
    train.validate()
}

/// A mapper trained in the page: its decoder (on the CPU), the bundle it makes, and how
/// training went.
#[wasm_bindgen]
pub struct TrainedMapper {
    decoder: Rc<Decoder>,
    bundle_zip: Vec<u8>,
    report: serde_json::Value,
    held_out: JsValue,
}

#[wasm_bindgen]
impl TrainedMapper {
    /// Frees the result now, as `free()` does.
    pub fn dispose(self) {}

    /// A decoder of the trained mapper (with its controls and the CLIP), on the CPU backend.
    pub fn decoder(&self) -> DecoderHandle {
        DecoderHandle::from_decoder(self.decoder.clone())
    }

    /// The bundle as a `.zip` archive: download it, then load it with `loadBundleBytes`, the
    /// page's bundle picker or `brainclip eval --bundle FILE.zip`.
    #[wasm_bindgen(js_name = bundleBytes)]
    pub fn bundle_bytes(&self) -> js_sys::Uint8Array {
        js_sys::Uint8Array::from(self.bundle_zip.as_slice())
    }

    /// `{ settings, mapperConfig, history, bestEpoch, trainTrials, validationTrials,
    /// seenLabels, controls, seconds, heldOut }`: `history` holds each epoch's report (the
    /// model's, then the shuffled control's with `phase` "shuffled labels"); `heldOut` is the
    /// validation trials' evaluation (`evaluate`'s result, with chance and controls), or null.
    #[wasm_bindgen(unchecked_return_type = "TrainingReport")]
    pub fn report(&self) -> Result<JsValue, JsValue> {
        let report = to_js(&self.report)?;
        js_sys::Reflect::set(&report, &"heldOut".into(), &self.held_out)?;
        Ok(report)
    }
}

/// Trains a mapper on `fmri` in the page, as `brainclip train-mapper` does. `options`:
/// supervision as `labels` (a label or list per trial, filled into `templates` and embedded
/// by `clipFrom`'s CLIP), `captions`, `labelEmbeddings` (text embeddings per trial,
/// `[trials, dim]`) and/or `imageEmbeddings` (`[trials, dim]`); `stimulusIds` and `groups`
/// (validation holds out whole stimuli, or whole groups when given); `clipFrom` (a bundle
/// whose CLIP embeds the labels and travels in the new bundle); `settings` (`variant`,
/// `hidden`, `blocks`, `latent`, `epochs`, `batchSize`, `learningRate`, `patience`, `seed`,
/// …: the browser preset where unset); `controls` (default true: the label-shuffled control
/// and the ridge baseline, on the same split); `name`, `provenance`, `license`,
/// `simulated`, `labelSets`; `calibrateFrom` (a bundle whose mapper is calibrated to this
/// data instead: only a new input layer is learned, its other settings are the base's);
/// `onEpoch(report)` after every epoch; `signal`.
#[wasm_bindgen(js_name = trainMapper, unchecked_return_type = "Promise<TrainedMapper>")]
pub fn train_mapper(
    fmri: &FmriHandle,
    #[wasm_bindgen(unchecked_param_type = "TrainMapperOptions")] options: JsValue,
) -> js_sys::Promise {
    let batch = fmri.batch.clone();
    abortable_call("trainMapper", "mapper training", options, move |options| {
        let parsed = read_options(options);
        async move { run_training(batch, parsed?).await.map(JsValue::from) }
    })
}

/// `trainMapper`'s options with the bundles and the callback taken out.
struct Parsed {
    options: JsTrainOptions,
    clip: Option<crate::data::bundle::Bundle>,
    calibrate: Option<crate::data::bundle::Bundle>,
    on_epoch: Option<js_sys::Function>,
}

fn read_options(options: JsValue) -> Result<Parsed, JsValue> {
    let get = |key: &str| js_sys::Reflect::get(&options, &key.into()).unwrap_or(JsValue::UNDEFINED);
    let on_epoch = match get("onEpoch") {
        v if v.is_undefined() || v.is_null() => None,
        v => Some(v.dyn_into::<js_sys::Function>().map_err(|_| {
            to_js_error(Error::InvalidConfig {
                what: "trainMapper options: onEpoch".into(),
                reason: "expected a function".into(),
            })
        })?),
    };
    let bundle_at = |key: &str| -> Result<Option<crate::data::bundle::Bundle>, JsValue> {
        let bundle = get(key);
        if bundle.is_undefined() || bundle.is_null() {
            return Ok(None);
        }
        let not_a_bundle = || {
            to_js_error(Error::InvalidConfig {
                what: format!("trainMapper options: {key}"),
                reason: "expected a bundle (from loadBundle or loadBundleBytes)".into(),
            })
        };
        let method = js_sys::Reflect::get(&bundle, &"bundleCopy".into())
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
            .ok_or_else(not_a_bundle)?;
        let copy = method.call0(&bundle)?;
        Ok(Some(
            BundleCopy::try_from_js_value(copy)
                .map_err(|_| not_a_bundle())?
                .bundle,
        ))
    };
    let clip = bundle_at("clipFrom")?;
    let calibrate = bundle_at("calibrateFrom")?;
    let rest = if options.is_object() {
        let copy = js_sys::Object::assign(&js_sys::Object::new(), options.unchecked_ref());
        for key in ["onEpoch", "clipFrom", "calibrateFrom"] {
            js_sys::Reflect::delete_property(&copy, &key.into())?;
        }
        JsValue::from(copy)
    } else {
        options
    };
    let (rest, arrays) = take_f32_arrays(rest, &["labelEmbeddings", "imageEmbeddings"])?;
    let mut parsed: JsTrainOptions = from_js(rest, "trainMapper")?;
    let [labels, images] = <[_; 2]>::try_from(arrays).expect("two keys");
    parsed.label_embeddings = labels.or(parsed.label_embeddings);
    parsed.image_embeddings = images.or(parsed.image_embeddings);
    Ok(Parsed {
        options: parsed,
        clip,
        calibrate,
        on_epoch,
    })
}

/// `[trials, dim]` from a flat array whose length must be a multiple of `trials`.
fn per_trial(values: Vec<f32>, trials: usize, what: &str) -> Result<Matrix> {
    if values.is_empty() || !values.len().is_multiple_of(trials) {
        return Err(Error::ShapeMismatch {
            what: what.into(),
            got: format!("{} values", values.len()),
            expected: format!("one embedding per fMRI trial ({trials} × dim)"),
        });
    }
    let dim = values.len() / trials;
    Matrix::new(values, trials, dim)?.unit_rows(what)
}

async fn run_training(batch: FmriBatch, parsed: Parsed) -> Result<TrainedMapper, JsValue> {
    let Parsed {
        options,
        clip,
        calibrate,
        on_epoch,
    } = parsed;
    let started = js_sys::Date::now();
    let fail = to_js_error;
    let device = device_for(Some("cpu".into())).await?;
    let (trials, voxels) = (batch.trials(), batch.voxels());
    let lists = |given: Option<Vec<OneOrMany>>| {
        given.map(|l| l.into_iter().map(OneOrMany::into_list).collect::<Vec<_>>())
    };
    let labels = lists(options.labels);
    let captions = lists(options.captions);
    // The CLIP, on the CPU device training runs on, and its file as stored: it travels into
    // the new bundle so (f16 or int8 stay so). A bundle of a CLIP alone will do.
    let (clip, clip_stored) = match clip {
        None => (None, None),
        Some(bundle) => {
            let no_clip = || {
                fail(Error::InvalidConfig {
                    what: "trainMapper options: clipFrom".into(),
                    reason: "this bundle carries no CLIP (no component of kind 'clip')".into(),
                })
            };
            let loaded = crate::clip::Clip::from_bundle(&bundle, &device.device)
                .map_err(fail)?
                .ok_or_else(no_clip)?;
            let (_, component) = bundle
                .manifest
                .components
                .iter()
                .find(|(_, c)| c.kind == "clip")
                .ok_or_else(no_clip)?;
            let stored = bundle
                .stored_file(&component.weights)
                .map_err(fail)?
                .to_vec();
            (Some(loaded), Some((component.clone(), stored)))
        }
    };
    let base = calibrate
        .map(|bundle| Decoder::from_bundle(&bundle, device.clone()).map(|d| d.mapper))
        .transpose()
        .map_err(fail)?;
    let mut seen_labels = Vec::new();
    let texts: Option<TextTargets> = if let Some(values) = options.label_embeddings {
        let m = per_trial(values, trials, "labelEmbeddings").map_err(fail)?;
        let (rows, dim) = (m.rows(), m.cols());
        Some(TextTargets::from_per_trial(m.values(), rows, 1, dim).map_err(fail)?)
    } else if labels.is_some() || captions.is_some() {
        let table = CaptionTable::new(
            captions.as_deref(),
            labels.as_deref(),
            &options.templates,
            trials,
        )
        .map_err(fail)?;
        let clip = clip.as_ref().ok_or_else(|| {
            fail(Error::InvalidConfig {
                what: "trainMapper".into(),
                reason: "labels and captions are embedded by a CLIP: give clipFrom (a bundle that carries one) or labelEmbeddings".into(),
            })
        })?;
        let refs: Vec<&str> = table.distinct.iter().map(String::as_str).collect();
        let embeddings = clip.embed_text(&device, &refs).await.map_err(fail)?;
        seen_labels = table.seen_labels.clone();
        Some(table.targets(embeddings).map_err(fail)?)
    } else {
        None
    };
    let images = options
        .image_embeddings
        .map(|v| per_trial(v, trials, "imageEmbeddings"))
        .transpose()
        .map_err(fail)?;
    let data = TrainingData {
        fmri: Matrix::new(batch.values().to_vec(), trials, voxels).map_err(fail)?,
        images,
        texts,
        stimulus: options.stimulus_ids.map(number_ids),
        groups: options.groups.map(number_ids),
    };
    data.validate().map_err(fail)?;
    let text_dim = data.texts.as_ref().map(|t| t.embeddings.cols());
    let image_dim = data
        .images
        .as_ref()
        .map(|m| m.cols())
        .or(text_dim)
        .expect("validated");
    let (mut mapper_config, mut config) =
        browser_preset(voxels, image_dim, text_dim.unwrap_or(image_dim));
    if let Some(base) = &base {
        mapper_config = MapperConfig {
            voxels,
            ..base.config.clone()
        };
    }
    apply_settings(&options.settings, &mut mapper_config, &mut config).map_err(fail)?;
    let settings = &options.settings;
    let shape_given = settings.variant.is_some()
        || settings.hidden.is_some()
        || settings.blocks.is_some()
        || settings.latent.is_some();
    if base.is_some() && shape_given {
        return Err(fail(Error::InvalidConfig {
            what: "trainMapper settings".into(),
            reason: "variant, hidden, blocks and latent are the base mapper's when calibrating (calibrateFrom)".into(),
        }));
    }

    let mut history = Vec::new();
    let trained = train_with_controls(
        &data,
        &config,
        options.controls.unwrap_or(true),
        async |data: &TrainingData, phase: Phase| -> crate::error::Result<TrainOutcome> {
            let mut trainer = match &base {
                Some(base) => MapperTrainer::calibrating(data, base, &config),
                None => MapperTrainer::new(data, &mapper_config, &config),
            }?;
            while !trainer.finished() {
                let report = trainer.run_epoch(&mut |_, _| {})?;
                let mut entry = serde_json::to_value(&report).expect("report serialises");
                entry["phase"] = phase.name().into();
                if let Some(callback) = &on_epoch
                    && let Ok(event) = to_js(&entry)
                {
                    // A throwing callback must not end the training.
                    let _ = callback.call1(&JsValue::NULL, &event);
                }
                history.push(entry);
                // The page gets a turn (progress, cancel) between epochs.
                device.yield_point().await;
            }
            Ok(trainer.finish())
        },
    )
    .await
    .map_err(fail)?;
    let outcome = &trained.outcome;
    let bundle = mapper_bundle(
        outcome,
        options
            .name
            .as_deref()
            .unwrap_or("brainclip-mapper (trained in the browser)"),
        options
            .provenance
            .as_deref()
            .unwrap_or("trained in the browser with brainclip trainMapper"),
        options.license.as_deref().unwrap_or("unspecified"),
        options.simulated,
        options.label_sets,
        BundleContents {
            controls: trained.bundled(),
            ..BundleContents::default()
        },
    )
    .map_err(fail)?;
    let mut bundle = match clip_stored {
        Some((component, bytes)) => bundle
            .with_component(
                CLIP_COMPONENT,
                crate::data::bundle::Component {
                    weights: format!("{CLIP_COMPONENT}.safetensors"),
                    ..component
                },
                bytes,
            )
            .map_err(fail)?,
        None => bundle,
    };
    bundle.manifest.subject = options.subject.clone();
    let bundle_zip = bundle.to_zip().map_err(fail)?;
    let decoder = Rc::new(Decoder::from_bundle(&bundle, device).map_err(fail)?);

    // Held-out numbers from the one scoring path (`evaluate`): the validation trials decoded
    // among every training label, beside chance and the controls.
    let held_out = match &labels {
        Some(labels) => held_out_evaluation(
            &data,
            &batch.source,
            labels,
            &seen_labels,
            &options.templates,
            &config,
        )
        .map_err(fail)?,
        None => None,
    };
    let held_out = match held_out {
        Some(HeldOut { fmri, request }) => {
            to_js(&decoder.evaluate(&fmri, &request).await.map_err(fail)?)?
        }
        None => JsValue::NULL,
    };
    // As the CLI warns: validation trials with a near-copy among the training trials (the
    // neighbouring volumes of one block or run) make the held-out numbers optimistic.
    let leak = data.validation_leak(&config).map_err(fail)?;
    let (_, validation) = data.validation_split(config.val_fraction, config.seed);
    let control_names: Vec<&str> = trained.bundled().iter().map(|(_, name, _)| *name).collect();
    let report = serde_json::json!({
        "settings": config,
        "mapperConfig": outcome.mapper.config,
        "history": history,
        "bestEpoch": outcome.best_epoch,
        "trainTrials": outcome.train_trials,
        "validationTrials": validation,
        "seenLabels": seen_labels,
        "controls": control_names,
        "mode": if base.is_some() { "calibrate" } else { "train" },
        "validationLeak": {
            "checked": leak.checked,
            "withNearCopy": leak.with_near_copy,
            "leaks": leak.leaks(),
        },
        "seconds": (js_sys::Date::now() - started) / 1000.0,
    });
    Ok(TrainedMapper {
        decoder,
        bundle_zip,
        report,
        held_out,
    })
}
