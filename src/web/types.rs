//! TypeScript types of the options and results the JavaScript API passes as plain objects,
//! written into the package's `.d.ts` so an editor checks them; the exports in `src/web/` name
//! them with `unchecked_param_type` / `unchecked_return_type`. Each type mirrors the serde
//! struct or JSON object its function reads or returns, and `tests/e2e/types.test.mjs` checks
//! them against what the functions really return.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** A backend choice: WebGPU when the browser offers it, else the CPU. */
export type BackendPreference = "auto" | "webgpu" | "cpu";

/** The backend a call runs on, and why it is not WebGPU when it is not. */
export interface DeviceInfo {
  backend: "webgpu" | "cpu";
  adapter: string;
  fallbackReason: string | null;
}

/** Options of `readFmri`; all optional. */
export interface ReadFmriOptions {
  /** The array to read from an `.npz` holding several. */
  array?: string;
  /** A NIfTI mask's bytes, for a 4-D NIfTI volume. */
  mask?: Uint8Array;
  maskName?: string;
  /** Replace NaN and ±Inf by 0 instead of refusing the file. */
  replaceNonFinite?: boolean;
  /** Largest decoded size accepted, in bytes. */
  maxBytes?: number;
  /** Refuse a file whose voxel count differs (e.g. a bundle's `voxels`). */
  expectedVoxels?: number;
}

/** Where an fMRI batch came from. */
export interface FmriSource {
  fileName: string;
  format: string;
  arrayName: string | null;
  maskName: string | null;
  dtype: string;
  shape: number[];
}

/** What a normalisation did. */
export interface NormalizationReport {
  mode: string;
  zeroVarianceVoxels: number;
}

/** Options of `simulateTestRecording`; unset values are the subject's own. */
export interface TestRecordingOptions {
  /** Single-presentation signal-to-noise ratio. */
  snr?: number;
  /** Presentations averaged per trial (35 by default). */
  repeats?: number;
  seed?: number;
  worldSeed?: number;
}

/**
 * What every long call accepts: an `AbortSignal` that cancels it. The call then rejects
 * with an error whose `code` is "aborted", within one batch or sampler step.
 */
export interface CallOptions {
  signal?: AbortSignal;
}

/** Which of a bundle's components `loadBundle` fetches. */
export type BundleParts = "all" | "decoding" | "image-decoder";

/** Options of `loadBundle` (and `isCached`). */
export interface LoadBundleOptions extends CallOptions {
  /** One subject of a bundle holding several (default: its default subject). */
  subject?: string;
  parts?: BundleParts;
  /** Keep the files in the browser's Cache API and take them from there (default true). */
  cache?: boolean;
}

/**
 * A `loadBundle` progress event, in the order transformers.js reports them: per file
 * "initiate", "download" (headers arrived), "progress" and "done" (a file from the cache goes
 * from "initiate" to "done", `cached` true); then one "ready" for the bundle (`file` and
 * `index` null).
 */
export interface LoadProgress {
  status: "initiate" | "download" | "progress" | "done" | "ready";
  file: string | null;
  index: number | null;
  count: number;
  loaded: number;
  total: number | null;
  /** Percent of the file (of the bundle for "ready"), when its length is known. */
  progress: number | null;
  /** Taken from the browser's cache (for "ready": every file was). */
  cached: boolean;
  bundleLoaded: number;
  bundleTotal: number | null;
  filesDone: number;
}

/** What the browser's cache did for one `loadBundle`. */
export interface CacheReport {
  available: boolean;
  hits: number;
  stored: number;
  /** Cached versions of the stored files under other SHA-256s (an updated bundle), removed. */
  pruned: number;
  /** Why files could not be cached, e.g. code "quota_exceeded"; the bundle loaded anyway. */
  error: { code: "quota_exceeded" | "cache_failed"; message: string } | null;
}

/** A bundle's manifest, summarised. */
export interface BundleInfo {
  name: string;
  description: string;
  provenance: string;
  license: string;
  simulated: boolean;
  voxels: number;
  normalization: "none" | "batch" | "stats";
  dtype: "f32" | "f16" | "q8";
  labels: Record<string, string[]>;
  /** Component name → kind. */
  components: Record<string, string>;
  subject: string | null;
  subjects: string[];
  notLoaded: string[];
  cache: CacheReport;
}

/** Where a bundle places its voxels on a flattened cortical sheet. */
export interface VoxelSheet {
  voxels: number;
  areas: { name: string; bounds: [number, number, number, number] }[];
  /** `[voxels, 2]`, row-major, in [0, 1]. */
  coordinates: Float32Array;
}

