//! JavaScript bindings. This room only converts between JS values and the crate's public
//! pipeline; it knows nothing of model internals.

mod abort;
mod api;
mod cache;
#[cfg(feature = "training")]
mod train;
mod types;

pub use api::*;
#[cfg(feature = "training")]
pub use train::*;

/// `initThreadPool(threads)`: starts the rayon pool (Web Workers sharing this module's memory)
/// that burn's CPU kernels split their work over. Only in the threaded build, and only from a
/// worker: a page's main thread may not block on the pool.
#[cfg(feature = "threads")]
pub use wasm_bindgen_rayon::init_thread_pool;
