//! Model bundles: a directory (or URL prefix) holding `manifest.json` and safetensors files.
//!
//! Everything is validated before any heavy work: the manifest's schema and version, that
//! every file it names is present, and each tensor's presence, shape and dtype (f32 or f16
//! on disk; f16 is widened to f32 on load). Errors name the file and the field or key.

use std::collections::{BTreeMap, BTreeSet};

use crate::data::Normalization;
use crate::error::{Error, Result};

pub use crate::data::manifest::{
    BUNDLE_FORMAT, BUNDLE_VERSION, BundleParts, COMPONENT_KINDS, Component, FileIntegrity,
    MANIFEST_FILE, Manifest, NormalizationSpec, SubjectEntry, manifest_error,
};
pub use crate::data::weights::{
    LoadOptions, StoredDtype, TensorSpec, check_tensors, dequantize_safetensors, f32_safetensors,
    load_module, quantize_safetensors, read_f32, recast_safetensors,
};

/// A loaded, validated bundle: the manifest (one subject's view of it) and the bytes of
/// every file it names.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub manifest: Manifest,
    /// Every subject the bundle file holds, the default first (empty for a one-subject
    /// bundle that names none); `manifest.subject` is the one loaded.
    pub subjects: Vec<String>,
    files: BTreeMap<String, Vec<u8>>,
    /// Int8 files widened to f32 for reading; `files` keeps them as stored.
    decoded: BTreeMap<String, Vec<u8>>,
    /// Components of the subject's manifest left out by the [`BundleParts`] loaded, by name.
    pub not_loaded: Vec<String>,
}

impl Bundle {
    /// Assembles a bundle from a manifest and the files it names (fetched by the caller),
    /// validating presence of every file and the header of every safetensors file.
    /// A manifest with several subjects is narrowed to its default subject (see
    /// [`Bundle::from_parts_for`]).
    pub fn from_parts(manifest: Manifest, files: BTreeMap<String, Vec<u8>>) -> Result<Bundle> {
        Bundle::from_parts_for(manifest, None, files)
    }

    /// [`Bundle::from_parts`] for one subject of the manifest (`None`: the default); `files`
    /// need hold only that subject's.
    pub fn from_parts_for(
        manifest: Manifest,
        subject: Option<&str>,
        files: BTreeMap<String, Vec<u8>>,
    ) -> Result<Bundle> {
        Bundle::from_parts_with(manifest, subject, BundleParts::All, files)
    }

    /// [`Bundle::from_parts_for`] with only the components `parts` names; `files` need hold
    /// only theirs.
    pub fn from_parts_with(
        manifest: Manifest,
        subject: Option<&str>,
        parts: BundleParts,
        files: BTreeMap<String, Vec<u8>>,
    ) -> Result<Bundle> {
        Bundle::from_checked_parts(manifest, subject, parts, files, &BTreeSet::new())
    }

    /// [`Bundle::from_parts_with`] for a caller that has already checked some files against
    /// the manifest's integrity record ([`FileIntegrity::check`] on exactly these bytes, e.g.
    /// before caching them): those named in `checked` are not hashed again, which on a large
    /// CLIP saves a pass over hundreds of megabytes.
    pub fn from_checked_parts(
        manifest: Manifest,
        subject: Option<&str>,
        parts: BundleParts,
        files: BTreeMap<String, Vec<u8>>,
        checked: &BTreeSet<String>,
    ) -> Result<Bundle> {
        let subjects = manifest.subject_names();
        let whole = manifest.for_subject(subject)?;
        let manifest = whole.clone().with_parts(parts)?;
        let not_loaded = whole
            .components
            .keys()
            .filter(|name| !manifest.components.contains_key(*name))
            .cloned()
            .collect();
        let mut decoded = BTreeMap::new();
        for (file, field) in manifest.required_files() {
            let bytes = files.get(&file).ok_or_else(|| Error::BundleFileMissing {
                file: file.clone(),
                field: field.clone(),
            })?;
            match manifest.integrity.get(&file) {
                Some(_) if checked.contains(&file) => {}
                Some(expected) => expected.check(&file, bytes)?,
                // A record for some files but not this one: added by hand after sealing.
                None if !manifest.integrity.is_empty() => {
                    return Err(manifest_error(
                        "integrity",
                        format!(
                            "records no size or SHA-256 for {file}; `brainclip seal` records every file"
                        ),
                    ));
                }
                None => {}
            }
            if let Some(widened) = dequantize_safetensors(&file, bytes)? {
                decoded.insert(file, widened);
            }
        }
        let bundle = Bundle {
            manifest,
            subjects,
            files,
            decoded,
            not_loaded,
        };
        // Normalisation statistics are small; checking them now catches a wrong voxel count early.
        bundle.normalization()?;
        Ok(bundle)
    }

