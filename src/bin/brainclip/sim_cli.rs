//! `brainclip sim world`: the simulated GOD-style experiment written as files shaped like
//! real preprocessed data, so train-mapper, eval and the site read it as they read real data;
//! `brainclip sim planted`: a small dataset with a planted linear ground truth;
//! `brainclip sim blocks`: a block-design recording with autocorrelated volumes.

use std::path::PathBuf;

use brainclip::data::npy::write_npy_f32;
use brainclip::error::{Error, Result};
use brainclip::matrix::Matrix;
use brainclip::sim::blocks::BlockDesignConfig;
use brainclip::sim::protocol::{Protocol, ProtocolConfig, TestRecordingConfig};
use brainclip::sim::stimuli::{Category, IMAGE_SIZE};
use brainclip::sim::subject::{Subject, SubjectConfig};
use brainclip::sim::{PlantedConfig, PlantedDataset};
use clap::Args;
use serde_json::json;

use crate::io::{io_error, write_bytes, write_json, write_matrix};

#[derive(Args)]
pub struct SimTestRecordingArgs {
    /// The simulated subject (sub-01, sub-02, sub-03).
    #[arg(long)]
    subject: String,
    /// Seed of the world whose test stimuli are shown (as `sim world --seed`).
    #[arg(long, default_value_t = 0)]
    world_seed: u64,
    /// Single-presentation signal-to-noise ratio.
    #[arg(long, default_value_t = SubjectConfig::defaults()[0].snr)]
    snr: f32,
    /// Presentations averaged into each trial.
    #[arg(long, default_value_t = ProtocolConfig::default().test_repeats)]
    repeats: usize,
    /// Seed of the noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// `.npy` to write `[test trials, voxels]` to.
    #[arg(long)]
    out: PathBuf,
}

/// A fresh recording of the world's test stimuli, as the page's explorer simulates it.
pub fn sim_test_recording(args: SimTestRecordingArgs) -> Result<serde_json::Value> {
    let subject = Subject::named(&args.subject)?;
    let protocol = Protocol::new(ProtocolConfig {
        seed: args.world_seed,
        ..ProtocolConfig::default()
    })?;
    let recording = protocol.record_test(
        &subject,
        &TestRecordingConfig {
            snr: args.snr,
            repeats: args.repeats,
            seed: args.seed,
        },
    )?;
    write_matrix(&args.out, &recording)?;
    Ok(json!({
        "out": args.out.display().to_string(),
        "trials": recording.rows(),
        "voxels": recording.cols(),
    }))
}

#[derive(Args)]
pub struct SimWorldArgs {
    /// Directory to write the world into.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// How many of the simulated subjects to record (1–3).
    #[arg(long, default_value_t = 3)]
    subjects: usize,
    /// Single-trial signal-to-noise ratio of every subject.
    #[arg(long, default_value_t = SubjectConfig::defaults()[0].snr)]
    snr: f32,
    /// Voxels per subject instead of the GOD-like defaults (4,466 / 4,404 / 4,643).
    #[arg(long)]
    voxels: Option<usize>,
    /// Training images per category.
    #[arg(long, default_value_t = ProtocolConfig::default().train_images_per_category)]
    train_images: usize,
    /// Presentations averaged into each test trial.
    #[arg(long, default_value_t = ProtocolConfig::default().test_repeats)]
    test_repeats: usize,
    /// Skip writing stimulus PNGs.
    #[arg(long)]
    no_images: bool,
}

