//! Input: preprocessed fMRI arrays (`.npy`, `.npz`, NIfTI-1 with a mask) and model bundles.
//!
//! Everything here works on bytes, so the browser (which has `File` contents) and the CLI
//! (which has paths) share one code path.

pub mod bundle;
pub mod fmri;
pub mod fuzzing;
pub mod manifest;
mod nifti;
pub mod normalize;
pub mod npy;
pub mod read;
pub mod voxel_sheet;
pub mod weights;

pub use fmri::{FmriBatch, FmriSource, Mask, ReadOptions, SourceFormat};
pub use normalize::{Normalization, NormalizationReport};
pub use read::read_fmri;
#[cfg(not(target_family = "wasm"))]
pub use read::{read_fmri_path, read_mask_path};
