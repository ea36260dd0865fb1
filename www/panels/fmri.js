// The recording: the visitor's fMRI file (with an optional mask and array name) or the
// sample, read into the worker; the page keeps its summary.
import { $, grouped, show, showError } from '../dom.js';
import { fetchBytes, fetchJson, takePrefetched } from '../files.js';
import { call } from '../session.js';
import { SAMPLE, state } from '../state.js';
import { showBrain } from './brain.js';
import { renderPicker, selectTrial } from './trial.js';

async function readIntoWorker(read, name, options) {
  const bytes = await read();
  return call('readFmri', { bytes, name, options });
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

export async function loadFmri() {
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

/** The loaded subject's recording of the test stimuli, with its labels and stimuli, and the
 * novel categories as candidate labels. */
export async function useSample() {
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
