//! `.npy` and `.npz` input, parsed by `npyz` (headers, dtypes, byte order) and `zip`.

use std::io::{Cursor, Read};

use npyz::{DType, NpyFile, NpyHeader, Order, TypeChar};

use crate::data::fmri::{FmriBatch, FmriSource, ReadOptions, SourceFormat, declared_bytes};
use crate::error::{Error, Result};

/// Element types we accept, as numpy names them.
#[derive(Debug, Clone, Copy)]
enum Element {
    F16,
    F32,
    F64,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
}

impl Element {
    fn from_dtype(dtype: &DType) -> Option<(Element, usize)> {
        let DType::Plain(ts) = dtype else { return None };
        let size = ts.size_field() as usize;
        let element = match (ts.type_char(), size) {
            (TypeChar::Float, 2) => Element::F16,
            (TypeChar::Float, 4) => Element::F32,
            (TypeChar::Float, 8) => Element::F64,
            (TypeChar::Int, 1) => Element::I8,
            (TypeChar::Int, 2) => Element::I16,
            (TypeChar::Int, 4) => Element::I32,
            (TypeChar::Int, 8) => Element::I64,
            (TypeChar::Uint, 1) => Element::U8,
            (TypeChar::Uint, 2) => Element::U16,
            _ => return None,
        };
        Some((element, size))
    }

    fn numpy_name(self) -> &'static str {
        match self {
            Element::F16 => "float16",
            Element::F32 => "float32",
            Element::F64 => "float64",
            Element::I8 => "int8",
            Element::I16 => "int16",
            Element::I32 => "int32",
            Element::I64 => "int64",
            Element::U8 => "uint8",
            Element::U16 => "uint16",
        }
    }
}

/// numpy's description of a dtype for error messages ("<c16 (complex128)").
fn describe_dtype(dtype: &DType) -> String {
    match dtype {
        DType::Plain(ts) => {
            let kind = match ts.type_char() {
                TypeChar::Complex => format!("complex{}", ts.size_field() * 8),
                TypeChar::Bool => "bool".into(),
                TypeChar::UnicodeStr => "unicode string".into(),
                TypeChar::ByteStr => "byte string".into(),
                TypeChar::Float => format!("float{}", ts.size_field() * 8),
                TypeChar::Int => format!("int{}", ts.size_field() * 8),
                TypeChar::Uint => format!("uint{}", ts.size_field() * 8),
                TypeChar::TimeDelta => "timedelta64".into(),
                TypeChar::DateTime => "datetime64".into(),
                TypeChar::RawData => "raw bytes (void)".into(),
                _ => "an unknown kind".into(),
            };
            format!("'{ts}' ({kind})")
        }
        DType::Array(..) => "a sub-array dtype".into(),
        DType::Record(_) => "a structured (record) dtype".into(),
    }
}

fn corrupt(file_name: &str, reason: impl std::fmt::Display) -> Error {
    Error::CorruptFile {
        file: file_name.to_string(),
        reason: reason.to_string(),
    }
}

fn read_values<T, R>(npy: NpyFile<R>, convert: impl Fn(T) -> f32) -> std::io::Result<Vec<f32>>
where
    T: npyz::Deserialize,
    R: Read,
{
    npy.data::<T>()
        .map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidData, err))?
        .map(|v| v.map(&convert))
        .collect()
}

/// Refuses a header whose declared length runs past the end of the file before the header
/// reader allocates that length (up to 4 GiB for format versions 2 and 3).
fn check_header_length(bytes: &[u8], file_name: &str, max_bytes: u64) -> Result<()> {
    if bytes.len() < 8 || !bytes.starts_with(b"\x93NUMPY") {
        return Ok(()); // Not a header we can measure; the reader reports what is wrong.
    }
    let (length, start) = match bytes[6] {
        1 => (
            bytes
                .get(8..10)
                .map(|b| u16::from_le_bytes([b[0], b[1]]) as u64),
            10u64,
        ),
        _ => (
            bytes
                .get(8..12)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64),
            12u64,
        ),
    };
    match length {
        Some(length) if start + length > bytes.len() as u64 => Err(corrupt(
            file_name,
            format!(
                "its .npy header is invalid (it declares a {length}-byte header, but only {} bytes follow)",
                (bytes.len() as u64).saturating_sub(start)
            ),
        )),
        Some(length) => {
            let header = &bytes[start as usize..(start + length) as usize];
            check_header_nesting(header, file_name)?;
            check_header_element_count(header, file_name, max_bytes)
        }
        None => Ok(()),
    }
}

/// Deepest bracket nesting a numeric array's header needs: `{'shape': (2, 3), }` is 2;
/// structured dtypes (refused later anyway) reach 4.
const MAX_HEADER_NESTING: usize = 6;