/** What a decoder holds and where it runs. */
export interface DecoderInfo extends DeviceInfo {
  voxels: number;
  variant: string;
  imageDim: number;
  textDim: number;
  hasClip: boolean;
  hasImageDecoder: boolean;
  hasLowLevel: boolean;
  lowLevelStrength: number | null;
  imageSize: number | null;
  schedule: { kind: string; steps: number[]; guidance: number } | null;
}

/** Options of `embedLabels`. */
export interface EmbedLabelsOptions extends CallOptions {
  /** Prompt templates, "{}" standing for the label; several are ensembled. */
  templates?: string[];
}

/** Options of `decodeCategories`. */
export interface DecodeOptions extends EmbedLabelsOptions {
  /** Best labels per trial (default 5). */
  topK?: number;
  /** The labels' CLIP text embeddings `[labels, textDim]`, e.g. from `embedLabels`. */
  labelEmbeddings?: Float32Array | number[];
}

/** What `attribute` explains: one trial's similarity to exactly one of `label`,
 * `labelEmbedding` (CLIP text space) or `imageEmbedding` (CLIP image space). */
export interface AttributeOptions extends CallOptions {
  /** Row of the fMRI (default 0). */
  trial?: number;
  /** A label, embedded through `templates` as decoding embeds it. */
  label?: string;
  templates?: string[];
  labelEmbedding?: Float32Array | number[];
  imageEmbedding?: Float32Array | number[];
  /** Default "integrated-gradients" (from the training-mean pattern). */
  method?: 'integrated-gradients' | 'gradient-times-input';
  /** Integration steps (default 32, at most 1024). */
  steps?: number;
  /** A control mapper of the bundle ("shuffled labels", "ridge") instead of the model. */
  control?: string;
}

/** Each voxel's contribution to a trial's cosine similarity with the target. */
export interface Attribution {
  trial: number;
  method: 'integrated-gradients' | 'gradient-times-input';
  steps: number;
  space: 'image' | 'text';
  /** One value per voxel, in the bundle's voxel order. */
  values: Float32Array;
  similarity: number;
  /** The similarity of the baseline (all-zero, training-mean) pattern. */
  baselineSimilarity: number;
  /** `sum(values) − (similarity − baselineSimilarity)`: 0 for exact integrated gradients. */
  completenessGap: number;
}

/** One ranked label of a trial. */
export interface RankedLabel {
  index: number;
  label: string;
  similarity: number;
  probability: number;
}

/** One ranked candidate of a trial. */
export interface RankedCandidate {
  index: number;
  similarity: number;
  probability: number;
}

/** Options of `retrieve`. */
export interface RetrieveOptions extends CallOptions {
  topK?: number;
  space?: "image" | "text";
}

/** Predicted CLIP embeddings of every trial, row-major and L2-normalised. */
export interface Embeddings {
  trials: number;
  imageDim: number;
  textDim: number;
  image: Float32Array;
  text: Float32Array;
}

/** Options of `evaluate`: the truth to score against, as `brainclip eval` takes it. */
export interface EvaluateOptions extends EmbedLabelsOptions {
  /** True label of each trial. */
  labels?: string[];
  /** Candidate labels (default: the distinct true labels). */
  candidates?: string[];
  labelEmbeddings?: Float32Array | number[];
  /** CLIP image embedding of each trial's stimulus, `[trials, imageDim]`. */
  imageEmbeddings?: Float32Array | number[];
  /** CLIP text embedding of each trial's caption, `[trials, textDim]`. */
  textEmbeddings?: Float32Array | number[];
  way?: number;
  draws?: number;
  seed?: number;
}

/** One score, with what it must be read against. */
export interface Metric {
  id: string;
  name: string;
  value: number;
  chance: number;
  trials: number;
  /** The same metric for each control, baseline and ceiling, by name. */
  controls?: Record<string, number>;
}

/** What `evaluate` returns: the object `brainclip eval --json` prints. */
export interface Evaluation {
  trials: number;
  metrics: Metric[];
  notes?: string[];
  perTrial: {
    categoryRank?: number[];
    categoryMargin?: number[];
    imageRank?: number[];
    imageMargin?: number[];
  };
}

/** Options of `reconstruct`; unset values take the bundle's schedule. */
export interface ReconstructOptions extends CallOptions {
  /** Trials to reconstruct (all when empty or absent). */
  trials?: number[];
  steps?: number;
  guidance?: number;
  /** Below 1, sampling starts from the low-level image noised to this level. */
  strength?: number;
  seed?: number;
  /** Called after every step with the decoded estimates (RGBA). */
  onStep?: (step: number, steps: number, images: Uint8ClampedArray[]) => void;
}

