//! Weight files: safetensors reading, writing and recasting, and loading them into burn
//! modules with every tensor's presence, shape and dtype checked first.

use std::collections::BTreeMap;

use burn::module::Module;
use burn::store::{
    ApplyError, BurnToPyTorchAdapter, FloatCastAdapter, ModuleAdapter, ModuleSnapshot,
    PyTorchToBurnAdapter, SafetensorsStore,
};
use burn::tensor::DType;
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, dims};

/// Storage precision of the weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StoredDtype {
    #[default]
    F32,
    F16,
    /// Large matrices as int8 with one f32 scale per row (see
    /// [`Q8_MIN_ENTRIES`]), everything else f16: a quarter of f32's
    /// size for the voxel-wide layers that dominate a mapper.
    Q8,
}

impl StoredDtype {
    /// F16 when a `--f16` flag is set, else F32.
    pub fn half_if(f16: bool) -> Self {
        if f16 {
            StoredDtype::F16
        } else {
            StoredDtype::F32
        }
    }
}

/// A tensor a model expects: its key in the file and its shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    pub key: String,
    pub shape: Vec<usize>,
}

impl TensorSpec {
    pub fn new(key: impl Into<String>, shape: &[usize]) -> Self {
        TensorSpec {
            key: key.into(),
            shape: shape.to_vec(),
        }
    }
}

