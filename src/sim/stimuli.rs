//! Procedural stimuli for the simulated world: one coloured object on a patterned
//! background. 25 shapes × 8 colours = 200 categories ("red star", "blue ring", …); size,
//! position, tilt, shading and background vary within a category, as photographs of one
//! object category vary in ImageNet/GOD. Every stimulus is a pure function of
//! (world seed, category, index), and comes with a template caption and a descriptive
//! caption generated from its attributes.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Shape names, in category order. Geometry is in [`inside`].
pub const SHAPES: [&str; 25] = [
    "circle",
    "square",
    "triangle",
    "diamond",
    "pentagon",
    "hexagon",
    "octagon",
    "star",
    "hexagram",
    "cross",
    "plus sign",
    "ring",
    "crescent",
    "heart",
    "ellipse",
    "bar",
    "arrow",
    "trapezoid",
    "semicircle",
    "chevron",
    "hourglass",
    "house",
    "frame",
    "dumbbell",
    "teardrop",
];

/// Object colour names and their RGB values, in category order.
pub const COLOURS: [(&str, [f32; 3]); 8] = [
    ("red", [0.86, 0.12, 0.12]),
    ("orange", [0.95, 0.55, 0.08]),
    ("yellow", [0.95, 0.88, 0.15]),
    ("green", [0.15, 0.70, 0.22]),
    ("cyan", [0.10, 0.80, 0.85]),
    ("blue", [0.15, 0.25, 0.90]),
    ("purple", [0.55, 0.18, 0.75]),
    ("pink", [0.98, 0.55, 0.75]),
];

/// Background colours: muted, and named apart from the object colours.
const BACKGROUNDS: [(&str, [f32; 3]); 6] = [
    ("white", [0.94, 0.94, 0.92]),
    ("light gray", [0.72, 0.72, 0.72]),
    ("dark gray", [0.30, 0.30, 0.32]),
    ("black", [0.08, 0.08, 0.08]),
    ("beige", [0.86, 0.80, 0.66]),
    ("brown", [0.42, 0.30, 0.20]),
];

/// Number of categories: every shape in every colour.
pub const CATEGORIES: usize = SHAPES.len() * COLOURS.len();

/// Side of a rendered stimulus in pixels (GOD's images are larger; 64 keeps the world small).
pub const IMAGE_SIZE: usize = 64;

/// A category: one shape in one colour. Index order is shape-major.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Category {
    pub shape: usize,
    pub colour: usize,
}

impl Category {
    pub fn from_index(index: usize) -> Option<Category> {
        (index < CATEGORIES).then(|| Category {
            shape: index / COLOURS.len(),
            colour: index % COLOURS.len(),
        })
    }

    pub fn index(self) -> usize {
        self.shape * COLOURS.len() + self.colour
    }

    /// "red star".
    pub fn name(self) -> String {
        format!("{} {}", COLOURS[self.colour].0, SHAPES[self.shape])
    }

    /// The category a name such as "red star" stands for (case and surrounding space
    /// ignored), if it is one of the world's.
    pub fn parse(name: &str) -> Option<Category> {
        let name = name.trim().to_ascii_lowercase();
        let (colour_name, shape_name) = name.split_once(' ')?;
        let colour = COLOURS.iter().position(|(c, _)| *c == colour_name)?;
        let shape = SHAPES.iter().position(|s| *s == shape_name.trim())?;
        Some(Category { shape, colour })
    }

    /// Every category name, in index order.
    pub fn all_names() -> Vec<String> {
        (0..CATEGORIES)
            .map(|i| Category::from_index(i).expect("index in range").name())
            .collect()
    }
}

/// How the background is patterned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pattern {
    Plain,
    /// Stripes at an angle (radians) with a period in pixels.
    Stripes {
        angle: f32,
        period: f32,
    },
    Checker {
        period: f32,
    },
    Dots {
        period: f32,
    },
    /// Brightness ramp along an angle.
    Gradient {
        angle: f32,
    },
}

