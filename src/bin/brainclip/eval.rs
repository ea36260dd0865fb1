//! `brainclip eval`: every metric of a bundle on test fMRI, printed beside its chance level,
//! the bundle's controls (shuffled labels, ridge) and, on simulated-world labels, the
//! colour-only and shape-only ceilings. The numbers come from `Decoder::evaluate`, the
//! same call the npm package and the demo page make.

use std::path::PathBuf;

use brainclip::error::Result;
use brainclip::matrix::Matrix;
use brainclip::metrics::Metric;
use brainclip::tasks::{self, EvalRequest, Evaluation};
use brainclip::train::mapper::{RIDGE_BASELINE, SHUFFLED_CONTROL};
use clap::Args;

use crate::io::{BundleInput, FmriInput, LabelInput, read_embeddings, read_strings};

#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    bundle: BundleInput,
    // Test fMRI.
    #[command(flatten)]
    input: FmriInput,
    // The true category label of each trial (--labels), the candidates and their
    // embeddings.
    #[command(flatten)]
    labels: LabelInput,
    /// True CLIP image embedding per trial, .npy [trials, dim]: enables retrieval metrics;
    /// checked and L2-normalised. Identical rows are repeats of one stimulus.
    #[arg(long)]
    image_embeddings: Option<PathBuf>,
    /// True caption embedding per trial, .npy [trials, dim]: enables fMRI→text retrieval;
    /// checked and L2-normalised.
    #[arg(long)]
    text_embeddings: Option<PathBuf>,
    /// N of the N-way identification; with N ≥ the number of stimuli it is plain top-1 and
    /// is not reported twice.
    #[arg(long, default_value_t = 300)]
    way: usize,
    /// Random draws the N-way identification is averaged over.
    #[arg(long, default_value_t = 30)]
    draws: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also reconstruct every trial with the bundle's image decoder and score the images
    /// against the seen ones (PixCorr, SSIM, CLIP 2-way); needs --stimuli and --stimulus-ids.
    #[arg(long)]
    reconstruct: bool,
    /// Folder of the seen images (<id>.png).
    #[arg(long)]
    stimuli: Option<PathBuf>,
    /// JSON list: the stimulus id of each trial.
    #[arg(long)]
    stimulus_ids: Option<PathBuf>,
    /// Sampling steps of the reconstruction (default: the bundle's).
    #[arg(long)]
    steps: Option<usize>,
    /// Classifier-free guidance of the reconstruction (default: the bundle's).
    #[arg(long)]
    guidance: Option<f32>,
    /// Img2img strength: below 1, sampling starts from the low-level head's latents.
    #[arg(long)]
    strength: Option<f32>,
    /// What the reconstructions are drawn from: `fmri` (the mapper's predictions), `seen`
    /// (the --image-embeddings of the seen images: the decoder's upper bound) or
    /// `low-level` (the low-level head's latents decoded, no sampling) or `autoencoder` (the
    /// seen images encoded and decoded: the ceiling of any decoder in its latent space).
    #[arg(long, value_enum, default_value_t = ReconstructFrom::Fmri)]
    reconstruct_from: ReconstructFrom,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, PartialEq, clap::ValueEnum)]
pub enum ReconstructFrom {
    Fmri,
    Seen,
    LowLevel,
    Autoencoder,
}

/// Reconstructs every trial and scores the images against the seen ones (and, with labels,
/// what they depict).
fn reconstruction(
    args: &EvalArgs,
    decoder: &tasks::Decoder,
    batch: &brainclip::data::FmriBatch,
    labels: Option<(&[String], &[String], Option<&Matrix>)>,
) -> Result<Vec<Metric>> {
    let missing = |what: &str| brainclip::error::Error::InvalidConfig {
        what: "eval --reconstruct".into(),
        reason: format!("needs {what}"),
    };
    let dir = args
        .stimuli
        .as_deref()
        .ok_or_else(|| missing("--stimuli DIR"))?;
    let ids = read_strings(
        args.stimulus_ids
            .as_deref()
            .ok_or_else(|| missing("--stimulus-ids FILE"))?,
    )?;
    if ids.len() != batch.trials() {
        return Err(brainclip::error::Error::ShapeMismatch {
            what: "--stimulus-ids".into(),
            got: format!("{} ids", ids.len()),
            expected: format!("one per trial ({})", batch.trials()),
        });
    }
    let request = tasks::ReconstructRequest {
        steps: args.steps,
        guidance: args.guidance,
        strength: args.strength,
        seed: args.seed,
        trials: Vec::new(),
    };
    let read_stimuli = |size: usize| {
        ids.iter()
            .map(|id| {
                let path = dir.join(format!("{id}.png"));
                let bytes = crate::io::read_bytes(&path)?;
                tasks::seen_image(&bytes, &path.display().to_string(), size)
            })
            .collect::<Result<Vec<Vec<f32>>>>()
    };
    let result = match args.reconstruct_from {
        ReconstructFrom::Fmri => pollster::block_on(decoder.reconstruct(batch, &request, None))?,
        ReconstructFrom::Seen => {
            let path = args
                .image_embeddings
                .as_deref()
                .ok_or_else(|| missing("--image-embeddings (the seen images' CLIP embeddings)"))?;
            pollster::block_on(decoder.reconstruct_from_embeddings(
                &read_embeddings(path)?,
                &request,
                None,
            ))?
        }
        ReconstructFrom::LowLevel => pollster::block_on(decoder.reconstruct_low_level(batch, &[]))?,
        ReconstructFrom::Autoencoder => {
            let size = decoder.image_decoder()?.image_size();
            pollster::block_on(decoder.autoencode(&read_stimuli(size)?))?
        }
    };
    let stimuli = read_stimuli(result.size)?;
    // The reconstructions' categories are scored among the candidates the decoding uses.
    let label_embeddings = match (labels, &decoder.clip) {
        (Some((_, _, Some(given))), _) => Some(given.clone()),
        (Some((_, candidates, None)), Some(clip)) => Some(pollster::block_on(
            tasks::embed_labels(&decoder.device, clip, candidates, &args.labels.templates),
        )?),
        _ => None,
    };
    let truth = match labels {
        Some((truth, candidates, _)) => Some(
            truth
                .iter()
                .map(|t| {
                    candidates.iter().position(|c| c == t).ok_or_else(|| {
                        brainclip::error::Error::InvalidConfig {
                            what: "eval --reconstruct".into(),
                            reason: format!("the true label '{t}' is not among the candidates"),
                        }
                    })
                })
                .collect::<Result<Vec<usize>>>()?,
        ),
        None => None,
    };
    let seen_labels = match (labels, &truth, &label_embeddings) {
        (Some((_, candidates, _)), Some(truth), Some(embeddings)) => Some(tasks::SeenLabels {
            truth,
            candidates,
            embeddings,
        }),
        _ => None,
    };
    pollster::block_on(decoder.reconstruction_metrics(
        &result.images,
        result.size,
        &stimuli,
        seen_labels.as_ref(),
    ))
}

