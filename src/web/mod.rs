//! JavaScript bindings. This room only converts between JS values and the crate's public
//! pipeline; it knows nothing of model internals.

mod abort;
mod api;
mod cache;
mod types;

pub use api::*;
