//! A bundle's `manifest.json`: its schema and version, components, subjects, normalisation
//! and each file's integrity, validated before anything is fetched or built.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::data::weights::StoredDtype;
use crate::error::{Error, Result};

/// Value of `format` in every manifest.
pub const BUNDLE_FORMAT: &str = "brainclip-bundle";
/// The manifest schema version this build reads.
pub const BUNDLE_VERSION: u32 = 1;
/// Name of the manifest inside a bundle.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Component kinds a bundle may hold.
pub const COMPONENT_KINDS: &[&str] = &[
    "clip",
    "mapper",
    "autoencoder",
    "denoiser",
    "low_level",
    "voxel_sheet",
];

/// Which of a bundle's components to load. A page decodes with [`BundleParts::Decoding`]
/// while [`BundleParts::ImageDecoder`] (the larger reconstruction models) still downloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BundleParts {
    #[default]
    All,
    /// Everything but the image decoder: CLIP, mappers and their controls, the voxel sheet.
    Decoding,
    /// Only the image decoder: autoencoder, denoisers and the low-level head.
    ImageDecoder,
}

/// Component kinds that make up the image decoder.
const IMAGE_DECODER_KINDS: &[&str] = &["autoencoder", "denoiser", "low_level"];

impl BundleParts {
    fn includes(self, kind: &str) -> bool {
        let image_decoder = IMAGE_DECODER_KINDS.contains(&kind);
        match self {
            BundleParts::All => true,
            BundleParts::Decoding => !image_decoder,
            BundleParts::ImageDecoder => image_decoder,
        }
    }
}

/// How the bundle's models expect fMRI to be normalised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum NormalizationSpec {
    /// Input is used as is.
    None,
    /// z-score each voxel over the uploaded batch.
    Batch,
    /// z-score with per-voxel `mean` and `std` tensors (shape `[voxels]`) stored in `file`.
    Stats { file: String },
}

/// One model of the bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Component {
    /// One of [`COMPONENT_KINDS`].
    pub kind: String,
    /// The model's configuration (its own schema; e.g. a Hugging Face CLIP `config.json`).
    pub config: serde_json::Value,
    /// Safetensors file holding the weights, relative to the bundle root.
    pub weights: String,
    /// Set on a mapper that is a control or baseline rather than the model (e.g. "ridge",
    /// "shuffled labels"): evaluation scores it beside the model under this name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<String>,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Where the weights and data came from (dataset, subject, training run).
    pub provenance: String,
    /// Licence of the weights (SPDX identifier or text).
    pub license: String,
    /// Whether the bundle's subjects are simulated (the demo) or real.
    #[serde(default)]
    pub simulated: bool,
    /// Voxel count the mapper expects.
    pub voxels: usize,
    pub normalization: NormalizationSpec,
    #[serde(default)]
    pub dtype: StoredDtype,
    /// Named label sets for category decoding (e.g. "test-categories").
    #[serde(default)]
    pub labels: BTreeMap<String, Vec<String>>,
    pub components: BTreeMap<String, Component>,
    /// In a bundle holding several subjects: the name of the one `voxels`, `normalization`
    /// and `components` describe (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The other subjects: each shares the default's components except those it names
    /// (its mapper, controls, low-level head, voxel sheet), which replace them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub subjects: BTreeMap<String, SubjectEntry>,
    /// Size and SHA-256 of every file, by path: checked on load, and what a browser cache
    /// keys the files by (content, not name, so new weights are never served stale).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub integrity: BTreeMap<String, FileIntegrity>,
}

/// What a file of the bundle must be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileIntegrity {
    pub bytes: u64,
    /// Lower-case hex.
    pub sha256: String,
}

