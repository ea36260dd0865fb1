//! Simulated subjects: voxel responses to stimuli, built like a textbook model of visual
//! cortex so that decoding from them behaves like decoding from real data.
//!
//! - **Early visual voxels** have retinotopic population receptive fields (a 2-D Gaussian
//!   whose size grows with eccentricity) over one feature channel: luminance,
//!   red–green or blue–yellow opponency, or oriented energy at one of four orientations.
//! - **Higher visual voxels** are tuned, nonlinearly, to the object's shape (its silhouette),
//!   its colour, or their conjunction. They see the rendered image like the early voxels do:
//!   the figure is segmented from the ground (pixels that differ from the background alone),
//!   centred and scaled to a canonical frame, so their tolerance to position and size is
//!   computed from pixels rather than assumed.
//! - Each voxel's noiseless response is z-scored over a calibration set of stimuli; a trial
//!   adds Gaussian noise with standard deviation `1 / snr`, and repeated presentations are
//!   averaged, as GOD's test trials are.
//! - Every voxel has 2-D coordinates on a flattened "cortical sheet" for display: early
//!   voxels in a log-polar (retinotopic) map on the left half, higher voxels clustered by
//!   preference on the right half.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::data::normalize::{batch_statistics, zscore_rows};
use crate::sim::stimuli::{CATEGORIES, COLOURS, Category, IMAGE_SIZE, SHAPES, Stimulus};

/// Side of the pooled feature maps early voxels read from (64 px / 4).
const GRID: usize = 16;
/// Side of the canonical silhouette higher voxels compare shapes on.
const SILHOUETTE: usize = 12;
/// Stimuli per category in the calibration set that fixes each voxel's z-scoring.
const CALIBRATION_PER_CATEGORY: u64 = 1;
/// Calibration stimuli use indices far from any protocol's.
const CALIBRATION_INDEX: u64 = 1 << 30;

/// A subject's size and signal-to-noise ratio.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SubjectConfig {
    pub name: String,
    pub seed: u64,
    pub voxels: usize,
    /// Fraction of voxels in early visual cortex; the rest are higher visual.
    pub early_fraction: f32,
    /// Single-trial signal-to-noise ratio (signal and noise standard deviations).
    pub snr: f32,
}

impl SubjectConfig {
    /// Three subjects with voxel counts close to GOD's visual-cortex ROIs.
    pub fn defaults() -> Vec<SubjectConfig> {
        [("sub-01", 4466), ("sub-02", 4404), ("sub-03", 4643)]
            .into_iter()
            .enumerate()
            .map(|(i, (name, voxels))| SubjectConfig {
                name: name.into(),
                seed: 1000 + i as u64,
                voxels,
                early_fraction: 0.6,
                snr: 0.5,
            })
            .collect()
    }
}

/// Feature channels early voxels can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Luminance,
    RedGreen,
    BlueYellow,
    /// Oriented energy at `k` × 45°.
    Orientation(u8),
}

const CHANNELS: [Channel; 7] = [
    Channel::Luminance,
    Channel::RedGreen,
    Channel::BlueYellow,
    Channel::Orientation(0),
    Channel::Orientation(1),
    Channel::Orientation(2),
    Channel::Orientation(3),
];

impl Channel {
    fn index(self) -> usize {
        match self {
            Channel::Luminance => 0,
            Channel::RedGreen => 1,
            Channel::BlueYellow => 2,
            Channel::Orientation(k) => 3 + k as usize,
        }
    }
}

#[derive(Debug, Clone)]
struct EarlyVoxel {
    channel: Channel,
    /// pRF weights over the `GRID × GRID` map, summing to 1.
    weights: Vec<f32>,
}

/// What a voxel of a simulated subject responds to: the truth voxel attribution is checked
/// against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VoxelRole {
    /// An early visual voxel reading luminance in its receptive field.
    EarlyLuminance,
    /// An early visual voxel reading a colour-opponent channel (red–green, blue–yellow).
    EarlyColour,
    /// An early visual voxel reading oriented energy (edges).
    EarlyOrientation,
    /// A higher voxel tuned to the object's silhouette, whatever its colour.
    Shape,
    /// A higher voxel tuned to the object's colour, whatever its shape.
    Colour,
    /// A higher voxel tuned to one silhouette in one colour.
    Conjunction,
}