impl Pattern {
    fn adjective(self) -> &'static str {
        match self {
            Pattern::Plain => "plain",
            Pattern::Stripes { .. } => "striped",
            Pattern::Checker { .. } => "checkered",
            Pattern::Dots { .. } => "dotted",
            Pattern::Gradient { .. } => "shaded",
        }
    }
}

/// Everything that determines one stimulus image.
#[derive(Debug, Clone, PartialEq)]
pub struct Stimulus {
    pub category: Category,
    /// Object radius as a fraction of half the image side.
    pub scale: f32,
    /// Object centre in image coordinates, each in [0, 1] (x right, y down).
    pub centre: [f32; 2],
    /// Tilt in radians (positive is clockwise on screen).
    pub rotation: f32,
    /// Multiplies the object colour: photographs of one category differ in lighting.
    pub brightness: f32,
    pub background: usize,
    pub pattern: Pattern,
}

/// Smallest and largest object scale.
const SCALE_RANGE: (f32, f32) = (0.38, 0.62);
/// Tilt stays small so orientation-defined shapes (square vs diamond, bar) stay themselves.
const MAX_ROTATION: f32 = 0.4;

impl Stimulus {
    /// The `index`-th stimulus of `category` in the world with `seed`.
    pub fn generate(seed: u64, category: Category, index: u64) -> Stimulus {
        let stream = (category.index() as u64) << 32 | (index & 0xffff_ffff);
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_0f57_1b00);
        rng.set_stream(stream);
        let scale = rng.random_range(SCALE_RANGE.0..SCALE_RANGE.1);
        // Keep the object inside the frame: its radius is scale/2 of the image side.
        let margin = scale / 2.0 + 0.04;
        let centre = [
            rng.random_range(margin..1.0 - margin),
            rng.random_range(margin..1.0 - margin),
        ];
        let rotation = rng.random_range(-MAX_ROTATION..MAX_ROTATION);
        let brightness = rng.random_range(0.8..1.1);
        let background = rng.random_range(0..BACKGROUNDS.len());
        let period = rng.random_range(5.0..12.0);
        let angle = rng.random_range(0.0..std::f32::consts::PI);
        let pattern = match rng.random_range(0..5) {
            0 => Pattern::Plain,
            1 => Pattern::Stripes { angle, period },
            2 => Pattern::Checker { period },
            3 => Pattern::Dots { period },
            _ => Pattern::Gradient { angle },
        };
        Stimulus {
            category,
            scale,
            centre,
            rotation,
            brightness,
            background,
            pattern,
        }
    }

    /// The caption BrainCLIP uses for category supervision.
    pub fn template_caption(&self) -> String {
        format!("an image of a {}.", self.category.name())
    }

    /// A caption describing this image's attributes, like a human annotator's.
    pub fn descriptive_caption(&self) -> String {
        let size = if self.scale < 0.45 {
            "small "
        } else if self.scale > 0.55 {
            "large "
        } else {
            ""
        };
        let tilt = if self.rotation > 0.2 {
            " tilted to the right"
        } else if self.rotation < -0.2 {
            " tilted to the left"
        } else {
            ""
        };
        let row = match self.centre[1] {
            y if y < 0.4 => Some("upper"),
            y if y > 0.6 => Some("lower"),
            _ => None,
        };
        let column = match self.centre[0] {
            x if x < 0.4 => Some("left"),
            x if x > 0.6 => Some("right"),
            _ => None,
        };
        let place = match (row, column) {
            (Some(row), Some(column)) => format!("in the {row} {column}"),
            (Some(row), None) => format!("in the {row} middle"),
            (None, Some(column)) => format!("on the {column}"),
            (None, None) => "in the centre".to_string(),
        };
        format!(
            "a {size}{}{tilt} {place}, on a {} {} background.",
            self.category.name(),
            self.pattern.adjective(),
            BACKGROUNDS[self.background].0
        )
    }

    /// Renders the stimulus as `[size, size, 3]` RGB in [0, 1], row-major (HWC), with 2×2
    /// supersampling at the object's edge.
    pub fn render(&self, size: usize) -> Vec<f32> {
        let object = COLOURS[self.category.colour]
            .1
            .map(|c| (c * self.brightness).min(1.0));
        let mut pixels = Vec::with_capacity(size * size * 3);
        let radius = self.scale / 2.0;
        let (sin, cos) = self.rotation.sin_cos();
        for row in 0..size {
            for column in 0..size {
                let background = self.background_at(column as f32 + 0.5, row as f32 + 0.5, size);
                let mut covered = 0.0;
                for (dx, dy) in [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)] {
                    let x = (column as f32 + dx) / size as f32 - self.centre[0];
                    let y = (row as f32 + dy) / size as f32 - self.centre[1];
                    // Into object coordinates: unrotate, scale to [-1, 1], y up.
                    let u = (cos * x + sin * y) / radius;
                    let v = -(-sin * x + cos * y) / radius;
                    if inside(self.category.shape, u, v) {
                        covered += 0.25;
                    }
                }
                for channel in 0..3 {
                    pixels.push(covered * object[channel] + (1.0 - covered) * background[channel]);
                }
            }
        }
        pixels
    }

    /// The background alone, without the object: `[size, size, 3]` like [`Self::render`].
    pub fn render_background(&self, size: usize) -> Vec<f32> {
        let mut pixels = Vec::with_capacity(size * size * 3);
        for row in 0..size {
            for column in 0..size {
                pixels.extend(self.background_at(column as f32 + 0.5, row as f32 + 0.5, size));
            }
        }
        pixels
    }

    /// The stimulus as an 8-bit RGB image, as written to PNG and as CLIP sees it.
    pub fn render_image(&self, size: usize) -> image::RgbImage {
        let bytes: Vec<u8> = self
            .render(size)
            .iter()
            .map(|p| (p.clamp(0.0, 1.0) * 255.0).round() as u8)
            .collect();
        image::RgbImage::from_raw(size as u32, size as u32, bytes)
            .expect("render returns size × size × 3 values")
    }

    fn background_at(&self, x: f32, y: f32, size: usize) -> [f32; 3] {
        let base = BACKGROUNDS[self.background].1;
        // How strongly the pattern shows here, in [0, 1].
        let amount = match self.pattern {
            Pattern::Plain => 0.0,
            Pattern::Stripes { angle, period } => {
                let along = x * angle.cos() + y * angle.sin();
                if (along / period).rem_euclid(1.0) < 0.5 {
                    1.0
                } else {
                    0.0
                }
            }
            Pattern::Checker { period } => {
                let parity = (x / period).floor() as i64 + (y / period).floor() as i64;
                if parity.rem_euclid(2) == 0 { 1.0 } else { 0.0 }
            }
            Pattern::Dots { period } => {
                let dx = (x / period).rem_euclid(1.0) - 0.5;
                let dy = (y / period).rem_euclid(1.0) - 0.5;
                if dx * dx + dy * dy < 0.06 { 1.0 } else { 0.0 }
            }
            Pattern::Gradient { angle } => {
                let half = size as f32 / 2.0;
                let along = (x - half) * angle.cos() + (y - half) * angle.sin();
                (along / size as f32 + 0.5).clamp(0.0, 1.0)
            }
        };
        // Lighten dark backgrounds and darken light ones; modest contrast keeps the object
        // the most salient thing in the image.
        let direction = if base[0] < 0.5 { 1.0 } else { -1.0 };
        base.map(|c| (c + direction * 0.22 * amount).clamp(0.0, 1.0))
    }
}

