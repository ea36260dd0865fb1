// The page: user interface only. brainclip itself runs in a module worker, through the npm
// package's worker client (engine.js).
import { startEngine } from './engine.js';
import { metricsTable, percent } from './metrics.js';
import { setupTraining } from './train.js';
const BUNDLE_URL = 'models/demo/';
const SAMPLE = {
  // Each subject's recording of the test stimuli.
  fmri: (subject) => `samples/${subject ?? 'sub-01'}-test-fmri.npy`,
  labels: 'samples/test-labels.json',
  stimulusIds: 'samples/test-stimulus-ids.json',
  candidates: 'samples/novel-categories.json',
  stimuli: 'samples/stimuli/',
};

const $ = (id) => document.getElementById(id);
const show = (id, text, isError = false) => {
  $(id).textContent = text;
  $(id).classList.toggle('error', isError);
};
const grouped = (n) => n.toLocaleString('en-US');
const showError = (id, err) => {
  $(id).textContent = err.message ?? String(err);
  $(id).dataset.code = err.code ?? 'unknown';
  $(id).hidden = false;
};

const state = {
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

let onProgress = () => {};

// A worker that cannot start (no module workers, a wasm that fails to load) or dies must
// not leave the page at "starting…": every waiting call fails with words a visitor can act on.
let workerFailure = null;
function failWorker(detail) {
  workerFailure ??= Object.assign(new Error(
    `brainclip could not run in this page (${detail}). Reload the page; if this happens again, ` +
    'use a current Chrome, Edge, Firefox or Safari with JavaScript modules in workers and ' +
    'WebAssembly allowed.'), { code: 'worker_failed' });
  show('backend', 'unavailable', true);
  showError('device-error', workerFailure);
  document.body.dataset.ready = 'error';
  return workerFailure;
}

// brainclip runs in a module worker through the package's worker client (engine.js).
let engine = null;
let engineStarting = null;

// Cancelling: the runs a visitor can cancel take the page's AbortSignal; Cancel aborts it.
// The worker drops the work at its next step, and the model and recording stay loaded.
let runs = new AbortController();
const CANCELLABLE = new Set(['decode', 'identify', 'explore', 'reconstruct']);
const CANCELLED = () => Object.assign(new Error('Cancelled.'), { code: 'cancelled' });

/** Shows the Cancel button `id` while `run` is in progress. */
async function whileCancellable(id, run) {
  $(id).hidden = false;
  try {
    return await run();
  } finally {
    $(id).hidden = true;
  }
}

/** Runs `op` in the worker. */
async function call(op, args = {}) {
  if (workerFailure) throw workerFailure;
  await engineStarting;
  const signal = CANCELLABLE.has(op) ? runs.signal : undefined;
  try {
    return await engine[op]({ ...args, signal });
  } catch (err) {
    if (err.code === 'aborted') throw CANCELLED();
    if (err.code === 'worker_failed') throw failWorker(err.message);
    throw err;
  }
}

/** Ends every run in progress now. */
function cancelRuns() {
  runs.abort(new Error('the visitor pressed Cancel'));
  runs = new AbortController();
}

async function startDevice() {
  engineStarting = startEngine({ onProgress: (p) => onProgress(p) });
  engine = await engineStarting;
  const { device, selfCheck, timings } = engine;
  Object.assign(state.timings, timings);
  show('backend', device.backend);
  show('adapter', device.adapter);
  show('fallback-reason', device.fallbackReason ?? 'none');
  document.body.dataset.backend = device.backend;
  show('self-check', selfCheck, selfCheck !== 'ok');
}

async function fetchOk(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`could not fetch ${url}: HTTP ${response.status}`);
  return response;
}
const fetchJson = async (url) => (await fetchOk(url)).json();
const fetchBytes = async (url) => (await fetchOk(url)).arrayBuffer();

// The sample's files are fetched while the engine and model load, each used once; later
// reads fetch again.
const prefetched = new Map();
function prefetch(url, fetcher) {
  const response = fetcher(url);
  response.catch(() => {}); // reported when taken, not as an unhandled rejection
  prefetched.set(url, response);
}
function takePrefetched(url, fetcher) {
  const response = prefetched.get(url);
  prefetched.delete(url);
  return response ?? fetcher(url);
}

/** Subject names as a reader says them: "sub-02" → "simulated subject 2". */
const subjectTitle = (name) => {
  const number = /^sub-0*([0-9]+)$/.exec(name ?? '')?.[1];
  return number ? `simulated subject ${number}` : name;
};

function loadModel(subject = null, file = state.bundleFile) {
  state.modelLoading = loadModelNow(subject, file).finally(() => { state.modelLoading = null; });
  return state.modelLoading;
}

/** A bundle archive (.zip) the user chose: e.g. one the training panel made. */
async function loadBundleFile() {
  const chosen = $('bundle-file').files[0];
  if (!chosen) return;
  state.bundleFile = { bytes: await chosen.arrayBuffer(), name: chosen.name };
  await loadModel(null);
}

async function loadModelNow(subject, file = null) {
  state.modelReady = false;
  // An image decoder still downloading belongs to the model being replaced.
  state.imageDecoder = null;
  state.imageDecoderDue = false;
  state.imageDecoderLoading = null;
  state.imageDecoderError = null;
  // The trial button stays: a click now waits for the model.
  for (const id of ['decode-button', 'identify-button', 'reconstruct-button', 'use-sample', 'subject', 'explore-button']) {
    $(id).disabled = true;
  }
  $('bundle-error').hidden = true;
  document.body.dataset.model = 'loading';
  try {
    const megabytes = (bytes) => (bytes / 1e6).toFixed(1);
    // The files download at once; the bar follows their bytes together.
    onProgress = (p) => {
      const of = p.bundleTotal ? ` of ${megabytes(p.bundleTotal)}` : '';
      show('bundle-name', `loading the model: ${megabytes(p.bundleLoaded)}${of} MB ` +
        `(${p.filesDone} of ${p.count} files)…`);
      $('bundle-progress').hidden = false;
      $('bundle-progress').max = p.bundleTotal ?? p.count;
      $('bundle-progress').value = p.bundleTotal ? p.bundleLoaded : p.filesDone;
    };
    const url = file ? null : new URL(BUNDLE_URL, document.baseURI).href;
    const info = await call('loadModel', { url, file, subject });
    onProgress = () => {};
    $('bundle-progress').hidden = true;
    state.bundleUrl = url;
    document.body.dataset.bundleSource = file ? 'file' : 'demo';
    state.subject = info.subject;
    Object.assign(state.timings, info.timings);
    state.modelReady = true;
    // A bundle with several subjects offers them all.
    $('subject-choice').hidden = info.subjects.length < 2;
    $('subject').replaceChildren(...info.subjects.map((name) => new Option(subjectTitle(name), name)));
    $('subject').value = info.subject ?? '';
    $('subject').disabled = info.subjects.length < 2;
    show('sample-subject', subjectTitle(info.subject ?? 'sub-01'));
    document.body.dataset.subject = info.subject ?? '';
    show('bundle-name', info.name);
    show('bundle-voxels', `${grouped(info.voxels)} voxels`);
    show('bundle-provenance', info.provenance);
    $('simulated-notice').hidden = !info.simulated;
    // A bundle may ship candidate labels (e.g. its test categories): offer them.
    const sets = info.labels ?? {};
    const offered = sets['test-categories'] ?? Object.values(sets)[0];
    if (offered && !$('labels').value.trim()) $('labels').value = offered.join('\n');
    document.body.dataset.simulated = String(info.simulated);
    // The image decoder downloads after the models decoding needs (see loadImageDecoder).
    const imageDecoderFollows = !info.decoder.hasImageDecoder && info.notLoaded.length > 0;
    setupReconstruction(info.decoder, { loading: imageDecoderFollows });
    setupBrain(info.sheet);
    setupExplore(info);
    if (state.fmri) {
      $('brain-trial').disabled = false;
      $('brain-show').disabled = false;
      showBrain();
    }
    $('use-sample').disabled = false;
    $('trial-start').disabled = false;
    show('trial-status', `(${subjectTitle(info.subject ?? 'sub-01')}; nothing leaves this page)`);
    if (state.fmri) {
      $('decode-button').disabled = false;
      $('identify-button').disabled = false;
      $('reconstruct-button').disabled = !state.imageDecoder;
    }
    document.body.dataset.model = 'ready';
    state.readyAt ??= performance.now();
    state.imageDecoderDue = imageDecoderFollows;
    // A visitor already waiting for the first result gets it first (the downloads and
    // model builds would share its two cores); the image decoder follows it.
    if (!state.firstResultPending) loadImageDecoder();
  } catch (err) {
    onProgress = () => {};
    $('bundle-progress').hidden = true;
    show('bundle-name', 'none');
    showError('bundle-error', err);
    document.body.dataset.model = 'error';
  }
}