/// What a higher voxel is selective for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Selectivity {
    Shape,
    Colour,
    Conjunction,
}

#[derive(Debug, Clone)]
struct HigherVoxel {
    selectivity: Selectivity,
    /// Preferred silhouette (unit norm).
    shape: Vec<f32>,
    shape_width: f32,
    /// Preferred colour in opponent space (luminance, red–green, blue–yellow).
    colour: [f32; 3],
    colour_width: f32,
}

/// A simulated subject.
#[derive(Debug, Clone)]
pub struct Subject {
    pub config: SubjectConfig,
    early: Vec<EarlyVoxel>,
    higher: Vec<HigherVoxel>,
    /// `[voxels, 2]` cortical-sheet coordinates in [0, 1].
    sheet: Vec<[f32; 2]>,
    mean: Vec<f32>,
    std: Vec<f32>,
}

fn opponent([r, g, b]: [f32; 3]) -> [f32; 3] {
    [0.299 * r + 0.587 * g + 0.114 * b, r - g, b - (r + g) / 2.0]
}

/// What higher visual areas see of an image: the figure segmented from the ground and
/// described independently of where it is and how big it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// The figure mask resampled around its centroid, in units of its RMS radius, on a
    /// `SILHOUETTE × SILHOUETTE` grid; unit norm.
    pub silhouette: Vec<f32>,
    /// Mean colour of the figure in opponent space (luminance, red–green, blue–yellow).
    pub colour: [f32; 3],
    /// Fraction of the image the figure covers.
    pub area: f32,
}

/// Half-width of the canonical frame in RMS radii: wide enough for every shape's extent.
const FRAME_RADII: f32 = 2.2;

impl Figure {
    /// Segments the figure of an `IMAGE_SIZE` RGB image (`[size, size, 3]`, row-major) by
    /// comparing it with the background alone, and describes it.
    pub fn from_pixels(pixels: &[f32], background: &[f32]) -> Figure {
        let size = IMAGE_SIZE;
        // Figure weight per pixel: 1 where it clearly differs from the ground, partial at
        // anti-aliased edges.
        let mask: Vec<f32> = pixels
            .chunks_exact(3)
            .zip(background.chunks_exact(3))
            .map(|(p, b)| {
                let difference: f32 = p.iter().zip(b).map(|(x, y)| (x - y).abs()).sum();
                (difference / 0.1).min(1.0)
            })
            .collect();
        let total: f32 = mask.iter().sum::<f32>().max(1e-6);
        let (mut cx, mut cy) = (0.0, 0.0);
        let mut colour_sum = [0f32; 3];
        let mut interior = 0.0;
        for (i, m) in mask.iter().enumerate() {
            let (x, y) = ((i % size) as f32 + 0.5, (i / size) as f32 + 0.5);
            cx += m * x / total;
            cy += m * y / total;
            // Colour from fully covered pixels only: edges blend in the ground.
            if *m >= 1.0 {
                let p = &pixels[i * 3..i * 3 + 3];
                colour_sum.iter_mut().zip(p).for_each(|(c, v)| *c += v);
                interior += 1.0;
            }
        }
        let spread: f32 = mask
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let dx = (i % size) as f32 + 0.5 - cx;
                let dy = (i / size) as f32 + 0.5 - cy;
                m * (dx * dx + dy * dy)
            })
            .sum::<f32>()
            / total;
        let radius = spread.sqrt().max(0.5);
        let sample = |x: f32, y: f32| -> f32 {
            // Bilinear, zero outside the image.
            let (x, y) = (x - 0.5, y - 0.5);
            let (x0, y0) = (x.floor(), y.floor());
            let (fx, fy) = (x - x0, y - y0);
            let at = |xi: f32, yi: f32| {
                if xi < 0.0 || yi < 0.0 || xi >= size as f32 || yi >= size as f32 {
                    0.0
                } else {
                    mask[yi as usize * size + xi as usize]
                }
            };
            at(x0, y0) * (1.0 - fx) * (1.0 - fy)
                + at(x0 + 1.0, y0) * fx * (1.0 - fy)
                + at(x0, y0 + 1.0) * (1.0 - fx) * fy
                + at(x0 + 1.0, y0 + 1.0) * fx * fy
        };
        let mut silhouette = Vec::with_capacity(SILHOUETTE * SILHOUETTE);
        for row in 0..SILHOUETTE {
            for column in 0..SILHOUETTE {
                let mut covered = 0.0;
                for sy in 0..3 {
                    for sx in 0..3 {
                        let u = ((column * 3 + sx) as f32 + 0.5) / (SILHOUETTE * 3) as f32;
                        let v = ((row * 3 + sy) as f32 + 0.5) / (SILHOUETTE * 3) as f32;
                        let x = cx + (2.0 * u - 1.0) * FRAME_RADII * radius;
                        let y = cy + (2.0 * v - 1.0) * FRAME_RADII * radius;
                        covered += sample(x, y) / 9.0;
                    }
                }
                silhouette.push(covered);
            }
        }
        let mean_colour = if interior > 0.0 {
            colour_sum.map(|c| c / interior)
        } else {
            [0.5; 3]
        };
        Figure {
            silhouette: unit(silhouette),
            colour: opponent(mean_colour),
            area: total / (size * size) as f32,
        }
    }

    /// The figure of a stimulus as rendered.
    pub fn of(stimulus: &Stimulus) -> Figure {
        Figure::from_pixels(
            &stimulus.render(IMAGE_SIZE),
            &stimulus.render_background(IMAGE_SIZE),
        )
    }
}

