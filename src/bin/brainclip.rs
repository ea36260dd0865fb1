//! The brainclip command-line tool: inspect inputs, train, evaluate and benchmark natively.

#[cfg(target_family = "wasm")]
fn main() {}

#[cfg(not(target_family = "wasm"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(not(target_family = "wasm"))]
mod cli {
    use std::path::PathBuf;
    use std::process::ExitCode;

    use brainclip::data::fmri::{ReadOptions, read_mask_path};
    use brainclip::data::read_fmri_path;
    use brainclip::error::{Error, thousands};
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

    pub fn main() -> ExitCode {
        let cli = Cli::parse();
        match cli.command {
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