pub fn sim_world(args: SimWorldArgs) -> Result<serde_json::Value> {
    let mut subjects = SubjectConfig::defaults();
    if args.subjects == 0 || args.subjects > subjects.len() {
        return Err(Error::InvalidConfig {
            what: "--subjects".into(),
            reason: format!(
                "{} given; the world has 1 to {} subjects",
                args.subjects,
                subjects.len()
            ),
        });
    }
    if !(args.snr.is_finite() && args.snr > 0.0) {
        return Err(Error::InvalidConfig {
            what: "--snr".into(),
            reason: format!("{} given; it must be a positive number", args.snr),
        });
    }
    if args.voxels == Some(0) {
        return Err(Error::InvalidConfig {
            what: "--voxels".into(),
            reason: "0 given; a subject needs at least 1 voxel".into(),
        });
    }
    subjects.truncate(args.subjects);
    for subject in &mut subjects {
        subject.snr = args.snr;
        if let Some(voxels) = args.voxels {
            subject.voxels = voxels;
        }
    }
    let protocol = Protocol::new(ProtocolConfig {
        seed: args.seed,
        train_images_per_category: args.train_images,
        test_repeats: args.test_repeats,
        ..ProtocolConfig::default()
    })?;
    let out = &args.out;
    std::fs::create_dir_all(out).map_err(|err| io_error(out, err))?;
    let mut splits = Vec::new();
    let train_ids = brainclip::sim::protocol::stimulus_ids(&protocol.train, "train");
    let (dev_train, dev_test) = protocol.development_split();
    for (split, stimuli) in [("train", &protocol.train), ("test", &protocol.test)] {
        let ids = brainclip::sim::protocol::stimulus_ids(stimuli, split);
        let labels: Vec<String> = stimuli.iter().map(|s| s.category.name()).collect();
        let captions: Vec<[String; 2]> = stimuli
            .iter()
            .map(|s| [s.template_caption(), s.descriptive_caption()])
            .collect();
        write_json(&out.join(format!("{split}_labels.json")), &json!(labels))?;
        write_json(
            &out.join(format!("{split}_captions.json")),
            &json!(captions),
        )?;
        write_json(&out.join(format!("{split}_stimulus_ids.json")), &json!(ids))?;
        if !args.no_images {
            let dir = out.join("stimuli");
            std::fs::create_dir_all(&dir).map_err(|err| io_error(&dir, err))?;
            for (stimulus, id) in stimuli.iter().zip(&ids) {
                let path = dir.join(format!("{id}.png"));
                stimulus
                    .render_image(IMAGE_SIZE)
                    .save(&path)
                    .map_err(|err| io_error(&path, err))?;
            }
        }
        splits.push(json!({ "split": split, "trials": stimuli.len() }));
    }
    // The development split: subsets of the training trials, written the same way.
    for (split, rows) in [("dev_train", &dev_train), ("dev_test", &dev_test)] {
        let pick = |values: Vec<serde_json::Value>| -> serde_json::Value {
            json!(rows.iter().map(|&r| values[r].clone()).collect::<Vec<_>>())
        };
        let stimuli = &protocol.train;
        write_json(
            &out.join(format!("{split}_labels.json")),
            &pick(stimuli.iter().map(|s| json!(s.category.name())).collect()),
        )?;
        write_json(
            &out.join(format!("{split}_captions.json")),
            &pick(
                stimuli
                    .iter()
                    .map(|s| json!([s.template_caption(), s.descriptive_caption()]))
                    .collect(),
            ),
        )?;
        write_json(
            &out.join(format!("{split}_stimulus_ids.json")),
            &pick(train_ids.iter().map(|id| json!(id)).collect()),
        )?;
        splits.push(json!({ "split": split, "trials": rows.len() }));
    }
    let names =
        |categories: &[Category]| -> Vec<String> { categories.iter().map(|c| c.name()).collect() };
    write_json(
        &out.join("seen_categories.json"),
        &json!(names(&protocol.train_categories)),
    )?;
    write_json(
        &out.join("novel_categories.json"),
        &json!(names(&protocol.test_categories)),
    )?;
    write_json(
        &out.join("dev_categories.json"),
        &json!(names(&protocol.development_categories())),
    )?;
    let mut recorded = Vec::new();
    for config in subjects {
        let subject = Subject::new(config.clone());
        let recording = protocol.record(&subject)?;
        let dir = out.join(&config.name);
        std::fs::create_dir_all(&dir).map_err(|err| io_error(&dir, err))?;
        write_matrix(&dir.join("train_fmri.npy"), &recording.train)?;
        write_matrix(&dir.join("test_fmri.npy"), &recording.test)?;
        write_matrix(
            &dir.join("dev_train_fmri.npy"),
            &recording.train.select_rows(&dev_train),
        )?;
        write_matrix(
            &dir.join("dev_test_fmri.npy"),
            &recording.train.select_rows(&dev_test),
        )?;
        write_bytes(
            &dir.join("voxel_sheet.npy"),
            &write_npy_f32(&subject.sheet_coordinates(), &[config.voxels, 2])?,
        )?;
        recorded.push(json!({
            "name": config.name,
            "seed": config.seed,
            "voxels": config.voxels,
            "early_visual_voxels": subject.early_voxels(),
            "snr": config.snr,
        }));
    }
    let world = json!({
        "simulated": true,
        "note": "Simulated subjects viewing procedural stimuli; not real fMRI.",
        "seed": args.seed,
        "image_size": IMAGE_SIZE,
        "categories": Category::all_names(),
        "protocol": protocol.config,
        "splits": splits,
        "subjects": recorded,
    });
    write_json(&out.join("world.json"), &world)?;
    // The areas every subject's voxel_sheet.npy lays out, for `add-voxel-sheet --areas`.
    write_json(
        &out.join("voxel_sheet_areas.json"),
        &json!(brainclip::sim::subject::Subject::sheet_areas()),
    )?;
    Ok(json!({
        "out": out.display().to_string(),
        "train_trials": protocol.train.len(),
        "test_trials": protocol.test.len(),
        "seen_categories": protocol.train_categories.len(),
        "novel_categories": protocol.test_categories.len(),
        "subjects": world["subjects"],
    }))
}