/** Options of `reconstructLowLevel`. */
export interface LowLevelOptions extends CallOptions {
  trials?: number[];
}

/** Reconstructed images, RGBA `size × size`, one per trial. */
export interface Reconstruction {
  trials: number[];
  size: number;
  steps: number;
  guidance: number;
  images: Uint8ClampedArray[];
}
/** A simulated subject's training session (`simulateTrainingSession`). */
export interface TrainingSession {
  fmri: FmriHandle;
  /** The category label of each trial ("red star"). */
  labels: string[];
  /** The stimulus of each trial; repeats of one stimulus share an id. */
  stimulusIds: string[];
}

/** Settings of `trainMapper`, as `brainclip train-mapper` takes them; unset ones take the
 * browser preset (an MLP, hidden 128, 1 block, latent 64, at most 30 epochs, patience 10). */
export interface TrainSettings {
  variant?: "linear" | "mlp" | "vae";
  hidden?: number;
  blocks?: number;
  latent?: number;
  inputDropout?: number;
  dropout?: number;
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  weightDecay?: number;
  warmup?: number;
  /** 0 turns gradient clipping off. */
  gradClip?: number;
  temperature?: number;
  learnTemperature?: boolean;
  lambdaImage?: number;
  lambdaText?: number;
  beta?: number;
  betaWarmup?: number;
  valFraction?: number;
  patience?: number;
  seed?: number;
}

/** One epoch of `trainMapper` (snake_case, as `brainclip train-mapper` prints it). */
export interface EpochReport {
  phase: "model" | "shuffled labels";
  epoch: number;
  loss: number;
  loss_image: number;
  loss_text: number;
  kl: number;
  val_image_top1: number | null;
  val_text_top1: number | null;
  val_image_chance: number | null;
  val_text_chance: number | null;
  learning_rate: number;
  temperature: number;
  samples_per_second: number;
  best: boolean;
}

/** Options of `trainMapper`: some supervision (labels with `clipFrom`, captions,
 * `labelEmbeddings` or `imageEmbeddings`) is needed. */
export interface TrainMapperOptions extends CallOptions {
  /** A label (or several) per trial, filled into `templates` and embedded by `clipFrom`. */
  labels?: (string | string[])[];
  captions?: (string | string[])[];
  templates?: string[];
  /** A text embedding per trial, row-major `[trials, dim]`. */
  labelEmbeddings?: Float32Array;
  /** The seen image's CLIP embedding per trial, row-major `[trials, dim]`. */
  imageEmbeddings?: Float32Array;
  /** Trials of one stimulus stay on one side of the validation split. */
  stimulusIds?: (string | number)[];
  /** Run or session per trial: validation then holds out whole groups. */
  groups?: (string | number)[];
  /** A bundle whose CLIP embeds the labels and travels in the new bundle. */
  clipFrom?: BundleHandle;
  /** Calibrate this bundle's mapper to the data instead of training one from scratch: its
   * blocks, latent and heads are kept, only a new input layer is learned (and `variant`,
   * `hidden`, `blocks`, `latent` may not be set). */
  calibrateFrom?: BundleHandle;
  settings?: TrainSettings;
  /** Train the label-shuffled control and fit the ridge baseline (default true). */
  controls?: boolean;
  name?: string;
  provenance?: string;
  license?: string;
  simulated?: boolean;
  /** The subject the data is of (e.g. "sub-02"), recorded in the bundle's manifest. */
  subject?: string;
  /** Candidate-label lists to ship in the manifest, e.g. `{ "test-categories": [...] }`. */
  labelSets?: Record<string, string[]>;
  onEpoch?: (report: EpochReport) => void;
}

/** How `trainMapper` went. */
export interface TrainingReport {
  /** The training settings used (snake_case, as the CLI's `TrainConfig`). */
  settings: Record<string, unknown>;
  mapperConfig: Record<string, unknown>;
  history: EpochReport[];
  bestEpoch: number;
  trainTrials: number;
  /** Row numbers of the validation trials. */
  validationTrials: number[];
  seenLabels: string[];
  controls: string[];
  mode: "train" | "calibrate";
  /** Validation trials (a sample) with a near-copy among the training trials, as
   * `brainclip train-mapper` warns: `leaks` when at least a tenth do. Give `groups` (runs)
   * then. */
  validationLeak: { checked: number; withNearCopy: number; leaks: boolean };
  seconds: number;
  /** The validation trials decoded among the seen labels, with chance and controls. */
  heldOut: Evaluation | null;
}
"#;
