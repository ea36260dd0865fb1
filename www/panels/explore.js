// Explore the simulated brain: new recordings of the test stimuli at any noise level, each
// decoded and plotted against the noise it was recorded at.
import { $, show, showError } from '../dom.js';
import { drawExplorePlot } from '../draw.js';
import { fetchJson } from '../files.js';
import { percent } from '../metrics.js';
import { call, whileCancellable } from '../session.js';
import { SAMPLE, state } from '../state.js';

/** The slider's SNR: log-spaced, shown and used to two significant digits. */
const exploreSnr = () => Number((10 ** Number($('explore-snr').value)).toPrecision(2));
const explored = [];

export function showExploreSettings() {
  $('explore-snr-value').textContent = exploreSnr().toString();
  $('explore-repeats-value').textContent = $('explore-repeats').value;
}

export async function explore() {
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
    drawExplorePlot($('explore-plot'), explored, top1.chance);
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
export function setupExplore(info) {
  const simulatedSubject = info.simulated && /^sub-0[1-3]$/.test(info.subject ?? '');
  $('explore').hidden = !simulatedSubject;
  $('explore-button').disabled = !simulatedSubject;
}
