//! The simulated world in the page: new test recordings and training sessions of its
//! simulated subjects, as `brainclip sim` makes them.

use std::rc::Rc;

use serde::Deserialize;
use wasm_bindgen::prelude::*;

use super::convert::*;
use super::fmri::*;
use crate::data::FmriBatch;

/// Options of `simulateTestRecording`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
struct JsTestRecordingOptions {
    snr: Option<f32>,
    repeats: Option<usize>,
    seed: u64,
    world_seed: u64,
}

thread_local! {
    /// The last simulated subject built: building one calibrates every voxel, so a student
    /// moving a slider should not pay for it again.
    static SIMULATED_SUBJECT: std::cell::RefCell<Option<Rc<crate::sim::subject::Subject>>> =
        const { std::cell::RefCell::new(None) };
}

/// A new recording of the simulated world's test stimuli by `subject` ("sub-01", "sub-02",
/// "sub-03"), as `brainclip sim test-recording` makes it (`options`: `{ snr, repeats, seed,
/// worldSeed }`; defaults: the subject's SNR, 35 repeats, seeds 0): the same values as
/// natively, to within float rounding of the platform's maths library.
#[wasm_bindgen(js_name = simulateTestRecording)]
pub fn simulate_test_recording(
    subject: String,
    #[wasm_bindgen(unchecked_optional_param_type = "TestRecordingOptions")] options: Option<
        JsValue,
    >,
) -> Result<FmriHandle, JsValue> {
    let options = options.unwrap_or(JsValue::UNDEFINED);
    use crate::sim::protocol::{Protocol, ProtocolConfig, TestRecordingConfig};
    let options: JsTestRecordingOptions = from_js(options, "simulateTestRecording")?;
    let cached = SIMULATED_SUBJECT.with_borrow(|s| s.clone().filter(|s| s.config.name == subject));
    let simulated = match cached {
        Some(simulated) => simulated,
        None => {
            let built =
                Rc::new(crate::sim::subject::Subject::named(&subject).map_err(to_js_error)?);
            SIMULATED_SUBJECT.set(Some(built.clone()));
            built
        }
    };
    let protocol = Protocol::new(ProtocolConfig {
        seed: options.world_seed,
        ..ProtocolConfig::default()
    })
    .map_err(to_js_error)?;
    let config = TestRecordingConfig {
        snr: options.snr.unwrap_or(simulated.config.snr),
        repeats: options
            .repeats
            .unwrap_or(ProtocolConfig::default().test_repeats),
        seed: options.seed,
    };
    let recording = protocol
        .record_test(&simulated, &config)
        .map_err(to_js_error)?;
    let (trials, voxels) = (recording.rows(), recording.cols());
    simulated_recording(
        recording.into_values(),
        trials,
        voxels,
        format!(
            "simulated {subject}: SNR {}, {} repeats, seed {}",
            config.snr, config.repeats, config.seed
        ),
    )
}

/// A simulated recording as an fMRI handle, its source named `file_name`.
fn simulated_recording(
    values: Vec<f32>,
    trials: usize,
    voxels: usize,
    file_name: String,
) -> Result<FmriHandle, JsValue> {
    let source = crate::data::FmriSource {
        file_name,
        format: crate::data::SourceFormat::Simulated,
        array_name: None,
        mask_name: None,
        dtype: "float32".into(),
        shape: vec![trials, voxels],
    };
    let batch = FmriBatch::new(values, trials, voxels, source).map_err(to_js_error)?;
    Ok(FmriHandle { batch })
}

/// The simulated world's training session of `subject` ("sub-01", "sub-02", "sub-03"), as
/// `brainclip sim world` writes it (`train_fmri.npy`, `train_labels.json`,
/// `train_stimulus_ids.json`; world seed `worldSeed`, default 0): `{ fmri, labels,
/// stimulusIds }`, 1,200 single-presentation trials of the 150 seen categories, to try
/// `trainMapper` on.
#[wasm_bindgen(js_name = simulateTrainingSession, unchecked_return_type = "TrainingSession")]
pub fn simulate_training_session(
    subject: String,
    #[wasm_bindgen(js_name = worldSeed)] world_seed: Option<u64>,
) -> Result<JsValue, JsValue> {
    use crate::sim::protocol::{Protocol, ProtocolConfig};
    let simulated = crate::sim::subject::Subject::named(&subject).map_err(to_js_error)?;
    let protocol = Protocol::new(ProtocolConfig {
        seed: world_seed.unwrap_or(0),
        ..ProtocolConfig::default()
    })
    .map_err(to_js_error)?;
    let recording = protocol.record(&simulated).map_err(to_js_error)?.train;
    let (trials, voxels) = (recording.rows(), recording.cols());
    let fmri = simulated_recording(
        recording.into_values(),
        trials,
        voxels,
        format!("simulated {subject}: training session"),
    )?;
    let labels: Vec<String> = protocol.train.iter().map(|s| s.category.name()).collect();
    let ids: Vec<String> = crate::sim::protocol::stimulus_ids(&protocol.train, "train");
    js_object(&[
        ("fmri", fmri.into()),
        ("labels", to_js(&labels)?),
        ("stimulusIds", to_js(&ids)?),
    ])
}
