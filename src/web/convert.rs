//! Between JavaScript values and the crate's: errors with their stable codes, results as
//! plain objects, options objects (typed arrays taken out first) read by serde.

use serde::{Deserialize, Serialize};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use crate::error::Error;
use crate::matrix::Matrix;

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// Converts a crate error into a JS `Error` whose `code` property is the stable error code.
pub fn to_js_error(err: Error) -> JsValue {
    let js = js_sys::Error::new(&err.to_string());
    js.set_name("BrainClipError");
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(&js, &"code".into(), &err.code().into());
    js.into()
}

/// A result as plain JS objects, through JSON text: `JSON.parse` builds them in one call,
/// where building them property by property from wasm took about 5 ms per ranked entry (1.2 s
/// for 50 trials' top 5).
pub(super) fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    let text = serde_json::to_string(value).map_err(|err| js_sys::Error::new(&err.to_string()))?;
    js_sys::JSON::parse(&text)
}

/// The typed arrays [`take_f32_arrays`] took, one slot per key.
type TakenArrays = Vec<Option<Vec<f32>>>;

/// Takes the `Float32Array`s under `keys` out of an options object (a shallow copy; the
/// caller's object is untouched) before serde reads the rest: serde reads a typed array one
/// element at a time through JS, seconds for a few thousand values. Plain arrays stay for
/// serde.
pub(super) fn take_f32_arrays(
    value: JsValue,
    keys: &[&str],
) -> Result<(JsValue, TakenArrays), JsValue> {
    let mut taken = vec![None; keys.len()];
    if !value.is_object() {
        return Ok((value, taken));
    }
    let copy = js_sys::Object::assign(&js_sys::Object::new(), value.unchecked_ref());
    for (key, slot) in keys.iter().zip(taken.iter_mut()) {
        let key = JsValue::from_str(key);
        if let Some(array) = js_sys::Reflect::get(&copy, &key)?.dyn_ref::<js_sys::Float32Array>() {
            *slot = Some(array.to_vec());
            js_sys::Reflect::delete_property(&copy, &key)?;
        }
    }
    Ok((copy.into(), taken))
}

/// Parses an options object, naming the offending field on failure.
pub(super) fn from_js<T: for<'de> Deserialize<'de> + Default>(
    value: JsValue,
    what: &str,
) -> Result<T, JsValue> {
    if value.is_undefined() || value.is_null() {
        return Ok(T::default());
    }
    serde_wasm_bindgen::from_value(value).map_err(|err| {
        to_js_error(Error::ShapeMismatch {
            what: format!("{what} options"),
            got: err.to_string(),
            expected: "the documented option names and types".into(),
        })
    })
}

/// A plain object from its fields: for results holding typed arrays, which serde would copy
/// into plain arrays.
pub(super) fn js_object(fields: &[(&str, JsValue)]) -> Result<JsValue, JsValue> {
    let out = js_sys::Object::new();
    for (key, value) in fields {
        js_sys::Reflect::set(&out, &(*key).into(), value)?;
    }
    Ok(out.into())
}

/// RGBA images as an array of `Uint8ClampedArray`s (what `new ImageData(pixels, size)` takes).
pub(super) fn rgba_array(images: &[Vec<u8>]) -> js_sys::Array {
    images
        .iter()
        .map(|rgba| JsValue::from(js_sys::Uint8ClampedArray::from(rgba.as_slice())))
        .collect()
}

pub(super) fn rows_of(values: Vec<f32>, dim: usize, what: &str) -> Result<Matrix, Error> {
    if dim == 0 || values.is_empty() || !values.len().is_multiple_of(dim) {
        return Err(Error::ShapeMismatch {
            what: what.into(),
            got: format!("{} values", values.len()),
            expected: format!("a non-empty multiple of the embedding size {dim}"),
        });
    }
    let rows = values.len() / dim;
    Matrix::new(values, rows, dim)
}
