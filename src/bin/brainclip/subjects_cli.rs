//! `brainclip add-subject`: join another subject's bundle into a bundle, sharing every
//! component the two have in common (CLIP, image decoder) so the subjects together weigh
//! little more than their mappers.
//! `brainclip quantize`: store a bundle's large matrices as int8.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use brainclip::data::bundle::{
    Bundle, MANIFEST_FILE, Manifest, NormalizationSpec, StoredDtype, SubjectEntry,
    quantize_safetensors,
};
use brainclip::error::{Error, Result};
use clap::Args;
use serde_json::json;

use crate::io::{io_error, read_bytes};

#[derive(Args)]
pub struct AddSubjectArgs {
    /// The bundle that gains a subject (rewritten in place; the subject's own files go
    /// under `<NAME>/`).
    #[arg(long)]
    bundle: PathBuf,
    /// A one-subject bundle with the same shared components (same CLIP, same image
    /// decoder) and the new subject's mapper, controls, low-level head and voxel sheet.
    #[arg(long)]
    from: PathBuf,
    /// The new subject's name, e.g. "sub-02".
    #[arg(long)]
    name: String,
    /// Name of the bundle's own subject, when it does not name one yet.
    #[arg(long)]
    default_name: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

fn invalid(what: &str, reason: impl Into<String>) -> Error {
    Error::InvalidConfig {
        what: what.into(),
        reason: reason.into(),
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|err| io_error(parent, err))?;
    }
    std::fs::write(path, bytes).map_err(|err| io_error(path, err))
}

/// Loads every subject of the bundle in `dir`, so that a damaged file is refused before a
/// command rewrites the manifest (which would record it as it is).
fn check_every_subject(dir: &Path) -> Result<()> {
    let manifest = Manifest::parse(&read_bytes(&dir.join(MANIFEST_FILE))?)?;
    for subject in std::iter::once(None).chain(manifest.subjects.keys().map(|s| Some(s.as_str()))) {
        Bundle::load_dir_for(dir, subject)?;
    }
    Ok(())
}

/// Writes `manifest.json` last, recording the size and SHA-256 of the files already written.
fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<()> {
    let mut manifest = manifest.clone();
    manifest.record_integrity(|file| read_bytes(&dir.join(file)))?;
    let bytes = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");
    // Parsed back first: nothing is written that a reader would refuse.
    Manifest::parse(&bytes)?;
    write(&dir.join(MANIFEST_FILE), &bytes)
}

pub fn add_subject(args: AddSubjectArgs) -> Result<serde_json::Value> {
    let name = args.name.trim();
    if name.is_empty() || name.contains('/') || name.contains('\\') || name.starts_with('.') {
        return Err(invalid(
            "--name",
            format!("'{}' must be a plain name such as sub-02", args.name),
        ));
    }
    check_every_subject(&args.bundle)?;
    let mut manifest = Manifest::parse(&read_bytes(&args.bundle.join(MANIFEST_FILE))?)?;
    let other = Bundle::load_dir(&args.from)?;
    if other.subjects.len() > 1 {
        return Err(invalid(
            "--from",
            format!(
                "{} holds several subjects; add them one at a time from one-subject bundles",
                args.from.display()
            ),
        ));
    }
    match (&manifest.subject, &args.default_name) {
        (Some(_), _) => {}
        (None, Some(default)) => manifest.subject = Some(default.clone()),
        (None, None) => {
            return Err(invalid(
                "--default-name",
                "the bundle does not name its own subject yet; give it one (e.g. --default-name sub-01)",
            ));
        }
    }
    if manifest.subject_names().iter().any(|s| s == name) {
        return Err(invalid(
            "--name",
            format!("the bundle already has a subject '{name}'"),
        ));
    }
    if other.manifest.labels != manifest.labels {
        return Err(invalid(
            "--from",
            "its label sets differ from the bundle's; subjects of one bundle share them",
        ));
    }
    let mut components = BTreeMap::new();
    let mut shared = Vec::new();
    for (component_name, component) in &other.manifest.components {
        let ours = manifest.components.get(component_name);
        let same = match ours {
            Some(ours) if ours.kind == component.kind && ours.config == component.config => {
                read_bytes(&args.bundle.join(&ours.weights))?
                    == other.stored_file(&component.weights)?
            }
            _ => false,
        };
        if same {
            shared.push(component_name.clone());
            continue;
        }
        let weights = format!("{name}/{}", component.weights);
        write(
            &args.bundle.join(&weights),
            other.stored_file(&component.weights)?,
        )?;
        let mut own = component.clone();
        own.weights = weights;
        components.insert(component_name.clone(), own);
    }
    if let Some(missing) = manifest
        .components
        .keys()
        .find(|c| !other.manifest.components.contains_key(*c))
    {
        return Err(invalid(
            "--from",
            format!(
                "it has no component '{missing}'; every subject of a bundle has each component, shared or its own"
            ),
        ));
    }
    let normalization = match &other.manifest.normalization {
        NormalizationSpec::Stats { file } => {
            let own = format!("{name}/{file}");
            write(&args.bundle.join(&own), other.stored_file(file)?)?;
            NormalizationSpec::Stats { file: own }
        }
        spec => spec.clone(),
    };
    manifest.subjects.insert(
        name.to_string(),
        SubjectEntry {
            name: other.manifest.name.clone(),
            voxels: other.manifest.voxels,
            normalization,
            description: other.manifest.description.clone(),
            provenance: other.manifest.provenance.clone(),
            components,
        },
    );
    write_manifest(&args.bundle, &manifest)?;
    // Loaded back as every consumer will.
    let joined = Bundle::load_dir_for(&args.bundle, Some(name))?;
    brainclip::tasks::Decoder::from_bundle(&joined, crate::io::cpu())?;
    Ok(json!({
        "bundle": args.bundle.display().to_string(),
        "subjects": manifest.subject_names(),
        "shared": shared,
        "own": manifest.subjects[name].components.keys().collect::<Vec<_>>(),
    }))
}