    /// The bundle with one more component (or one replaced) and its weight file; validated
    /// again as a whole.
    pub fn with_component(
        &self,
        name: &str,
        component: Component,
        weights: Vec<u8>,
    ) -> Result<Bundle> {
        if self.subjects.len() > 1 {
            return Err(manifest_error(
                "subjects",
                "this bundle holds several subjects; add components to a one-subject bundle and join them with `brainclip add-subject`",
            ));
        }
        let mut manifest = self.manifest.clone();
        let mut files = self.files.clone();
        // A replaced file's record would refuse its new bytes.
        if !manifest.integrity.is_empty() {
            manifest
                .integrity
                .insert(component.weights.clone(), FileIntegrity::of(&weights));
        }
        files.insert(component.weights.clone(), weights);
        manifest.components.insert(name.into(), component);
        // Through JSON: the same checks a manifest read from disk gets.
        let manifest =
            Manifest::parse(&serde_json::to_vec(&manifest).expect("manifest serialises"))?;
        Bundle::from_parts(manifest, files)
    }

    /// Reads a bundle directory (native); with several subjects, the default one.
    #[cfg(not(target_family = "wasm"))]
    pub fn load_dir(dir: &std::path::Path) -> Result<Bundle> {
        Bundle::load_dir_for(dir, None)
    }

