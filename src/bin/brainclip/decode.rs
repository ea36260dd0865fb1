//! `brainclip decode`: ranked candidate labels for every trial, through the same `Decoder`
//! the browser uses.

use std::path::PathBuf;

use brainclip::error::{Error, Result};
use clap::Args;
use serde_json::json;

use crate::io::{BundleInput, FmriInput, read_embeddings, read_strings};

#[derive(Args)]
pub struct DecodeArgs {
    // A bundle with a mapper (and, to embed free-text labels, a CLIP).
    #[command(flatten)]
    bundle: BundleInput,
    #[command(flatten)]
    input: FmriInput,
    /// Candidate labels; repeatable.
    #[arg(long = "label")]
    labels: Vec<String>,
    /// Candidate labels from a JSON list (added to --label).
    #[arg(long)]
    labels_file: Option<PathBuf>,
    /// CLIP text embeddings of the candidates, .npy [labels, dim], for bundles without CLIP;
    /// checked and L2-normalised.
    #[arg(long)]
    label_embeddings: Option<PathBuf>,
    /// Prompt template(s), "{}" standing for the label; several are ensembled.
    #[arg(long = "template")]
    templates: Vec<String>,
    /// Labels shown per trial.
    #[arg(long, default_value_t = 5)]
    top_k: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Zero-shot category decoding of every trial, through the same `Decoder` the browser uses.
pub fn decode(args: DecodeArgs) -> Result<serde_json::Value> {
    let decoder = args.bundle.decoder()?;
    let fmri = args.input.read(Some(decoder.mapper.config.voxels))?;
    let mut labels = args.labels.clone();
    if let Some(path) = &args.labels_file {
        labels.extend(read_strings(path)?);
    }
    if labels.is_empty() {
        return Err(Error::Empty {
            what: "candidate labels (--label / --labels-file)".into(),
            unit: "label".into(),
        });
    }
    let ranked = match &args.label_embeddings {
        Some(path) => pollster::block_on(decoder.decode_with_embeddings(
            &fmri,
            &labels,
            &read_embeddings(path)?,
            args.top_k,
        ))?,
        None => pollster::block_on(decoder.decode_categories(
            &fmri,
            &labels,
            &args.templates,
            args.top_k,
        ))?,
    };
    if !args.json {
        for (trial, row) in ranked.iter().enumerate() {
            let shown: Vec<String> = row
                .iter()
                .map(|r| {
                    format!(
                        "{} {:.1}%",
                        r.label.as_deref().unwrap_or("?"),
                        100.0 * r.probability
                    )
                })
                .collect();
            println!("trial {trial}: {}", shown.join(" · "));
        }
    }
    Ok(json!({ "trials": ranked }))
}
