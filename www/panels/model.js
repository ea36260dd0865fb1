// The model: the demo bundle (or a bundle archive the visitor chose) for a subject, loaded
// into the worker; its image decoder follows once decoding can start.
import { $, grouped, show, showError } from '../dom.js';
import { call } from '../session.js';
import { BUNDLE_URL, state, subjectTitle } from '../state.js';
import { setupBrain, showBrain } from './brain.js';
import { setupExplore } from './explore.js';
import { useSample } from './fmri.js';
import { setupReconstruction } from './reconstruct.js';
import { reconstructTrial, showTrial } from './trial.js';

export function loadModel(subject = null, file = state.bundleFile) {
  state.modelLoading = loadModelNow(subject, file).finally(() => { state.modelLoading = null; });
  return state.modelLoading;
}

/** A bundle archive (.zip) the user chose: e.g. one the training panel made. */
export async function loadBundleFile() {
  const chosen = $('bundle-file').files[0];
  if (!chosen) return;
  state.bundleFile = { bytes: await chosen.arrayBuffer(), name: chosen.name };
  await loadModel(null);
}

const megabytes = (bytes) => (bytes / 1e6).toFixed(1);

/** The files download at once; the bar follows their bytes together. */
function showDownload(p) {
  const of = p.bundleTotal ? ` of ${megabytes(p.bundleTotal)}` : '';
  show('bundle-name', `loading the model: ${megabytes(p.bundleLoaded)}${of} MB ` +
    `(${p.filesDone} of ${p.count} files)…`);
  $('bundle-progress').hidden = false;
  $('bundle-progress').max = p.bundleTotal ?? p.count;
  $('bundle-progress').value = p.bundleTotal ? p.bundleLoaded : p.filesDone;
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
    const url = file ? null : new URL(BUNDLE_URL, document.baseURI).href;
    const info = await call('loadModel', { url, file, subject, onProgress: showDownload });
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
    $('bundle-progress').hidden = true;
    show('bundle-name', 'none');
    showError('bundle-error', err);
    document.body.dataset.model = 'error';
  }
}

/** Adds the bundle's image decoder to the worker's decoder: the larger models, fetched while
 * the visitor already decodes. A trial waiting for its drawing gets it when they arrive. */
export async function loadImageDecoder() {
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

/** Loads another subject's mapper; with the sample in use, that subject's recording too. */
export async function switchSubject(subject) {
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
