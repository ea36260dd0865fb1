//! One error type for the whole crate. Every variant has a stable string code so that
//! JavaScript callers (and scripts reading the CLI's JSON output) can branch on it without
//! parsing messages; messages are for people and may be reworded.

use thiserror::Error;

/// Result alias used across brainclip.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in brainclip, with a message that names what was wrong
/// and what was expected.
#[derive(Debug, Error)]
pub enum Error {
    /// The caller asked for a backend by a name we do not know.
    #[error("unknown backend '{given}'; expected one of: auto, webgpu, cpu")]
    UnknownBackend { given: String },

    /// The caller asked for a backend explicitly and it could not be started.
    #[error("the {requested} backend is unavailable: {reason}")]
    BackendUnavailable { requested: String, reason: String },

    /// Reading a result back from the device failed.
    #[error("could not read the result back from the {backend} backend: {reason}")]
    Readback { backend: String, reason: String },

    /// Two inputs that must agree in size do not.
    #[error("{what}: got {got}, expected {expected}")]
    ShapeMismatch {
        what: String,
        got: String,
        expected: String,
    },

    /// An input that must not be empty is.
    #[error("{what} is empty; expected at least one {unit}")]
    Empty { what: String, unit: String },

    /// A file could not be read from disk.
    #[error("cannot read {path}: {reason}")]
    Io { path: String, reason: String },

    /// The file is not in any format brainclip reads.
    #[error(
        "{file} is not a supported fMRI file; expected .npy, .npz, .nii or .nii.gz \
         (a [trials, voxels] array, or a NIfTI volume with a mask)"
    )]
    UnsupportedFormat { file: String },

    /// The bytes do not form a valid file of the detected format.
    #[error("{file} is corrupt: {reason}")]
    CorruptFile { file: String, reason: String },

    /// The file ends before the data its header declares.
    #[error(
        "{file} is truncated: its header declares {} of data but only {} follow",
        bytes(*declared),
        bytes(*available)
    )]
    Truncated {
        file: String,
        declared: u64,
        available: u64,
    },

    /// The header declares more data than the configured limit; refused before allocating.
    #[error(
        "{file} declares {}{}; the limit is {} (raise it with max_bytes / --max-bytes if this is intended)",
        declared.map(bytes).unwrap_or_else(|| "more bytes than can be counted".into()),
        if shape.is_empty() { String::new() } else { format!(" (shape {})", dims(shape)) },
        bytes(*limit)
    )]
    TooLarge {
        file: String,
        shape: Vec<usize>,
        declared: Option<u64>,
        limit: u64,
    },

    /// The element type cannot be read as numbers.
    #[error(
        "{file} stores {dtype}, which is not supported; expected float16/32/64, \
         int8/16/32/64 or uint8/16 (NIfTI also uint32/64)"
    )]
    UnsupportedDtype { file: String, dtype: String },

    /// The array has a shape that is not `[voxels]` or `[trials, voxels]`.
    #[error(
        "{file} has shape {}; expected 1-D [voxels], 2-D [trials, voxels], or a NIfTI 3-D/4-D volume",
        dims(shape)
    )]
    UnsupportedShape { file: String, shape: Vec<usize> },

    /// The array has no trials or no voxels.
    #[error(
        "{file} has shape {}, which holds no values; expected at least one trial and one voxel",
        dims(shape)
    )]
    EmptyArray { file: String, shape: Vec<usize> },

    /// NaN or ±Inf in the data.
    #[error(
        "{file} contains {} non-finite value{} (NaN or ±Inf); the first is at trial {}, voxel {}. \
         Clean the data, or enable 'replace non-finite values with 0'",
        thousands(*count),
        if *count == 1 { "" } else { "s" },
        thousands(*trial),
        thousands(*voxel)
    )]
    NonFinite {
        file: String,
        count: usize,
        trial: usize,
        voxel: usize,
    },

    /// The number of voxels does not match what a model expects.
    #[error("{file}: fMRI has {} voxels; this model expects {}", thousands(*got), thousands(*expected))]
    VoxelCountMismatch {
        file: String,
        got: usize,
        expected: usize,
    },

    /// The requested `.npz` array does not exist.
    #[error("{file} has no array '{wanted}'; it holds: {}", available.join(", "))]
    ArrayNotFound {
        file: String,
        wanted: String,
        available: Vec<String>,
    },

    /// Several arrays and no choice made.
    #[error("{file} holds several arrays ({}); choose one by name (--array NAME / options.array)", available.join(", "))]
    AmbiguousArray {
        file: String,
        available: Vec<String>,
    },

    /// An `.npz` without arrays.
    #[error("{file} is an archive without any .npy arrays")]
    EmptyArchive { file: String },

    /// The mask grid differs from the data grid.
    #[error(
        "mask {mask} has shape {}, but {data} has a {} grid; the mask must be 3-D on the same grid",
        dims(mask_shape),
        dims(data_shape)
    )]
    MaskShapeMismatch {
        mask: String,
        mask_shape: Vec<usize>,
        data: String,
        data_shape: Vec<usize>,
    },

    /// The mask selects nothing.
    #[error("mask {mask} selects no voxels (all {} values are zero)", thousands(grid.iter().product::<usize>()))]
    EmptyMask { mask: String, grid: Vec<usize> },

    /// An operation needs more trials than the batch has.
    #[error("{purpose} needs at least {needed} trials; {file} has {got}")]
    TooFewTrials {
        file: String,
        got: usize,
        needed: usize,
        purpose: String,
    },

    /// `manifest.json` of a bundle is missing a field, has a wrong one, or is not JSON.
    #[error("bundle {file}: {field}: {reason}")]
    BundleManifest {
        file: String,
        field: String,
        reason: String,
    },

    /// A file the manifest names is absent.
    #[error("bundle file {file} is missing (named by manifest field {field})")]
    BundleFileMissing { file: String, field: String },

    /// A model configuration is inconsistent or unreadable.
    #[error("invalid {what}: {reason}")]
    InvalidConfig { what: String, reason: String },

    /// A download (bundle file) failed.
    #[error("could not fetch {url}: {reason}")]
    Fetch { url: String, reason: String },

    /// The caller cancelled the work (a JavaScript `AbortSignal`).
    #[error("{what} was cancelled: {reason}")]
    Aborted { what: String, reason: String },

    /// A tensor in a bundle's weights is missing, misshapen or of an unsupported dtype.
    #[error("{file}: tensor '{key}': {reason}")]
    BundleTensor {
        file: String,
        key: String,
        reason: String,
    },
}

