//! The tiny autoencoder (TAESD) exactly as diffusers' `AutoencoderTiny` names, configures
//! and runs it, so a diffusers directory (`config.json` + `diffusion_pytorch_model.safetensors`)
//! loads unchanged and our own trained weights load into diffusers.
//!
//! `encoder.layers` / `decoder.layers` are `nn.Sequential`s mixing convolutions, residual
//! blocks, an activation and upsampling layers; their indices are the weight keys, so the
//! layer list below keeps every index, weightless ones included.

use burn::module::Module;
use burn::nn::Identity;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor, activation};
use serde::{Deserialize, Serialize};

use crate::data::bundle::StoredDtype;
use crate::data::weights::{LoadOptions, load_module};
use crate::error::{Error, Result};

/// The weight file diffusers writes for a model directory.
pub const WEIGHTS_FILE: &str = "diffusion_pytorch_model.safetensors";

/// diffusers' `get_activation` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TinyActivation {
    #[default]
    Relu,
    Silu,
    Swish,
    Gelu,
    Mish,
}

impl TinyActivation {
    fn apply(self, x: Tensor<4>) -> Tensor<4> {
        match self {
            TinyActivation::Relu => activation::relu(x),
            TinyActivation::Silu | TinyActivation::Swish => activation::silu(x),
            // torch's nn.GELU default: the exact (erf) form.
            TinyActivation::Gelu => activation::gelu(x),
            TinyActivation::Mish => activation::mish(x),
        }
    }
}

/// `nn.Upsample(mode=...)` modes, with PyTorch's `align_corners=False`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum UpsampleMode {
    #[default]
    #[serde(rename = "nearest")]
    Nearest,
    #[serde(rename = "nearest-exact")]
    NearestExact,
    #[serde(rename = "bilinear")]
    Bilinear,
    #[serde(rename = "bicubic")]
    Bicubic,
}

impl UpsampleMode {
    fn interpolate(self, x: Tensor<4>, factor: usize) -> Tensor<4> {
        let [_, _, h, w] = x.dims();
        let mode = match self {
            UpsampleMode::Nearest => InterpolateMode::Nearest,
            UpsampleMode::NearestExact => InterpolateMode::NearestExact,
            UpsampleMode::Bilinear => InterpolateMode::Bilinear,
            UpsampleMode::Bicubic => InterpolateMode::Bicubic,
        };
        let mut options = InterpolateOptions::new(mode).with_output_size([h * factor, w * factor]);
        options.align_corners = false;
        interpolate(x, options)
    }
}

/// `AutoencoderTiny`'s `config.json`; omitted fields take diffusers' defaults (the
/// published `taesd`), unknown ones (`_class_name`, `block_out_channels`, …) are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AutoencoderTinyConfig {
    pub in_channels: usize,
    pub out_channels: usize,
    pub encoder_block_out_channels: Vec<usize>,
    pub decoder_block_out_channels: Vec<usize>,
    pub act_fn: TinyActivation,
    pub upsample_fn: UpsampleMode,
    pub latent_channels: usize,
    pub upsampling_scaling_factor: usize,
    pub num_encoder_blocks: Vec<usize>,
    pub num_decoder_blocks: Vec<usize>,
    pub latent_magnitude: f32,
    pub latent_shift: f32,
    pub scaling_factor: f32,
    /// Absent from older configs (`taesd`); `taesd3`/`taef1` set it.
    pub shift_factor: f32,
}

impl Default for AutoencoderTinyConfig {
    fn default() -> Self {
        AutoencoderTinyConfig {
            in_channels: 3,
            out_channels: 3,
            encoder_block_out_channels: vec![64; 4],
            decoder_block_out_channels: vec![64; 4],
            act_fn: TinyActivation::Relu,
            upsample_fn: UpsampleMode::Nearest,
            latent_channels: 4,
            upsampling_scaling_factor: 2,
            num_encoder_blocks: vec![1, 3, 3, 3],
            num_decoder_blocks: vec![3, 3, 3, 1],
            latent_magnitude: 3.0,
            latent_shift: 0.5,
            scaling_factor: 1.0,
            shift_factor: 0.0,
        }
    }
}

