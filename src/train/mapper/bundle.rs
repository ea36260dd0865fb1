//! Assembling a trained mapper (and what travels with it) into a bundle.

use std::collections::BTreeMap;

use crate::data::bundle::{
    BUNDLE_FORMAT, BUNDLE_VERSION, Bundle, Component, Manifest, NormalizationSpec, StoredDtype,
    f32_safetensors, recast_safetensors,
};
use crate::error::Result;
use crate::train::mapper::TrainOutcome;

/// Name of the mapper component in bundles written by [`mapper_bundle`].
pub const MAPPER_COMPONENT: &str = "mapper";
const MAPPER_WEIGHTS: &str = "mapper.safetensors";
const NORMALIZATION_FILE: &str = "normalization.safetensors";
pub const CLIP_COMPONENT: &str = "clip";
const CLIP_WEIGHTS: &str = "clip.safetensors";

/// What a bundle carries besides the mapper and the training split's normalisation.
#[derive(Default)]
pub struct BundleContents<'a> {
    /// A CLIP to embed label prompts with, stored as component "clip".
    pub clip: Option<&'a crate::clip::Clip>,
    /// Control mappers, each as (component name, display name, mapper): evaluation scores
    /// them beside the model (e.g. ("ridge", "ridge", …)).
    pub controls: Vec<(&'a str, &'a str, &'a crate::mapper::Mapper)>,
    /// How weights are stored on disk (normalisation statistics stay f32).
    pub dtype: StoredDtype,
}

/// The bundle of a trained mapper: its weights, the training split's normalisation
/// statistics, and whatever `contents` adds.
pub fn mapper_bundle(
    outcome: &TrainOutcome,
    name: &str,
    provenance: &str,
    license: &str,
    simulated: bool,
    labels: BTreeMap<String, Vec<String>>,
    contents: BundleContents,
) -> Result<Bundle> {
    let voxels = outcome.mapper.config.voxels;
    let mut components = BTreeMap::new();
    let mut files = BTreeMap::new();
    components.insert(
        MAPPER_COMPONENT.to_string(),
        Component {
            kind: "mapper".into(),
            config: serde_json::to_value(&outcome.mapper.config).expect("config serialises"),
            weights: MAPPER_WEIGHTS.into(),
            control: None,
        },
    );
    let stored = |mapper: &crate::mapper::Mapper| -> Result<Vec<u8>> {
        let weights = mapper.to_safetensors()?;
        match contents.dtype {
            StoredDtype::F32 => Ok(weights),
            StoredDtype::F16 | StoredDtype::Q8 => recast_safetensors(&weights, contents.dtype, &[]),
        }
    };
    files.insert(MAPPER_WEIGHTS.to_string(), stored(&outcome.mapper)?);
    for (component, label, mapper) in &contents.controls {
        let weights = format!("{component}.safetensors");
        components.insert(
            component.to_string(),
            Component {
                kind: "mapper".into(),
                config: serde_json::to_value(&mapper.config).expect("config serialises"),
                weights: weights.clone(),
                control: Some(label.to_string()),
            },
        );
        files.insert(weights, stored(mapper)?);
    }
    if let Some(clip) = contents.clip {
        components.insert(
            CLIP_COMPONENT.to_string(),
            Component {
                kind: "clip".into(),
                config: clip.config.to_hf_json(),
                weights: CLIP_WEIGHTS.into(),
                control: None,
            },
        );
        files.insert(
            CLIP_WEIGHTS.to_string(),
            clip.to_hf_safetensors(contents.dtype)?,
        );
    }
    let manifest = Manifest {
        format: BUNDLE_FORMAT.into(),
        format_version: BUNDLE_VERSION,
        name: name.into(),
        description: format!(
            "BrainCLIP mapper ({}), trained on {} trials, validated on {}; best epoch {}",
            outcome.mapper.config.variant.as_str(),
            outcome.train_trials,
            outcome.val_trials,
            outcome.best_epoch
        ),
        provenance: provenance.into(),
        license: license.into(),
        simulated,
        voxels,
        normalization: NormalizationSpec::Stats {
            file: NORMALIZATION_FILE.into(),
        },
        dtype: contents.dtype,
        labels,
        components,
        subject: None,
        subjects: Default::default(),
        integrity: Default::default(),
    };
    files.insert(
        NORMALIZATION_FILE.to_string(),
        f32_safetensors(&[("mean", &outcome.mean), ("std", &outcome.std)])?,
    );
    Bundle::from_parts(manifest, files)
}
