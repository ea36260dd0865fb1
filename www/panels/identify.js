// Identification: candidate images (the visitor's, or the sample's test stimuli) ranked for
// every trial, the trials × candidates similarity matrix, and with the sample the scores.
import { $, candidateLabels, show, showError, thumbnail } from '../dom.js';
import { drawMatrix } from '../draw.js';
import { fetchBytes } from '../files.js';
import { call, whileCancellable } from '../session.js';
import { state, stimulusUrl } from '../state.js';
import { renderMetrics } from './evaluation.js';
import { showTrial } from './trial.js';

// The matrix drawn last, for the hover readout.
const matrix = { similarity: null, trials: 0, names: [], truthKnown: false, cell: 1 };

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
    const url = stimulusUrl(id);
    return { name: `${id}.png`, url, bytes: new Uint8Array(await fetchBytes(url)) };
  }));
}

/** [0, 1, …, n−1]: trial i saw candidate i. */
const identityOrder = (n) => Array.from({ length: n }, (_, i) => i);

function renderResults(ranked, candidates, truthKnown, evaluation) {
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
}

function showMatrix(similarity, trials, candidates, truthKnown) {
  const names = candidates.map((c) => c.name);
  const cell = drawMatrix($('matrix-canvas'), similarity, trials, names.length, truthKnown);
  Object.assign(matrix, { similarity, trials, names, truthKnown, cell });
  $('matrix-caption').textContent = `${trials} trials (rows) × ${names.length} candidates (columns); each row ` +
    'scaled from its least to its most similar candidate (brighter: more similar)' +
    (truthKnown ? '; the seen image outlined in amber.' : '.');
  $('identify-matrix').hidden = false;
}

export function hoverMatrix(event) {
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

export async function identify() {
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
    renderResults(ranked, candidates, truthKnown, evaluation);
    state.identified = { ranked, candidates: candidates.map(({ name, url }) => ({ name, url })), truthKnown };
    showTrial();
    if (evaluation) {
      renderMetrics('identify-metrics', evaluation, ['image_top1', 'image_to_fmri_top1', 'image_nway', 'image_two_way']);
      document.body.dataset.evaluated = 'true';
    }
    showMatrix(similarity, ranked.length, candidates, truthKnown);
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