impl FileIntegrity {
    pub fn of(bytes: &[u8]) -> FileIntegrity {
        use sha2::Digest;
        /// One call per piece: a browser's WebAssembly engine switches a function to its
        /// optimised code only between calls, so a single call over hundreds of megabytes
        /// would run entirely in the baseline compiler's code.
        #[inline(never)]
        fn hash_piece(hasher: &mut sha2::Sha256, piece: &[u8]) {
            hasher.update(piece);
        }
        let mut hasher = sha2::Sha256::new();
        for piece in bytes.chunks(1 << 20) {
            hash_piece(&mut hasher, piece);
        }
        let digest = hasher.finalize();
        FileIntegrity {
            bytes: bytes.len() as u64,
            sha256: digest.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    /// An error naming the file when `bytes` are not what the manifest records.
    pub fn check(&self, file: &str, bytes: &[u8]) -> Result<()> {
        let actual = FileIntegrity::of(bytes);
        let reason = if actual.bytes != self.bytes {
            format!(
                "it is {} bytes; the manifest records {}",
                actual.bytes, self.bytes
            )
        } else if actual.sha256 != self.sha256 {
            "its SHA-256 differs from the manifest's (a damaged download, or weights replaced by hand: `brainclip seal` records new ones)".into()
        } else {
            return Ok(());
        };
        Err(Error::CorruptFile {
            file: file.into(),
            reason,
        })
    }
}

/// One more subject in a bundle: what differs from the default subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubjectEntry {
    /// The subject's bundle name (the default's when empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub voxels: usize,
    pub normalization: NormalizationSpec,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub provenance: String,
    /// Components replacing (or added to) the default subject's, by name.
    pub components: BTreeMap<String, Component>,
}

pub fn manifest_error(field: &str, reason: impl Into<String>) -> Error {
    Error::BundleManifest {
        file: MANIFEST_FILE.into(),
        field: field.into(),
        reason: reason.into(),
    }
}

/// A file name inside a bundle must stay inside it (it may be joined to a URL prefix).
fn check_relative_path(field: &str, name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name.starts_with('/')
        || name.contains('\\')
        || name.contains("://")
        || name
            .split('/')
            .any(|part| part == ".." || part == "." || part.is_empty());
    if bad {
        return Err(manifest_error(
            field,
            format!("'{name}' must be a relative path inside the bundle (no '..', no leading '/')"),
        ));
    }
    Ok(())
}

impl Manifest {
    /// Parses and validates `manifest.json`.
    pub fn parse(bytes: &[u8]) -> Result<Manifest> {
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|err| manifest_error("(document)", format!("not valid JSON ({err})")))?;
        // Check the version before the schema so an old reader facing a newer bundle says so.
        match value.get("format").and_then(|f| f.as_str()) {
            Some(BUNDLE_FORMAT) => {}
            Some(other) => {
                return Err(manifest_error(
                    "format",
                    format!("is '{other}', expected '{BUNDLE_FORMAT}'"),
                ));
            }
            None => {
                return Err(manifest_error(
                    "format",
                    format!("missing; expected '{BUNDLE_FORMAT}'"),
                ));
            }
        }
        match value.get("format_version").and_then(|v| v.as_u64()) {
            Some(v) if v == BUNDLE_VERSION as u64 => {}
            Some(v) => {
                return Err(manifest_error(
                    "format_version",
                    format!("is {v}; this version of brainclip reads version {BUNDLE_VERSION}"),
                ));
            }
            None => {
                return Err(manifest_error(
                    "format_version",
                    format!("missing or not a number; expected {BUNDLE_VERSION}"),
                ));
            }
        }
        let manifest: Manifest = serde_json::from_value(value)
            .map_err(|err| manifest_error("(schema)", err.to_string()))?;
        manifest.validate()?;
        if !manifest.subjects.is_empty() && manifest.subject.is_none() {
            return Err(manifest_error(
                "subject",
                "missing: a bundle with 'subjects' names its default subject",
            ));
        }
        if let Some(default) = &manifest.subject
            && manifest.subjects.contains_key(default)
        {
            return Err(manifest_error(
                &format!("subjects.{default}"),
                "repeats the default subject's name",
            ));
        }
        for name in manifest.subjects.keys() {
            manifest.for_subject(Some(name))?.validate()?;
        }
        Ok(manifest)
    }

    /// Every subject the bundle holds, the default first (empty for a one-subject bundle
    /// that does not name its subject).
    pub fn subject_names(&self) -> Vec<String> {
        self.subject
            .iter()
            .cloned()
            .chain(self.subjects.keys().cloned())
            .collect()
    }