pub fn eval(args: EvalArgs) -> Result<serde_json::Value> {
    let decoder = args.bundle.decoder()?;
    let batch = args.input.read(Some(decoder.mapper.config.voxels))?;
    let labels = args.labels.read(&decoder.device)?;
    let request = EvalRequest {
        labels: labels.per_trial,
        candidates: labels.candidates,
        templates: args.labels.templates.clone(),
        label_embeddings: labels.embeddings,
        image_embeddings: args
            .image_embeddings
            .as_deref()
            .map(read_embeddings)
            .transpose()?,
        text_embeddings: args
            .text_embeddings
            .as_deref()
            .map(read_embeddings)
            .transpose()?,
        way: args.way,
        draws: args.draws,
        seed: args.seed,
    };
    let evaluation = pollster::block_on(decoder.evaluate(&batch, &request))?;
    let reconstruction = if args.reconstruct {
        let candidates = request
            .candidates
            .clone()
            .or_else(|| request.labels.as_deref().map(tasks::distinct_labels));
        let labels = match (&request.labels, &candidates) {
            (Some(truth), Some(candidates)) => Some((
                truth.as_slice(),
                candidates.as_slice(),
                request.label_embeddings.as_ref(),
            )),
            _ => None,
        };
        Some(reconstruction(&args, &decoder, &batch, labels)?)
    } else {
        None
    };
    if !args.json {
        print_table(&evaluation);
        if let Some(metrics) = &reconstruction {
            println!("\nreconstruction ({} trials)", batch.trials());
            println!(
                "{:<36} {:>7} {:>16}",
                "metric", "value", "chance/mismatched"
            );
            for m in metrics {
                println!("{:<36} {:>7.3} {:>16.3}", m.name, m.value, m.chance);
            }
        }
    }
    let mut value = serde_json::to_value(&evaluation).expect("evaluation serialises");
    if let Some(metrics) = reconstruction {
        value["reconstruction"] = serde_json::to_value(metrics).expect("metrics serialise");
    }
    Ok(value)
}

/// Controls in reading order: the model's own controls, then the ceilings, then any other.
fn control_columns(metrics: &[Metric]) -> Vec<String> {
    let preferred = [
        SHUFFLED_CONTROL,
        RIDGE_BASELINE,
        tasks::COLOUR_ONLY,
        tasks::SHAPE_ONLY,
    ];
    let mut names: Vec<String> = Vec::new();
    for m in metrics {
        for name in m.controls.keys() {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    names.sort_by_key(|n| {
        (
            preferred
                .iter()
                .position(|p| p == n)
                .unwrap_or(preferred.len()),
            n.clone(),
        )
    });
    names
}

pub fn print_table(evaluation: &Evaluation) {
    let columns = control_columns(&evaluation.metrics);
    let width = evaluation
        .metrics
        .iter()
        .map(|m| m.name.chars().count())
        .max()
        .unwrap_or(6)
        .max(6);
    let mut header = format!("{:<width$} {:>7} {:>7}", "metric", "value", "chance");
    for c in &columns {
        header.push_str(&format!(" {:>w$}", c, w = c.len().max(7)));
    }
    println!("{header} {:>6}", "trials");
    for m in &evaluation.metrics {
        let mut line = format!(
            "{:<width$} {:>6.1}% {:>6.1}%",
            m.name,
            100.0 * m.value,
            100.0 * m.chance
        );
        for c in &columns {
            let w = c.len().max(7);
            match m.controls.get(c) {
                Some(v) => line.push_str(&format!(" {:>w$}", format!("{:.1}%", 100.0 * v))),
                None => line.push_str(&format!(" {:>w$}", "—")),
            }
        }
        println!("{line} {:>6}", m.trials);
    }
    for note in &evaluation.notes {
        println!("note: {note}");
    }
}