/** Adds the bundle's image decoder to the worker's decoder: the larger models, fetched while
 * the visitor already decodes. A trial waiting for its drawing gets it when they arrive. */
async function loadImageDecoder() {
  if (!state.imageDecoderDue || state.imageDecoderLoading) return;
  const loading = call('loadImageDecoder', { url: state.bundleUrl, subject: state.subject });
  state.imageDecoderLoading = loading;
  let info = null;
  try {
    info = await loading;
  } catch (err) {
    if (state.imageDecoderLoading !== loading || err.code === 'superseded') return;
    state.imageDecoderLoading = null;
    state.imageDecoderDue = false;
    state.imageDecoderError = err;
    setupReconstruction(null, { error: err });
    if (state.fmri) reconstructTrial(state.trial);
    return;
  }
  if (state.imageDecoderLoading !== loading) return;
  state.imageDecoderLoading = null;
  state.imageDecoderDue = false;
  setupReconstruction(info);
  if (state.fmri) {
    $('reconstruct-button').disabled = false;
    if (state.drawWhenDecoderArrives) reconstructTrial(state.trial);
  }
}

async function readIntoWorker(read, name, options) {
  const bytes = await read();
  const handle = await call('readFmri', { bytes, name, options });
  return handle;
}

function setFmri(handle, truth = null, stimulusIds = null) {
  state.fmri = handle;
  state.truth = truth;
  state.stimulusIds = stimulusIds;
  const source = handle.source;
  show('fmri-trials', grouped(handle.trials));
  show('fmri-voxels', grouped(handle.voxels));
  show('fmri-dtype', `${handle.dtype}, shape [${source.shape.join(', ')}]`);
  show('fmri-source', [source.fileName, source.arrayName, source.maskName && `mask ${source.maskName}`]
    .filter(Boolean).join(' · '));
  $('fmri-summary').hidden = false;
  $('decode-button').disabled = !state.modelReady;
  $('identify-button').disabled = !state.modelReady;
  $('reconstruct-button').disabled = !state.imageDecoder;
  $('brain-trial').disabled = !state.modelReady;
  $('brain-show').disabled = !state.modelReady;
  $('brain-trial').max = String(handle.trials);
  $('brain-view').hidden = true;
  if (state.modelReady) showBrain();
  $('reconstruct-grid').hidden = true;
  $('identify-results').hidden = true;
  $('identify-matrix').hidden = true;
  $('identify-metrics').hidden = true;
  $('decode-results').hidden = true;
  $('decode-metrics').hidden = true;
  state.decoded = null;
  state.identified = null;
  state.trialImages.clear();
  renderPicker();
  // The card shows the first trial at once; its reconstruction waits for the visitor.
  selectTrial(0, { reconstruct: false });
}

async function loadFmri() {
  const file = $('fmri-file').files[0];
  if (!file) return;
  const maskFile = $('mask-file').files[0];
  const options = {};
  if (maskFile) {
    options.mask = new Uint8Array(await maskFile.arrayBuffer());
    options.maskName = maskFile.name;
  }
  const arrayName = $('array-name').value.trim();
  if (arrayName) options.array = arrayName;
  $('fmri-error').hidden = true;
  $('fmri-summary').hidden = true;
  try {
    setFmri(await readIntoWorker(() => file.arrayBuffer(), file.name, options));
    state.usingSample = false;
  } catch (err) {
    showError('fmri-error', err);
  }
}

async function useSample() {
  state.askedAt ??= performance.now();
  $('fmri-error').hidden = true;
  try {
    const [truth, stimulusIds, candidates] = await Promise.all(
      [SAMPLE.labels, SAMPLE.stimulusIds, SAMPLE.candidates].map((url) => takePrefetched(url, fetchJson)));
    const sample = SAMPLE.fmri(state.subject);
    const reading = performance.now();
    const handle = await readIntoWorker(() => takePrefetched(sample, fetchBytes), sample.split('/').pop(), {});
    state.timings.sample = performance.now() - reading;
    setFmri(handle, truth, stimulusIds);
    state.usingSample = true;
    $('labels').value = candidates.join('\n');
  } catch (err) {
    showError('fmri-error', err);
  }
}

function candidateLabels() {
  return [...new Set($('labels').value.split('\n').map((l) => l.trim()).filter(Boolean))];
}

/** The library's metrics as a table (value, chance, controls) in `id`. */
function renderMetrics(id, evaluation, metricIds) {
  $(id).replaceChildren(...metricsTable(evaluation, metricIds));
  $(id).hidden = false;
  showEvaluation(evaluation);
}

/** Keeps the latest evaluation downloadable as JSON (built in the page; nothing is sent). */
function showEvaluation(evaluation) {
  const json = JSON.stringify(evaluation, null, 2);
  $('evaluation-json').textContent = json;
  const link = $('evaluation-download');
  if (link.href.startsWith('blob:')) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(new Blob([json], { type: 'application/json' }));
  link.hidden = false;
}

/** One decoded label with its probability as a bar, marked when it is the truth. */
function labelItem(ranked, truth) {
  const item = document.createElement('li');
  item.className = ranked.label === truth ? 'hit' : '';
  const bar = document.createElement('span');
  bar.className = 'bar';
  bar.style.width = `${Math.round(ranked.probability * 100)}%`;
  item.append(document.createTextNode(`${ranked.label} ${(ranked.probability * 100).toFixed(1)} %`), bar);
  return item;
}