/// A shape's canonical silhouette: centred, upright, mid-sized, on a plain ground — the
/// preferred stimulus a shape-tuned voxel's tuning is centred on.
fn canonical_silhouette(shape: usize) -> Vec<f32> {
    let mut stimulus = Stimulus::generate(0, Category { shape, colour: 0 }, 0);
    stimulus.scale = 0.5;
    stimulus.centre = [0.5, 0.5];
    stimulus.rotation = 0.0;
    stimulus.pattern = crate::sim::stimuli::Pattern::Plain;
    Figure::of(&stimulus).silhouette
}

fn gaussian(rng: &mut impl Rng) -> f32 {
    StandardNormal.sample(rng)
}

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    crate::matrix::l2_normalize(&mut v);
    v
}

/// The pooled `[channel][GRID × GRID]` feature maps of an `IMAGE_SIZE` RGB image.
fn feature_maps(pixels: &[f32]) -> Vec<Vec<f32>> {
    let size = IMAGE_SIZE;
    let pool = size / GRID;
    let mut maps = vec![vec![0.0f32; GRID * GRID]; CHANNELS.len()];
    let luminance: Vec<f32> = pixels
        .chunks_exact(3)
        .map(|p| opponent([p[0], p[1], p[2]])[0])
        .collect();
    let at = |x: usize, y: usize| luminance[y.min(size - 1) * size + x.min(size - 1)];
    let scale = 1.0 / (pool * pool) as f32;
    for y in 0..size {
        for x in 0..size {
            let cell = (y / pool) * GRID + x / pool;
            let p = &pixels[(y * size + x) * 3..(y * size + x) * 3 + 3];
            let [l, rg, by] = opponent([p[0], p[1], p[2]]);
            maps[0][cell] += (l - 0.5) * scale;
            maps[1][cell] += rg * scale;
            maps[2][cell] += by * scale;
            let gx = at(x + 1, y) - at(x.saturating_sub(1), y);
            let gy = at(x, y + 1) - at(x, y.saturating_sub(1));
            for k in 0..4 {
                let angle = k as f32 * std::f32::consts::FRAC_PI_4;
                let along = gx * angle.cos() + gy * angle.sin();
                maps[3 + k][cell] += along * along * scale;
            }
        }
    }
    maps
}