    /// Reads one subject of a bundle directory (`None`: the default), only its files; a
    /// `.zip` file is read as a bundle archive ([`Bundle::to_zip`]).
    #[cfg(not(target_family = "wasm"))]
    pub fn load_dir_for(dir: &std::path::Path, subject: Option<&str>) -> Result<Bundle> {
        if dir.is_file() {
            let bytes = std::fs::read(dir).map_err(|err| Error::Io {
                path: dir.display().to_string(),
                reason: err.to_string(),
            })?;
            let name = dir.display().to_string();
            return Bundle::from_zip(&bytes, &name, subject, BundleParts::All);
        }
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|err| Error::Io {
                path: dir.join(name).display().to_string(),
                reason: err.to_string(),
            })
        };
        let manifest = Manifest::parse(&read(MANIFEST_FILE)?)?;
        let mut files = BTreeMap::new();
        for (file, field) in manifest.for_subject(subject)?.required_files() {
            match std::fs::read(dir.join(&file)) {
                Ok(bytes) => {
                    files.insert(file, bytes);
                }
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                    return Err(Error::BundleFileMissing { file, field });
                }
                Err(err) => {
                    return Err(Error::Io {
                        path: dir.join(&file).display().to_string(),
                        reason: err.to_string(),
                    });
                }
            }
        }
        Bundle::from_parts_for(manifest, subject, files)
    }

    /// Writes the bundle to a directory (created if needed): `manifest.json` and every file
    /// as stored. A bundle loaded for one of several subjects is written as that subject's
    /// one-subject bundle.
    #[cfg(not(target_family = "wasm"))]
    pub fn write_dir(&self, dir: &std::path::Path) -> Result<()> {
        let io = |path: &std::path::Path, err: std::io::Error| Error::Io {
            path: path.display().to_string(),
            reason: err.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(|err| io(dir, err))?;
        for (name, bytes) in &self.files {
            let path = dir.join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|err| io(parent, err))?;
            }
            std::fs::write(&path, bytes).map_err(|err| io(&path, err))?;
        }
        let mut manifest = self.manifest.clone();
        manifest.record_integrity(|file| self.stored_file(file).map(<[u8]>::to_vec))?;
        let manifest = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");
        let path = dir.join(MANIFEST_FILE);
        std::fs::write(&path, manifest).map_err(|err| io(&path, err))
    }

    /// The bundle as one `.zip` archive (`manifest.json` and every file as stored, with the
    /// files' sizes and SHA-256s recorded in the manifest): what the page offers for download
    /// after training, and what `loadBundleBytes` and the CLI's `--bundle FILE.zip` read.
    /// Files are stored uncompressed: weights barely compress.
    pub fn to_zip(&self) -> Result<Vec<u8>> {
        use std::io::Write;
        let failed = |err: &dyn std::fmt::Display| Error::Io {
            path: "bundle archive".into(),
            reason: err.to_string(),
        };
        let mut manifest = self.manifest.clone();
        manifest.record_integrity(|file| self.stored_file(file).map(<[u8]>::to_vec))?;
        let manifest = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");
        let mut archive = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(
                self.files
                    .values()
                    .any(|bytes| bytes.len() >= u32::MAX as usize),
            );
        let entries = std::iter::once((MANIFEST_FILE, manifest.as_slice())).chain(
            self.files
                .iter()
                .map(|(name, bytes)| (name.as_str(), bytes.as_slice())),
        );
        for (name, bytes) in entries {
            archive
                .start_file(name, options)
                .map_err(|err| failed(&err))?;
            archive.write_all(bytes).map_err(|err| failed(&err))?;
        }
        Ok(archive.finish().map_err(|err| failed(&err))?.into_inner())
    }

    /// Reads a bundle from a `.zip` archive (`file_name` names it in errors): its
    /// `manifest.json` at the top or inside one folder, and the files of `subject`'s
    /// `parts`, checked as a bundle directory is.
    pub fn from_zip(
        bytes: &[u8],
        file_name: &str,
        subject: Option<&str>,
        parts: BundleParts,
    ) -> Result<Bundle> {
        use std::io::Read;
        let corrupt = |reason: String| Error::CorruptFile {
            file: file_name.into(),
            reason,
        };
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
            .map_err(|err| corrupt(format!("it is not a readable .zip archive ({err})")))?;
        let manifest_entry = archive
            .file_names()
            .filter(|name| *name == MANIFEST_FILE || name.ends_with(&format!("/{MANIFEST_FILE}")))
            .min_by_key(|name| name.len())
            .map(str::to_string)
            .ok_or_else(|| {
                corrupt(format!(
                    "it holds no {MANIFEST_FILE}: a bundle archive holds a bundle directory's files"
                ))
            })?;
        let prefix = manifest_entry[..manifest_entry.len() - MANIFEST_FILE.len()].to_string();
        // An entry's declared size can lie, so none is read past what the archive could hold
        // uncompressed at the deflate format's best ratio.
        let limit = (bytes.len() as u64).saturating_mul(1032);
        let mut read = |name: &str, field: &str| -> Result<Vec<u8>> {
            let mut entry = match archive.by_name(&format!("{prefix}{name}")) {
                Ok(entry) => entry,
                Err(zip::result::ZipError::FileNotFound) => {
                    return Err(Error::BundleFileMissing {
                        file: name.into(),
                        field: field.into(),
                    });
                }
                Err(err) => return Err(corrupt(format!("its entry {name} is unreadable ({err})"))),
            };
            let mut out = Vec::with_capacity(entry.size().min(limit) as usize);
            (&mut entry)
                .take(limit)
                .read_to_end(&mut out)
                .map_err(|err| corrupt(format!("its entry {name} is damaged ({err})")))?;
            Ok(out)
        };
        let manifest = Manifest::parse(&read(MANIFEST_FILE, "(manifest)")?)?;
        let mut files = BTreeMap::new();
        let wanted = manifest.for_subject(subject)?.with_parts(parts)?;
        for (file, field) in wanted.required_files() {
            let contents = read(&file, &field)?;
            files.insert(file, contents);
        }
        Bundle::from_parts_with(manifest, subject, parts, files)
    }

    /// Bytes of a file the manifest names, int8 matrices widened to f32.
    pub fn file(&self, name: &str) -> Result<&[u8]> {
        self.decoded
            .get(name)
            .or_else(|| self.files.get(name))
            .map(Vec::as_slice)
            .ok_or_else(|| Error::BundleFileMissing {
                file: name.into(),
                field: "(lookup)".into(),
            })
    }

    /// Bytes of a file the manifest names, as stored (int8 matrices as int8).
    pub fn stored_file(&self, name: &str) -> Result<&[u8]> {
        self.files
            .get(name)
            .map(Vec::as_slice)
            .ok_or_else(|| Error::BundleFileMissing {
                file: name.into(),
                field: "(lookup)".into(),
            })
    }

    /// The component called `name`, with its weight bytes.
    pub fn component(&self, name: &str) -> Result<(&Component, &[u8])> {
        let component = self
            .manifest
            .components
            .get(name)
            .ok_or_else(|| manifest_error(&format!("components.{name}"), "missing"))?;
        Ok((component, self.file(&component.weights)?))
    }

    /// The normalisation the bundle prescribes, with statistics loaded and checked.
    pub fn normalization(&self) -> Result<Normalization> {
        match &self.manifest.normalization {
            NormalizationSpec::None => Ok(Normalization::None),
            NormalizationSpec::Batch => Ok(Normalization::Batch),
            NormalizationSpec::Stats { file } => {
                let bytes = self.file(file)?;
                let specs = [
                    TensorSpec::new("mean", &[self.manifest.voxels]),
                    TensorSpec::new("std", &[self.manifest.voxels]),
                ];
                check_tensors(file, bytes, &specs)?;
                let mean = read_f32(file, bytes, "mean")?;
                let std = read_f32(file, bytes, "std")?;
                if let Some(i) = std.iter().position(|s| !s.is_finite() || *s < 0.0) {
                    return Err(Error::BundleTensor {
                        file: file.clone(),
                        key: "std".into(),
                        reason: format!("entry {i} is {}, expected a finite value ≥ 0", std[i]),
                    });
                }
                Ok(Normalization::Stats { mean, std })
            }
        }
    }
}