function renderResults(ranked, evaluation) {
  const body = $('decode-results').querySelector('tbody');
  body.replaceChildren();
  const ranks = evaluation?.perTrial?.categoryRank;
  ranked.forEach((best, trial) => {
    const truth = state.truth?.[trial];
    const row = document.createElement('tr');
    if (ranks) row.className = ranks[trial] === 0 ? 'decoded' : 'missed';
    const index = document.createElement('td');
    index.textContent = String(trial + 1);
    const seen = document.createElement('td');
    if (state.stimulusIds?.[trial]) {
      const img = document.createElement('img');
      img.src = `${SAMPLE.stimuli}${state.stimulusIds[trial]}.png`;
      img.alt = truth ?? '';
      img.width = 48;
      img.height = 48;
      seen.append(img, document.createTextNode(` ${truth}`));
    } else {
      seen.textContent = '—';
    }
    const decoded = document.createElement('td');
    const list = document.createElement('ol');
    list.append(...best.map((r) => labelItem(r, truth)));
    decoded.append(list);
    row.append(index, seen, decoded);
    body.append(row);
  });
  $('decode-results').hidden = false;
  if (evaluation) renderMetrics('decode-metrics', evaluation, ['category_top1', 'category_top5']);
}

async function decode() {
  const labels = candidateLabels();
  $('decode-error').hidden = true;
  if (!state.fmri || labels.length < 2) {
    showError('decode-error', new Error('Load fMRI and give at least two candidate labels.'));
    return;
  }
  $('decode-button').disabled = true;
  show('decode-status', `decoding ${grouped(state.fmri.trials)} trials against ${labels.length} labels…`);
  const started = performance.now();
  try {
    // With the sample, the truth is known and every true label must be a candidate.
    const truth = state.truth && state.truth.every((t) => labels.includes(t)) ? state.truth : null;
    const { ranked, evaluation, reused, milliseconds } = await whileCancellable('decode-cancel', () => call('decode', { labels, topK: 5, truth }));
    renderResults(ranked, evaluation);
    state.decoded = ranked;
    showTrial();
    if (!state.firstDecodeShown) showTimings(milliseconds);
    show('decode-status', `done in ${((performance.now() - started) / 1000).toFixed(1)} s` +
      (reused ? ' (the labels\' embeddings reused)' : ''));
    document.body.dataset.decoded = 'true';
  } catch (err) {
    show('decode-status', err.code === 'cancelled' ? 'cancelled' : '');
    if (err.code !== 'cancelled') showError('decode-error', err);
  } finally {
    $('decode-button').disabled = false;
    loadImageDecoder();
  }
}

/**
 * The first decoded result's time since the page was opened, by stage: what a visitor waits
 * for. The stages follow one another; the sample's download and the image decoder's overlap
 * them and are not counted. "Waiting for you" is the time between the page being ready and
 * the visitor asking for the sample (none when they asked earlier).
 */
function showTimings(decodeMs) {
  state.firstDecodeShown = true;
  const total = performance.now();
  const waiting = state.readyAt !== null && state.askedAt !== null
    ? Math.max(0, state.askedAt - state.readyAt) : undefined;
  const t = { ...state.timings, decode: decodeMs, waiting };
  const stages = [
    ['wasm', 'WebAssembly download and compile'],
    ['device', 'compute backend start'],
    ['fetch', 'bundle download'],
    ['build', 'models built'],
    ['sample', 'recording read'],
    ['decode', 'decoding (labels embedded, trials mapped and ranked)'],
    ['waiting', 'waiting for you to ask'],
  ].filter(([key]) => t[key] !== undefined);
  const measured = stages.reduce((sum, [key]) => sum + t[key], 0);
  const rows = [...stages.map(([key, name]) => [key, name, t[key]]),
    ['other', 'page load, messages, drawing (and any wait between your clicks)', Math.max(0, total - measured)],
    ['total', 'from opening the page', total]];
  $('timings-body').replaceChildren(...rows.map(([key, name, ms]) => {
    const row = document.createElement('tr');
    row.dataset.stage = key;
    row.dataset.ms = String(Math.round(ms));
    row.insertCell().textContent = name;
    row.insertCell().textContent = `${(ms / 1000).toFixed(2)} s`;
    return row;
  }));
  $('timings').hidden = false;
}

/** Candidate images: the user's files, or the sample's test stimuli. */
async function candidateImages() {
  const files = [...$('candidate-images').files];
  if (files.length > 0) {
    return Promise.all(files.map(async (f) => ({
      name: f.name, url: URL.createObjectURL(f), bytes: new Uint8Array(await f.arrayBuffer()),
    })));
  }
  if (!state.stimulusIds) return [];
  return Promise.all(state.stimulusIds.map(async (id) => {
    const url = `${SAMPLE.stimuli}${id}.png`;
    return { name: `${id}.png`, url, bytes: new Uint8Array(await fetchBytes(url)) };
  }));
}

function thumbnail(url, alt) {
  const img = document.createElement('img');
  img.src = url;
  img.alt = alt;
  img.width = 48;
  img.height = 48;
  return img;
}

/** [0, 1, …, n−1]: trial i saw candidate i. */
const identityOrder = (n) => Array.from({ length: n }, (_, i) => i);

async function identify() {
  $('identify-error').hidden = true;
  if (!state.fmri) {
    showError('identify-error', new Error('Load fMRI first.'));
    return;
  }
  $('identify-button').disabled = true;
  const started = performance.now();
  try {
    const candidates = await candidateImages();
    if (candidates.length < 2) throw new Error('Pick at least two candidate images.');
    show('identify-status', `embedding ${candidates.length} images…`);
    // With the sample, trial i saw candidate i.
    const truthKnown = Boolean($('candidate-images').files.length === 0 && state.stimulusIds);
    const labels = candidateLabels();
    const { ranked, evaluation, similarity, reused } = await whileCancellable('identify-cancel', () => call('identify', {
      images: candidates.map((c) => c.bytes.buffer),
      names: candidates.map((c) => c.name),
      topK: 5,
      candidateOfTrial: truthKnown ? identityOrder(state.stimulusIds.length) : null,
      // The truth's categories let the evaluation add category decoding and the ceilings.
      ...(truthKnown && state.truth.every((t) => labels.includes(t))
        ? { truth: state.truth, labels } : {}),
    }));
    const body = $('identify-results').querySelector('tbody');
    body.replaceChildren();
    const ranks = evaluation?.perTrial?.imageRank;
    ranked.forEach((best, trial) => {
      const row = document.createElement('tr');
      if (ranks) row.className = ranks[trial] === 0 ? 'decoded' : 'missed';
      const index = document.createElement('td');
      index.textContent = String(trial + 1);
      const seen = document.createElement('td');
      if (truthKnown) seen.append(thumbnail(candidates[trial].url, state.truth?.[trial] ?? ''));
      else seen.textContent = '—';
      const matches = document.createElement('td');
      for (const r of best) {
        const img = thumbnail(candidates[r.index].url, candidates[r.index].name);
        img.title = `${candidates[r.index].name}: ${(r.probability * 100).toFixed(1)} %`;
        if (truthKnown && r.index === trial) img.className = 'hit';
        matches.append(img);
      }
      row.append(index, seen, matches);
      body.append(row);
    });
    $('identify-results').hidden = false;
    state.identified = { ranked, candidates: candidates.map(({ name, url }) => ({ name, url })), truthKnown };
    showTrial();
    if (evaluation) {
      renderMetrics('identify-metrics', evaluation, ['image_top1', 'image_to_fmri_top1', 'image_nway', 'image_two_way']);
      document.body.dataset.evaluated = 'true';
    }
    drawMatrix(similarity, ranked.length, candidates, truthKnown);
    show('identify-status', `done in ${((performance.now() - started) / 1000).toFixed(1)} s` +
      (reused ? ' (the images\' embeddings reused)' : ''));
    document.body.dataset.identified = 'true';
  } catch (err) {
    show('identify-status', err.code === 'cancelled' ? 'cancelled' : '');
    if (err.code !== 'cancelled') showError('identify-error', err);
  } finally {
    $('identify-button').disabled = false;
  }
}