    /// The one-subject manifest of `subject` (`None`: the default): its voxel count,
    /// normalisation and components, with the shared ones. Loading it fetches only the
    /// files that subject needs.
    pub fn for_subject(&self, subject: Option<&str>) -> Result<Manifest> {
        let mut view = self.clone();
        view.subjects.clear();
        let Some(name) = subject else {
            return Ok(view);
        };
        if self.subject.as_deref() == Some(name) {
            return Ok(view);
        }
        let entry = self.subjects.get(name).ok_or_else(|| {
            let known = self.subject_names();
            manifest_error(
                "subjects",
                if known.is_empty() {
                    format!("this bundle holds one subject, not several; '{name}' is not in it")
                } else {
                    format!(
                        "has no subject '{name}'; this bundle has {}",
                        known.join(", ")
                    )
                },
            )
        })?;
        view.subject = Some(name.to_string());
        view.voxels = entry.voxels;
        view.normalization = entry.normalization.clone();
        if !entry.name.is_empty() {
            view.name = entry.name.clone();
        }
        if !entry.description.is_empty() {
            view.description = entry.description.clone();
        }
        if !entry.provenance.is_empty() {
            view.provenance = entry.provenance.clone();
        }
        for (component_name, component) in &entry.components {
            view.components
                .insert(component_name.clone(), component.clone());
        }
        Ok(view)
    }

    /// The manifest with only the components `parts` names; an error when it has none of
    /// them (e.g. the image decoder of a bundle that holds none).
    pub fn with_parts(mut self, parts: BundleParts) -> Result<Manifest> {
        self.components.retain(|_, c| parts.includes(&c.kind));
        if self.components.is_empty() {
            let what = match parts {
                BundleParts::ImageDecoder => {
                    "has no image decoder (components of kind 'autoencoder' and 'denoiser')"
                }
                _ => "lists no components to decode with",
            };
            return Err(manifest_error("components", what));
        }
        Ok(self)
    }

    fn validate(&self) -> Result<()> {
        if self.voxels == 0 {
            return Err(manifest_error("voxels", "must be a positive voxel count"));
        }
        if let NormalizationSpec::Stats { file } = &self.normalization {
            check_relative_path("normalization.file", file)?;
        }
        if self.components.is_empty() {
            return Err(manifest_error("components", "lists no components"));
        }
        for (name, component) in &self.components {
            let field = format!("components.{name}");
            if !COMPONENT_KINDS.contains(&component.kind.as_str()) {
                return Err(manifest_error(
                    &format!("{field}.kind"),
                    format!(
                        "'{}' is not one of {}",
                        component.kind,
                        COMPONENT_KINDS.join(", ")
                    ),
                ));
            }
            check_relative_path(&format!("{field}.weights"), &component.weights)?;
        }
        for (name, labels) in &self.labels {
            if labels.is_empty() || labels.iter().any(|l| l.trim().is_empty()) {
                return Err(manifest_error(
                    &format!("labels.{name}"),
                    "must be a non-empty list of non-empty labels",
                ));
            }
        }
        Ok(())
    }

    /// Records the size and SHA-256 of every file of every subject, read by `read`.
    pub fn record_integrity(&mut self, read: impl Fn(&str) -> Result<Vec<u8>>) -> Result<()> {
        let mut integrity = BTreeMap::new();
        let subjects: Vec<Option<String>> = std::iter::once(None)
            .chain(self.subjects.keys().cloned().map(Some))
            .collect();
        for subject in subjects {
            for (file, _) in self.for_subject(subject.as_deref())?.required_files() {
                if let std::collections::btree_map::Entry::Vacant(slot) = integrity.entry(file) {
                    let bytes = read(slot.key())?;
                    slot.insert(FileIntegrity::of(&bytes));
                }
            }
        }
        self.integrity = integrity;
        Ok(())
    }

    /// Every file the bundle needs besides the manifest, with the field that names it.
    pub fn required_files(&self) -> Vec<(String, String)> {
        let mut files = Vec::new();
        if let NormalizationSpec::Stats { file } = &self.normalization {
            files.push((file.clone(), "normalization.file".to_string()));
        }
        for (name, component) in &self.components {
            files.push((
                component.weights.clone(),
                format!("components.{name}.weights"),
            ));
        }
        files
    }
}
