//! Validation during training: how well the current weights retrieve held-out stimuli.

use std::collections::HashMap;

use burn::tensor::{Device, Tensor, TensorData};

use crate::error::Result;
use crate::mapper::{MapperConfig, MapperModel, NoNoise};
use crate::matrix::Matrix;
use crate::metrics;
use crate::train::mapper::TrainingData;

/// Validation top-1: fMRI → image among the validation stimuli, fMRI → caption among the
/// validation trials' (first) captions; each as (value, chance).
#[allow(clippy::too_many_arguments)]
pub(crate) fn validate(
    mapper: &MapperModel,
    config: &MapperConfig,
    data: &TrainingData,
    val_rows: &[usize],
    val_x: &[f32],
    stimulus: &[usize],
    use_images: bool,
    use_texts: bool,
) -> Result<[Option<(f64, f64)>; 2]> {
    if val_rows.is_empty() {
        return Ok([None, None]);
    }
    let device = Device::flex();
    let x = Tensor::<2>::from_data(
        TensorData::new(val_x.to_vec(), [val_rows.len(), config.voxels]),
        &device,
    );
    let out = mapper.forward(x, config, &mut NoNoise);
    let top1 = |predicted: &Matrix,
                keys: &[usize],
                table: &Matrix,
                key_row: &dyn Fn(usize) -> usize|
     -> Result<(f64, f64)> {
        // Distinct candidates in order of first appearance.
        let mut distinct: Vec<usize> = Vec::new();
        let truth: Vec<usize> = keys
            .iter()
            .map(|k| match distinct.iter().position(|d| d == k) {
                Some(i) => i,
                None => {
                    distinct.push(*k);
                    distinct.len() - 1
                }
            })
            .collect();
        let candidates = Matrix::new(
            distinct
                .iter()
                .flat_map(|k| table.row(key_row(*k)).iter().copied())
                .collect(),
            distinct.len(),
            table.cols(),
        )?;
        let scores = metrics::similarity(predicted, &candidates)?;
        let metric = metrics::top_k_accuracy(&scores, &truth, 1)?;
        Ok((metric.value, metric.chance))
    };
    let image_top1 = if use_images {
        let images = data.images.as_ref().expect("checked by caller");
        let predicted = Matrix::from_tensor(out.image)?;
        // Key: stimulus id; its embedding is that of the first trial showing it.
        let keys: Vec<usize> = val_rows.iter().map(|&r| stimulus[r]).collect();
        let first_trial: HashMap<usize, usize> =
            val_rows.iter().rev().map(|&r| (stimulus[r], r)).collect();
        Some(top1(&predicted, &keys, images, &|s| first_trial[&s])?)
    } else {
        None
    };
    let text_top1 = if use_texts {
        let texts = data.texts.as_ref().expect("checked by caller");
        let predicted = Matrix::from_tensor(out.text)?;
        let keys: Vec<usize> = val_rows.iter().map(|&r| texts.per_trial[r][0]).collect();
        Some(top1(&predicted, &keys, &texts.embeddings, &|k| k)?)
    } else {
        None
    };
    Ok([image_top1, text_top1])
}