// The trials × candidates matrix: each cell the cosine similarity of a trial's predicted image
// embedding and a candidate's, scaled per trial (row) so each row's best match is brightest;
// the seen image of each trial is outlined when known.
const matrix = { similarity: null, trials: 0, names: [], truthKnown: false };

function drawMatrix(similarity, trials, candidates, truthKnown) {
  Object.assign(matrix, { similarity, trials, names: candidates.map((c) => c.name), truthKnown });
  const n = candidates.length;
  const canvas = $('matrix-canvas');
  const cell = Math.max(2, Math.floor(400 / Math.max(n, trials)));
  canvas.width = n * cell;
  canvas.height = trials * cell;
  const ctx = canvas.getContext('2d');
  for (let t = 0; t < trials; t += 1) {
    const row = similarity.subarray(t * n, (t + 1) * n);
    const lo = Math.min(...row);
    const hi = Math.max(...row);
    for (let c = 0; c < n; c += 1) {
      // Cubed, so the few close matches stand out from the many middling ones.
      const v = hi > lo ? (row[c] - lo) / (hi - lo) : 0;
      const shade = Math.round(255 * v ** 3);
      ctx.fillStyle = `rgb(${Math.round(shade * 0.35)},${Math.round(shade * 0.55)},${shade})`;
      ctx.fillRect(c * cell, t * cell, cell, cell);
    }
  }
  if (truthKnown) {
    // A thin outline inside the cell, so its own brightness still shows.
    ctx.strokeStyle = '#ffb000';
    ctx.lineWidth = 1;
    for (let t = 0; t < Math.min(trials, n); t += 1) ctx.strokeRect(t * cell + 0.5, t * cell + 0.5, cell - 1, cell - 1);
  }
  matrix.cell = cell;
  $('matrix-caption').textContent = `${trials} trials (rows) × ${n} candidates (columns); each row ` +
    'scaled from its least to its most similar candidate (brighter: more similar)' +
    (truthKnown ? '; the seen image outlined in amber.' : '.');
  $('identify-matrix').hidden = false;
}

function hoverMatrix(event) {
  if (!matrix.similarity) return;
  const canvas = $('matrix-canvas');
  const rect = canvas.getBoundingClientRect();
  const c = Math.floor(((event.clientX - rect.left) * canvas.width) / rect.width / matrix.cell);
  const t = Math.floor(((event.clientY - rect.top) * canvas.height) / rect.height / matrix.cell);
  const n = matrix.names.length;
  if (c < 0 || c >= n || t < 0 || t >= matrix.trials) return;
  $('matrix-hover').textContent = `trial ${t + 1} × ${matrix.names[c]}: similarity ` +
    `${matrix.similarity[t * n + c].toFixed(3)}${matrix.truthKnown && c === t ? ' (the seen image)' : ''}`;
}

/** Offers the decoder's step counts and the low-level start, or says there is no decoder. */
const NO_IMAGE_DECODER = 'This bundle has no image decoder (components autoencoder and denoiser).';

/** The reconstruction panel for the decoder's image decoder (`decoder.info()`); without
 * one, why not: `loading` while it downloads, or the `error` that stopped it. */
function setupReconstruction(decoderInfo, { loading = false, error = null } = {}) {
  const available = Boolean(decoderInfo?.hasImageDecoder);
  state.imageDecoder = available ? decoderInfo : null;
  $('reconstruct-unavailable').hidden = available;
  $('reconstruct-controls').hidden = !available;
  if (!available) {
    show('reconstruct-unavailable', loading ? 'Loading the image decoder…'
      : error ? `The image decoder could not be loaded: ${error.message ?? error}` : NO_IMAGE_DECODER,
    Boolean(error));
    return;
  }
  const { steps } = decoderInfo.schedule;
  $('reconstruct-steps').replaceChildren(...steps.map((n, i) => {
    const option = document.createElement('option');
    option.value = String(n);
    option.textContent = i === 0 ? `${n} (default)` : String(n);
    return option;
  }));
  // A distilled student has its guidance baked in (its schedule says 1); a teacher takes any.
  const baked = decoderInfo.schedule.guidance === 1;
  const guidances = baked ? [1] : [...new Set([decoderInfo.schedule.guidance, 1, 2, 4, 8])].sort((a, b) => a - b);
  $('reconstruct-guidance').replaceChildren(...guidances.map((g) => new Option(
    baked ? 'baked in (distilled)' : (g === decoderInfo.schedule.guidance ? `${g} (default)` : String(g)), String(g))));
  $('reconstruct-guidance').value = String(decoderInfo.schedule.guidance);
  $('reconstruct-guidance').disabled = baked;
  $('reconstruct-strength-label').hidden = !decoderInfo.hasLowLevel;
  // The start the bundle's head recommends (chosen on a development split) is preselected.
  const preferred = decoderInfo.lowLevelStrength;
  if (preferred != null) {
    const select = $('reconstruct-strength');
    let option = [...select.options].find((o) => Number(o.value) === preferred);
    if (!option) {
      option = document.createElement('option');
      option.value = String(preferred);
      select.append(option);
    }
    option.textContent = preferred === 1 ? 'no (from noise; default)' : `strength ${preferred} (default)`;
    select.value = option.value;
  }
}

/** "1-8, 12" → [0, …, 7, 11] (the page numbers trials from 1, the library from 0). */
function parseTrials(text, trials) {
  const picked = [];
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const match = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(part);
    if (!match) throw new Error(`"${part}" is not a trial number or range (e.g. "1-8", "3, 7")`);
    const first = Number(match[1]);
    const last = Number(match[2] ?? match[1]);
    if (first < 1 || last > trials || first > last) {
      throw new Error(`trials ${part}: this recording has trials 1 to ${grouped(trials)}`);
    }
    for (let t = first; t <= last; t += 1) picked.push(t - 1);
  }
  if (picked.length === 0) throw new Error('Name at least one trial to reconstruct.');
  if (picked.length > 64) throw new Error(`${picked.length} trials at once is too many here; pick at most 64.`);
  return [...new Set(picked)];
}

function canvasFor(size, label) {
  const canvas = document.createElement('canvas');
  canvas.width = size;
  canvas.height = size;
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', label);
  return canvas;
}

function draw(canvas, pixels, size) {
  canvas.getContext('2d').putImageData(new ImageData(pixels, size, size), 0, 0);
}

/** One row per trial: the image seen (sample only), the low-level image, the reconstruction. */
function reconstructionTable(trials, size, lowLevel) {
  const table = document.createElement('table');
  const head = table.createTHead().insertRow();
  const titles = ['Trial', ...(state.stimulusIds ? ['Seen'] : []), ...(lowLevel ? ['Low-level'] : []), 'Reconstruction'];
  for (const title of titles) {
    const th = document.createElement('th');
    th.textContent = title;
    head.append(th);
  }
  const body = table.createTBody();
  const cells = { lowLevel: [], reconstruction: [] };
  for (const trial of trials) {
    const row = body.insertRow();
    const truth = state.truth?.[trial];
    row.insertCell().textContent = truth ? `${trial + 1} · ${truth}` : String(trial + 1);
    if (state.stimulusIds) {
      const seen = thumbnail(`${SAMPLE.stimuli}${state.stimulusIds[trial]}.png`, truth ?? 'seen image');
      seen.className = 'large';
      row.insertCell().append(seen);
    }
    if (lowLevel) {
      const canvas = canvasFor(size, `low-level reconstruction of trial ${trial + 1}`);
      cells.lowLevel.push(canvas);
      row.insertCell().append(canvas);
    }
    const canvas = canvasFor(size, `reconstruction of trial ${trial + 1}`);
    cells.reconstruction.push(canvas);
    row.insertCell().append(canvas);
  }
  return { table, cells };
}

