//! Where each voxel lies on a flattened cortical sheet, so a brain pattern can be drawn as a
//! map rather than a list: a bundle component of kind `voxel_sheet` whose weights file holds
//! `coordinates` `[voxels, 2]` in [0, 1] (x, y), and whose config names the areas to label
//! (e.g. early and higher visual cortex, or V1–V4 of a real flatmap).

use serde::{Deserialize, Serialize};

use crate::data::bundle::{Bundle, StoredDtype, manifest_error};
use crate::data::weights::{
    TensorSpec, check_tensors, f32_safetensors, read_f32, recast_safetensors,
};
use crate::error::{Error, Result};

/// Name of the tensor in the component's weights file.
pub const COORDINATES: &str = "coordinates";

/// A labelled region of the sheet: `bounds` = `[x0, y0, x1, y1]` in sheet units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SheetArea {
    pub name: String,
    pub bounds: [f64; 4],
}

/// The `config` of a bundle component of kind `voxel_sheet`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoxelSheetConfig {
    pub voxels: usize,
    #[serde(default)]
    pub areas: Vec<SheetArea>,
}

/// Every voxel's place on the sheet, row-major `[voxels, 2]`.
#[derive(Debug, Clone, PartialEq)]
pub struct VoxelSheet {
    pub config: VoxelSheetConfig,
    pub coordinates: Vec<f32>,
}

fn invalid(reason: String) -> Error {
    Error::InvalidConfig {
        what: "voxel sheet".into(),
        reason,
    }
}

impl VoxelSheet {
    /// Checks that there is one finite (x, y) in [0, 1] per voxel and that every area is a
    /// named, non-empty box inside the sheet.
    pub fn new(config: VoxelSheetConfig, coordinates: Vec<f32>) -> Result<Self> {
        if coordinates.len() != config.voxels * 2 {
            return Err(Error::ShapeMismatch {
                what: "voxel sheet coordinates".into(),
                got: format!("{} values", coordinates.len()),
                expected: format!("two (x, y) per voxel: {} × 2", config.voxels),
            });
        }
        if let Some(bad) = coordinates
            .iter()
            .position(|v| !(v.is_finite() && (0.0..=1.0).contains(v)))
        {
            return Err(invalid(format!(
                "voxel {} has coordinate {}; every coordinate must lie in [0, 1]",
                bad / 2,
                coordinates[bad]
            )));
        }
        for area in &config.areas {
            let [x0, y0, x1, y1] = area.bounds;
            let inside = [x0, y0, x1, y1]
                .iter()
                .all(|v| v.is_finite() && (0.0..=1.0).contains(v));
            if area.name.trim().is_empty() || !inside || x0 >= x1 || y0 >= y1 {
                return Err(invalid(format!(
                    "area '{}' has bounds {:?}; expected a name and [x0, y0, x1, y1] with 0 ≤ x0 < x1 ≤ 1 and 0 ≤ y0 < y1 ≤ 1",
                    area.name, area.bounds
                )));
            }
        }
        Ok(VoxelSheet {
            config,
            coordinates,
        })
    }

    pub fn from_safetensors(config: VoxelSheetConfig, bytes: &[u8], file: &str) -> Result<Self> {
        check_tensors(
            file,
            bytes,
            &[TensorSpec::new(COORDINATES, &[config.voxels, 2])],
        )?;
        let coordinates = read_f32(file, bytes, COORDINATES)?;
        VoxelSheet::new(config, coordinates)
    }

    pub fn to_safetensors(&self, dtype: StoredDtype) -> Result<Vec<u8>> {
        recast_safetensors(
            &f32_safetensors(&[])?,
            dtype,
            &[(
                COORDINATES,
                vec![self.config.voxels, 2],
                self.coordinates.clone(),
            )],
        )
    }
}

impl Bundle {
    /// The bundle's voxel sheet, if it has a component of kind `voxel_sheet`, checked against
    /// the bundle's voxel count.
    pub fn voxel_sheet(&self) -> Result<Option<VoxelSheet>> {
        let Some((name, _)) = self
            .manifest
            .components
            .iter()
            .find(|(_, c)| c.kind == "voxel_sheet")
        else {
            return Ok(None);
        };
        let (component, bytes) = self.component(name)?;
        let field = format!("components.{name}.config");
        let config: VoxelSheetConfig = serde_json::from_value(component.config.clone())
            .map_err(|err| manifest_error(&field, err.to_string()))?;
        if config.voxels != self.manifest.voxels {
            return Err(manifest_error(
                &field,
                format!(
                    "the voxel sheet places {} voxels; the bundle has {}",
                    config.voxels, self.manifest.voxels
                ),
            ));
        }
        VoxelSheet::from_safetensors(config, bytes, &component.weights).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(voxels: usize) -> VoxelSheetConfig {
        VoxelSheetConfig {
            voxels,
            areas: vec![SheetArea {
                name: "early visual".into(),
                bounds: [0.0, 0.0, 0.5, 1.0],
            }],
        }
    }

    #[test]
    fn a_sheet_round_trips_through_f16_and_bad_ones_are_refused_by_name() {
        let coordinates = vec![0.1, 0.2, 0.9, 0.75, 0.5, 0.0];
        let sheet = VoxelSheet::new(config(3), coordinates.clone()).unwrap();
        let bytes = sheet.to_safetensors(StoredDtype::F16).unwrap();
        let back = VoxelSheet::from_safetensors(config(3), &bytes, "sheet.safetensors").unwrap();
        for (a, b) in back.coordinates.iter().zip(&coordinates) {
            assert!((a - b).abs() < 1e-3, "{a} vs {b}");
        }
        let err = VoxelSheet::from_safetensors(config(4), &bytes, "sheet.safetensors").unwrap_err();
        assert!(err.to_string().contains("expected 4 × 2"), "{err}");

        let err = VoxelSheet::new(config(2), coordinates.clone()).unwrap_err();
        assert!(err.to_string().contains("2 × 2"), "{err}");
        let mut outside = coordinates.clone();
        outside[3] = 1.5;
        let err = VoxelSheet::new(config(3), outside).unwrap_err();
        assert!(
            err.to_string().contains("voxel 1 has coordinate 1.5"),
            "{err}"
        );
        let mut backwards = config(3);
        backwards.areas[0].bounds = [0.6, 0.0, 0.5, 1.0];
        let err = VoxelSheet::new(backwards, coordinates).unwrap_err();
        assert!(err.to_string().contains("area 'early visual'"), "{err}");
    }
}