impl AutoencoderTinyConfig {
    /// The world-sized autoencoder: 64×64 images ↔ 8×8×4 latents, as `taesd` at a quarter
    /// of its width and one block per stage (sized to train on two CPU cores).
    pub fn world() -> Self {
        AutoencoderTinyConfig {
            encoder_block_out_channels: vec![16; 4],
            decoder_block_out_channels: vec![16; 4],
            num_encoder_blocks: vec![1, 1, 1, 1],
            num_decoder_blocks: vec![1, 1, 1, 1],
            ..AutoencoderTinyConfig::default()
        }
    }

    /// Reads a diffusers `config.json`.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let config: AutoencoderTinyConfig =
            serde_json::from_slice(bytes).map_err(|err| Error::InvalidConfig {
                what: "autoencoder config.json".into(),
                reason: err.to_string(),
            })?;
        config.validate()?;
        Ok(config)
    }

    /// A diffusers `config.json` for this configuration.
    pub fn to_json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).expect("config serialises");
        value["_class_name"] = "AutoencoderTiny".into();
        value["block_out_channels"] = serde_json::json!(self.decoder_block_out_channels);
        value["force_upcast"] = false.into();
        value
    }

    /// How many pixels one latent cell covers along each side.
    pub fn downscale(&self) -> usize {
        1 << self.num_encoder_blocks.len().saturating_sub(1)
    }

    /// The checks diffusers leaves to a shape error at run time: each stage's convolutions
    /// keep its width, so consecutive stages must have equal widths.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| {
            Err(Error::InvalidConfig {
                what: "autoencoder config".into(),
                reason,
            })
        };
        for (side, widths, blocks) in [
            (
                "encoder",
                &self.encoder_block_out_channels,
                &self.num_encoder_blocks,
            ),
            (
                "decoder",
                &self.decoder_block_out_channels,
                &self.num_decoder_blocks,
            ),
        ] {
            if widths.is_empty() || widths.len() != blocks.len() {
                return bad(format!(
                    "{side}_block_out_channels has {} entries and num_{side}_blocks {}; \
                     expected the same number, at least one",
                    widths.len(),
                    blocks.len()
                ));
            }
            if widths.contains(&0) {
                return bad(format!("{side}_block_out_channels must all be positive"));
            }
            if widths.windows(2).any(|pair| pair[0] != pair[1]) {
                return bad(format!(
                    "{side}_block_out_channels {widths:?} must all be equal: each \
                     {side} stage's convolutions keep the previous stage's width"
                ));
            }
        }
        if self.in_channels == 0 || self.out_channels == 0 || self.latent_channels == 0 {
            return bad("in_channels, out_channels and latent_channels must be positive".into());
        }
        if self.upsampling_scaling_factor == 0 {
            return bad("upsampling_scaling_factor must be positive".into());
        }
        let latent_range_ok = self.latent_magnitude > 0.0
            && self.latent_magnitude.is_finite()
            && self.latent_shift.is_finite();
        let diffusion_scaling_ok = self.scaling_factor.is_finite()
            && self.scaling_factor != 0.0
            && self.shift_factor.is_finite();
        if !latent_range_ok || !diffusion_scaling_ok {
            return bad(
                "latent_magnitude must be positive, scaling_factor non-zero, and \
                 latent_shift and shift_factor finite"
                    .into(),
            );
        }
        Ok(())
    }
}

/// `AutoencoderTinyBlock`: three 3×3 convolutions (`conv.0`, `conv.2`, `conv.4`, the
/// activations between them at 1 and 3), a 1×1 `skip` when the widths differ, and a ReLU
/// (`fuse`) over the sum.
#[derive(Module, Debug)]
pub struct AutoencoderTinyBlock {
    pub conv: Vec<Option<Conv2d>>,
    pub skip: Option<Conv2d>,
    #[module(skip)]
    pub act: TinyActivation,
}