/** The guidance to ask for: none for a distilled student (its own is baked in). */
const guidanceSetting = () => ($('reconstruct-guidance').disabled ? undefined : Number($('reconstruct-guidance').value));

/** The batch's reconstruction metrics beside their chance levels (the library's numbers). */
function renderReconstructionMetrics(metrics) {
  const table = document.createElement('table');
  table.className = 'metrics';
  const head = table.createTHead().insertRow();
  for (const title of ['metric', 'value', 'chance']) {
    const th = document.createElement('th');
    th.textContent = title;
    head.append(th);
  }
  // Correlations as numbers, identification rates as percent.
  const format = (id, v) => (id.endsWith('two_way') ? percent(v) : v.toFixed(3));
  const body = table.createTBody();
  for (const m of metrics) {
    const row = body.insertRow();
    row.dataset.metric = m.id;
    row.dataset.value = String(m.value);
    row.insertCell().textContent = m.name;
    const value = row.insertCell();
    value.textContent = format(m.id, m.value);
    value.className = 'value';
    row.insertCell().textContent = format(m.id, m.chance);
  }
  const legend = document.createElement('p');
  legend.className = 'hint';
  legend.textContent = `${metrics[0].trials} trials. Chance for PixCorr and SSIM is the same score ` +
    'against another trial\'s image; 2-way identification picks the seen image over another ' +
    'trial\'s, in CLIP\'s image space or the autoencoder\'s latents (chance 50 %). The same numbers ' +
    'as brainclip eval --reconstruct.';
  $('reconstruct-metrics').replaceChildren(table, legend);
  $('reconstruct-metrics').hidden = false;
}

async function reconstruct() {
  $('reconstruct-error').hidden = true;
  if (state.reconstructing) {
    showError('reconstruct-error', new Error('A reconstruction is still being drawn; try again in a moment.'));
    return;
  }
  if (!state.fmri || !state.imageDecoder) {
    showError('reconstruct-error', new Error('Load fMRI and a bundle with an image decoder first.'));
    return;
  }
  let trials;
  try {
    trials = parseTrials($('reconstruct-trials').value, state.fmri.trials);
  } catch (err) {
    showError('reconstruct-error', err);
    return;
  }
  const steps = Number($('reconstruct-steps').value);
  const seed = Number($('reconstruct-seed').value) || 0;
  const lowLevel = state.imageDecoder.hasLowLevel;
  const strength = lowLevel ? Number($('reconstruct-strength').value) : 1;
  const guidance = guidanceSetting();
  const size = state.imageDecoder.imageSize;
  // With the sample, the seen images are known: the batch is scored against them.
  const seen = state.stimulusIds && trials.length >= 2
    ? trials.map((t) => new URL(`${SAMPLE.stimuli}${state.stimulusIds[t]}.png`, document.baseURI).href)
    : null;
  $('reconstruct-metrics').hidden = true;
  const { table, cells } = reconstructionTable(trials, size, lowLevel);
  $('reconstruct-grid').replaceChildren(table);
  $('reconstruct-grid').hidden = false;
  $('reconstruct-button').disabled = true;
  state.reconstructing = true;
  show('reconstruct-status', `reconstructing ${trials.length} trials…`);
  show('reconstruct-timing', '');
  // When each step's estimate reached the page (ms since the worker began the run).
  const stepTimes = [];
  onProgress = (p) => {
    if (p.kind === 'low-level') {
      p.images.forEach((pixels, i) => draw(cells.lowLevel[i], pixels, size));
    } else if (p.kind === 'step') {
      stepTimes.push(p.milliseconds);
      p.images.forEach((pixels, i) => {
        draw(cells.reconstruction[i], pixels, size);
        cells.reconstruction[i].dataset.step = String(p.step);
      });
      show('reconstruct-status', `step ${p.step} of ${p.total}…`);
    }
  };
  try {
    const result = await whileCancellable('reconstruct-cancel',
      () => call('reconstruct', { trials, steps, seed, strength, guidance, lowLevel, seen }));
    result.images.forEach((pixels, i) => draw(cells.reconstruction[i], pixels, size));
    if (result.metrics) renderReconstructionMetrics(result.metrics);
    const seconds = (result.milliseconds / 1000).toFixed(2);
    show('reconstruct-status', `done: ${trials.length} trials, ${result.steps} steps, seed ${seed}, in ${seconds} s on ${document.body.dataset.backend}`);
    const each = stepTimes.map((t, i) => `${i + 1}: ${Math.round(t - (i ? stepTimes[i - 1] : 0))} ms`);
    show('reconstruct-timing', `Time per step, its preview drawn included (the first also ` +
      `reads the low-level image): ${each.join(' · ')}.`);
    document.body.dataset.reconstructed = 'true';
  } catch (err) {
    show('reconstruct-status', err.code === 'cancelled' ? 'cancelled' : '');
    if (err.code !== 'cancelled') showError('reconstruct-error', err);
  } finally {
    onProgress = () => {};
    state.reconstructing = false;
    $('reconstruct-button').disabled = false;
  }
}

// ---------------------------------------------------------------------------------------
// The brain view: one trial's pattern, as the model reads it (normalised as the bundle
// prescribes, in standard deviations), on the subject's flattened visual cortex when the
// bundle places its voxels on a sheet, else as a heat strip in voxel order.
const brain = { sheet: null, values: null, positions: null, dot: 4, scale: 1, unit: ' sd' };

/** Diverging colour: blue below the voxel's mean, red above, saturating at ±`scale`. */
function divergingColour(value, scale) {
  const t = Math.max(-1, Math.min(1, value / scale));
  const r = t > 0 ? 255 : Math.round(255 * (1 + t));
  const b = t < 0 ? 255 : Math.round(255 * (1 - t));
  const g = Math.round(255 * (1 - Math.abs(t)));
  return `rgb(${r},${g},${b})`;
}

function setupBrain(sheet) {
  brain.sheet = sheet ?? null;
  const areas = brain.sheet?.areas ?? [];
  $('brain-areas').replaceChildren(...areas.map((area) => {
    const item = document.createElement('li');
    item.textContent = area.name;
    return item;
  }));
  $('brain-layout').textContent = brain.sheet
    ? 'Each dot is a voxel at its place on the flattened cortex.'
    : 'This bundle does not place its voxels on a cortical sheet: voxels are drawn in file order, row by row.';
}