impl Error {
    /// The stable, machine-readable code of this error (snake_case).
    pub fn code(&self) -> &'static str {
        match self {
            Error::UnknownBackend { .. } => "unknown_backend",
            Error::BackendUnavailable { .. } => "backend_unavailable",
            Error::Readback { .. } => "readback_failed",
            Error::ShapeMismatch { .. } => "shape_mismatch",
            Error::Empty { .. } => "empty_input",
            Error::Io { .. } => "io_error",
            Error::UnsupportedFormat { .. } => "unsupported_format",
            Error::CorruptFile { .. } => "corrupt_file",
            Error::Truncated { .. } => "truncated_file",
            Error::TooLarge { .. } => "too_large",
            Error::UnsupportedDtype { .. } => "unsupported_dtype",
            Error::UnsupportedShape { .. } => "unsupported_shape",
            Error::EmptyArray { .. } => "empty_array",
            Error::NonFinite { .. } => "non_finite",
            Error::VoxelCountMismatch { .. } => "voxel_count_mismatch",
            Error::ArrayNotFound { .. } => "array_not_found",
            Error::AmbiguousArray { .. } => "ambiguous_array",
            Error::EmptyArchive { .. } => "empty_archive",
            Error::MaskShapeMismatch { .. } => "mask_shape_mismatch",
            Error::EmptyMask { .. } => "empty_mask",
            Error::TooFewTrials { .. } => "too_few_trials",
            Error::BundleManifest { .. } => "bundle_manifest",
            Error::BundleFileMissing { .. } => "bundle_file_missing",
            Error::BundleTensor { .. } => "bundle_tensor",
            Error::Fetch { .. } => "fetch_failed",
            Error::Aborted { .. } => "aborted",
            Error::InvalidConfig { .. } => "invalid_config",
        }
    }
}

/// Formats a count with thousands separators ("15,724"), so messages about voxel and
/// trial counts read the way people write them.
pub fn thousands(n: impl std::fmt::Display) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// A shape as people write it: "2,000 × 15,724".
pub fn dims(shape: &[usize]) -> String {
    if shape.is_empty() {
        return "() (a scalar)".into();
    }
    shape
        .iter()
        .map(|d| thousands(*d))
        .collect::<Vec<_>>()
        .join(" × ")
}

/// A byte count with a binary-prefixed approximation: "251,584,000 bytes (240 MiB)".
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = n as f64;
    let mut unit = None;
    for u in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = Some(u);
    }
    let exact = thousands(n);
    match unit {
        Some(u) => format!("{exact} bytes ({value:.0} {u})"),
        None => format!("{exact} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_snake_case() {
        let err = Error::UnknownBackend {
            given: "tpu".into(),
        };
        assert_eq!(err.code(), "unknown_backend");
        assert!(err.to_string().contains("'tpu'"));
    }

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(4_321), "4,321");
        assert_eq!(thousands(15_724), "15,724");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
