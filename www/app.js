// The page: user interface only, wired here. brainclip itself runs in a module worker,
// through the npm package's worker client (engine.js, driven by session.js); each panel is a
// module of its own under panels/, and drawing (draw.js) is pure.
import { $ } from './dom.js';
import { fetchBytes, fetchJson, prefetch } from './files.js';
import { hoverBrain, showBrain } from './panels/brain.js';
import { decode } from './panels/decode.js';
import { explore, showExploreSettings } from './panels/explore.js';
import { loadFmri, useSample } from './panels/fmri.js';
import { hoverMatrix, identify } from './panels/identify.js';
import { loadBundleFile, loadModel, switchSubject } from './panels/model.js';
import { reconstruct } from './panels/reconstruct.js';
import { startWithSample } from './panels/start.js';
import { movePicker } from './panels/trial.js';
import { cancelRuns, failWorker, isWorkerFailure, startDevice } from './session.js';
import { BUNDLE_URL, SAMPLE, state } from './state.js';
import { setupTraining } from './train.js';

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
  $('trial-picker').addEventListener('keydown', movePicker);
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
  if (!isWorkerFailure(err)) failWorker(err.message ?? String(err));
});
