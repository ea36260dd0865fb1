//! `brainclip cv`: leave-one-group-out cross-validation. Each run (or session) in turn is
//! held out; a mapper and the ridge baseline are trained on the others (validating on
//! whole held-out groups inside the training runs) and both decode the held-out run's
//! labels through `Decoder::evaluate`. What a careful reviewer asks for on block designs,
//! where any split by volume would test on near-copies of training volumes.

use std::path::PathBuf;

use brainclip::data::{FmriBatch, FmriSource, Normalization, SourceFormat};
use brainclip::error::{Error, Result, thousands};
use brainclip::tasks::{Decoder, EvalRequest, distinct_labels, embed_labels};
use brainclip::train::mapper::{RIDGE_BASELINE, fit_ridge};
use brainclip::train::train_mapper;
use clap::Args;
use serde_json::json;

use crate::io::{cpu, load_clip, read_strings};
use crate::train_mapper::{Loaded, MapperTraining};

#[derive(Args)]
pub struct CvArgs {
    /// The data and settings, as for train-mapper; --labels (with --clip) and --groups are
    /// required: the labels are what each held-out run is decoded into.
    #[command(flatten)]
    training: MapperTraining,
    /// Candidate labels for decoding, JSON list (default: the distinct --labels).
    #[arg(long)]
    candidates: Option<PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

struct Fold {
    group: String,
    trials: usize,
    mapper: f64,
    ridge: f64,
}

pub fn cv(args: CvArgs) -> Result<serde_json::Value> {
    let need = |what: &str| Error::InvalidConfig {
        what: "cv".into(),
        reason: format!("needs {what}"),
    };
    let labels_path = args.training.labels.clone().ok_or_else(|| {
        need("--labels (one label per trial: what each held-out trial is decoded into)")
    })?;
    let group_path = args
        .training
        .groups
        .clone()
        .ok_or_else(|| need("--groups (a run or session id per trial)"))?;
    let Loaded {
        data,
        mapper_config,
        config,
        ..
    } = args.training.load()?;
    let labels = read_strings(&labels_path)?;
    let group_names = read_strings(&group_path)?;
    let groups = data.groups.clone().expect("--groups was given");
    let candidates = match &args.candidates {
        Some(path) => read_strings(path)?,
        None => distinct_labels(&labels),
    };
    let clip = load_clip(args.training.clip.as_deref(), "candidate labels")?;
    let device = cpu();
    let label_embeddings = pollster::block_on(embed_labels(
        &device,
        &clip,
        &candidates,
        &args.training.templates,
    ))?;
    let group_count = groups.iter().max().map_or(0, |g| g + 1);
    if group_count < 3 {
        return Err(Error::InvalidConfig {
            what: "--groups".into(),
            reason: format!(
                "{group_count} groups; leave-one-group-out needs at least 3 (one to test, two to train and validate on)"
            ),
        });
    }
    let mut folds = Vec::new();
    for held in 0..group_count {
        let test: Vec<usize> = (0..groups.len()).filter(|&t| groups[t] == held).collect();
        let train: Vec<usize> = (0..groups.len()).filter(|&t| groups[t] != held).collect();
        let name = group_names[test[0]].clone();
        eprintln!(
            "fold {}/{group_count}: holding out {name} ({} trials)",
            held + 1,
            test.len()
        );
        let fold_data = data.select(&train);
        let outcome = train_mapper(
            &fold_data,
            &mapper_config,
            &config,
            None,
            false,
            &mut |_| true,
            &mut |_, _| {},
        )?;
        let ridge = fit_ridge(&fold_data, &config, outcome.mapper.config.logit_scale)?;
        let decoder = Decoder::from_parts(
            cpu(),
            outcome.mapper,
            vec![(RIDGE_BASELINE.to_string(), ridge.mapper)],
            None,
            Normalization::Stats {
                mean: outcome.mean,
                std: outcome.std,
            },
        );
        let held_out = data.fmri.select_rows(&test);
        let batch = FmriBatch::new(
            held_out.values().to_vec(),
            test.len(),
            held_out.cols(),
            FmriSource {
                file_name: format!("{name} of {}", args.training.input.fmri.display()),
                format: SourceFormat::Npy,
                array_name: None,
                mask_name: None,
                dtype: "float32".into(),
                shape: vec![test.len(), held_out.cols()],
            },
        )?;
        let evaluation = pollster::block_on(decoder.evaluate(
            &batch,
            &EvalRequest {
                labels: Some(test.iter().map(|&t| labels[t].clone()).collect()),
                candidates: Some(candidates.clone()),
                label_embeddings: Some(label_embeddings.clone()),
                ..EvalRequest::default()
            },
        ))?;
        let top1 = evaluation
            .metrics
            .iter()
            .find(|m| m.id == "category_top1")
            .expect("labels were given");
        folds.push(Fold {
            group: name,
            trials: test.len(),
            mapper: top1.value,
            ridge: top1.controls[RIDGE_BASELINE],
        });
    }
    let chance = 1.0 / candidates.len() as f64;
    let summary = |values: Vec<f64>| {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let sd =
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt();
        (mean, sd)
    };
    let (mapper_mean, mapper_sd) = summary(folds.iter().map(|f| f.mapper).collect());
    let (ridge_mean, ridge_sd) = summary(folds.iter().map(|f| f.ridge).collect());
    if !args.json {
        println!(
            "leave-one-group-out, category top-1 of {} labels (chance {:.1}%)",
            candidates.len(),
            100.0 * chance
        );
        println!(
            "{:<16} {:>7} {:>8} {:>8}",
            "held out", "trials", "mapper", "ridge"
        );
        for f in &folds {
            println!(
                "{:<16} {:>7} {:>7.1}% {:>7.1}%",
                f.group,
                thousands(f.trials),
                100.0 * f.mapper,
                100.0 * f.ridge
            );
        }
        println!(
            "{:<16} {:>7} {:>7.1}% {:>7.1}%   (± {:.1} / {:.1} sd across folds)",
            "mean",
            "",
            100.0 * mapper_mean,
            100.0 * ridge_mean,
            100.0 * mapper_sd,
            100.0 * ridge_sd
        );
    }
    Ok(json!({
        "metric": format!("category top-1 of {} labels", candidates.len()),
        "chance": chance,
        "folds": folds.iter().map(|f| json!({
            "held_out": f.group, "trials": f.trials, "mapper": f.mapper, "ridge": f.ridge,
        })).collect::<Vec<_>>(),
        "mapper": { "mean": mapper_mean, "sd": mapper_sd },
        "ridge": { "mean": ridge_mean, "sd": ridge_sd },
    }))
}