/// A safetensors file of 1-D f32 tensors (e.g. normalisation statistics).
pub fn f32_safetensors(tensors: &[(&str, &[f32])]) -> Result<Vec<u8>> {
    let bytes: Vec<(String, Vec<u8>, usize)> = tensors
        .iter()
        .map(|(name, values)| {
            (
                name.to_string(),
                values.iter().flat_map(|v| v.to_le_bytes()).collect(),
                values.len(),
            )
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(name, data, len)| {
            safetensors::tensor::TensorView::new(Dtype::F32, vec![*len], data)
                .map(|view| (name.clone(), view))
                .map_err(|err| tensor_error("(new file)", name, err.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize(views, None)
        .map_err(|err| tensor_error("(new file)", "(all)", err.to_string()))
}

/// Matrices with at least this many entries are stored as int8 in a `q8` file; smaller
/// tensors (biases, norms, small layers) stay f16, where int8 would cost accuracy for
/// nothing.
pub const Q8_MIN_ENTRIES: usize = 65_536;
/// Suffix of the key holding an int8 matrix's per-row scales (f32, one per row).
pub const Q8_SCALE_SUFFIX: &str = ".q8_scale";

/// A tensor's encoded bytes as one stored precision.
struct Encoded {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

fn encode(
    name: String,
    shape: Vec<usize>,
    values: &[f32],
    dtype: StoredDtype,
    min_entries: usize,
) -> Vec<Encoded> {
    let f32_bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let f16_bytes = |v: &[f32]| {
        v.iter()
            .flat_map(|x| half::f16::from_f32(*x).to_le_bytes())
            .collect::<Vec<u8>>()
    };
    let quantized = dtype == StoredDtype::Q8 && shape.len() == 2 && values.len() >= min_entries;
    if quantized {
        // Symmetric per-row int8: each row's largest magnitude maps to ±127.
        let columns = shape[1];
        let mut scales = Vec::with_capacity(shape[0]);
        let mut data = Vec::with_capacity(values.len());
        for row in values.chunks(columns) {
            let largest = row.iter().fold(0f32, |m, v| m.max(v.abs()));
            let scale = if largest > 0.0 { largest / 127.0 } else { 1.0 };
            scales.push(scale);
            data.extend(
                row.iter()
                    .map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8 as u8),
            );
        }
        return vec![
            Encoded {
                name: format!("{name}{Q8_SCALE_SUFFIX}"),
                dtype: Dtype::F32,
                shape: vec![shape[0]],
                data: f32_bytes(&scales),
            },
            Encoded {
                name,
                dtype: Dtype::I8,
                shape,
                data,
            },
        ];
    }
    let (dtype, data) = match dtype {
        StoredDtype::F32 => (Dtype::F32, f32_bytes(values)),
        StoredDtype::F16 | StoredDtype::Q8 => (Dtype::F16, f16_bytes(values)),
    };
    vec![Encoded {
        name,
        dtype,
        shape,
        data,
    }]
}

fn serialize_encoded(file: &str, encoded: &[Encoded]) -> Result<Vec<u8>> {
    let views = encoded
        .iter()
        .map(|t| {
            safetensors::tensor::TensorView::new(t.dtype, t.shape.clone(), &t.data)
                .map(|view| (t.name.clone(), view))
                .map_err(|err| tensor_error(file, &t.name, err.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    let metadata =
        std::collections::HashMap::from([("producer".to_string(), "brainclip".to_string())]);
    safetensors::serialize(views, Some(metadata))
        .map_err(|err| tensor_error(file, "(all)", err.to_string()))
}

/// Rewrites a safetensors file with every floating tensor stored as `dtype`, plus `extra`
/// f32 tensors (name, shape, values), and one metadata entry so identical weights always
/// give identical bytes. A `q8` file is read back through [`dequantize_safetensors`].
pub fn recast_safetensors(
    bytes: &[u8],
    dtype: StoredDtype,
    extra: &[(&str, Vec<usize>, Vec<f32>)],
) -> Result<Vec<u8>> {
    recast(bytes, dtype, extra, Q8_MIN_ENTRIES)
}

/// A `q8` file (see [`recast_safetensors`]) with int8 for every matrix of at least
/// `min_entries` entries instead of [`Q8_MIN_ENTRIES`].
pub fn quantize_safetensors(bytes: &[u8], min_entries: usize) -> Result<Vec<u8>> {
    recast(bytes, StoredDtype::Q8, &[], min_entries.max(1))
}

fn recast(
    bytes: &[u8],
    dtype: StoredDtype,
    extra: &[(&str, Vec<usize>, Vec<f32>)],
    min_entries: usize,
) -> Result<Vec<u8>> {
    let file = "(new file)";
    let bytes = match dequantize_safetensors(file, bytes)? {
        Some(decoded) => std::borrow::Cow::Owned(decoded),
        None => std::borrow::Cow::Borrowed(bytes),
    };
    let tensors = SafeTensors::deserialize(&bytes)
        .map_err(|err| tensor_error(file, "(header)", err.to_string()))?;
    let mut owned: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    for name in tensors.names() {
        let shape = tensors
            .tensor(name)
            .map_err(|err| tensor_error(file, name, err.to_string()))?
            .shape()
            .to_vec();
        owned.push((name.to_string(), shape, read_f32(file, &bytes, name)?));
    }
    owned.extend(
        extra
            .iter()
            .map(|(name, shape, values)| (name.to_string(), shape.clone(), values.clone())),
    );
    let encoded: Vec<Encoded> = owned
        .into_iter()
        .flat_map(|(name, shape, values)| encode(name, shape, &values, dtype, min_entries))
        .collect();
    serialize_encoded(file, &encoded)
}

/// A file with int8 matrices (a `q8` bundle's) rewritten with those matrices as f32 and
/// their scale tensors dropped, so everything downstream reads plain f32/f16; `None` when
/// the file has no int8 tensor.
pub fn dequantize_safetensors(file: &str, bytes: &[u8]) -> Result<Option<Vec<u8>>> {
    let tensors = parse(file, bytes)?;
    let views = tensors.tensors();
    if !views.iter().any(|(_, view)| view.dtype() == Dtype::I8) {
        return Ok(None);
    }
    let mut encoded = Vec::new();
    for (name, view) in &views {
        if name.ends_with(Q8_SCALE_SUFFIX) {
            continue;
        }
        if view.dtype() != Dtype::I8 {
            encoded.push(Encoded {
                name: name.clone(),
                dtype: view.dtype(),
                shape: view.shape().to_vec(),
                data: view.data().to_vec(),
            });
            continue;
        }
        let scale_key = format!("{name}{Q8_SCALE_SUFFIX}");
        let rows = view.shape().first().copied().unwrap_or(0);
        if view.shape().len() != 2 {
            return Err(tensor_error(
                file,
                name,
                format!(
                    "is an int8 tensor of shape {}; int8 is only read for matrices with per-row scales",
                    dims(view.shape())
                ),
            ));
        }
        let scales = read_f32(file, bytes, &scale_key).map_err(|_| {
            tensor_error(
                file,
                name,
                format!(
                    "is stored as int8 without its per-row scales ('{scale_key}', {rows} values)"
                ),
            )
        })?;
        if scales.len() != rows {
            return Err(tensor_error(
                file,
                &scale_key,
                format!(
                    "has {} values, expected one per row of '{name}' ({rows})",
                    scales.len()
                ),
            ));
        }
        let columns = view.shape()[1];
        let data: Vec<u8> = view
            .data()
            .iter()
            .enumerate()
            .flat_map(|(i, q)| (f32::from(*q as i8) * scales[i / columns]).to_le_bytes())
            .collect();
        encoded.push(Encoded {
            name: name.clone(),
            dtype: Dtype::F32,
            shape: view.shape().to_vec(),
            data,
        });
    }
    serialize_encoded(file, &encoded).map(Some)
}

/// A safetensors file's header, or the error that names the file.
fn parse<'a>(file: &str, bytes: &'a [u8]) -> Result<SafeTensors<'a>> {
    SafeTensors::deserialize(bytes).map_err(|err| {
        tensor_error(
            file,
            "(header)",
            format!("not a readable safetensors file ({err})"),
        )
    })
}

fn tensor_error(file: &str, key: &str, reason: impl Into<String>) -> Error {
    Error::BundleTensor {
        file: file.into(),
        key: key.into(),
        reason: reason.into(),
    }
}

/// Checks that a safetensors file holds every expected tensor with the expected shape,
/// stored as f32 or f16.
pub fn check_tensors(file: &str, bytes: &[u8], expected: &[TensorSpec]) -> Result<()> {
    let tensors = parse(file, bytes)?;
    for spec in expected {
        let view = tensors.tensor(&spec.key).map_err(|_| {
            tensor_error(
                file,
                &spec.key,
                format!("missing (expected shape {})", dims(&spec.shape)),
            )
        })?;
        if view.shape() != spec.shape.as_slice() {
            return Err(tensor_error(
                file,
                &spec.key,
                format!(
                    "has shape {}, expected {}",
                    dims(view.shape()),
                    dims(&spec.shape)
                ),
            ));
        }
        if !matches!(view.dtype(), Dtype::F32 | Dtype::F16) {
            return Err(tensor_error(
                file,
                &spec.key,
                format!("is stored as {:?}, expected F32 or F16", view.dtype()),
            ));
        }
    }
    Ok(())
}

/// Reads one tensor as f32 (f16 is widened).
pub fn read_f32(file: &str, bytes: &[u8], key: &str) -> Result<Vec<f32>> {
    let tensors = parse(file, bytes)?;
    let view = tensors
        .tensor(key)
        .map_err(|_| tensor_error(file, key, "missing"))?;
    let data = view.data();
    match view.dtype() {
        Dtype::F32 => Ok(data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()),
        Dtype::F16 => Ok(data
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect()),
        other => Err(tensor_error(
            file,
            key,
            format!("is stored as {other:?}, expected F32 or F16"),
        )),
    }
}

/// How tensor names and layouts in a file relate to a burn module.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Regex → replacement pairs applied to the file's keys before matching module paths.
    pub key_remapping: Vec<(String, String)>,
    /// The file uses PyTorch layouts (`nn.Linear` weights `[out, in]`, LayerNorm
    /// `weight`/`bias`); convert them to burn's.
    pub pytorch_layout: bool,
    /// The module holds enums standing for `nn.Sequential` entries of several kinds; the
    /// file's keys name only the entry's index, not the variant.
    pub skip_enum_variants: bool,
}

/// Loads weights from safetensors bytes into `module`, converting f16 to f32, and fails
/// with the file and key named if any parameter is missing or misshapen.
pub fn load_module<M: Module>(
    module: M,
    file: &str,
    bytes: Vec<u8>,
    options: &LoadOptions,
) -> Result<M> {
    // Shapes as stored in the file, under the names the module will see, so errors can
    // report the file's layout rather than burn's.
    let remaps: Vec<(regex::Regex, &str)> = options
        .key_remapping
        .iter()
        .filter_map(|(pattern, to)| regex::Regex::new(pattern).ok().map(|re| (re, to.as_str())))
        .collect();
    let file_shapes: BTreeMap<String, Vec<usize>> = parse(file, &bytes)?
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let renamed = remaps
                .iter()
                .fold(name, |key, (re, to)| re.replace_all(&key, *to).into_owned());
            (renamed, view.shape().to_vec())
        })
        .collect();
    // Validation and partial loading are handled here so each problem can name its key.
    let mut store = SafetensorsStore::from_bytes(Some(bytes))
        .allow_partial(true)
        .validate(false)
        .skip_enum_variants(options.skip_enum_variants);
    for (pattern, replacement) in &options.key_remapping {
        store = store.with_key_remapping(pattern, replacement);
    }
    let widen = FloatCastAdapter::to(DType::F32);
    store = if options.pytorch_layout {
        store.with_from_adapter(PyTorchToBurnAdapter.chain(widen))
    } else {
        store.with_from_adapter(widen)
    };
    let mut module = module;
    let result = module
        .load_from(&mut store)
        .map_err(|err| tensor_error(file, "(file)", err.to_string()))?;
    if let Some(error) = result.errors.first() {
        return Err(match error {
            ApplyError::ShapeMismatch {
                path,
                expected,
                found,
            } => {
                // A PyTorch Linear weight arrives transposed; report it as the file has it.
                let transposed = file_shapes.get(path).is_some_and(|in_file| {
                    in_file.len() == 2
                        && found.len() == 2
                        && in_file[0] == found[1]
                        && in_file[1] == found[0]
                        && in_file[0] != in_file[1]
                });
                let shown = |shape: &[usize]| {
                    let mut shape = shape.to_vec();
                    if transposed {
                        shape.reverse();
                    }
                    dims(&shape)
                };
                tensor_error(
                    file,
                    path,
                    format!(
                        "has shape {}, expected {}",
                        shown(found.as_slice()),
                        shown(expected.as_slice())
                    ),
                )
            }
            ApplyError::DTypeMismatch { path, found, .. } => tensor_error(
                file,
                path,
                format!("is stored as {found:?}, expected F32 or F16"),
            ),
            ApplyError::AdapterError { path, message }
            | ApplyError::LoadError { path, message } => tensor_error(file, path, message.clone()),
        });
    }
    if let Some((path, _)) = result.missing.first() {
        return Err(tensor_error(
            file,
            path,
            format!(
                "missing from the file ({} of the model's tensors are missing: {})",
                result.missing.len(),
                result
                    .missing
                    .iter()
                    .take(5)
                    .map(|(p, _)| p.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok(module)
}

/// A module's weights as safetensors bytes in PyTorch layout, stored as `dtype`, with one
/// metadata entry (several would be written in hash order, so identical weights would
/// give different files). `skip_enum_variants` as in [`LoadOptions`].
pub fn save_module<M: Module>(
    module: &M,
    dtype: StoredDtype,
    skip_enum_variants: bool,
) -> Result<Vec<u8>> {
    let failed =
        |err: String| tensor_error("(new file)", "(all)", format!("could not serialise: {err}"));
    let mut store = SafetensorsStore::from_bytes(None)
        .clear_metadata()
        .metadata("producer", "brainclip")
        .skip_enum_variants(skip_enum_variants)
        .with_to_adapter(BurnToPyTorchAdapter);
    module
        .save_into(&mut store)
        .map_err(|err| failed(err.to_string()))?;
    let bytes = store.get_bytes().map_err(|err| failed(err.to_string()))?;
    match dtype {
        StoredDtype::F32 => Ok(bytes),
        StoredDtype::F16 | StoredDtype::Q8 => recast_safetensors(&bytes, dtype, &[]),
    }
}