/// Whether point (u, v) of the unit object frame (y up, radius 1) lies inside `shape`.
pub fn inside(shape: usize, u: f32, v: f32) -> bool {
    let r = (u * u + v * v).sqrt();
    match SHAPES.get(shape).copied().unwrap_or("") {
        "circle" => r < 0.85,
        "square" => u.abs().max(v.abs()) < 0.68,
        "triangle" => regular_polygon(u, v + 0.15, 3, 0.95),
        "diamond" => u.abs() / 0.7 + v.abs() < 0.95,
        "pentagon" => regular_polygon(u, v, 5, 0.88),
        "hexagon" => regular_polygon(u, v, 6, 0.85),
        "octagon" => regular_polygon(u, v, 8, 0.85),
        "star" => star(u, v, 5, 0.95, 0.4),
        "hexagram" => regular_polygon(u, v, 3, 0.92) || regular_polygon(u, -v, 3, 0.92),
        "cross" => {
            let (a, b) = ((u + v) / 2f32.sqrt(), (u - v) / 2f32.sqrt());
            r < 0.95 && (a.abs() < 0.2 || b.abs() < 0.2)
        }
        "plus sign" => u.abs().max(v.abs()) < 0.85 && (u.abs() < 0.22 || v.abs() < 0.22),
        "ring" => r < 0.88 && r > 0.55,
        "crescent" => r < 0.88 && ((u - 0.38).powi(2) + (v - 0.1).powi(2)).sqrt() > 0.7,
        "heart" => {
            let (x, y) = (u * 1.15, v * 1.15 + 0.15);
            (x * x + y * y - 1.0).powi(3) - x * x * y.powi(3) < 0.0
        }
        "ellipse" => (u / 0.92).powi(2) + (v / 0.48).powi(2) < 1.0,
        "bar" => u.abs() < 0.92 && v.abs() < 0.26,
        "arrow" => {
            let shaft = u > -0.9 && u < 0.2 && v.abs() < 0.2;
            let head = (0.2..0.9).contains(&u) && v.abs() < (0.9 - u) * 0.9;
            shaft || head
        }
        "trapezoid" => v.abs() < 0.55 && u.abs() < 0.55 + (0.55 - v) * 0.36,
        "semicircle" => r < 0.9 && v > -0.3,
        "chevron" => {
            let w = v + 0.2 - u.abs();
            u.abs() < 0.85 && w > -0.15 && w < 0.3
        }
        "hourglass" => v.abs() < 0.85 && u.abs() < v.abs() * 0.85 + 0.06,
        "house" => {
            let walls = u.abs() < 0.6 && v > -0.8 && v < 0.1;
            let roof = (0.1..0.85).contains(&v) && u.abs() < (0.85 - v) * 1.0;
            walls || roof
        }
        "frame" => {
            let m = u.abs().max(v.abs());
            m < 0.8 && m > 0.5
        }
        "dumbbell" => {
            let bells = ((u.abs() - 0.6).powi(2) + v * v).sqrt() < 0.33;
            bells || (u.abs() < 0.6 && v.abs() < 0.12)
        }
        "teardrop" => {
            let bulb = (u * u + (v + 0.25).powi(2)).sqrt() < 0.6;
            let tip = (-0.25..0.95).contains(&v) && u.abs() < 0.6 * (0.95 - v) / 1.2;
            bulb || tip
        }
        _ => false,
    }
}

