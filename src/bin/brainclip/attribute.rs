//! `brainclip attribute`: which voxels drove a trial's similarity to a label or an image;
//! `brainclip sim attribution-check`: the same checked against a simulated subject's known
//! voxel roles.

use std::path::PathBuf;

use brainclip::data::bundle::Bundle;
use brainclip::data::npy::write_npy_f32;
use brainclip::error::{Error, Result};
use brainclip::sim::subject::Subject;
use brainclip::tasks::attribution_check::attribution_auc;
use brainclip::tasks::{self, AttributeRequest, AttributionMethod, Space};
use clap::Args;
use serde_json::json;

use crate::io::{
    BundleInput, FmriInput, LabelInput, Labels, cpu, read_bytes, read_strings, write_bytes,
};

#[derive(Args)]
pub struct AttributeArgs {
    // A bundle with a mapper (and a CLIP, unless --label-embeddings give the labels').
    #[command(flatten)]
    bundle: BundleInput,
    #[command(flatten)]
    input: FmriInput,
    /// Row of the fMRI to explain (default 0); repeatable.
    #[arg(long = "trial", conflicts_with = "trials")]
    trial: Vec<usize>,
    /// Rows to explain: `all`, or a comma-separated list (e.g. 0,3,7). With more than one
    /// row the map is [trials, voxels].
    #[arg(long)]
    trials: Option<String>,
    /// One label for every trial explained: the map explains the similarity to it (CLIP
    /// text space).
    #[arg(long, conflicts_with_all = ["image", "labels"])]
    label: Option<String>,
    // --labels: a label per fMRI row, each explained for its own row; with the candidates
    // and their embeddings as eval takes them.
    #[command(flatten)]
    labels: LabelInput,
    /// A candidate image (PNG or JPEG): the map explains the similarity to it (image space).
    #[arg(long, conflicts_with = "labels")]
    image: Option<PathBuf>,
    /// integrated-gradients (from the training-mean pattern) or gradient-times-input.
    #[arg(long, default_value = "integrated-gradients")]
    method: AttributionMethod,
    /// Integration steps for integrated gradients.
    #[arg(long, default_value_t = AttributeRequest::default().steps)]
    steps: usize,
    /// Explain a control mapper of the bundle instead ("shuffled labels", "ridge").
    #[arg(long)]
    control: Option<String>,
    /// Where to write the map: float32 .npy, [voxels] for one trial or [trials, voxels],
    /// in the bundle's voxel order.
    #[arg(long)]
    out: PathBuf,
}

/// The rows `--trial` / `--trials` name, each checked against the recording.
fn chosen_trials(args: &AttributeArgs, available: usize) -> Result<Vec<usize>> {
    let rows: Vec<usize> = match args.trials.as_deref().map(str::trim) {
        Some("all") => (0..available).collect(),
        Some(list) => list
            .split(',')
            .map(|item| {
                item.trim().parse().map_err(|_| Error::InvalidConfig {
                    what: "--trials".into(),
                    reason: format!("'{item}' is not a row number; give `all` or e.g. 0,3,7"),
                })
            })
            .collect::<Result<_>>()?,
        None if args.trial.is_empty() => vec![0],
        None => args.trial.clone(),
    };
    if let Some(&bad) = rows.iter().find(|&&row| row >= available) {
        return Err(Error::InvalidConfig {
            what: "--trial / --trials".into(),
            reason: format!("row {bad} is past the recording's {available} trials"),
        });
    }
    Ok(rows)
}

