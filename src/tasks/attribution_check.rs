//! Voxel attribution checked where the truth is known: every higher voxel of a simulated
//! subject has a known selectivity, so a faithful map of a colour should weigh colour-tuned
//! and conjunction voxels, and a map of a shape shape-tuned ones.

use serde::Serialize;

use super::{AttributeRequest, AttributionMethod, Decoder, Space};
use crate::data::FmriBatch;
use crate::error::{Error, Result};
use crate::metrics::roc_auc;
use crate::sim::stimuli::{COLOURS, SHAPES};
use crate::sim::subject::VoxelRole;

/// The label kinds checked: the part of a category that is explained, and the higher voxels
/// that should carry its evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LabelKind {
    /// The colour ("red" over the other colours): colour-tuned and conjunction voxels.
    Colour,
    /// The shape ("plus sign" over the other shapes): shape-tuned voxels.
    Shape,
}

impl LabelKind {
    pub const ALL: [LabelKind; 2] = [LabelKind::Colour, LabelKind::Shape];

    fn relevant(self, role: VoxelRole) -> bool {
        match self {
            LabelKind::Colour => matches!(role, VoxelRole::Colour | VoxelRole::Conjunction),
            LabelKind::Shape => role == VoxelRole::Shape,
        }
    }

    /// The relevant voxels, as the report names them.
    pub fn relevant_voxels(self) -> &'static str {
        match self {
            LabelKind::Colour => "colour-tuned and conjunction",
            LabelKind::Shape => "shape-tuned",
        }
    }

    /// The text-space direction that tells this kind's part of `category` from its
    /// alternatives with the other part held: the category's embedding minus the mean of the
    /// same shape in every other colour (or the same colour in every other shape). Its
    /// attribution is the evidence for "red" over other colours, or for "circle" over other
    /// shapes, which the label's own similarity mixes with everything the two share.
    async fn contrast(self, decoder: &Decoder, category: &str) -> Result<Vec<f32>> {
        let (colour, shape) = category
            .split_once(' ')
            .filter(|(colour, _)| COLOURS.iter().any(|(name, _)| name == colour))
            .ok_or_else(|| Error::InvalidConfig {
                what: "attribution check".into(),
                reason: format!(
                    "'{category}' is not a simulated-world category (a colour, then a shape)"
                ),
            })?;
        let alternatives: Vec<String> = match self {
            LabelKind::Colour => COLOURS
                .iter()
                .filter(|(name, _)| *name != colour)
                .map(|(name, _)| format!("{name} {shape}"))
                .collect(),
            LabelKind::Shape => SHAPES
                .iter()
                .filter(|name| **name != shape)
                .map(|name| format!("{colour} {name}"))
                .collect(),
        };
        let own = decoder.embed_labels(&[category.to_string()], &[]).await?;
        let others = decoder.embed_labels(&alternatives, &[]).await?;
        let dim = own.cols();
        let mut target = own.values().to_vec();
        for row in others.values().chunks(dim) {
            for (t, o) in target.iter_mut().zip(row) {
                *t -= o / alternatives.len() as f32;
            }
        }
        Ok(target)
    }
}

/// One row of the check: how well the map singles out the relevant higher voxels.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributionAuc {
    pub kind: LabelKind,
    pub relevant_voxels: &'static str,
    /// "model" or the control mapper's name.
    pub mapper: String,
    /// Mean over trials of the AUC of |attribution| for the relevant higher voxels against
    /// the other higher voxels (chance 0.5).
    pub auc: f64,
    /// Its standard deviation over trials.
    pub auc_sd: f64,
    /// The same for the signed attribution: voxels whose evidence is *for* the true part.
    pub signed_auc: f64,
    /// The same for |activity| alone, no model involved: how much of `auc` the trial's own
    /// pattern (which voxels responded) explains.
    pub activity_auc: f64,
    pub trials: usize,
}

fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    (
        mean,
        (values.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / n).sqrt(),
    )
}

/// The check's table: for each label kind, with the model and with each named control
/// mapper, the AUCs over `trials` of `fmri` whose world categories are `categories` (one
/// per row). The target is the kind's contrast (see [`LabelKind`]), attributed through the
/// text space as decoding scores it.
pub async fn attribution_auc(
    decoder: &Decoder,
    roles: &[VoxelRole],
    fmri: &FmriBatch,
    categories: &[String],
    trials: &[usize],
    method: AttributionMethod,
    controls: &[&str],
) -> Result<Vec<AttributionAuc>> {
    if roles.len() != fmri.voxels() {
        return Err(Error::VoxelCountMismatch {
            file: "simulated subject's voxel roles".into(),
            got: roles.len(),
            expected: fmri.voxels(),
        });
    }
    if categories.len() != fmri.trials() {
        return Err(Error::ShapeMismatch {
            what: "category labels".into(),
            got: categories.len().to_string(),
            expected: format!("one per fMRI trial ({})", fmri.trials()),
        });
    }
    // The higher voxels, whose selectivity is shape, colour or their conjunction.
    let higher: Vec<usize> = (0..roles.len())
        .filter(|&v| {
            matches!(
                roles[v],
                VoxelRole::Shape | VoxelRole::Colour | VoxelRole::Conjunction
            )
        })
        .collect();
    let mappers: Vec<Option<&str>> = std::iter::once(None)
        .chain(controls.iter().map(|name| Some(*name)))
        .collect();
    let mut rows = Vec::new();
    for kind in LabelKind::ALL {
        let relevant: Vec<bool> = higher.iter().map(|&v| kind.relevant(roles[v])).collect();
        let mut targets = Vec::with_capacity(trials.len());
        let mut activity = Vec::with_capacity(trials.len());
        for &trial in trials {
            targets.push(kind.contrast(decoder, &categories[trial]).await?);
            let pattern = decoder.voxel_pattern(fmri, trial)?;
            let magnitude: Vec<f32> = higher.iter().map(|&v| pattern[v].abs()).collect();
            activity.extend(roc_auc(&magnitude, &relevant));
        }
        for &mapper in &mappers {
            let (mut unsigned, mut signed) = (Vec::new(), Vec::new());
            for (&trial, target) in trials.iter().zip(&targets) {
                let request = AttributeRequest {
                    trial,
                    method,
                    control: mapper.map(str::to_string),
                    ..AttributeRequest::default()
                };
                let map = decoder
                    .attribute(fmri, target, Space::Text, &request)
                    .await?;
                let values: Vec<f32> = higher.iter().map(|&v| map.values[v]).collect();
                let magnitude: Vec<f32> = values.iter().map(|v| v.abs()).collect();
                unsigned.extend(roc_auc(&magnitude, &relevant));
                signed.extend(roc_auc(&values, &relevant));
            }
            let (auc, auc_sd) = mean_sd(&unsigned);
            rows.push(AttributionAuc {
                kind,
                relevant_voxels: kind.relevant_voxels(),
                mapper: mapper.unwrap_or("model").to_string(),
                auc,
                auc_sd,
                signed_auc: mean_sd(&signed).0,
                activity_auc: mean_sd(&activity).0,
                trials: unsigned.len(),
            });
        }
    }
    Ok(rows)
}
