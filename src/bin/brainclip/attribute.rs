//! `brainclip attribute`: which voxels drove a trial's similarity to a label or an image;
//! `brainclip sim attribution-check`: the same checked against a simulated subject's known
//! voxel roles.

use std::path::PathBuf;

use brainclip::data::bundle::Bundle;
use brainclip::data::npy::write_npy_f32;
use brainclip::error::{Error, Result};
use brainclip::sim::attribution::attribution_auc;
use brainclip::sim::subject::Subject;
use brainclip::tasks::{self, AttributeRequest, AttributionMethod, Space};
use clap::Args;
use serde_json::json;

use crate::io::{FmriInput, cpu, read_bytes, read_strings, write_bytes};

#[derive(Args)]
pub struct AttributeArgs {
    /// Bundle with a mapper (and a CLIP, to embed the label or image).
    #[arg(long)]
    bundle: PathBuf,
    /// Which subject of a bundle holding several (default: the bundle's default subject).
    #[arg(long)]
    subject: Option<String>,
    #[command(flatten)]
    input: FmriInput,
    /// Row of the fMRI to explain.
    #[arg(long, default_value_t = 0)]
    trial: usize,
    /// A label: the map explains the trial's similarity to it (CLIP text space).
    #[arg(long, conflicts_with = "image", required_unless_present = "image")]
    label: Option<String>,
    /// A candidate image (PNG or JPEG): the map explains the similarity to it (image space).
    #[arg(long)]
    image: Option<PathBuf>,
    /// Prompt template(s) for --label, "{}" standing for the label.
    #[arg(long = "template")]
    templates: Vec<String>,
    /// integrated-gradients (from the training-mean pattern) or gradient-times-input.
    #[arg(long, default_value = "integrated-gradients")]
    method: AttributionMethod,
    /// Integration steps for integrated gradients.
    #[arg(long, default_value_t = AttributeRequest::default().steps)]
    steps: usize,
    /// Explain a control mapper of the bundle instead ("shuffled labels", "ridge").
    #[arg(long)]
    control: Option<String>,
    /// Where to write the map: float32 .npy [voxels], in the bundle's voxel order.
    #[arg(long)]
    out: PathBuf,
}

pub fn attribute(args: AttributeArgs) -> Result<serde_json::Value> {
    let bundle = Bundle::load_dir_for(&args.bundle, args.subject.as_deref())?;
    let decoder = tasks::Decoder::from_bundle(&bundle, cpu())?;
    let fmri = args.input.read(Some(decoder.mapper.config.voxels))?;
    let request = AttributeRequest {
        trial: args.trial,
        method: args.method,
        steps: args.steps,
        control: args.control.clone(),
    };
    let map = match (&args.label, &args.image) {
        (Some(label), _) => {
            pollster::block_on(decoder.attribute_label(&fmri, label, &args.templates, &request))?
        }
        (None, Some(path)) => {
            let name = path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            let embedded = pollster::block_on(decoder.embed_images(&[(read_bytes(path)?, name)]))?;
            pollster::block_on(decoder.attribute(&fmri, embedded.values(), Space::Image, &request))?
        }
        (None, None) => unreachable!("clap requires --label or --image"),
    };
    write_bytes(&args.out, &write_npy_f32(&map.values, &[map.values.len()])?)?;
    let mut strongest: Vec<usize> = (0..map.values.len()).collect();
    strongest.sort_by(|&a, &b| map.values[b].abs().total_cmp(&map.values[a].abs()));
    strongest.truncate(10);
    Ok(json!({
        "out": args.out,
        "trial": map.trial,
        "method": map.method,
        "steps": map.steps,
        "space": map.space,
        "similarity": map.similarity,
        "baselineSimilarity": map.baseline_similarity,
        "attributionSum": map.values.iter().map(|&v| f64::from(v)).sum::<f64>(),
        "completenessGap": map.completeness_gap,
        "strongestVoxels": strongest.iter().map(|&v| json!({ "voxel": v, "attribution": map.values[v] })).collect::<Vec<_>>(),
    }))
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