function drawBrain() {
  const canvas = $('brain-canvas');
  const ctx = canvas.getContext('2d');
  const { width, height } = canvas;
  const values = brain.values;
  const n = values.length;
  // Room above the sheet for the areas' names, in type that stays readable however wide the
  // canvas is drawn (a phone shows it at half its pixel width).
  const shown = canvas.getBoundingClientRect().width;
  const fontSize = Math.round(13 * (shown > 0 ? width / shown : 1));
  const pad = 12;
  const top = brain.sheet?.areas.length ? fontSize + 18 : pad;
  const [w, h] = [width - 2 * pad, height - top - pad];
  // The colour scale follows the trial (its 98th percentile of |value|), so weak and strong
  // patterns both show their structure; the caption states the scale.
  const magnitudes = Array.from(values, Math.abs).sort((a, b) => a - b);
  const floor = brain.unit ? 0.25 : 1e-9;
  brain.scale = Math.max(floor, magnitudes[Math.floor(0.98 * (n - 1))] ?? 1);
  const positions = new Float32Array(n * 2);
  if (brain.sheet) {
    const c = brain.sheet.coordinates;
    for (let i = 0; i < n; i += 1) {
      positions[2 * i] = pad + c[2 * i] * w;
      positions[2 * i + 1] = top + c[2 * i + 1] * h;
    }
    brain.dot = 5;
  } else {
    const columns = Math.ceil(Math.sqrt((n * w) / h));
    const cell = w / columns;
    for (let i = 0; i < n; i += 1) {
      positions[2 * i] = pad + (i % columns + 0.5) * cell;
      positions[2 * i + 1] = top + (Math.floor(i / columns) + 0.5) * cell;
    }
    brain.dot = Math.max(1, cell);
  }
  ctx.fillStyle = '#1d1f24';
  ctx.fillRect(0, 0, width, height);
  for (let i = 0; i < n; i += 1) {
    ctx.fillStyle = divergingColour(values[i], brain.scale);
    ctx.fillRect(positions[2 * i] - brain.dot / 2, positions[2 * i + 1] - brain.dot / 2, brain.dot, brain.dot);
  }
  ctx.strokeStyle = '#e8e9ec';
  ctx.fillStyle = '#e8e9ec';
  ctx.font = `${fontSize}px system-ui, sans-serif`;
  for (const area of brain.sheet?.areas ?? []) {
    const [x0, y0, x1, y1] = area.bounds;
    const x = pad + x0 * w - 4;
    const y = top + y0 * h - 4;
    ctx.strokeRect(x, y, (x1 - x0) * w + 8, (y1 - y0) * h + 8);
    ctx.fillText(area.name, x, y - 6);
  }
  brain.positions = positions;
}

/** The area a sheet point lies in, if any. */
function areaAt(x, y) {
  return brain.sheet?.areas.find(({ bounds: [x0, y0, x1, y1] }) => x >= x0 && x <= x1 && y >= y0 && y <= y1);
}

function hoverBrain(event) {
  if (!brain.positions) return;
  const canvas = $('brain-canvas');
  const rect = canvas.getBoundingClientRect();
  const x = ((event.clientX - rect.left) * canvas.width) / rect.width;
  const y = ((event.clientY - rect.top) * canvas.height) / rect.height;
  let best = -1;
  let bestDistance = (2 * brain.dot) ** 2;
  for (let i = 0; i < brain.values.length; i += 1) {
    const d = (brain.positions[2 * i] - x) ** 2 + (brain.positions[2 * i + 1] - y) ** 2;
    if (d < bestDistance) {
      bestDistance = d;
      best = i;
    }
  }
  if (best < 0) {
    $('brain-hover').textContent = 'Point at a voxel to read its index and value.';
    return;
  }
  const area = brain.sheet && areaAt(brain.sheet.coordinates[2 * best], brain.sheet.coordinates[2 * best + 1]);
  $('brain-hover').textContent = `voxel ${grouped(best + 1)} of ${grouped(brain.values.length)}: ` +
    `${brain.values[best] >= 0 ? '+' : '−'}${brain.unit ? Math.abs(brain.values[best]).toFixed(2) : Math.abs(brain.values[best]).toPrecision(2)}${brain.unit}` +
    (area ? ` · ${area.name}` : '');
  $('brain-hover').dataset.voxel = String(best);
}

/** The label the attribution view explains for a trial: what the visitor typed, else the
 * trial's true label, else its best decoded label. */
function attributionLabel(trial) {
  const typed = $('brain-label').value.trim();
  if (typed) return typed;
  return state.truth?.[trial] ?? state.decoded?.[trial]?.[0]?.label ?? null;
}

async function showBrain() {
  $('brain-error').hidden = true;
  if (!state.fmri || !state.modelReady) return;
  const trial = Number($('brain-trial').value);
  if (!(Number.isInteger(trial) && trial >= 1 && trial <= state.fmri.trials)) {
    showError('brain-error', new Error(`trial ${$('brain-trial').value}: this recording has trials 1 to ${state.fmri.trials}`));
    return;
  }
  const why = $('brain-show').value === 'attribution';
  $('brain-label-field').hidden = !why;
  // A readout of the other view's values would be stale.
  if (brain.showing !== undefined && brain.showing !== why) {
    $('brain-hover').textContent = 'Point at a voxel to read its index and value.';
    delete $('brain-hover').dataset.voxel;
  }
  brain.showing = why;
  if (why) $('brain-labels').replaceChildren(...candidateLabels().map((l) => new Option(l)));
  const label = state.truth ? ` (${state.truth[trial - 1]})` : '';
  try {
    if (why) {
      const target = attributionLabel(trial - 1);
      if (!target) throw new Error('type a label to explain (decode first, or load the true labels, to have one filled in)');
      $('brain-label').placeholder = target;
      const map = await call('attribute', { trial: trial - 1, label: target });
      brain.values = map.values;
      brain.unit = '';
      $('brain-view').hidden = false;
      drawBrain();
      $('brain-canvas').setAttribute('aria-label', `voxel attribution of trial ${trial} to "${target}"`);
      $('brain-caption').textContent = `Trial ${trial}${label}: which voxels drove its similarity to ` +
        `"${target}" (integrated gradients from the average pattern). Red voxels raised it, blue ` +
        `lowered it; together they account for the change from ${map.baselineSimilarity.toFixed(3)} ` +
        `to ${map.similarity.toFixed(3)} (within ${Math.abs(map.completenessGap).toFixed(4)}).`;
      document.body.dataset.brainAttribution = target;
    } else {
      brain.values = await call('voxelPattern', { trial: trial - 1 });
      brain.unit = ' sd';
      $('brain-view').hidden = false;
      drawBrain();
      $('brain-canvas').setAttribute('aria-label', `voxel pattern of trial ${trial}${label}`);
      $('brain-caption').textContent = `Trial ${trial}${label}: red above the voxel's mean, blue ` +
        `below, in standard deviations as the model reads it (colours saturate at ±${brain.scale.toFixed(1)}).`;
      delete document.body.dataset.brainAttribution;
    }
    document.body.dataset.brain = String(trial);
  } catch (err) {
    showError('brain-error', err);
  }
}

// ---------------------------------------------------------------------------------------
// Explore the simulated brain: new recordings of the test stimuli at any noise level.

/** The slider's SNR: log-spaced, shown and used to two significant digits. */
const exploreSnr = () => Number((10 ** Number($('explore-snr').value)).toPrecision(2));
const explored = [];

function showExploreSettings() {
  $('explore-snr-value').textContent = exploreSnr().toString();
  $('explore-repeats-value').textContent = $('explore-repeats').value;
}

