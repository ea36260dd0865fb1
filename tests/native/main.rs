//! The native integration tests, one module per part, built as one test binary: each
//! binary links the whole crate, so one instead of nineteen saves most of the link time.
#![cfg(not(target_family = "wasm"))]

#[path = "../common/decoder_bundle.rs"]
mod decoder_bundle;
#[path = "../common/mapper_fixtures.rs"]
mod mapper_fixtures;
#[path = "../common/taesd_fixtures.rs"]
mod taesd_fixtures;

mod autoencoder;
mod bundle;
mod bundle_zip;
mod cli;
mod cli_pipeline;
mod clip;
mod demo_bundle;
mod device;
mod diffusion;
mod diffusion_cli;
mod f16_bundle;
mod fmri;
mod fuzz_corpus;
mod image_metrics;
mod mapper;
mod sim;
mod subjects;
mod train_clip;
mod voxel_sheet;