impl Subject {
    /// The simulated world's subject called `name` (one of [`SubjectConfig::defaults`], as
    /// `brainclip sim world` makes them).
    pub fn named(name: &str) -> crate::error::Result<Subject> {
        let defaults = SubjectConfig::defaults();
        let config = defaults
            .iter()
            .find(|c| c.name == name)
            .cloned()
            .ok_or_else(|| crate::error::Error::InvalidConfig {
                what: "simulated subject".into(),
                reason: format!(
                    "'{name}' is not one of the simulated world's subjects ({})",
                    defaults
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })?;
        Ok(Subject::new(config))
    }

    pub fn new(config: SubjectConfig) -> Subject {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let early_count = ((config.voxels as f32) * config.early_fraction).round() as usize;
        let early_count = early_count.min(config.voxels);
        let silhouettes: Vec<Vec<f32>> = (0..SHAPES.len()).map(canonical_silhouette).collect();
        let mut early = Vec::with_capacity(early_count);
        let mut sheet = Vec::with_capacity(config.voxels);
        for _ in 0..early_count {
            // Denser sampling near the fovea (image centre), as cortical magnification gives.
            let eccentricity = 0.5 * rng.random::<f32>().powf(1.5);
            let polar = rng.random_range(0.0..std::f32::consts::TAU);
            let centre_x = (0.5 + eccentricity * polar.cos()).clamp(0.0, 1.0) * GRID as f32;
            let centre_y = (0.5 + eccentricity * polar.sin()).clamp(0.0, 1.0) * GRID as f32;
            let sigma = 0.6 + 4.0 * eccentricity;
            let mut weights = Vec::with_capacity(GRID * GRID);
            for y in 0..GRID {
                for x in 0..GRID {
                    let dx = x as f32 + 0.5 - centre_x;
                    let dy = y as f32 + 0.5 - centre_y;
                    weights.push((-(dx * dx + dy * dy) / (2.0 * sigma * sigma)).exp());
                }
            }
            let total: f32 = weights.iter().sum();
            weights.iter_mut().for_each(|w| *w /= total);
            let channel = CHANNELS[rng.random_range(0..CHANNELS.len())];
            early.push(EarlyVoxel { channel, weights });
            sheet.push([
                0.05 + 0.4 * (1.0 + 20.0 * eccentricity).ln() / 11f32.ln(),
                polar / std::f32::consts::TAU,
            ]);
        }
        let mut higher = Vec::with_capacity(config.voxels - early_count);
        for _ in early_count..config.voxels {
            let selectivity = match rng.random_range(0..10) {
                0..4 => Selectivity::Shape,
                4..7 => Selectivity::Colour,
                _ => Selectivity::Conjunction,
            };
            // Preferences sit near real shapes and colours, jittered, so tuning curves overlap.
            let preferred_shape = rng.random_range(0..SHAPES.len());
            let shape = unit(
                silhouettes[preferred_shape]
                    .iter()
                    .map(|s| s + 0.05 * gaussian(&mut rng))
                    .collect(),
            );
            let preferred_colour = rng.random_range(0..COLOURS.len());
            let mut colour = opponent(COLOURS[preferred_colour].1);
            colour
                .iter_mut()
                .for_each(|c| *c += 0.08 * gaussian(&mut rng));
            higher.push(HigherVoxel {
                selectivity,
                shape,
                shape_width: rng.random_range(0.25..0.5),
                colour,
                colour_width: rng.random_range(0.2..0.4),
            });
            let hue = colour[2].atan2(colour[1]) / std::f32::consts::TAU + 0.5;
            sheet.push([
                0.55 + 0.4 * (preferred_shape as f32 + rng.random::<f32>()) / SHAPES.len() as f32,
                (hue + 0.05 * rng.random::<f32>()).rem_euclid(1.0),
            ]);
        }
        let mut subject = Subject {
            config,
            early,
            higher,
            sheet,
            mean: Vec::new(),
            std: Vec::new(),
        };
        subject.calibrate();
        subject
    }

    fn calibrate(&mut self) {
        let voxels = self.config.voxels;
        let mut raw = Vec::with_capacity(CATEGORIES * CALIBRATION_PER_CATEGORY as usize * voxels);
        for category in 0..CATEGORIES {
            let category = Category::from_index(category).expect("index in range");
            for k in 0..CALIBRATION_PER_CATEGORY {
                let stimulus =
                    Stimulus::generate(self.config.seed, category, CALIBRATION_INDEX + k);
                raw.extend(self.raw_response(&stimulus));
            }
        }
        let (mean, std) = batch_statistics(&raw, raw.len() / voxels, voxels);
        self.mean = mean;
        self.std = std;
    }

    fn raw_response(&self, stimulus: &Stimulus) -> Vec<f32> {
        let pixels = stimulus.render(IMAGE_SIZE);
        let maps = feature_maps(&pixels);
        let mut response = Vec::with_capacity(self.config.voxels);
        for voxel in &self.early {
            let map = &maps[voxel.channel.index()];
            let drive: f32 = voxel.weights.iter().zip(map).map(|(w, m)| w * m).sum();
            response.push(match voxel.channel {
                // Energy is compressive, as complex-cell responses are.
                Channel::Orientation(_) => drive.max(0.0).sqrt(),
                _ => drive,
            });
        }
        let figure = Figure::from_pixels(&pixels, &stimulus.render_background(IMAGE_SIZE));
        let (shape, colour) = (&figure.silhouette, figure.colour);
        // Bigger objects drive higher areas more; where they are barely matters.
        let size_gain = 0.5 + 1.5 * figure.area.sqrt();
        for voxel in &self.higher {
            let shape_distance: f32 = voxel
                .shape
                .iter()
                .zip(shape)
                .map(|(a, b)| (a - b) * (a - b))
                .sum();
            let colour_distance: f32 = voxel
                .colour
                .iter()
                .zip(&colour)
                .map(|(a, b)| (a - b) * (a - b))
                .sum();
            let shape_tuning = (-shape_distance / (2.0 * voxel.shape_width.powi(2))).exp();
            let colour_tuning = (-colour_distance / (2.0 * voxel.colour_width.powi(2))).exp();
            let tuning = match voxel.selectivity {
                Selectivity::Shape => shape_tuning,
                Selectivity::Colour => colour_tuning,
                Selectivity::Conjunction => shape_tuning * colour_tuning,
            };
            response.push(size_gain * tuning);
        }
        response
    }

    /// Every voxel's role, in voxel order (early voxels first, then higher ones).
    pub fn voxel_roles(&self) -> Vec<VoxelRole> {
        let early = self.early.iter().map(|voxel| match voxel.channel {
            Channel::Luminance => VoxelRole::EarlyLuminance,
            Channel::RedGreen | Channel::BlueYellow => VoxelRole::EarlyColour,
            Channel::Orientation(_) => VoxelRole::EarlyOrientation,
        });
        let higher = self.higher.iter().map(|voxel| match voxel.selectivity {
            Selectivity::Shape => VoxelRole::Shape,
            Selectivity::Colour => VoxelRole::Colour,
            Selectivity::Conjunction => VoxelRole::Conjunction,
        });
        early.chain(higher).collect()
    }

    /// The z-scored noiseless response to a stimulus (the signal a trial measures).
    pub fn signal(&self, stimulus: &Stimulus) -> Vec<f32> {
        let mut response = self.raw_response(stimulus);
        zscore_rows(&mut response, &self.mean, &self.std);
        response
    }

    /// One measured trial: the average of `repeats` presentations, each with independent
    /// noise of standard deviation `1 / snr`.
    pub fn trial(&self, stimulus: &Stimulus, repeats: usize, rng: &mut impl Rng) -> Vec<f32> {
        self.trial_at(stimulus, repeats, self.config.snr, rng)
    }

    /// [`Subject::trial`] at another single-trial signal-to-noise ratio.
    pub fn trial_at(
        &self,
        stimulus: &Stimulus,
        repeats: usize,
        snr: f32,
        rng: &mut impl Rng,
    ) -> Vec<f32> {
        let noise = 1.0 / snr.max(1e-6);
        let repeats = repeats.max(1);
        let mut response = self.signal(stimulus);
        let mut total = vec![0f32; response.len()];
        for _ in 0..repeats {
            for t in total.iter_mut() {
                *t += noise * gaussian(rng);
            }
        }
        for (r, t) in response.iter_mut().zip(total) {
            *r += t / repeats as f32;
        }
        response
    }

    /// The areas of the sheet the coordinates lay out (see `Subject::new`): early visual
    /// voxels on the left (eccentricity across, polar angle down), higher visual on the right
    /// (preferred shape across, preferred hue down).
    pub fn sheet_areas() -> Vec<crate::data::voxel_sheet::SheetArea> {
        [
            ("early visual", [0.05, 0.0, 0.45, 1.0]),
            ("higher visual", [0.55, 0.0, 0.95, 1.0]),
        ]
        .into_iter()
        .map(|(name, bounds)| crate::data::voxel_sheet::SheetArea {
            name: name.into(),
            bounds,
        })
        .collect()
    }

    /// `[voxels, 2]` cortical-sheet coordinates, row-major.
    pub fn sheet_coordinates(&self) -> Vec<f32> {
        self.sheet.iter().flatten().copied().collect()
    }

    /// Voxels in early visual cortex (the first ones); the rest are higher visual.
    pub fn early_voxels(&self) -> usize {
        self.early.len()
    }
}
