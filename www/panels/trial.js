// The trial view: one trial's stimulus, decoded labels, best matches and reconstruction side
// by side, chosen from a strip of the trials' stimuli.
import { $, labelItem, show, thumbnail } from '../dom.js';
import { drawPixels } from '../draw.js';
import { call } from '../session.js';
import { state, stimulusUrl } from '../state.js';
import { showBrain } from './brain.js';
import { reconstructionSettings } from './reconstruct.js';

/** The trial strip: the seen stimulus of each trial when known, else its number. */
export function renderPicker() {
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
      img.src = stimulusUrl(state.stimulusIds[t]);
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

export function selectTrial(trial, { reconstruct = true } = {}) {
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

/** Arrow keys move along the trial strip. */
export function movePicker(event) {
  const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[event.key];
  if (!step || !state.fmri) return;
  event.preventDefault();
  const next = Math.min(state.fmri.trials - 1, Math.max(0, state.trial + step));
  selectTrial(next);
  $('trial-picker').children[next]?.focus();
}

/** Fills the card from what has been computed for the chosen trial. */
export function showTrial() {
  if (!state.fmri) return;
  const t = state.trial;
  const truth = state.truth?.[t];
  const seen = $('trial-seen');
  if (state.stimulusIds?.[t]) {
    const img = thumbnail(stimulusUrl(state.stimulusIds[t]), truth ?? 'seen image');
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
export async function reconstructTrial(trial) {
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
  const { steps, seed, lowLevel, strength, guidance, size } = reconstructionSettings();
  const key = `${trial}|${steps}|${seed}|${strength}|${guidance}`;
  for (const id of ['trial-reconstruction', 'trial-low-level']) {
    $(id).width = size;
    $(id).height = size;
  }
  $('trial-low-level-box').hidden = !lowLevel;
  const cached = state.trialImages.get(key);
  if (cached) {
    drawPixels($('trial-reconstruction'), cached.image, size);
    if (cached.lowLevel) drawPixels($('trial-low-level'), cached.lowLevel, size);
    show('trial-step', `(${steps} step${steps === 1 ? '' : 's'}, seed ${seed})`);
    return;
  }
  // One run at a time; the panel's own runs and a run already going take precedence.
  if (state.reconstructing) return;
  state.reconstructing = true;
  const onProgress = (p) => {
    if (state.trial !== trial) return;
    if (p.kind === 'low-level') drawPixels($('trial-low-level'), p.images[0], size);
    if (p.kind === 'step') {
      const canvas = $('trial-reconstruction');
      drawPixels(canvas, p.images[0], size);
      // Each step's pixel sum, so a check can see the image change as it forms.
      const sum = p.images[0].reduce((a, v) => a + v, 0);
      canvas.dataset.stepSums = `${p.step === 1 ? '' : `${canvas.dataset.stepSums ?? ''} `}${sum}`.trim();
      show('trial-step', `(step ${p.step} of ${p.total})`);
    }
  };
  try {
    const result = await call('reconstruct', { trials: [trial], steps, seed, strength, guidance, lowLevel, onProgress });
    state.trialImages.set(key, { image: result.images[0], lowLevel: result.lowLevel?.[0] ?? null });
    if (state.trial === trial) {
      drawPixels($('trial-reconstruction'), result.images[0], size);
      show('trial-step', `(${result.steps} step${result.steps === 1 ? '' : 's'}, seed ${seed}, ${Math.round(result.milliseconds)} ms)`);
      document.body.dataset.trialReconstructed = String(trial + 1);
    }
  } catch (err) {
    show('trial-step', err.code === 'cancelled' ? '(cancelled)' : `(${err.message})`);
  } finally {
    state.reconstructing = false;
  }
  // The visitor may have moved on while this one was drawn.
  if (state.trial !== trial) reconstructTrial(state.trial);
}