/** Top-1 against effective SNR (per presentation × √presentations, log scale), chance dashed. */
function drawExplorePlot(chance) {
  const canvas = $('explore-plot');
  const g = canvas.getContext('2d');
  const { width, height } = canvas;
  const pad = { left: 44, right: 12, top: 12, bottom: 34 };
  const [low, high] = [Math.log10(0.01), Math.log10(20)];
  const x = (snr) => pad.left + (Math.log10(Math.min(Math.max(snr, 0.01), 20)) - low) / (high - low) * (width - pad.left - pad.right);
  const y = (v) => height - pad.bottom - v * (height - pad.top - pad.bottom);
  g.fillStyle = '#fff';
  g.fillRect(0, 0, width, height);
  g.strokeStyle = '#888';
  g.fillStyle = '#333';
  g.font = '12px system-ui, sans-serif';
  g.beginPath();
  g.moveTo(pad.left, pad.top);
  g.lineTo(pad.left, y(0));
  g.lineTo(width - pad.right, y(0));
  g.stroke();
  for (const v of [0, 0.5, 1]) g.fillText(`${v * 100}%`, 6, y(v) + 4);
  for (const snr of [0.01, 0.1, 1, 10]) g.fillText(String(snr), x(snr) - 8, height - pad.bottom + 16);
  g.fillText('effective SNR of a trial', width / 2 - 60, height - 4);
  g.setLineDash([4, 4]);
  g.beginPath();
  g.moveTo(pad.left, y(chance));
  g.lineTo(width - pad.right, y(chance));
  g.stroke();
  g.setLineDash([]);
  g.fillStyle = '#1a56db';
  for (const run of explored) {
    g.beginPath();
    g.arc(x(run.snr * Math.sqrt(run.repeats)), y(run.top1), 4, 0, 2 * Math.PI);
    g.fill();
  }
}

async function explore() {
  $('explore-error').hidden = true;
  $('explore-button').disabled = true;
  show('explore-status', 'recording and decoding…');
  try {
    const [truth, labels] = await Promise.all([fetchJson(SAMPLE.labels), fetchJson(SAMPLE.candidates)]);
    const settings = { snr: exploreSnr(), repeats: Number($('explore-repeats').value), seed: Number($('explore-seed').value) };
    const result = await whileCancellable('explore-cancel',
      () => call('explore', { subject: state.subject, ...settings, truth, labels }));
    const metric = (id) => result.evaluation.metrics.find((m) => m.id === id);
    const [top1, top5] = [metric('category_top1'), metric('category_top5')];
    explored.push({ ...settings, top1: top1.value });
    const row = $('explore-table').tBodies[0].insertRow();
    for (const text of [settings.snr, settings.repeats, settings.seed, percent(top1.value), percent(top5.value), percent(top1.chance)]) {
      row.insertCell().textContent = String(text);
    }
    row.dataset.top1 = String(top1.value);
    drawExplorePlot(top1.chance);
    const link = $('explore-download');
    if (link.href.startsWith('blob:')) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(new Blob([result.npy], { type: 'application/octet-stream' }));
    link.download = `${state.subject}-snr${settings.snr}-x${settings.repeats}-seed${settings.seed}.npy`;
    link.hidden = false;
    $('explore-results').hidden = false;
    show('explore-status', `done in ${(result.milliseconds / 1000).toFixed(1)} s (recorded in ` +
      `${(result.simulatedIn / 1000).toFixed(1)} s): top-1 ${percent(top1.value)} against chance ${percent(top1.chance)}`);
    document.body.dataset.explored = String(explored.length);
  } catch (err) {
    show('explore-status', '');
    showError('explore-error', err);
  } finally {
    $('explore-button').disabled = !state.modelReady;
  }
}

/** The explorer is offered for the demo's simulated subjects only. */
function setupExplore(info) {
  const simulatedSubject = info.simulated && /^sub-0[1-3]$/.test(info.subject ?? '');
  $('explore').hidden = !simulatedSubject;
  $('explore-button').disabled = !simulatedSubject;
}

// ---------------------------------------------------------------------------------------
// The trial view: one trial's stimulus, decoded labels, best matches and reconstruction side
// by side, chosen from a strip of the trials' stimuli.

/** The trial strip: the seen stimulus of each trial when known, else its number. */
function renderPicker() {
  const trials = state.fmri?.trials ?? 0;
  const buttons = Array.from({ length: trials }, (_, t) => {
    const button = document.createElement('button');
    button.type = 'button';
    button.setAttribute('role', 'option');
    button.dataset.trial = String(t);
    const label = `trial ${t + 1}${state.truth ? `: ${state.truth[t]}` : ''}`;
    button.setAttribute('aria-label', label);
    button.title = label;
    if (state.stimulusIds?.[t]) {
      const img = document.createElement('img');
      img.src = `${SAMPLE.stimuli}${state.stimulusIds[t]}.png`;
      img.alt = '';
      button.append(img);
    } else {
      button.textContent = String(t + 1);
    }
    button.addEventListener('click', () => selectTrial(t));
    return button;
  });
  $('trial-picker').replaceChildren(...buttons);
  $('trial-picker').hidden = trials === 0;
}

function selectTrial(trial, { reconstruct = true } = {}) {
  if (!state.fmri) return;
  state.trial = trial;
  for (const button of $('trial-picker').children) {
    button.setAttribute('aria-selected', String(Number(button.dataset.trial) === trial));
  }
  $('trial-picker').children[trial]?.scrollIntoView?.({ block: 'nearest', inline: 'nearest' });
  if (state.modelReady && $('brain-trial').value !== String(trial + 1)) {
    $('brain-trial').value = String(trial + 1);
    showBrain();
  }
  showTrial();
  if (reconstruct) reconstructTrial(trial);
}

/** Fills the card from what has been computed for the chosen trial. */
function showTrial() {
  if (!state.fmri) return;
  const t = state.trial;
  const truth = state.truth?.[t];
  const seen = $('trial-seen');
  if (state.stimulusIds?.[t]) {
    const img = thumbnail(`${SAMPLE.stimuli}${state.stimulusIds[t]}.png`, truth ?? 'seen image');
    seen.replaceChildren(img, document.createElement('br'), document.createTextNode(`trial ${t + 1}: ${truth ?? ''}`));
  } else {
    seen.textContent = `trial ${t + 1} (not known for this recording)`;
  }
  const labels = state.decoded?.[t];
  $('trial-labels').replaceChildren(...(labels ?? []).map((r) => labelItem(r, truth)));
  if (!labels) $('trial-labels').textContent = 'Decode to rank the candidate labels.';
  $('trial-labels').classList.toggle('hint', !labels);
  const matches = state.identified?.ranked?.[t];
  if (matches) {
    $('trial-matches').replaceChildren(...matches.slice(0, 3).map((r) => {
      const candidate = state.identified.candidates[r.index];
      const img = thumbnail(candidate.url, candidate.name);
      img.title = `${candidate.name}: ${(r.probability * 100).toFixed(1)} %`;
      if (state.identified.truthKnown && r.index === t) img.className = 'hit';
      return img;
    }));
  } else {
    $('trial-matches').textContent = 'Run "Identify" below to rank the candidate images.';
  }
  $('trial-card').hidden = false;
  document.body.dataset.trial = String(t + 1);
}

/** Draws the chosen trial's reconstruction in the card, every step as it arrives, with the
 * settings of the reconstruction panel; one already drawn is shown again. */
