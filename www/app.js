// The page: user interface only. brainclip itself runs in a module worker (worker.js).
const BUNDLE_URL = 'models/demo/';
const SAMPLE = {
  fmri: 'samples/sub-01-test-fmri.npy',
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
};

const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
const pending = new Map();
let nextId = 0;
let onProgress = () => {};
worker.onmessage = ({ data }) => {
  if (data.progress) {
    onProgress(data.progress);
    return;
  }
  const { resolve, reject } = pending.get(data.id);
  pending.delete(data.id);
  if (data.error) reject(Object.assign(new Error(data.error.message), { code: data.error.code }));
  else resolve(data.value);
};

/** Runs `op` in the worker; byte buffers in `transfer` move there without a copy. */
function call(op, args = {}, transfer = []) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    worker.postMessage({ id, op, args }, transfer);
  });
}

async function startDevice() {
  const { device, selfCheck } = await call('start');
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

async function loadModel() {
  try {
    onProgress = (p) => show('bundle-name', `loading ${p.file} (${p.index + 1} of ${p.count})…`);
    const url = new URL(BUNDLE_URL, document.baseURI).href;
    const info = await call('loadModel', { url });
    state.modelReady = true;
    show('bundle-name', info.name);
    show('bundle-voxels', `${grouped(info.voxels)} voxels`);
    show('bundle-provenance', info.provenance);
    $('simulated-notice').hidden = !info.simulated;
    // A bundle may ship candidate labels (e.g. its test categories): offer them.
    const sets = info.labels ?? {};
    const offered = sets['test-categories'] ?? Object.values(sets)[0];
    if (offered && !$('labels').value.trim()) $('labels').value = offered.join('\n');
    document.body.dataset.simulated = String(info.simulated);
    $('use-sample').disabled = false;
    document.body.dataset.model = 'ready';
  } catch (err) {
    show('bundle-name', 'none');
    showError('bundle-error', err);
    document.body.dataset.model = 'error';
  }
}

async function readIntoWorker(bytes, name, options) {
  return call('readFmri', { bytes, name, options }, [bytes]);
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
  $('identify-results').hidden = true;
  $('identify-summary').hidden = true;
  $('decode-results').hidden = true;
  $('decode-summary').hidden = true;
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
    setFmri(await readIntoWorker(await file.arrayBuffer(), file.name, options));
  } catch (err) {
    showError('fmri-error', err);
  }
}

async function useSample() {
  $('fmri-error').hidden = true;
  try {
    const [bytes, truth, stimulusIds, candidates] = await Promise.all([
      fetchBytes(SAMPLE.fmri),
      fetchJson(SAMPLE.labels),
      fetchJson(SAMPLE.stimulusIds),
      fetchJson(SAMPLE.candidates),
    ]);
    const handle = await readIntoWorker(bytes, 'sub-01-test-fmri.npy', {});
    setFmri(handle, truth, stimulusIds);
    $('labels').value = candidates.join('\n');
  } catch (err) {
    showError('fmri-error', err);
  }
}

function candidateLabels() {
  return [...new Set($('labels').value.split('\n').map((l) => l.trim()).filter(Boolean))];
}

function renderResults(ranked) {
  const body = $('decode-results').querySelector('tbody');
  body.replaceChildren();
  let top1 = 0;
  let top5 = 0;
  ranked.forEach((best, trial) => {
    const truth = state.truth?.[trial];
    if (truth !== undefined) {
      if (best[0]?.label === truth) top1 += 1;
      if (best.some((r) => r.label === truth)) top5 += 1;
    }
    const row = document.createElement('tr');
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
    for (const r of best) {
      const item = document.createElement('li');
      item.className = r.label === truth ? 'hit' : '';
      const bar = document.createElement('span');
      bar.className = 'bar';
      bar.style.width = `${Math.round(r.probability * 100)}%`;
      item.append(document.createTextNode(`${r.label} ${(r.probability * 100).toFixed(1)} %`), bar);
      list.append(item);
    }
    decoded.append(list);
    row.append(index, seen, decoded);
    body.append(row);
  });
  $('decode-results').hidden = false;
  if (state.truth) {
    const n = ranked.length;
    const labels = candidateLabels().length;
    show('decode-summary', `Top-1 ${top1} of ${n} (${(100 * top1 / n).toFixed(0)} %), top-5 ${top5} of ${n} `
      + `(${(100 * top5 / n).toFixed(0)} %); chance with ${labels} labels: `
      + `${(100 / labels).toFixed(1)} % and ${(100 * Math.min(5, labels) / labels).toFixed(1)} %.`);
    $('decode-summary').dataset.top1 = String(top1);
    $('decode-summary').hidden = false;
  }
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
    const ranked = await call('decode', { labels, topK: 5 });
    renderResults(ranked);
    show('decode-status', `done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    document.body.dataset.decoded = 'true';
  } catch (err) {
    show('decode-status', '');
    showError('decode-error', err);
  } finally {
    $('decode-button').disabled = false;
  }
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
    const ranked = await call('identify', {
      images: candidates.map((c) => c.bytes.buffer),
      names: candidates.map((c) => c.name),
      topK: 5,
    });
    const body = $('identify-results').querySelector('tbody');
    body.replaceChildren();
    // With the sample, trial i saw candidate i.
    const truthKnown = $('candidate-images').files.length === 0 && state.stimulusIds;
    let top1 = 0;
    ranked.forEach((best, trial) => {
      if (truthKnown && best[0]?.index === trial) top1 += 1;
      const row = document.createElement('tr');
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
    if (truthKnown) {
      const n = ranked.length;
      show('identify-summary', `Top-1 ${top1} of ${n} (${(100 * top1 / n).toFixed(0)} %); `
        + `chance ${(100 / candidates.length).toFixed(1)} %.`);
      $('identify-summary').dataset.top1 = String(top1);
      $('identify-summary').hidden = false;
    }
    show('identify-status', `done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    document.body.dataset.identified = 'true';
  } catch (err) {
    show('identify-status', '');
    showError('identify-error', err);
  } finally {
    $('identify-button').disabled = false;
  }
}

async function main() {
  for (const id of ['fmri-file', 'mask-file', 'array-name']) {
    $(id).addEventListener('change', () => loadFmri());
  }
  $('use-sample').addEventListener('click', () => useSample());
  $('decode-button').addEventListener('click', () => decode());
  $('identify-button').addEventListener('click', () => identify());
  await startDevice();
  document.body.dataset.ready = 'true';
  await loadModel();
}

main().catch((err) => {
  show('backend', `error: ${err.code ?? ''} ${err.message}`, true);
  document.body.dataset.ready = 'error';
});
