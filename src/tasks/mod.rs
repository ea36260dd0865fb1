//! The pipeline steps that the site, the npm package, the CLI and the tests all call.
//!
//! Every task scores a batch of query embeddings against candidate embeddings in a shared
//! space (CLIP's): cosine-style similarity via a matrix product, scaled by CLIP's logit
//! scale, turned into a probability over candidates with a softmax.
//!
//! One file per part: scoring and ranking (`scoring`), the loaded models and their tasks
//! (`decoder`), evaluation with its controls, reconstruction and its metrics, attribution.

pub use crate::mapper::Space;

mod attribute;
pub mod attribution_check;
mod decoder;
mod evaluate;
mod reconstruct;
mod reconstruction_metrics;
mod scoring;

pub use attribute::{AttributeRequest, Attribution, AttributionMethod};

pub use evaluate::{COLOUR_ONLY, EvalRequest, Evaluation, PerTrial, SHAPE_ONLY};
pub use reconstruct::{
    DenoiserComponent, ReconstructRequest, Reconstruction, Reconstructor, StepCallback,
};
pub use reconstruction_metrics::{SeenLabels, seen_image};

pub(crate) use decoder::MapperSlot;
pub use decoder::{Decoder, DecoderSummary, ScheduleSummary};
pub use scoring::{
    DEFAULT_TEMPLATE, Ranked, candidate_probabilities, candidate_probabilities_reference,
    decode_categories, distinct_labels, embed_labels, fill_template, max_abs_diff, rank, retrieve,
    similarities,
};
