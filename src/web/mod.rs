//! JavaScript bindings, one file per concern. This room only converts between JS values and
//! the crate's public pipeline (`tasks::Decoder`); it knows nothing of model internals.

mod abort;
mod bundle;
mod cache;
mod convert;
mod decoder;
mod device;
mod fetch;
mod fmri;
mod reconstruct;
mod simulation;
#[cfg(feature = "training")]
mod train;
mod types;
mod voxels;

pub use bundle::*;
pub use convert::to_js_error;
pub use decoder::*;
pub use device::*;
pub use fmri::*;
pub use simulation::*;
#[cfg(feature = "training")]
pub use train::*;

/// `initThreadPool(threads)`: starts the rayon pool (Web Workers sharing this module's memory)
/// that burn's CPU kernels split their work over. Only in the threaded build, and only from a
/// worker: a page's main thread may not block on the pool.
#[cfg(feature = "threads")]
pub use wasm_bindgen_rayon::init_thread_pool;