fn conv3x3(channels: [usize; 2], stride: usize, bias: bool, device: &Device) -> Conv2d {
    Conv2dConfig::new(channels, [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(bias)
        .init(device)
}

impl AutoencoderTinyBlock {
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        act: TinyActivation,
        device: &Device,
    ) -> Self {
        let conv = |from| Some(conv3x3([from, out_channels], 1, true, device));
        AutoencoderTinyBlock {
            conv: vec![
                conv(in_channels),
                None,
                conv(out_channels),
                None,
                conv(out_channels),
            ],
            skip: (in_channels != out_channels).then(|| {
                Conv2dConfig::new([in_channels, out_channels], [1, 1])
                    .with_bias(false)
                    .init(device)
            }),
            act,
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut h = x.clone();
        let convs: Vec<&Conv2d> = self.conv.iter().flatten().collect();
        for (i, conv) in convs.iter().enumerate() {
            h = conv.forward(h);
            if i + 1 < convs.len() {
                h = self.act.apply(h);
            }
        }
        let skip = match &self.skip {
            Some(skip) => skip.forward(x),
            None => x,
        };
        activation::relu(h + skip)
    }
}

/// One entry of an `nn.Sequential` of the tiny autoencoder. Weightless entries keep their
/// index so the weighted ones keep diffusers' keys.
#[derive(Module, Debug)]
pub enum TinyLayer {
    Conv(Conv2d),
    Block(AutoencoderTinyBlock),
    Activation(Identity),
    Upsample(Identity),
}

/// `EncoderTiny` or `DecoderTiny`'s `layers`.
#[derive(Module, Debug)]
pub struct TinyLayers {
    pub layers: Vec<TinyLayer>,
    #[module(skip)]
    pub act: TinyActivation,
    #[module(skip)]
    pub upsample: UpsampleMode,
    #[module(skip)]
    pub upsampling_scaling_factor: usize,
}

impl TinyLayers {
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.layers.iter().fold(x, |x, layer| match layer {
            TinyLayer::Conv(conv) => conv.forward(x),
            TinyLayer::Block(block) => block.forward(x),
            TinyLayer::Activation(_) => self.act.apply(x),
            TinyLayer::Upsample(_) => self.upsample.interpolate(x, self.upsampling_scaling_factor),
        })
    }
}

/// `AutoencoderTiny`'s modules: `encoder.layers.*`, `decoder.layers.*`.
#[derive(Module, Debug)]
pub struct AutoencoderTinyModel {
    pub encoder: TinyLayers,
    pub decoder: TinyLayers,
}

impl AutoencoderTinyModel {
    /// Built layer by layer as diffusers' `EncoderTiny` and `DecoderTiny` build theirs.
    pub fn new(config: &AutoencoderTinyConfig, device: &Device) -> Self {
        let act = config.act_fn;
        let mut encoder = Vec::new();
        for (i, (&width, &blocks)) in config
            .encoder_block_out_channels
            .iter()
            .zip(&config.num_encoder_blocks)
            .enumerate()
        {
            encoder.push(TinyLayer::Conv(if i == 0 {
                conv3x3([config.in_channels, width], 1, true, device)
            } else {
                conv3x3([width, width], 2, false, device)
            }));
            for _ in 0..blocks {
                encoder.push(TinyLayer::Block(AutoencoderTinyBlock::new(
                    width, width, act, device,
                )));
            }
        }
        let last = *config.encoder_block_out_channels.last().unwrap_or(&1);
        encoder.push(TinyLayer::Conv(conv3x3(
            [last, config.latent_channels],
            1,
            true,
            device,
        )));

        let widths = &config.decoder_block_out_channels;
        let mut decoder = vec![
            TinyLayer::Conv(conv3x3(
                [config.latent_channels, widths[0]],
                1,
                true,
                device,
            )),
            TinyLayer::Activation(Identity::new()),
        ];
        let stages = config.num_decoder_blocks.len();
        for (i, (&width, &blocks)) in widths.iter().zip(&config.num_decoder_blocks).enumerate() {
            let is_final = i + 1 == stages;
            for _ in 0..blocks {
                decoder.push(TinyLayer::Block(AutoencoderTinyBlock::new(
                    width, width, act, device,
                )));
            }
            if !is_final {
                decoder.push(TinyLayer::Upsample(Identity::new()));
            }
            let out = if is_final { config.out_channels } else { width };
            decoder.push(TinyLayer::Conv(conv3x3([width, out], 1, is_final, device)));
        }
        let layers = |layers| TinyLayers {
            layers,
            act,
            upsample: config.upsample_fn,
            upsampling_scaling_factor: config.upsampling_scaling_factor,
        };
        AutoencoderTinyModel {
            encoder: layers(encoder),
            decoder: layers(decoder),
        }
    }

    /// `AutoencoderTiny.encode(x).latents`: images in [-1, 1], NCHW.
    pub fn encode(&self, images: Tensor<4>) -> Tensor<4> {
        // TAESD works on [0, 1] images.
        self.encoder.forward((images + 1.0) / 2.0)
    }

    /// `AutoencoderTiny.decode(z).sample`: images in about [-1, 1], NCHW.
    pub fn decode(&self, latents: Tensor<4>) -> Tensor<4> {
        // The soft clamp to ±3 that TAESD's decoder starts with.
        let clamped = (latents / 3.0).tanh() * 3.0;
        self.decoder.forward(clamped) * 2.0 - 1.0
    }
}

/// A loaded tiny autoencoder: configuration and weights.
#[derive(Debug, Clone)]
pub struct Autoencoder {
    pub config: AutoencoderTinyConfig,
    pub model: AutoencoderTinyModel,
}

fn weight_options() -> LoadOptions {
    LoadOptions {
        key_remapping: Vec::new(),
        pytorch_layout: true,
        skip_enum_variants: true,
    }
}

impl Autoencoder {
    /// Randomly initialised (PyTorch's default initialisation).
    pub fn new(config: AutoencoderTinyConfig, device: &Device) -> Result<Self> {
        config.validate()?;
        let model = AutoencoderTinyModel::new(&config, device);
        Ok(Autoencoder { config, model })
    }

    /// Loads diffusers-layout weights (f32 or f16) for a configuration; every tensor's
    /// presence and shape is checked and errors name the key.
    pub fn from_safetensors(
        config: AutoencoderTinyConfig,
        weights: Vec<u8>,
        file_name: &str,
        device: &Device,
    ) -> Result<Self> {
        let Autoencoder { config, model } = Self::new(config, device)?;
        let model = load_module(model, file_name, weights, &weight_options())?;
        Ok(Autoencoder { config, model })
    }

    /// Loads a diffusers model directory (`config.json` + `diffusion_pytorch_model.safetensors`).
    #[cfg(not(target_family = "wasm"))]
    pub fn from_dir(dir: &std::path::Path, device: &Device) -> Result<Self> {
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|err| Error::Io {
                path: dir.join(name).display().to_string(),
                reason: err.to_string(),
            })
        };
        let config = AutoencoderTinyConfig::from_json(&read("config.json")?)?;
        Self::from_safetensors(config, read(WEIGHTS_FILE)?, WEIGHTS_FILE, device)
    }

    /// The weights under diffusers' keys, stored as `dtype`.
    pub fn to_safetensors(&self, dtype: StoredDtype) -> Result<Vec<u8>> {
        crate::data::weights::save_module(&self.model, dtype, true)
    }

    /// Checks an image batch before it reaches a convolution, which would panic on it.
    fn check(
        &self,
        what: &str,
        tensor: &Tensor<4>,
        channels: usize,
        multiple: usize,
    ) -> Result<()> {
        let [batch, c, h, w] = tensor.dims();
        if batch == 0 || c != channels || h == 0 || w == 0 || h % multiple != 0 || w % multiple != 0
        {
            return Err(Error::ShapeMismatch {
                what: what.into(),
                got: crate::error::dims(&[batch, c, h, w]),
                expected: format!(
                    "[n ≥ 1, {channels}, h, w] with h and w positive multiples of {multiple}"
                ),
            });
        }
        Ok(())
    }

    /// Images in [-1, 1], `[n, in_channels, h, w]` → raw latents, as diffusers returns them.
    pub fn encode(&self, images: Tensor<4>) -> Result<Tensor<4>> {
        self.check(
            "images to encode",
            &images,
            self.config.in_channels,
            self.config.downscale(),
        )?;
        Ok(self.model.encode(images))
    }

    /// Raw latents `[n, latent_channels, h, w]` → images in about [-1, 1].
    pub fn decode(&self, latents: Tensor<4>) -> Result<Tensor<4>> {
        self.check(
            "latents to decode",
            &latents,
            self.config.latent_channels,
            1,
        )?;
        Ok(self.model.decode(latents))
    }

    /// Raw latents → the scaled space a diffusion model works in:
    /// `(z − shift_factor) · scaling_factor`, as diffusers pipelines do.
    pub fn to_diffusion_space(&self, latents: Tensor<4>) -> Tensor<4> {
        (latents - self.config.shift_factor) * self.config.scaling_factor
    }

    /// The inverse of [`Self::to_diffusion_space`].
    pub fn from_diffusion_space(&self, latents: Tensor<4>) -> Tensor<4> {
        latents / self.config.scaling_factor + self.config.shift_factor
    }
}
