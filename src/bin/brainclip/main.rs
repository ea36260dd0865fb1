//! The brainclip command-line tool: inspect inputs, train, evaluate and benchmark natively.

#[cfg(target_family = "wasm")]
fn main() {}

#[cfg(not(target_family = "wasm"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(not(target_family = "wasm"))]
mod attribute;
#[cfg(not(target_family = "wasm"))]
mod bench;
#[cfg(not(target_family = "wasm"))]
mod clip_cli;
#[cfg(not(target_family = "wasm"))]
mod cv;
#[cfg(not(target_family = "wasm"))]
mod decode;
#[cfg(not(target_family = "wasm"))]
mod diffusion_cli;
#[cfg(not(target_family = "wasm"))]
mod eval;
#[cfg(not(target_family = "wasm"))]
mod io;
#[cfg(not(target_family = "wasm"))]
mod reconstruct;
#[cfg(not(target_family = "wasm"))]
mod sheet_cli;
#[cfg(not(target_family = "wasm"))]
mod sim_cli;
#[cfg(not(target_family = "wasm"))]
mod subjects_cli;
#[cfg(not(target_family = "wasm"))]
mod train_mapper;

#[cfg(not(target_family = "wasm"))]
mod cli {
    use crate::attribute;
    use crate::bench;
    use crate::clip_cli;
    use crate::cv;
    use crate::decode;
    use crate::diffusion_cli;
    use crate::eval;
    use crate::reconstruct;
    use crate::sheet_cli;
    use crate::sim_cli;
    use crate::subjects_cli;
    use crate::train_mapper;
    use std::path::{Path, PathBuf};
    use std::process::ExitCode;

    use brainclip::clip::Clip;
    use brainclip::clip::tokenizer::tokenize_padded;
    use brainclip::data::fmri::ReadOptions;
    use brainclip::data::npy::write_npy_f32;
    use brainclip::data::read_fmri_path;
    use brainclip::data::read_mask_path;
    use brainclip::device::{BackendPreference, ComputeDevice, select_device};
    use brainclip::diffusion::Autoencoder;
    use brainclip::error::{Error, thousands};
    use burn::tensor::{Tensor, TensorData};
    use clap::{Parser, Subcommand};
    use serde_json::json;

