# brainclip — `make serve` builds and serves the demo; `make test` runs the whole suite.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
export PATH := $(HOME)/.cargo/bin:$(PATH)

WASM_TARGET := wasm32-unknown-unknown
PORT ?= 8080
CHROMEDRIVER ?= /usr/bin/chromedriver
# The runner prints each test's console output only with --nocapture.
export WASM_BINDGEN_TEST_TIMEOUT ?= 600

.PHONY: setup serve pkg pkg-cpu pkg-threads site test lint lint-native lint-wasm test-native test-browser test-e2e bench-web demo-bundle clean

setup:
	@tools/setup.sh

## pkg: release wasm builds + wasm-bindgen (--target web) into pkg/, the npm package: what
## `make serve` ships and the end-to-end tests run. Three builds: `brainclip` (WebGPU and CPU),
## `brainclip_cpu` (CPU only, about a quarter of the size, for browsers without WebGPU) and
## `brainclip_threads` (the CPU path on a thread pool, for the worker on isolated pages). The
## browser tests build in release with the same features, so the package reuses their
## compiled dependencies instead of building the stack twice.
WASM_PROFILE ?= release
# The `brainclip` build: WebGPU, and mapper training (`trainMapper`) on its CPU path.
WASM_FEATURES := webgpu,training
WASM_OUT_DIR := $(if $(filter dev,$(WASM_PROFILE)),debug,$(WASM_PROFILE))
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
WASM_FILE := $(TARGET_DIR)/$(WASM_TARGET)/$(WASM_OUT_DIR)/brainclip.wasm
# The CPU build is linked whole (profile wasm-cpu: fat LTO, one codegen unit, our crate for
# size): 2.95 MB gzipped.
WASM_CPU_PROFILE := $(if $(filter release,$(WASM_PROFILE)),wasm-cpu,$(WASM_PROFILE))
WASM_CPU_FILE := $(TARGET_DIR)/$(WASM_TARGET)/$(if $(filter dev,$(WASM_CPU_PROFILE)),debug,$(WASM_CPU_PROFILE))/brainclip.wasm
# The threaded CPU build (`brainclip_threads`, what the worker runs on a cross-origin isolated
# page): wasm atomics and shared memory, so the standard library is rebuilt with them on a
# pinned nightly compiler.
NIGHTLY := nightly-2026-05-19
WASM_THREADS_PROFILE := $(if $(filter release,$(WASM_PROFILE)),wasm-threads,$(WASM_PROFILE))
# Its own target folder: another compiler shares no compiled dependencies, and cargo's lock on
# a folder would keep it from building beside the CPU build.
THREADS_TARGET_DIR := $(TARGET_DIR)/threads
WASM_THREADS_FILE := $(THREADS_TARGET_DIR)/$(WASM_TARGET)/$(if $(filter dev,$(WASM_THREADS_PROFILE)),debug,$(WASM_THREADS_PROFILE))/brainclip.wasm
THREADS_RUSTFLAGS := -C target-feature=+simd128,+atomics,+bulk-memory,+mutable-globals \
	--cfg getrandom_backend="wasm_js" -C link-arg=--shared-memory -C link-arg=--import-memory \
	-C link-arg=--max-memory=4294967296 -C link-arg=--export=__wasm_init_tls \
	-C link-arg=--export=__tls_size -C link-arg=--export=__tls_align -C link-arg=--export=__tls_base
pkg:
	$(LINTED) cargo build --profile $(WASM_PROFILE) --lib --target $(WASM_TARGET) --features $(WASM_FEATURES)
	wasm-bindgen --target web --out-dir pkg --out-name brainclip --remove-name-section $(WASM_FILE)
	$(MAKE) --no-print-directory pkg-cpu pkg-threads
	node tools/package.mjs

## Built one after the other: each already keeps both cores busy (run side by side under
## `make -j2`, the two took 23 s longer than in turn on a clean clone).
pkg-cpu:
	$(LINTED) cargo build --profile $(WASM_CPU_PROFILE) --lib --target $(WASM_TARGET)
	wasm-bindgen --target web --out-dir pkg --out-name brainclip_cpu --remove-name-section $(WASM_CPU_FILE)

pkg-threads:
	RUSTFLAGS='$(THREADS_RUSTFLAGS)' CARGO_TARGET_DIR=$(THREADS_TARGET_DIR) cargo +$(NIGHTLY) build \
		--profile $(WASM_THREADS_PROFILE) --lib --target $(WASM_TARGET) --features threads,training \
		-Z build-std=panic_abort,std
	wasm-bindgen --target web --out-dir pkg --out-name brainclip_threads --remove-name-section $(WASM_THREADS_FILE)

## site: the demo as one self-contained static folder (site/), what `make serve` serves and
## the end-to-end tests load; copy it to any static host as it is.
site: pkg
	node tools/site.mjs site

serve: setup site
	PORT=$(PORT) node tools/serve.mjs

## test: every suite, in order, ending with a table of the stages and their times.
test:
	@tools/stages.sh setup lint test-native test-browser test-e2e

## Clippy runs inside the builds that compile our crate anyway, never as a separate
## `cargo clippy`: clippy-driver wraps rustc for our crate only (what `cargo clippy` does), so
## the dependencies are compiled once, for the build, instead of once more in check mode (that
## cost 2 min 45 s of a clean run for the wasm side alone). Linted this way: the native
## library, binaries and tests (`test-native`); the wasm library and tests with WebGPU and
## training (`test-browser`, whose library `pkg` reuses); the wasm CPU library
## (`pkg-cpu`). Warnings are errors. `lint-native` and `lint-wasm` run clippy alone.
# `cargo clippy`'s own way of passing its arguments to clippy-driver.
CLIPPY_DENY_WARNINGS := -D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__
LINTED := RUSTC_WORKSPACE_WRAPPER=clippy-driver CLIPPY_ARGS='$(CLIPPY_DENY_WARNINGS)'
lint:
	cargo fmt --check

lint-native:
	cargo clippy --all-targets -- -D warnings

lint-wasm:
	cargo clippy --all-targets --target $(WASM_TARGET) --features $(WASM_FEATURES) -- -D warnings
	cargo clippy --lib --target $(WASM_TARGET) -- -D warnings

test-native:
	$(LINTED) cargo test

test-browser:
	CHROMEDRIVER=$(CHROMEDRIVER) $(LINTED) cargo test --release --target $(WASM_TARGET) --features $(WASM_FEATURES) -- --nocapture

test-e2e: site
	$(LINTED) node --test --test-reporter=spec tests/e2e/

## bench-web: brainclip's memory in Chromium, stage by stage, with a 15,724-voxel mapper and a
## 1,000-trial upload; then brainclip against onnxruntime-web on one random CLIP ViT-B/32
## (models from tools/reference/clip_onnx.py, run once outside CI). Not part of `make test`.
bench-web: site
	cargo build --release --bin brainclip
	node tools/bench_web.mjs

## demo-bundle: retrain the embedded demo (simulated world → tiny CLIP → mappers and
## controls for three subjects and three seeds) into www/models/demo/ and www/samples/;
## resumable.
demo-bundle:
	tools/demo_bundle.sh

clean:
	cargo clean
	rm -rf pkg site node_modules
