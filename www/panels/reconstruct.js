// Reconstruction: images drawn from the trials' fMRI by the bundle's image decoder, every
// step as it forms; with the sample's seen images, the batch scored as `brainclip eval
// --reconstruct` scores it.
import { $, canvasFor, grouped, show, showError, thumbnail } from '../dom.js';
import { drawPixels } from '../draw.js';
import { percent } from '../metrics.js';
import { call, whileCancellable } from '../session.js';
import { state, stimulusUrl } from '../state.js';

const NO_IMAGE_DECODER = 'This bundle has no image decoder (components autoencoder and denoiser).';

/** The reconstruction panel for the decoder's image decoder (`decoder.info()`); without
 * one, why not: `loading` while it downloads, or the `error` that stopped it. */
export function setupReconstruction(decoderInfo, { loading = false, error = null } = {}) {
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

/** The panel's settings, which the trial card draws with too: steps, seed, the low-level
 * start and its strength, the guidance (none for a distilled student: its own is baked in)
 * and the image size. */
export function reconstructionSettings() {
  const lowLevel = state.imageDecoder.hasLowLevel;
  return {
    steps: Number($('reconstruct-steps').value),
    seed: Number($('reconstruct-seed').value) || 0,
    lowLevel,
    strength: lowLevel ? Number($('reconstruct-strength').value) : 1,
    guidance: $('reconstruct-guidance').disabled ? undefined : Number($('reconstruct-guidance').value),
    size: state.imageDecoder.imageSize,
  };
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
      const seen = thumbnail(stimulusUrl(state.stimulusIds[trial]), truth ?? 'seen image');
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

export async function reconstruct() {
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
  const { steps, seed, lowLevel, strength, guidance, size } = reconstructionSettings();
  // With the sample, the seen images are known: the batch is scored against them.
  const seen = state.stimulusIds && trials.length >= 2
    ? trials.map((t) => new URL(stimulusUrl(state.stimulusIds[t]), document.baseURI).href)
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
  const onProgress = (p) => {
    if (p.kind === 'low-level') {
      p.images.forEach((pixels, i) => drawPixels(cells.lowLevel[i], pixels, size));
    } else if (p.kind === 'step') {
      stepTimes.push(p.milliseconds);
      p.images.forEach((pixels, i) => {
        drawPixels(cells.reconstruction[i], pixels, size);
        cells.reconstruction[i].dataset.step = String(p.step);
      });
      show('reconstruct-status', `step ${p.step} of ${p.total}…`);
    }
  };
  try {
    const result = await whileCancellable('reconstruct-cancel',
      () => call('reconstruct', { trials, steps, seed, strength, guidance, lowLevel, seen, onProgress }));
    result.images.forEach((pixels, i) => drawPixels(cells.reconstruction[i], pixels, size));
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
    state.reconstructing = false;
    $('reconstruct-button').disabled = false;
  }
}