/// The header parser backtracks exponentially on deeply nested brackets (a 500-byte
/// header took over 15 s), so absurd nesting is refused before it is parsed.
fn check_header_nesting(header: &[u8], file_name: &str) -> Result<()> {
    let mut depth = 0usize;
    for byte in header {
        match byte {
            b'[' | b'(' | b'{' => depth += 1,
            b']' | b')' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth > MAX_HEADER_NESTING {
            return Err(corrupt(
                file_name,
                format!(
                    "its .npy header is invalid (brackets nest more than {MAX_HEADER_NESTING} deep; \
                     a numeric array's header needs 2)"
                ),
            ));
        }
    }
    Ok(())
}

/// The header reader multiplies the declared dimensions without an overflow check (for the
/// element count and the strides): a panic in builds with overflow checks, a wrapped count
/// otherwise. So a shape whose nonzero dimensions multiply past 64 bits is refused first,
/// read the way the reader reads it (one trailing newline dropped, a Python literal). Headers
/// it cannot read are left to the reader, which says what is wrong.
fn check_header_element_count(header: &[u8], file_name: &str, max_bytes: u64) -> Result<()> {
    use py_literal::Value;
    let text = header.strip_suffix(b"\n").unwrap_or(header);
    let Ok(Ok(Value::Dict(entries))) = std::str::from_utf8(text).map(str::parse::<Value>) else {
        return Ok(());
    };
    let dims = entries.iter().find_map(|(key, value)| match (key, value) {
        (Value::String(key), Value::Tuple(dims) | Value::List(dims)) if key == "shape" => {
            Some(dims)
        }
        _ => None,
    });
    let Some(dims) = dims else { return Ok(()) };
    let mut shape = Vec::with_capacity(dims.len());
    let mut count = Some(1u64);
    for dim in dims {
        let Value::Integer(dim) = dim else {
            return Ok(());
        };
        let Ok(dim) = u64::try_from(dim) else {
            return Ok(());
        };
        shape.push(usize::try_from(dim).unwrap_or(usize::MAX));
        if dim != 0 {
            count = count.and_then(|c| c.checked_mul(dim));
        }
    }
    match count {
        Some(_) => Ok(()),
        None => Err(Error::TooLarge {
            file: file_name.to_string(),
            shape,
            declared: None,
            limit: max_bytes,
        }),
    }
}

/// A numeric `.npy` array of any rank, decoded to f32 in C (row-major) order.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    pub values: Vec<f32>,
    pub shape: Vec<usize>,
    /// numpy name of the stored element type.
    pub dtype: &'static str,
}

/// Reads a numeric `.npy` array of any rank. `check_shape` runs on the declared shape
/// before any data is decoded, so unwanted shapes are refused early.
pub fn read_npy_array(
    bytes: &[u8],
    file_name: &str,
    max_bytes: u64,
    check_shape: impl Fn(&[usize]) -> Result<()>,
) -> Result<NpyArray> {
    check_header_length(bytes, file_name, max_bytes)?;
    let mut cursor = Cursor::new(bytes);
    let header = NpyHeader::from_reader(&mut cursor)
        .map_err(|err| corrupt(file_name, format!("its .npy header is invalid ({err})")))?;
    let shape: Vec<usize> = header
        .shape()
        .iter()
        .map(|&d| usize::try_from(d).unwrap_or(usize::MAX))
        .collect();
    let dtype = header.dtype();
    let (element, item_size) =
        Element::from_dtype(&dtype).ok_or_else(|| Error::UnsupportedDtype {
            file: file_name.to_string(),
            dtype: describe_dtype(&dtype),
        })?;
    check_shape(&shape)?;
    if shape.contains(&0) {
        return Err(Error::EmptyArray {
            file: file_name.to_string(),
            shape,
        });
    }
    let needed = declared_bytes(file_name, &shape, item_size, max_bytes)?;
    let available = (bytes.len() as u64).saturating_sub(cursor.position());
    if available < needed {
        return Err(Error::Truncated {
            file: file_name.to_string(),
            declared: needed,
            available,
        });
    }
    let order = header.order();
    let npy = NpyFile::with_header(header, cursor);
    let values = match element {
        Element::F16 => read_values(npy, |v: half::f16| v.to_f32()),
        Element::F32 => read_values(npy, |v: f32| v),
        Element::F64 => read_values(npy, |v: f64| v as f32),
        Element::I8 => read_values(npy, |v: i8| v as f32),
        Element::I16 => read_values(npy, |v: i16| v as f32),
        Element::I32 => read_values(npy, |v: i32| v as f32),
        Element::I64 => read_values(npy, |v: i64| v as f32),
        Element::U8 => read_values(npy, |v: u8| v as f32),
        Element::U16 => read_values(npy, |v: u16| v as f32),
    }
    .map_err(|err| corrupt(file_name, format!("its data could not be decoded ({err})")))?;
    let values = match order {
        Order::C => values,
        Order::Fortran => fortran_to_c(&values, &shape),
    };
    Ok(NpyArray {
        values,
        shape,
        dtype: element.numpy_name(),
    })
}

