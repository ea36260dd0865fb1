// The first thing a visitor can do: the sample recording, decoded, its first trial drawn.
import { $, show } from '../dom.js';
import { state } from '../state.js';
import { decode } from './decode.js';
import { useSample } from './fmri.js';
import { identify } from './identify.js';
import { loadImageDecoder } from './model.js';
import { selectTrial } from './trial.js';

/** The sample decoded and identified, the chosen trial drawn; a click before the model is
 * ready waits for it. */
export async function startWithSample() {
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
