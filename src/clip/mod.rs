//! CLIP, built to the OpenAI / Hugging Face `CLIPModel` layout so real checkpoints load as
//! they are: text and vision transformers, the BPE tokenizer and image preprocessing.

pub mod config;
pub mod encoder;
pub mod model;
pub mod preprocess;
pub mod text;
pub mod text_clean;
pub mod tokenizer;
pub mod vision;

pub use config::{Activation, ClipConfig, ClipTextConfig, ClipVisionConfig};
pub use model::{Clip, ClipModel, l2_normalize};
pub use text::TokenBatch;
