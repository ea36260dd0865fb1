// What the page knows: where the demo's files are, and the one state object every panel
// reads and updates (the worker holds the models and the fMRI; this holds their summaries).

export const BUNDLE_URL = 'models/demo/';
export const SAMPLE = {
  // Each subject's recording of the test stimuli.
  fmri: (subject) => `samples/${subject ?? 'sub-01'}-test-fmri.npy`,
  labels: 'samples/test-labels.json',
  stimulusIds: 'samples/test-stimulus-ids.json',
  candidates: 'samples/novel-categories.json',
  stimuli: 'samples/stimuli/',
};

/** The sample's image of stimulus `id`. */
export const stimulusUrl = (id) => `${SAMPLE.stimuli}${id}.png`;

/** Subject names as a reader says them: "sub-02" → "simulated subject 2". */
export function subjectTitle(name) {
  const number = /^sub-0*([0-9]+)$/.exec(name ?? '')?.[1];
  return number ? `simulated subject ${number}` : name;
}

export const state = {
  modelReady: false,
  // The fMRI loaded in the worker (its summary), with ground truth for the sample recording.
  fmri: null,
  truth: null,
  stimulusIds: null,
  // What the loaded decoder can reconstruct (`decoder.info()`), or null; while the bundle's
  // image decoder still downloads (after the models decoding needs), the pending load.
  imageDecoder: null,
  imageDecoderDue: false,
  imageDecoderLoading: null,
  imageDecoderError: null,
  // The model's load in progress, for a click that comes before it is ready.
  modelLoading: null,
  // The bundle's URL and subject the worker's decoder came from.
  bundleUrl: null,
  // A bundle archive the user chose instead of the demo (its bytes and name), or null.
  bundleFile: null,
  subject: null,
  // Whether the recording loaded is the sample (switching subject then loads theirs).
  usingSample: false,
  // Milliseconds of each stage on the way to the first decoded result, for the breakdown,
  // and when the page was ready for the visitor and when they asked (page clock).
  timings: {},
  readyAt: null,
  askedAt: null,
  firstDecodeShown: false,
  // The trial view: the chosen trial (0-based), the last decoding and identification of every
  // trial, and reconstructions already drawn (by trial and settings).
  trial: 0,
  decoded: null,
  identified: null,
  trialImages: new Map(),
  reconstructing: false,
  drawWhenDecoderArrives: false,
  // A first result is on its way (the image decoder waits for it).
  firstResultPending: false,
  // The page's first start (engine and model), for a click that comes before it is done.
  firstLoad: null,
};