/// The CLIP text embedding each label is explained against: a row of --label-embeddings (by
/// the label's place among the candidates), else the bundle's (or --clip's) CLIP.
fn label_targets(
    decoder: &tasks::Decoder,
    labels: &Labels,
    wanted: &[String],
    templates: &[String],
) -> Result<Vec<Vec<f32>>> {
    let Some(embeddings) = &labels.embeddings else {
        let distinct = tasks::distinct_labels(wanted);
        let embedded = pollster::block_on(decoder.embed_labels(&distinct, templates))?;
        return Ok(wanted
            .iter()
            .map(|label| {
                let row = distinct.iter().position(|d| d == label).expect("distinct");
                embedded.row(row).to_vec()
            })
            .collect());
    };
    let candidates = labels
        .candidates
        .clone()
        .or_else(|| labels.per_trial.as_deref().map(tasks::distinct_labels))
        .unwrap_or_else(|| tasks::distinct_labels(wanted));
    if candidates.len() != embeddings.rows() {
        return Err(Error::ShapeMismatch {
            what: "--label-embeddings rows".into(),
            got: embeddings.rows().to_string(),
            expected: format!("one per candidate label ({})", candidates.len()),
        });
    }
    wanted
        .iter()
        .map(|label| {
            let row =
                candidates
                    .iter()
                    .position(|c| c == label)
                    .ok_or_else(|| Error::InvalidConfig {
                        what: "--label-embeddings".into(),
                        reason: format!(
                            "the label '{label}' is not among the candidates its rows follow"
                        ),
                    })?;
            Ok(embeddings.row(row).to_vec())
        })
        .collect()
}

pub fn attribute(args: AttributeArgs) -> Result<serde_json::Value> {
    let decoder = args.bundle.decoder()?;
    let fmri = args.input.read(Some(decoder.mapper.config.voxels))?;
    let trials = chosen_trials(&args, fmri.trials())?;
    let labels = args.labels.read(&decoder.device)?;
    let templates = &args.labels.templates;
    let (targets, space): (Vec<Vec<f32>>, Space) =
        match (&args.label, &labels.per_trial, &args.image) {
            (Some(label), _, _) => (
                label_targets(
                    &decoder,
                    &labels,
                    &vec![label.clone(); trials.len()],
                    templates,
                )?,
                Space::Text,
            ),
            (None, Some(per_trial), _) => {
                if per_trial.len() != fmri.trials() {
                    return Err(Error::ShapeMismatch {
                        what: "--labels".into(),
                        got: per_trial.len().to_string(),
                        expected: format!("one label per fMRI row ({})", fmri.trials()),
                    });
                }
                let wanted: Vec<String> = trials.iter().map(|&t| per_trial[t].clone()).collect();
                (
                    label_targets(&decoder, &labels, &wanted, templates)?,
                    Space::Text,
                )
            }
            (None, None, Some(path)) => {
                let name = path.file_name().map_or_else(
                    || path.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                );
                let embedded =
                    pollster::block_on(decoder.embed_images(&[(read_bytes(path)?, name)]))?;
                (vec![embedded.values().to_vec(); trials.len()], Space::Image)
            }
            (None, None, None) => {
                return Err(Error::InvalidConfig {
                    what: "attribute".into(),
                    reason:
                        "nothing to explain the trials against: give --label, --labels or --image"
                            .into(),
                });
            }
        };
    let mut maps = Vec::with_capacity(trials.len());
    for (&trial, target) in trials.iter().zip(&targets) {
        let request = AttributeRequest {
            trial,
            method: args.method,
            steps: args.steps,
            control: args.control.clone(),
        };
        maps.push(pollster::block_on(
            decoder.attribute(&fmri, target, space, &request),
        )?);
    }
    let voxels = fmri.voxels();
    let values: Vec<f32> = maps.iter().flat_map(|m| m.values.iter().copied()).collect();
    let shape = if maps.len() == 1 {
        vec![voxels]
    } else {
        vec![maps.len(), voxels]
    };
    write_bytes(&args.out, &write_npy_f32(&values, &shape)?)?;
    let summary = |map: &tasks::Attribution| {
        let mut strongest: Vec<usize> = (0..map.values.len()).collect();
        strongest.sort_by(|&a, &b| map.values[b].abs().total_cmp(&map.values[a].abs()));
        strongest.truncate(10);
        json!({
            "trial": map.trial,
            "similarity": map.similarity,
            "baselineSimilarity": map.baseline_similarity,
            "attributionSum": map.values.iter().map(|&v| f64::from(v)).sum::<f64>(),
            "completenessGap": map.completeness_gap,
            "strongestVoxels": strongest.iter().map(|&v| json!({ "voxel": v, "attribution": map.values[v] })).collect::<Vec<_>>(),
        })
    };
    let first = &maps[0];
    let mut report = json!({
        "out": args.out,
        "shape": shape,
        "method": first.method,
        "steps": first.steps,
        "space": first.space,
    });
    if maps.len() == 1 {
        // One trial: its summary at the top level, as before.
        let object = report.as_object_mut().expect("an object");
        for (key, value) in summary(first).as_object().expect("an object") {
            object.insert(key.clone(), value.clone());
        }
    } else {
        report["trials"] = maps.iter().map(summary).collect();
    }
    Ok(report)
}