#[derive(Args)]
pub struct SimPlantedArgs {
    /// Directory to write the dataset into.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = PlantedConfig::default().voxels)]
    voxels: usize,
    /// Embedding size.
    #[arg(long, default_value_t = PlantedConfig::default().dim)]
    dim: usize,
    #[arg(long, default_value_t = PlantedConfig::default().train_categories)]
    train_categories: usize,
    #[arg(long, default_value_t = PlantedConfig::default().test_categories)]
    test_categories: usize,
    #[arg(long, default_value_t = PlantedConfig::default().train_per_category)]
    train_per_category: usize,
    #[arg(long, default_value_t = PlantedConfig::default().test_per_category)]
    test_per_category: usize,
    /// Voxel noise standard deviation relative to the signal's.
    #[arg(long, default_value_t = PlantedConfig::default().noise)]
    noise: f32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn sim_planted(args: SimPlantedArgs) -> Result<serde_json::Value> {
    let config = PlantedConfig {
        voxels: args.voxels,
        dim: args.dim,
        train_categories: args.train_categories,
        test_categories: args.test_categories,
        train_per_category: args.train_per_category,
        test_per_category: args.test_per_category,
        noise: args.noise,
        seed: args.seed,
        ..PlantedConfig::default()
    };
    if config.voxels == 0
        || config.dim == 0
        || config.train_categories < 2
        || config.test_categories < 2
    {
        return Err(Error::InvalidConfig {
            what: "planted dataset".into(),
            reason: "needs voxels ≥ 1, dim ≥ 1 and at least 2 training and 2 novel categories"
                .into(),
        });
    }
    let data = PlantedDataset::generate(&config)?;
    let out = &args.out;
    std::fs::create_dir_all(out).map_err(|err| io_error(out, err))?;
    let npy = |name: &str, m: &Matrix| write_matrix(&out.join(name), m);
    let names = |cats: &[usize]| -> serde_json::Value {
        json!(
            cats.iter()
                .map(|c| &data.category_names[*c])
                .collect::<Vec<_>>()
        )
    };
    let seen: Vec<usize> = (0..config.train_categories).collect();
    let novel: Vec<usize> = (config.train_categories..data.category_names.len()).collect();
    let rows = |cats: &[usize]| -> Result<Matrix> {
        Matrix::new(
            cats.iter()
                .flat_map(|c| data.category_embeddings.row(*c).iter().copied())
                .collect(),
            cats.len(),
            config.dim,
        )
    };
    npy("train_fmri.npy", &data.train.fmri)?;
    npy("train_image_embeddings.npy", &data.train.images)?;
    let train_text = rows(&data.train.categories)?;
    write_bytes(
        &out.join("train_text_embeddings.npy"),
        &write_npy_f32(train_text.values(), &[train_text.rows(), 1, config.dim])?,
    )?;
    write_json(
        &out.join("train_labels.json"),
        &names(&data.train.categories),
    )?;
    npy("test_fmri.npy", &data.test.fmri)?;
    npy("test_image_embeddings.npy", &data.test.images)?;
    write_json(&out.join("test_labels.json"), &names(&data.test.categories))?;
    write_json(&out.join("seen_categories.json"), &names(&seen))?;
    npy("seen_category_embeddings.npy", &rows(&seen)?)?;
    write_json(&out.join("novel_categories.json"), &names(&novel))?;
    npy("novel_category_embeddings.npy", &rows(&novel)?)?;
    write_json(&out.join("config.json"), &json!(config))?;
    Ok(json!({
        "out": out.display().to_string(),
        "train_trials": data.train.fmri.rows(),
        "test_trials": data.test.fmri.rows(),
        "voxels": config.voxels,
        "dim": config.dim,
        "seen_categories": config.train_categories,
        "novel_categories": config.test_categories,
    }))
}

#[derive(Args)]
pub struct SimBlocksArgs {
    /// Directory to write the recording into.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = BlockDesignConfig::default().categories)]
    categories: usize,
    #[arg(long, default_value_t = BlockDesignConfig::default().runs)]
    runs: usize,
    #[arg(long, default_value_t = BlockDesignConfig::default().volumes_per_block)]
    volumes_per_block: usize,
    #[arg(long, default_value_t = BlockDesignConfig::default().voxels)]
    voxels: usize,
    /// Single-volume signal-to-noise ratio.
    #[arg(long, default_value_t = BlockDesignConfig::default().snr)]
    snr: f32,
    /// Lag-1 autocorrelation of the noise within a run.
    #[arg(long, default_value_t = BlockDesignConfig::default().autocorrelation)]
    autocorrelation: f32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// A block-design recording shaped like a small real dataset: fmri.npy [volumes, voxels],
/// labels.json, runs.json and stimulus_ids.json, one entry per volume.
pub fn sim_blocks(args: SimBlocksArgs) -> Result<serde_json::Value> {
    let config = BlockDesignConfig {
        seed: args.seed,
        categories: args.categories,
        runs: args.runs,
        volumes_per_block: args.volumes_per_block,
        voxels: args.voxels,
        snr: args.snr,
        autocorrelation: args.autocorrelation,
        ..BlockDesignConfig::default()
    };
    let recording = config.record()?;
    let out = &args.out;
    std::fs::create_dir_all(out).map_err(|err| io_error(out, err))?;
    write_matrix(&out.join("fmri.npy"), &recording.fmri)?;
    write_json(&out.join("labels.json"), &json!(recording.labels))?;
    write_json(&out.join("runs.json"), &json!(recording.runs))?;
    write_json(
        &out.join("stimulus_ids.json"),
        &json!(recording.stimulus_ids),
    )?;
    let categories: Vec<String> = config
        .chosen_categories()
        .iter()
        .map(|c| c.name())
        .collect();
    write_json(&out.join("categories.json"), &json!(categories))?;
    write_json(&out.join("config.json"), &json!(config))?;
    Ok(json!({
        "out": out.display().to_string(),
        "volumes": recording.fmri.rows(),
        "voxels": recording.fmri.cols(),
        "runs": config.runs,
        "categories": config.categories,
    }))
}