/// A regular polygon with `sides` corners on a circle of `radius`, a corner pointing up.
fn regular_polygon(u: f32, v: f32, sides: usize, radius: f32) -> bool {
    let sector = 2.0 * std::f32::consts::PI / sides as f32;
    let angle = u.atan2(v); // 0 pointing up
    let within = (angle.rem_euclid(sector)) - sector / 2.0;
    // Distance from centre to the edge along this angle.
    let apothem = radius * (sector / 2.0).cos();
    (u * u + v * v).sqrt() * within.cos() < apothem
}

/// A star with `points` points: tips at radius `outer`, notches at radius `inner`.
fn star(u: f32, v: f32, points: usize, outer: f32, inner: f32) -> bool {
    let sector = 2.0 * std::f32::consts::PI / points as f32;
    let angle = u.atan2(v).rem_euclid(sector);
    // Fold onto the half-sector between a tip (angle 0) and the next notch.
    let angle = angle.min(sector - angle);
    let r = (u * u + v * v).sqrt();
    let (px, py) = (r * angle.cos(), r * angle.sin());
    let (nx, ny) = (inner * (sector / 2.0).cos(), inner * (sector / 2.0).sin());
    // Inside when on the same side of the tip–notch edge as the centre.
    let (dx, dy) = (nx - outer, ny);
    let point_side = dx * py - dy * (px - outer);
    let centre_side = dy * outer;
    point_side * centre_side >= 0.0
}
