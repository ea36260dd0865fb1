//! What the CLIP is pretrained on: images with captions, drawn from the simulated world.

use crate::clip::{ClipConfig, preprocess};
use crate::error::{Error, Result};
use crate::sim::stimuli::{CATEGORIES, Category, IMAGE_SIZE, SHAPES, Stimulus};

/// World images for CLIP pretraining use their own index range, apart from the protocol's.
const PRETRAINING_INDEX: u64 = 1 << 24;
const EVALUATION_INDEX: u64 = 1 << 25;

#[derive(Debug, Clone, PartialEq)]
pub struct ClipTrainingData {
    /// Preprocessed images, each `[3, size, size]` flattened.
    pub images: Vec<Vec<f32>>,
    /// One or more captions per image; one is drawn per step.
    pub captions: Vec<Vec<String>>,
    /// Category of each image, an index into `class_prompts`.
    pub categories: Vec<usize>,
    /// One prompt per category ("an image of a red star.").
    pub class_prompts: Vec<String>,
    /// Optional group of each image (e.g. its colour). Half of each epoch's batches are then
    /// drawn from one group at a time, so the easy attribute cannot tell the images apart
    /// and the loss can only fall by learning the others (hard negatives). Empty: off.
    pub hard_negative_groups: Vec<usize>,
    /// Optional warm-up caption of each image (the world's: the object alone, "a star."):
    /// for the first [`ClipTrainConfig::warmup_caption_epochs`] epochs it is the image's only
    /// caption. Empty: no warm-up.
    ///
    /// [`ClipTrainConfig::warmup_caption_epochs`]: crate::train::clip::ClipTrainConfig
    pub warmup_captions: Vec<String>,
    /// When set, every epoch after the first trains on freshly rendered images of the same
    /// world (the world is procedural, so its supply is unlimited): nothing can be
    /// memorised, and each epoch is new data, as a web-scale corpus is for real CLIP.
    pub fresh_each_epoch: Option<WorldImages>,
}

/// Which world images a [`ClipTrainingData`] holds, so that another epoch's can be drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WorldImages {
    pub seed: u64,
    /// The first this many of the world's categories.
    pub categories: usize,
    pub per_category: usize,
    /// Side of the preprocessed image (the CLIP's `image_size`).
    pub size: usize,
    /// How many of each category's images are canonical views: centred, upright, on a plain
    /// ground. Like the clean product shots in web data, they let a small vision tower find
    /// shape before it must find it through clutter, position and tilt.
    pub canonical_per_category: usize,
}

impl WorldImages {
    pub fn new(seed: u64, categories: usize, per_category: usize, size: usize) -> Self {
        WorldImages {
            seed,
            categories,
            per_category,
            size,
            canonical_per_category: 0,
        }
    }
}

impl ClipTrainingData {
    pub(crate) fn validate(&self, config: &ClipConfig) -> Result<()> {
        let bad = |reason: String| {
            Err(Error::InvalidConfig {
                what: "CLIP training data".into(),
                reason,
            })
        };
        let n = self.images.len();
        if n < 2 {
            return bad(format!("{n} images; at least 2 are needed"));
        }
        if self.captions.len() != n || self.categories.len() != n {
            return bad(format!(
                "{n} images but {} caption lists and {} categories; expected one of each per image",
                self.captions.len(),
                self.categories.len()
            ));
        }
        let size = config.vision.image_size;
        let per_image = config.vision.num_channels * size * size;
        if let Some(i) = self.images.iter().position(|img| img.len() != per_image) {
            return bad(format!(
                "image {i} has {} values; expected {} × {size} × {size}",
                self.images[i].len(),
                config.vision.num_channels
            ));
        }
        if !self.hard_negative_groups.is_empty() && self.hard_negative_groups.len() != n {
            return bad(format!(
                "{n} images but {} hard-negative groups; expected one per image or none",
                self.hard_negative_groups.len()
            ));
        }
        if !self.warmup_captions.is_empty() && self.warmup_captions.len() != n {
            return bad(format!(
                "{n} images but {} warm-up captions; expected one per image or none",
                self.warmup_captions.len()
            ));
        }
        if let Some(i) = self.captions.iter().position(|c| c.is_empty()) {
            return bad(format!("image {i} has no caption"));
        }
        if let Some(i) = self
            .categories
            .iter()
            .position(|&c| c >= self.class_prompts.len())
        {
            return bad(format!(
                "image {i} has category {}, but there are {} class prompts",
                self.categories[i],
                self.class_prompts.len()
            ));
        }
        Ok(())
    }

