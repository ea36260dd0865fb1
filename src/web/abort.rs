//! Cancellation: long calls take an `AbortSignal` as `options.signal` and reject with code
//! "aborted" once it fires. The work is dropped at its next yield point
//! (`ComputeDevice::yield_point`), where the CPU backend lets the event loop run, so an abort
//! takes effect within one batch or sampler step.

use std::future::Future;

use futures_util::future::{Either, select};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::AbortSignal;

use super::convert::to_js_error;
use crate::error::Error;

/// Takes `signal` out of an options object (a shallow copy; the caller's object is
/// untouched), so that the rest can be parsed strictly. Anything but an `AbortSignal` there
/// is refused by name.
pub fn take_signal(
    options: JsValue,
    call: &str,
) -> Result<(JsValue, Option<AbortSignal>), JsValue> {
    if !options.is_object() {
        return Ok((options, None));
    }
    let key = JsValue::from_str("signal");
    let value = js_sys::Reflect::get(&options, &key)?;
    if value.is_undefined() || value.is_null() {
        return Ok((options, None));
    }
    let signal = value.dyn_into::<AbortSignal>().map_err(|other| {
        to_js_error(Error::ShapeMismatch {
            what: format!("{call} options: signal"),
            got: other
                .js_typeof()
                .as_string()
                .unwrap_or_else(|| "another value".into()),
            expected: "an AbortSignal (e.g. new AbortController().signal)".into(),
        })
    })?;
    let copy = js_sys::Object::assign(&js_sys::Object::new(), options.unchecked_ref());
    js_sys::Reflect::delete_property(&copy, &key)?;
    Ok((copy.into(), Some(signal)))
}

/// The error an aborted call rejects with: code "aborted", naming the call and the signal's
/// reason.
pub fn aborted(what: &str, signal: &AbortSignal) -> JsValue {
    let reason = signal.reason();
    let reason = reason
        .dyn_ref::<js_sys::Error>()
        .map(|err| String::from(err.message()))
        .or_else(|| reason.as_string())
        .filter(|text| !text.is_empty())
        .unwrap_or_else(|| "its AbortSignal was aborted".into());
    to_js_error(Error::Aborted {
        what: what.into(),
        reason,
    })
}

/// Runs `work` until it finishes or `signal` fires, whichever is first; on abort the work is
/// dropped (freeing what it held) and `what` is named in the error.
pub async fn abortable<T>(
    what: &str,
    signal: Option<AbortSignal>,
    work: impl Future<Output = Result<T, JsValue>>,
) -> Result<T, JsValue> {
    let Some(signal) = signal else {
        return work.await;
    };
    if signal.aborted() {
        return Err(aborted(what, &signal));
    }
    let mut listener = None;
    let fired = js_sys::Promise::new(&mut |resolve, _| {
        let once = web_sys::AddEventListenerOptions::new();
        once.set_once(true);
        // Adding a listener to a live signal cannot fail.
        let _ = signal.add_event_listener_with_callback_and_add_event_listener_options(
            "abort", &resolve, &once,
        );
        listener = Some(resolve);
    });
    let work = std::pin::pin!(work);
    let result = match select(work, JsFuture::from(fired)).await {
        // A failure caused by the abort (a fetch it cancelled) may come first.
        Either::Left((Err(_), _)) if signal.aborted() => Err(aborted(what, &signal)),
        Either::Left((result, _)) => result,
        Either::Right(_) => Err(aborted(what, &signal)),
    };
    if let Some(listener) = listener {
        let _ = signal.remove_event_listener_with_callback("abort", &listener);
    }
    result
}

/// The promise of a long call: `signal` is taken out of `options` (refused by name when it is
/// not an `AbortSignal`), `work` is made from the rest, and an abort ends it with code
/// "aborted" naming `what`.
pub fn abortable_call<W>(
    call: &str,
    what: &'static str,
    options: JsValue,
    work: impl FnOnce(JsValue) -> W,
) -> js_sys::Promise
where
    W: Future<Output = Result<JsValue, JsValue>> + 'static,
{
    match take_signal(options, call) {
        Ok((rest, signal)) => {
            let work = work(rest);
            wasm_bindgen_futures::future_to_promise(abortable(what, signal, work))
        }
        Err(err) => js_sys::Promise::reject(&err),
    }
}