/// Reorders Fortran-order (first index fastest) values into C order (last index fastest).
fn fortran_to_c(values: &[f32], shape: &[usize]) -> Vec<f32> {
    let mut fortran_strides = vec![1usize; shape.len()];
    for d in 1..shape.len() {
        fortran_strides[d] = fortran_strides[d - 1] * shape[d - 1];
    }
    let mut index = vec![0usize; shape.len()];
    let mut out = Vec::with_capacity(values.len());
    for _ in 0..values.len() {
        let offset: usize = index.iter().zip(&fortran_strides).map(|(i, s)| i * s).sum();
        out.push(values[offset]);
        // Advance the C-order multi-index (last axis fastest).
        for d in (0..shape.len()).rev() {
            index[d] += 1;
            if index[d] < shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    out
}

/// `[voxels]` is one trial; `[trials, voxels]` is a batch; anything else is refused.
fn fmri_dims(file_name: &str, shape: &[usize]) -> Result<(usize, usize)> {
    match shape {
        [voxels] => Ok((1, *voxels)),
        [trials, voxels] => Ok((*trials, *voxels)),
        _ => Err(Error::UnsupportedShape {
            file: file_name.to_string(),
            shape: shape.to_vec(),
        }),
    }
}

/// Reads one `.npy` array as fMRI. `array_name` is set when it came out of an `.npz`.
fn read_array(
    bytes: &[u8],
    file_name: &str,
    array_name: Option<&str>,
    format: SourceFormat,
    options: &ReadOptions,
) -> Result<FmriBatch> {
    let array = read_npy_array(bytes, file_name, options.max_bytes, |shape| {
        fmri_dims(file_name, shape).map(|_| ())
    })?;
    let (trials, voxels) = fmri_dims(file_name, &array.shape)?;
    let source = FmriSource {
        file_name: file_name.to_string(),
        format,
        array_name: array_name.map(str::to_string),
        mask_name: None,
        dtype: array.dtype.to_string(),
        shape: array.shape,
    };
    FmriBatch::new(array.values, trials, voxels, source)
}

pub(crate) fn read_npy(bytes: &[u8], file_name: &str, options: &ReadOptions) -> Result<FmriBatch> {
    read_array(bytes, file_name, None, SourceFormat::Npy, options)
}

/// Lists the arrays of an `.npz` archive (entries ending in `.npy`, without the suffix).
pub fn npz_array_names(bytes: &[u8], file_name: &str) -> Result<Vec<String>> {
    let archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|err| {
        corrupt(
            file_name,
            format!("it is not a readable .npz archive ({err})"),
        )
    })?;
    Ok(archive
        .file_names()
        .filter_map(|name| name.strip_suffix(".npy"))
        .map(str::to_string)
        .collect())
}

pub(crate) fn read_npz(bytes: &[u8], file_name: &str, options: &ReadOptions) -> Result<FmriBatch> {
    let mut names = npz_array_names(bytes, file_name)?;
    names.sort();
    let chosen = match (&options.array, names.as_slice()) {
        (Some(wanted), _) if names.contains(wanted) => wanted.clone(),
        (Some(wanted), _) => {
            return Err(Error::ArrayNotFound {
                file: file_name.to_string(),
                wanted: wanted.clone(),
                available: names,
            });
        }
        (None, [only]) => only.clone(),
        (None, []) => {
            return Err(Error::EmptyArchive {
                file: file_name.to_string(),
            });
        }
        (None, _) => {
            return Err(Error::AmbiguousArray {
                file: file_name.to_string(),
                available: names,
            });
        }
    };
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|err| {
        corrupt(
            file_name,
            format!("it is not a readable .npz archive ({err})"),
        )
    })?;
    let mut entry = archive.by_name(&format!("{chosen}.npy")).map_err(|err| {
        corrupt(
            file_name,
            format!("array '{chosen}' cannot be opened ({err})"),
        )
    })?;
    // The entry's declared size can lie (zip bombs), so never read past the limit.
    let limit = options.max_bytes.saturating_add(64 * 1024);
    if entry.size() > limit {
        return Err(Error::TooLarge {
            file: format!("{file_name}:{chosen}"),
            shape: Vec::new(),
            declared: Some(entry.size()),
            limit: options.max_bytes,
        });
    }
    let mut inner = Vec::new();
    inner
        .try_reserve_exact(entry.size() as usize)
        .map_err(|_| corrupt(file_name, "not enough memory for the array"))?;
    (&mut entry)
        .take(limit)
        .read_to_end(&mut inner)
        .map_err(|err| {
            corrupt(
                file_name,
                format!("array '{chosen}' cannot be decompressed ({err})"),
            )
        })?;
    read_array(&inner, file_name, Some(&chosen), SourceFormat::Npz, options)
}

/// Writes a C-order f32 array as `.npy` (format 1.0, little endian) — for CLI outputs that
/// Python users load with `np.load`.
pub fn write_npy_f32(values: &[f32], shape: &[usize]) -> Result<Vec<u8>> {
    use npyz::WriterBuilder;
    let io = |err: std::io::Error| Error::Io {
        path: "(npy output)".into(),
        reason: err.to_string(),
    };
    let mut out = Vec::new();
    let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let mut writer = npyz::WriteOptions::<f32>::new()
        .default_dtype()
        .shape(&shape)
        .writer(&mut out)
        .begin_nd()
        .map_err(io)?;
    writer.extend(values.iter().copied()).map_err(io)?;
    writer.finish().map_err(io)?;
    Ok(out)
}