    /// The world's images described by `world`, with their template, descriptive and
    /// shape-only captions. They are rendered, rounded to 8 bits and preprocessed exactly as
    /// a PNG of them would be.
    pub fn from_world(world: &WorldImages) -> Result<Self> {
        Self::world_images(world, PRETRAINING_INDEX)
    }

    /// Draws fresh images every epoch instead of repeating these (see
    /// [`ClipTrainingData::fresh_each_epoch`]).
    pub fn with_fresh_images_each_epoch(mut self, world: &WorldImages) -> Self {
        self.fresh_each_epoch = Some(*world);
        self
    }

    /// The images epoch `epoch` trains on: these, or with fresh images, that epoch's own.
    pub(crate) fn for_epoch(&self, epoch: usize) -> Result<std::borrow::Cow<'_, Self>> {
        match self.fresh_each_epoch {
            Some(world) if epoch > 0 => {
                let mut data = Self::world_images(
                    &world,
                    PRETRAINING_INDEX + (epoch * world.per_category) as u64,
                )?;
                data.hard_negative_groups = self.hard_negative_groups.clone();
                data.fresh_each_epoch = self.fresh_each_epoch;
                Ok(std::borrow::Cow::Owned(data))
            }
            _ => Ok(std::borrow::Cow::Borrowed(self)),
        }
    }

    /// Groups the images by their category's colour for hard-negative batches: colour is
    /// what a small vision tower learns first, and same-colour batches leave shape as the
    /// only way to tell images apart.
    pub fn with_colour_hard_negatives(mut self) -> Self {
        self.hard_negative_groups = self
            .categories
            .iter()
            .map(|&c| Category::from_index(c).map_or(0, |c| c.colour))
            .collect();
        self
    }

    /// Like [`Self::from_world`], but images no pretraining run sees: for evaluation.
    pub fn world_evaluation(world: &WorldImages) -> Result<Self> {
        Self::world_images(world, EVALUATION_INDEX)
    }

    fn world_images(world: &WorldImages, first_index: u64) -> Result<Self> {
        let size = world.size;
        let mut data = ClipTrainingData {
            images: Vec::new(),
            captions: Vec::new(),
            categories: Vec::new(),
            class_prompts: Vec::new(),
            hard_negative_groups: Vec::new(),
            warmup_captions: Vec::new(),
            fresh_each_epoch: None,
        };
        for index in 0..world.categories.min(CATEGORIES) {
            let category = Category::from_index(index).expect("index in range");
            for k in 0..world.per_category as u64 {
                let mut stimulus = Stimulus::generate(world.seed, category, first_index + k);
                if (k as usize) < world.canonical_per_category {
                    stimulus.centre = [0.5, 0.5];
                    stimulus.rotation = 0.0;
                    stimulus.pattern = crate::sim::stimuli::Pattern::Plain;
                }
                let rgba =
                    image::DynamicImage::from(stimulus.render_image(IMAGE_SIZE)).into_rgba8();
                data.images
                    .push(preprocess::from_rgba(&rgba, IMAGE_SIZE, IMAGE_SIZE, size)?);
                // People describe one image at several grains: the category, the details,
                // or just the object; the shape-only caption makes shape worth learning on its
                // own rather than only through its colour-shape combination.
                let object = format!("a {}.", SHAPES[category.shape]);
                data.captions.push(vec![
                    stimulus.template_caption(),
                    stimulus.descriptive_caption(),
                    object.clone(),
                ]);
                data.warmup_captions.push(object);
                data.categories.push(index);
            }
            data.class_prompts
                .push(format!("an image of a {}.", category.name()));
        }
        Ok(data)
    }

    pub(crate) fn content_hash(&self) -> String {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        for image in &self.images {
            image.iter().for_each(|v| v.to_bits().hash(&mut hasher));
        }
        self.captions.hash(&mut hasher);
        self.categories.hash(&mut hasher);
        self.class_prompts.hash(&mut hasher);
        if !self.hard_negative_groups.is_empty() {
            self.hard_negative_groups.hash(&mut hasher);
        }
        if !self.warmup_captions.is_empty() {
            self.warmup_captions.hash(&mut hasher);
        }
        if let Some(world) = &self.fresh_each_epoch {
            world.hash(&mut hasher);
        }
        format!("{:016x}", hasher.finish())
    }
}
