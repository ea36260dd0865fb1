//! Input: preprocessed fMRI arrays (`.npy`, `.npz`, NIfTI-1 with a mask) and model bundles.
//!
//! Everything here works on bytes, so the browser (which has `File` contents) and the CLI
//! (which has paths) share one code path.

pub mod bundle;
pub mod fmri;
pub mod fuzzing;
mod nifti;
pub mod normalize;
pub mod npy;

#[cfg(not(target_family = "wasm"))]
pub use fmri::read_fmri_path;
pub use fmri::{FmriBatch, FmriSource, Mask, ReadOptions, SourceFormat, read_fmri};
pub use normalize::{Normalization, NormalizationReport};