    #[derive(Parser)]
    #[command(
        name = "brainclip",
        version,
        about = "BrainCLIP brain decoding: inspect, train, evaluate, benchmark"
    )]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Subcommand)]
    enum Command {
        /// Generate simulated data.
        Sim {
            #[command(subcommand)]
            what: Sim,
        },
        /// Pretrain a CLIP contrastively on simulated-world images of every category (the
        /// demo's tiny CLIP); writes a Hugging Face directory.
        TrainClip(Box<clip_cli::TrainClipArgs>),
        /// Train the world's tiny autoencoder (diffusers AutoencoderTiny layout) on fresh
        /// world images; checkpoints every epoch, --resume continues exactly.
        TrainAutoencoder(Box<diffusion_cli::TrainAutoencoderArgs>),
        /// Train the conditional denoiser (the teacher) on world images encoded by the
        /// autoencoder and embedded by the CLIP; rectified flow, classifier-free guidance.
        TrainDenoiser(Box<diffusion_cli::TrainDenoiserArgs>),
        /// Distil a denoiser into few-step students by progressive distillation (each round
        /// halves the steps; guidance baked in); every round checkpoints and resumes.
        Distill(Box<diffusion_cli::DistillArgs>),
        /// Put a trained autoencoder and denoiser into a bundle as its image decoder.
        AddDecoder(reconstruct::AddDecoderArgs),
        /// Put each voxel's place on a flattened cortical sheet (and the areas to label) into
        /// a bundle, so a trial's pattern can be drawn as a map.
        AddVoxelSheet(sheet_cli::AddVoxelSheetArgs),
        /// Join another subject's bundle into a bundle: shared components (CLIP, image
        /// decoder) are stored once, the subject's own under `<name>/`.
        AddSubject(subjects_cli::AddSubjectArgs),
        /// Store a bundle's large weight matrices as int8 with per-row scales (about a
        /// quarter of f32), every subject's.
        Quantize(subjects_cli::QuantizeArgs),
        /// Record every file's size and SHA-256 in a bundle's manifest: checked on load, and
        /// what browsers cache the files by.
        Seal(subjects_cli::SealArgs),
        /// Fit the low-level head (fMRI → the seen image's autoencoder latent, ridge) and add
        /// it to a bundle that has an image decoder.
        TrainLowLevel(Box<reconstruct::TrainLowLevelArgs>),
        /// Reconstruct the seen images from fMRI (mapper → denoiser → autoencoder) into a
        /// PNG grid, through the same pipeline the browser runs.
        Reconstruct(Box<reconstruct::ReconstructArgs>),
        /// CLIP image embeddings (L2-normalised) of image files, as .npy.
        EmbedImages(Box<clip_cli::EmbedImagesArgs>),
        /// Train a BrainCLIP mapper (fMRI → CLIP image and text space) and write a bundle.
        TrainMapper(Box<train_mapper::TrainMapperArgs>),
        /// Leave-one-group-out cross-validation (e.g. one run out at a time): a mapper and
        /// the ridge baseline per fold, each held-out group decoded into its labels.
        Cv(Box<cv::CvArgs>),
        /// Rank candidate labels for every trial (zero-shot category decoding).
        Decode(Box<decode::DecodeArgs>),
        /// Which voxels drove one trial's similarity to a label or an image: integrated
        /// gradients (or gradient × input) through the mapper, written as a .npy map.
        Attribute(Box<attribute::AttributeArgs>),
        /// Evaluate a mapper bundle: category decoding, retrieval, N-way and 2-way
        /// identification, each with its chance level.
        Eval(Box<eval::EvalArgs>),
        /// Print CLIP token ids exactly as open_clip's tokenizer returns them (zero-padded).
        Tokenize {
            /// Texts to tokenize.
            #[arg(required = true)]
            text: Vec<String>,
            /// Context length (77 for every OpenAI CLIP).
            #[arg(long, default_value_t = brainclip::clip::tokenizer::CONTEXT_LENGTH)]
            context_length: usize,
            /// Print a JSON array of arrays instead of one line of ids per text.
            #[arg(long)]
            json: bool,
        },
        /// Run one model component and write its unnormalised output to .npy
        /// (`get_text_features` / `get_image_features` for CLIP; `encode(x).latents` /
        /// `decode(z).sample` for the tiny autoencoder).
        Forward {
            /// clip-text, clip-image, ae-encode or ae-decode.
            #[arg(long)]
            component: String,
            /// Hugging Face model directory: config.json + model.safetensors (CLIP), or
            /// config.json + diffusion_pytorch_model.safetensors (AutoencoderTiny).
            #[arg(long)]
            model: PathBuf,
            /// Texts (clip-text).
            #[arg(long, num_args = 1..)]
            text: Vec<String>,
            /// NCHW float32 .npy: preprocessed pixels [n, 3, size, size] (clip-image),
            /// images in [-1, 1] (ae-encode) or latents (ae-decode).
            #[arg(long)]
            input: Option<PathBuf>,
            /// Where to write the float32 .npy ([n, projection_dim] or NCHW).
            #[arg(long)]
            output: PathBuf,
            /// auto, cpu or webgpu (native wgpu builds only).
            #[arg(long, default_value = "cpu")]
            device: String,
        },
        /// Benchmarks that print timings.
        Bench {
            #[command(subcommand)]
            what: Bench,
        },
        /// Read an fMRI file (.npy, .npz, .nii, .nii.gz) and describe what brainclip sees.
        Inspect {
            /// The file to read.
            file: PathBuf,
            /// Array to read from an .npz archive.
            #[arg(long)]
            array: Option<String>,
            /// NIfTI mask selecting voxels (non-zero = keep), on the same grid as the data.
            #[arg(long)]
            mask: Option<PathBuf>,
            /// Replace NaN/Inf by 0 instead of refusing the file.
            #[arg(long)]
            replace_non_finite: bool,
            /// Refuse arrays larger than this many bytes once decoded.
            #[arg(long, default_value_t = brainclip::data::fmri::DEFAULT_MAX_BYTES)]
            max_bytes: u64,
            /// Print one JSON object instead of text.
            #[arg(long)]
            json: bool,
        },
    }

    #[derive(Subcommand)]
    enum Sim {
        /// A dataset with a planted linear ground truth (fMRI, image and text embeddings,
        /// seen and novel categories) for trying train-mapper and eval.
        Planted(sim_cli::SimPlantedArgs),
        /// The simulated world: procedural stimuli (25 shapes × 8 colours), simulated
        /// subjects and a GOD-style protocol (150 seen categories × 8 images, 50 novel
        /// categories × 35 averaged repeats), written as .npy/.json/.png like real data.
        World(sim_cli::SimWorldArgs),
        /// A block-design recording shaped like a small real dataset (8 categories, 12 runs,
        /// 6 volumes per block, 500 voxels), whose neighbouring volumes are near-copies: for
        /// trying group-aware validation and `brainclip cv`.
        Blocks(sim_cli::SimBlocksArgs),
        /// A new recording of the world's test stimuli by one subject at a chosen SNR and
        /// number of averaged repeats (what the page's explorer simulates).
        TestRecording(sim_cli::SimTestRecordingArgs),
        /// Check voxel attribution against a simulated subject's known voxel roles: the AUC
        /// of |attribution| for colour-tuned voxels on colour labels and shape-tuned voxels
        /// on shape labels, beside the shuffled-label control.
        AttributionCheck(Box<attribute::AttributionCheckArgs>),
    }

    #[derive(Subcommand)]
    enum Bench {
        /// Mapper training and inference throughput (samples/s) at GOD scale (4,466 voxels)
        /// and NSD scale (15,724 voxels) with 512-d CLIP embeddings.
        Mapper {
            /// Training trials per scale.
            #[arg(long, default_value_t = 1200)]
            trials: usize,
            /// Epochs (the fastest after the first is reported).
            #[arg(long, default_value_t = 3)]
            epochs: usize,
        },
        /// CLIP towers at ViT-B/32 size (random weights): image batch 1 and 16, text 50
        /// short and 50 full-length prompts.
        Clip {
            /// Timed repetitions per case (the best is reported).
            #[arg(long, default_value_t = 3)]
            repeats: usize,
            /// Model size preset (vit_b_32, vit_b_16, vit_l_14, tiny).
            #[arg(long, default_value = "vit_b_32")]
            preset: String,
        },
        /// Reconstruction: a denoiser step, an autoencoder decode, a 4-step reconstruction of
        /// one trial, and the 50-step teacher as the baseline in the same run.
        Reconstruct {
            /// A bundle whose image decoder to time (default: world-sized random models).
            #[arg(long)]
            bundle: Option<PathBuf>,
            #[arg(long, default_value_t = 3)]
            repeats: usize,
        },
    }

    pub fn main() -> ExitCode {
        let cli = Cli::parse();
        match cli.command {
            Command::Sim {
                what: Sim::Planted(args),
            } => report(sim_cli::sim_planted(args), false),
            Command::Sim {
                what: Sim::World(args),
            } => report(sim_cli::sim_world(args), false),
            Command::Sim {
                what: Sim::Blocks(args),
            } => report(sim_cli::sim_blocks(args), false),
            Command::Sim {
                what: Sim::TestRecording(args),
            } => report(sim_cli::sim_test_recording(args), false),
            Command::Sim {
                what: Sim::AttributionCheck(args),
            } => {
                let json = args.json;
                match (attribute::attribution_check(*args), json) {
                    // The table has been printed already.
                    (Ok(_), false) => ExitCode::SUCCESS,
                    (result, json) => report(result, json),
                }
            }
            Command::Attribute(args) => report(attribute::attribute(*args), true),
            Command::TrainClip(args) => report(clip_cli::train(*args), false),
            Command::TrainAutoencoder(args) => report(diffusion_cli::train(*args), false),
            Command::TrainDenoiser(args) => {
                report(diffusion_cli::train_denoiser_command(*args), false)
            }
            Command::Distill(args) => report(diffusion_cli::distill_command(*args), false),
            Command::AddDecoder(args) => report(reconstruct::add_decoder(args), false),
            Command::AddVoxelSheet(args) => report(sheet_cli::add_voxel_sheet(args), false),
            Command::AddSubject(args) => {
                let json = args.json;
                report(subjects_cli::add_subject(args), json)
            }
            Command::Quantize(args) => {
                let json = args.json;
                report(subjects_cli::quantize(args), json)
            }
            Command::Seal(args) => {
                let json = args.json;
                report(subjects_cli::seal(args), json)
            }
            Command::TrainLowLevel(args) => report(reconstruct::train_low_level(*args), true),
            Command::Reconstruct(args) => report(reconstruct::reconstruct(*args), false),
            Command::EmbedImages(args) => report(clip_cli::embed_images(*args), false),
            Command::TrainMapper(args) => report(train_mapper::train(*args), false),
            Command::Decode(args) => {
                let json = args.json;
                match (decode::decode(*args), json) {
                    (Ok(_), false) => ExitCode::SUCCESS,
                    (result, json) => report(result, json),
                }
            }
            Command::Cv(args) => {
                let json = args.json;
                match (cv::cv(*args), json) {
                    // The table has been printed already.
                    (Ok(_), false) => ExitCode::SUCCESS,
                    (result, json) => report(result, json),
                }
            }
            Command::Eval(args) => {
                let json = args.json;
                match (eval::eval(*args), json) {
                    // The table has been printed already.
                    (Ok(_), false) => ExitCode::SUCCESS,
                    (result, json) => report(result, json),
                }
            }
            Command::Tokenize {
                text,
                context_length,
                json,
            } => tokenize(&text, context_length, json),
            Command::Forward {
                component,
                model,
                text,
                input,
                output,
                device,
            } => report(
                forward(
                    &component,
                    &model,
                    &text,
                    input.as_deref(),
                    &output,
                    &device,
                ),
                false,
            ),
            Command::Bench { what } => match what {
                Bench::Clip { repeats, preset } => report(bench::clip(&preset, repeats), false),
                Bench::Mapper { trials, epochs } => report(bench::mapper(trials, epochs), true),
                Bench::Reconstruct { bundle, repeats } => {
                    report(bench::reconstruct(bundle.as_deref(), repeats), true)
                }
            },
            Command::Inspect {
                file,
                array,
                mask,
                replace_non_finite,
                max_bytes,
                json,
            } => {
                let result = inspect(&file, array, mask, replace_non_finite, max_bytes);
                report(result, json)
            }
        }
    }

    fn tokenize(texts: &[String], context_length: usize, json: bool) -> ExitCode {
        if context_length < 3 {
            eprintln!("error [invalid_config]: --context-length must be at least 3");
            return ExitCode::FAILURE;
        }
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let rows = tokenize_padded(&refs, context_length);
        if json {
            println!("{}", serde_json::to_string(&rows).unwrap_or_default());
        } else {
            for row in rows {
                let ids: Vec<String> = row.iter().map(u32::to_string).collect();
                println!("{}", ids.join(" "));
            }
        }
        ExitCode::SUCCESS
    }

    fn device(name: &str) -> Result<ComputeDevice, Error> {
        pollster::block_on(select_device(name.parse::<BackendPreference>()?))
    }

    fn forward(
        component: &str,
        model_dir: &Path,
        texts: &[String],
        input: Option<&Path>,
        output: &Path,
        device_name: &str,
    ) -> Result<serde_json::Value, Error> {
        let device = device(device_name)?;
        let read_input = |unit: &str| -> Result<Tensor<4>, Error> {
            let path = input.ok_or_else(|| Error::Empty {
                what: "--input".into(),
                unit: unit.into(),
            })?;
            let (values, s) = crate::io::read_array(path, &[4])?;
            Ok(Tensor::<4>::from_data(
                TensorData::new(values, [s[0], s[1], s[2], s[3]]),
                &device.device,
            ))
        };
        let (values, shape) = match component {
            "clip-text" | "clip-image" => {
                let clip = Clip::from_hf_dir(model_dir, &device.device)?;
                let features = if component == "clip-text" {
                    if texts.is_empty() {
                        return Err(Error::Empty {
                            what: "--text".into(),
                            unit: "text".into(),
                        });
                    }
                    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                    clip.text_features(&clip.tokenize(&refs))?
                } else {
                    clip.image_features(read_input("pixels .npy file")?)?
                };
                let shape = features.dims().to_vec();
                (pollster::block_on(device.read_f32(features))?, shape)
            }
            "ae-encode" | "ae-decode" => {
                let autoencoder = Autoencoder::from_dir(model_dir, &device.device)?;
                let result = if component == "ae-encode" {
                    autoencoder.encode(read_input("images .npy file [n, 3, h, w] in [-1, 1]")?)?
                } else {
                    autoencoder.decode(read_input("latents .npy file [n, c, h, w]")?)?
                };
                let shape = result.dims().to_vec();
                (pollster::block_on(device.read_f32(result))?, shape)
            }
            other => {
                return Err(Error::InvalidConfig {
                    what: "--component".into(),
                    reason: format!(
                        "'{other}' is unknown; expected clip-text, clip-image, ae-encode or ae-decode"
                    ),
                });
            }
        };
        let bytes = write_npy_f32(&values, &shape)?;
        std::fs::write(output, bytes).map_err(|err| Error::Io {
            path: output.display().to_string(),
            reason: err.to_string(),
        })?;
        Ok(json!({ "output": output.display().to_string(), "shape": shape }))
    }

    fn inspect(
        file: &std::path::Path,
        array: Option<String>,
        mask: Option<PathBuf>,
        replace_non_finite: bool,
        max_bytes: u64,
    ) -> Result<serde_json::Value, Error> {
        let options = ReadOptions {
            array,
            mask: mask.as_deref().map(read_mask_path).transpose()?,
            replace_non_finite,
            max_bytes,
            expected_voxels: None,
        };
        let batch = read_fmri_path(file, &options)?;
        let sum: f64 = batch.values().iter().map(|v| *v as f64).sum();
        Ok(json!({
            "file": batch.source.file_name,
            "format": batch.source.format,
            "array": batch.source.array_name,
            "mask": batch.source.mask_name,
            "trials": batch.trials(),
            "voxels": batch.voxels(),
            "dtype": batch.source.dtype,
            "shape": batch.source.shape,
            "sum": sum,
            "first_value": batch.values()[0],
        }))
    }

    /// Prints a result (text or JSON) or an error with its code; sets the exit status.
    fn report(result: Result<serde_json::Value, Error>, as_json: bool) -> ExitCode {
        match (result, as_json) {
            (Ok(value), true) => {
                println!("{value}");
                ExitCode::SUCCESS
            }
            (Ok(value), false) => {
                print_text(&value);
                ExitCode::SUCCESS
            }
            (Err(err), true) => {
                println!(
                    "{}",
                    json!({ "error": { "code": err.code(), "message": err.to_string() } })
                );
                ExitCode::FAILURE
            }
            (Err(err), false) => {
                eprintln!("error [{}]: {err}", err.code());
                ExitCode::FAILURE
            }
        }
    }

    fn print_text(value: &serde_json::Value) {
        let Some(map) = value.as_object() else {
            println!("{value}");
            return;
        };
        for (key, v) in map {
            let shown = match v {
                serde_json::Value::Null => continue,
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) if n.is_u64() => thousands(n),
                other => other.to_string(),
            };
            println!("{key:>12}: {shown}");
        }
    }
}
