//! CLIP's BPE tokenizer: `instant-clip-tokenizer` (which embeds the OpenAI vocabulary and
//! merges) behind open_clip's text cleaning, so ids match `open_clip.tokenize` exactly.

use std::sync::OnceLock;

use instant_clip_tokenizer::{Token, Tokenizer};

use crate::clip::text::TokenBatch;

/// `<start_of_text>`.
pub const START_OF_TEXT: u32 = 49406;
/// `<end_of_text>`.
pub const END_OF_TEXT: u32 = 49407;
/// Context length of every OpenAI CLIP model.
pub const CONTEXT_LENGTH: usize = 77;

fn tokenizer() -> &'static Tokenizer {
    // Building the merge table takes ~100 ms; do it once per process (or page).
    static TOKENIZER: OnceLock<Tokenizer> = OnceLock::new();
    TOKENIZER.get_or_init(Tokenizer::new)
}

/// Byte-pair encodes cleaned text, without start/end tokens.
pub fn encode(text: &str) -> Vec<u32> {
    let mut tokens: Vec<Token> = Vec::new();
    tokenizer().encode(&super::text_clean::clean(text), &mut tokens);
    tokens.into_iter().map(|t| u32::from(t.to_u16())).collect()
}

/// `[start] + tokens + [end]`, cut to `context_length` with the end token kept last — the
/// ids of one row of `open_clip.tokenize(texts, context_length)`, without the zero padding.
pub fn tokenize(text: &str, context_length: usize) -> Vec<u32> {
    let mut ids = Vec::with_capacity(context_length);
    ids.push(START_OF_TEXT);
    ids.extend(encode(text));
    ids.truncate(context_length.max(2) - 1);
    ids.push(END_OF_TEXT);
    ids
}

/// Zero-padded rows of exactly `context_length` ids, as open_clip returns them.
pub fn tokenize_padded(texts: &[&str], context_length: usize) -> Vec<Vec<u32>> {
    texts
        .iter()
        .map(|text| {
            let mut ids = tokenize(text, context_length);
            ids.resize(context_length, 0);
            ids
        })
        .collect()
}

/// A batch ready for the text tower, cut to its longest row. Because attention is causal,
/// the padding after a row's end token never influences the pooled output, so the cut is
/// exact (and saves most of the work for short labels).
pub fn batch(texts: &[&str], context_length: usize, eos_token_id: u32) -> TokenBatch {
    let rows: Vec<Vec<u32>> = texts.iter().map(|t| tokenize(t, context_length)).collect();
    TokenBatch::from_rows(&rows, eos_token_id)
}

impl TokenBatch {
    /// Pads rows to the longest one and finds each row's pooling position: the first
    /// `eos_token_id`, or — for the legacy `eos_token_id == 2` of older Hugging Face
    /// configs — the largest id, exactly as `modeling_clip.py` does.
    pub fn from_rows(rows: &[Vec<u32>], eos_token_id: u32) -> TokenBatch {
        let seq = rows.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let mut ids = Vec::with_capacity(rows.len() * seq);
        let mut pool_at = Vec::with_capacity(rows.len());
        for row in rows {
            let at = if eos_token_id == 2 {
                // argmax, first occurrence on ties
                row.iter()
                    .enumerate()
                    .fold(
                        (0, 0),
                        |best, (i, &id)| if id > best.1 { (i, id) } else { best },
                    )
                    .0
            } else {
                row.iter()
                    .position(|&id| id == eos_token_id)
                    .unwrap_or(row.len().saturating_sub(1))
            };
            pool_at.push(at);
            ids.extend_from_slice(row);
            ids.extend(std::iter::repeat_n(0, seq - row.len()));
        }
        TokenBatch {
            ids,
            batch: rows.len(),
            seq,
            pool_at,
        }
    }
}
