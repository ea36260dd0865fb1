//! The browser tests (wasm-bindgen-test in headless Chromium, WebGPU and CPU), one module
//! per part, built as one wasm test binary.
#![cfg(target_family = "wasm")]

use wasm_bindgen_test::wasm_bindgen_test_configure;

wasm_bindgen_test_configure!(run_in_browser);

mod web;
mod web_data;
mod web_models;