#[derive(Args)]
pub struct QuantizeArgs {
    /// The bundle whose component weights to store as int8 (every subject's).
    #[arg(long)]
    bundle: PathBuf,
    /// Where to write the quantized bundle (default: in place).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Components to leave as they are (repeatable), e.g. `--keep denoiser` to keep the
    /// image decoder's numbers exactly.
    #[arg(long)]
    keep: Vec<String>,
    /// Matrices with at least this many entries become int8.
    #[arg(long, default_value_t = brainclip::data::weights::Q8_MIN_ENTRIES)]
    min_entries: usize,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn quantize(args: QuantizeArgs) -> Result<serde_json::Value> {
    let out = args.out.clone().unwrap_or_else(|| args.bundle.clone());
    check_every_subject(&args.bundle)?;
    let mut manifest = Manifest::parse(&read_bytes(&args.bundle.join(MANIFEST_FILE))?)?;
    let views: Vec<Manifest> = std::iter::once(manifest.for_subject(None))
        .chain(
            manifest
                .subjects
                .keys()
                .map(|s| manifest.for_subject(Some(s))),
        )
        .collect::<Result<_>>()?;
    if let Some(unknown) = args
        .keep
        .iter()
        .find(|k| !views.iter().any(|v| v.components.contains_key(*k)))
    {
        return Err(invalid(
            "--keep",
            format!("the bundle has no component '{unknown}'"),
        ));
    }
    let weight_files: std::collections::BTreeSet<String> = views
        .iter()
        .flat_map(|v| {
            v.components
                .iter()
                .filter(|(name, _)| !args.keep.contains(name))
                .map(|(_, c)| c.weights.clone())
        })
        .collect();
    let all_files: std::collections::BTreeSet<String> = views
        .iter()
        .flat_map(|v| v.required_files().into_iter().map(|(file, _)| file))
        .collect();
    let (mut before, mut after) = (0usize, 0usize);
    for file in &all_files {
        let bytes = read_bytes(&args.bundle.join(file))?;
        let stored = if weight_files.contains(file) {
            quantize_safetensors(&bytes, args.min_entries)
                .map_err(|err| invalid(file, err.to_string()))?
        } else {
            bytes.clone()
        };
        before += bytes.len();
        after += stored.len();
        write(&out.join(file), &stored)?;
    }
    manifest.dtype = StoredDtype::Q8;
    write_manifest(&out, &manifest)?;
    for subject in std::iter::once(None).chain(manifest.subjects.keys().map(|s| Some(s.as_str()))) {
        let bundle = Bundle::load_dir_for(&out, subject)?;
        brainclip::tasks::Decoder::from_bundle(&bundle, crate::io::cpu())?;
    }
    Ok(json!({
        "bundle": out.display().to_string(),
        "bytes_before": before,
        "bytes_after": after,
    }))
}

#[derive(Args)]
pub struct SealArgs {
    /// The bundle whose manifest should record every file's size and SHA-256.
    #[arg(long)]
    bundle: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Records every file's size and SHA-256 in the manifest (e.g. after editing a bundle by
/// hand); loading checks them and browsers cache the files by them.
pub fn seal(args: SealArgs) -> Result<serde_json::Value> {
    let manifest = Manifest::parse(&read_bytes(&args.bundle.join(MANIFEST_FILE))?)?;
    write_manifest(&args.bundle, &manifest)?;
    // Every subject loads with the recorded files.
    check_every_subject(&args.bundle)?;
    let sealed = Manifest::parse(&read_bytes(&args.bundle.join(MANIFEST_FILE))?)?;
    Ok(json!({
        "bundle": args.bundle.display().to_string(),
        "files": sealed.integrity.len(),
        "bytes": sealed.integrity.values().map(|f| f.bytes).sum::<u64>(),
    }))
}
