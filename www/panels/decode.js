// Zero-shot category decoding: every trial's candidate labels ranked, scored against the
// truth when the sample is loaded; and the first result's time since the page opened.
import { $, candidateLabels, grouped, labelItem, show, showError } from '../dom.js';
import { call, whileCancellable } from '../session.js';
import { state, stimulusUrl } from '../state.js';
import { renderMetrics } from './evaluation.js';
import { loadImageDecoder } from './model.js';
import { showTrial } from './trial.js';

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
      img.src = stimulusUrl(state.stimulusIds[trial]);
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

export async function decode() {
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