#[derive(Args)]
pub struct AttributionCheckArgs {
    /// A bundle trained on a simulated subject of the world (e.g. www/models/demo).
    #[arg(long)]
    bundle: PathBuf,
    /// The simulated subject (sub-01, sub-02, sub-03); also picks the bundle's subject.
    #[arg(long)]
    subject: String,
    #[command(flatten)]
    input: FmriInput,
    /// The world category of each fMRI row ("red circle"), a JSON list.
    #[arg(long)]
    labels: PathBuf,
    /// Rows checked (the first N).
    #[arg(long, default_value_t = 50)]
    trials: usize,
    #[arg(long, default_value = "integrated-gradients")]
    method: AttributionMethod,
    /// Print JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// The AUC of |attribution| for the voxels a label kind should rely on, with the bundle's
/// shuffled-label control beside it.
pub fn attribution_check(args: AttributionCheckArgs) -> Result<serde_json::Value> {
    let subject = Subject::named(&args.subject)?;
    let bundle = Bundle::load_dir_for(&args.bundle, Some(&args.subject))?;
    let decoder = tasks::Decoder::from_bundle(&bundle, cpu())?;
    let fmri = args.input.read(Some(decoder.mapper.config.voxels))?;
    let categories = read_strings(&args.labels)?;
    if args.trials == 0 {
        return Err(Error::Empty {
            what: "trials to check (--trials)".into(),
            unit: "trial".into(),
        });
    }
    let trials: Vec<usize> = (0..args.trials.min(fmri.trials())).collect();
    let controls: Vec<&str> = decoder
        .controls
        .iter()
        .map(|(name, _)| name.as_str())
        .filter(|name| *name == brainclip::train::mapper::SHUFFLED_CONTROL)
        .collect();
    let started = std::time::Instant::now();
    let rows = pollster::block_on(attribution_auc(
        &decoder,
        &subject.voxel_roles(),
        &fmri,
        &categories,
        &trials,
        args.method,
        &controls,
    ))?;
    let seconds_per_map = started.elapsed().as_secs_f64() / (rows.len() * trials.len()) as f64;
    if !args.json {
        println!(
            "{}: AUC for telling the higher voxels a label kind should rely on from the other higher voxels (chance 0.5), mean over {} trials",
            args.subject,
            trials.len()
        );
        println!(
            "| explained | relevant voxels | mapper | AUC of abs(attribution) | AUC of attribution (evidence for) | AUC of abs(activity), no model |"
        );
        println!("| --- | --- | --- | --- | --- | --- |");
        for row in &rows {
            println!(
                "| {:?} | {} | {} | {:.3} ± {:.3} | {:.3} | {:.3} |",
                row.kind,
                row.relevant_voxels,
                row.mapper,
                row.auc,
                row.auc_sd,
                row.signed_auc,
                row.activity_auc
            );
        }
        println!("{:.0} ms per map", seconds_per_map * 1000.0);
    }
    Ok(
        json!({ "subject": args.subject, "method": args.method, "rows": rows, "secondsPerMap": seconds_per_map }),
    )
}