async function reconstructTrial(trial) {
  const canDraw = state.imageDecoder && state.modelReady && state.fmri;
  // While the image decoder downloads, the canvas keeps its place and waits.
  const arriving = state.imageDecoderDue;
  state.drawWhenDecoderArrives = !canDraw && arriving;
  $('trial-reconstruction').hidden = !canDraw && !arriving;
  if (!canDraw) {
    show('trial-step', arriving ? '(loading the image decoder…)'
      : state.imageDecoderError ? `(the image decoder could not be loaded: ${state.imageDecoderError.message})`
        : '(this bundle has no image decoder)');
    return;
  }
  const size = state.imageDecoder.imageSize;
  const lowLevel = state.imageDecoder.hasLowLevel;
  const steps = Number($('reconstruct-steps').value);
  const seed = Number($('reconstruct-seed').value) || 0;
  const strength = lowLevel ? Number($('reconstruct-strength').value) : 1;
  const guidance = guidanceSetting();
  const key = `${trial}|${steps}|${seed}|${strength}|${guidance}`;
  for (const id of ['trial-reconstruction', 'trial-low-level']) {
    $(id).width = size;
    $(id).height = size;
  }
  $('trial-low-level-box').hidden = !lowLevel;
  const cached = state.trialImages.get(key);
  if (cached) {
    draw($('trial-reconstruction'), cached.image, size);
    if (cached.lowLevel) draw($('trial-low-level'), cached.lowLevel, size);
    show('trial-step', `(${steps} step${steps === 1 ? '' : 's'}, seed ${seed})`);
    return;
  }
  // One run at a time; the panel's own runs and a run already going take precedence.
  if (state.reconstructing) return;
  state.reconstructing = true;
  onProgress = (p) => {
    if (state.trial !== trial) return;
    if (p.kind === 'low-level') draw($('trial-low-level'), p.images[0], size);
    if (p.kind === 'step') {
      const canvas = $('trial-reconstruction');
      draw(canvas, p.images[0], size);
      // Each step's pixel sum, so a check can see the image change as it forms.
      const sum = p.images[0].reduce((a, v) => a + v, 0);
      canvas.dataset.stepSums = `${p.step === 1 ? '' : `${canvas.dataset.stepSums ?? ''} `}${sum}`.trim();
      show('trial-step', `(step ${p.step} of ${p.total})`);
    }
  };
  try {
    const result = await call('reconstruct', { trials: [trial], steps, seed, strength, guidance, lowLevel });
    state.trialImages.set(key, { image: result.images[0], lowLevel: result.lowLevel?.[0] ?? null });
    if (state.trial === trial) {
      draw($('trial-reconstruction'), result.images[0], size);
      show('trial-step', `(${result.steps} step${result.steps === 1 ? '' : 's'}, seed ${seed}, ${Math.round(result.milliseconds)} ms)`);
      document.body.dataset.trialReconstructed = String(trial + 1);
    }
  } catch (err) {
    show('trial-step', err.code === 'cancelled' ? '(cancelled)' : `(${err.message})`);
  } finally {
    onProgress = () => {};
    state.reconstructing = false;
  }
  // The visitor may have moved on while this one was drawn.
  if (state.trial !== trial) reconstructTrial(state.trial);
}

/** The first thing a visitor can do: the sample recording, decoded, its first trial drawn.
 * A click before the model is ready waits for it. */
async function startWithSample() {
  state.askedAt ??= performance.now();
  state.firstResultPending = !state.firstDecodeShown;
  $('trial-start').disabled = true;
  try {
    if (!state.modelReady) {
      show('trial-status', 'starting; the sample is decoded as soon as the model is ready…');
      try {
        await state.firstLoad;
        while (state.modelLoading) await state.modelLoading;
      } catch {
        // the engine's failure is shown where it happened
      }
      if (!state.modelReady) {
        show('trial-status', 'The model could not be loaded; see the message above.');
        return;
      }
    }
    show('trial-status', 'loading the sample recording…');
    if (!state.usingSample) await useSample();
    show('trial-status', 'decoding its 50 trials…');
    await decode();
    selectTrial(state.trial);
    show('trial-status', 'ranking the 50 test images for every trial…');
    await identify();
    show('trial-status', 'Pick another trial from the strip (or use the arrow keys); the sections ' +
      'below show every trial, the brain pattern and more.');
  } finally {
    $('trial-start').disabled = false;
    state.firstResultPending = false;
    loadImageDecoder();
  }
}

/** Loads another subject's mapper; with the sample in use, that subject's recording too. */
async function switchSubject(subject) {
  for (const id of ['reconstruct-grid', 'identify-results', 'identify-matrix', 'identify-metrics',
    'decode-results', 'decode-metrics', 'brain-view']) {
    $(id).hidden = true;
  }
  for (const key of ['decoded', 'evaluated', 'reconstructed']) delete document.body.dataset[key];
  // What the other subject's mapper made of the recording no longer holds.
  state.decoded = null;
  state.identified = null;
  state.trialImages.clear();
  await loadModel(subject);
  if (state.fmri) showTrial();
  if (state.modelReady && state.usingSample) await useSample();
  // Unless a first result is still on its way, the image decoder follows at once.
  loadImageDecoder();
}

async function main() {
  $('subject').addEventListener('change', () => switchSubject($('subject').value));
  $('bundle-file').addEventListener('change', () => loadBundleFile());
  for (const id of ['fmri-file', 'mask-file', 'array-name']) {
    $(id).addEventListener('change', () => loadFmri());
  }
  $('use-sample').addEventListener('click', () => useSample());
  $('decode-button').addEventListener('click', () => decode());
  $('identify-button').addEventListener('click', () => identify());
  $('reconstruct-button').addEventListener('click', () => reconstruct());
  $('brain-trial').addEventListener('change', () => showBrain());
  $('brain-show').addEventListener('change', () => showBrain());
  $('brain-label').addEventListener('change', () => showBrain());
  $('explore-button').addEventListener('click', () => explore());
  $('trial-start').addEventListener('click', () => startWithSample());
  // Arrow keys move along the trial strip.
  $('trial-picker').addEventListener('keydown', (event) => {
    const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[event.key];
    if (!step || !state.fmri) return;
    event.preventDefault();
    const next = Math.min(state.fmri.trials - 1, Math.max(0, state.trial + step));
    selectTrial(next);
    $('trial-picker').children[next]?.focus();
  });
  for (const id of ['explore-snr', 'explore-repeats']) $(id).addEventListener('input', showExploreSettings);
  showExploreSettings();
  for (const id of ['decode-cancel', 'identify-cancel', 'reconstruct-cancel', 'explore-cancel']) {
    $(id).addEventListener('click', () => cancelRuns());
  }
  setupTraining({ bundleUrl: BUNDLE_URL, samples: SAMPLE });
  $('brain-canvas').addEventListener('mousemove', hoverBrain);
  $('matrix-canvas').addEventListener('mousemove', hoverMatrix);
  for (const url of [SAMPLE.labels, SAMPLE.stimulusIds, SAMPLE.candidates]) prefetch(url, fetchJson);
  prefetch(SAMPLE.fmri(null), fetchBytes);
  state.firstLoad = (async () => {
    await startDevice();
    document.body.dataset.ready = 'true';
    await loadModel();
  })();
  await state.firstLoad;
}

// Only starting the engine can fail here (loading the model reports its own errors).
main().catch((err) => {
  if (err !== workerFailure) failWorker(err.message ?? String(err));
});
