//! `brainclip add-voxel-sheet`: put each voxel's place on a flattened cortical sheet into a
//! bundle, so the page can draw a trial's pattern as a map.

use std::path::PathBuf;

use brainclip::data::bundle::{Bundle, Component, StoredDtype};
use brainclip::data::voxel_sheet::{SheetArea, VoxelSheet, VoxelSheetConfig};
use brainclip::error::{Error, Result};
use clap::Args;
use serde_json::json;

use crate::io::{io_error, read_array, read_bytes};

#[derive(Args)]
pub struct AddVoxelSheetArgs {
    /// The bundle to extend (rewritten in place: its manifest gains a `voxel_sheet`).
    #[arg(long)]
    bundle: PathBuf,
    /// `.npy` `[voxels, 2]`: every voxel's (x, y) on the sheet, in [0, 1] (`sim world` writes
    /// `voxel_sheet.npy` per subject).
    #[arg(long)]
    coordinates: PathBuf,
    /// JSON list of `{ "name", "bounds": [x0, y0, x1, y1] }`: areas to label (`sim world`
    /// writes `voxel_sheet_areas.json`).
    #[arg(long)]
    areas: Option<PathBuf>,
    /// Store the coordinates as f16.
    #[arg(long)]
    f16: bool,
}

pub fn add_voxel_sheet(args: AddVoxelSheetArgs) -> Result<serde_json::Value> {
    let bundle = Bundle::load_dir(&args.bundle)?;
    let (coordinates, shape) = read_array(&args.coordinates, &[2])?;
    let voxels = shape[0];
    if shape[1] != 2 || voxels != bundle.manifest.voxels {
        return Err(Error::ShapeMismatch {
            what: args.coordinates.display().to_string(),
            got: format!("{} × {}", shape[0], shape[1]),
            expected: format!(
                "{} × 2: (x, y) for each of the bundle's voxels",
                bundle.manifest.voxels
            ),
        });
    }
    let areas: Vec<SheetArea> = match &args.areas {
        None => Vec::new(),
        Some(path) => serde_json::from_slice(&read_bytes(path)?)
            .map_err(|err| io_error(path, format!("not a list of {{ name, bounds }} ({err})")))?,
    };
    let sheet = VoxelSheet::new(VoxelSheetConfig { voxels, areas }, coordinates)?;
    let dtype = StoredDtype::half_if(args.f16);
    let bundle = bundle.with_component(
        "voxel_sheet",
        Component {
            kind: "voxel_sheet".into(),
            config: json!(sheet.config),
            weights: "voxel_sheet.safetensors".into(),
            control: None,
        },
        sheet.to_safetensors(dtype)?,
    )?;
    // Read back as every consumer will before anything is written.
    bundle.voxel_sheet()?;
    bundle.write_dir(&args.bundle)?;
    Ok(json!({
        "bundle": args.bundle.display().to_string(),
        "voxels": voxels,
        "areas": sheet.config.areas.iter().map(|a| a.name.clone()).collect::<Vec<_>>(),
    }))
}
