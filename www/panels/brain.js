// The brain view: one trial's pattern, as the model reads it (normalised as the bundle
// prescribes, in standard deviations), on the subject's flattened visual cortex when the
// bundle places its voxels on a sheet, else as a heat strip in voxel order; or which voxels
// drove its similarity to a label.
import { $, candidateLabels, grouped, showError } from '../dom.js';
import { drawBrain } from '../draw.js';
import { call } from '../session.js';
import { state } from '../state.js';

// What is drawn, for the hover readout: the values, where each was drawn and the dot size.
const brain = { sheet: null, values: null, positions: null, dot: 4, scale: 1, unit: ' sd', showing: undefined };

export function setupBrain(sheet) {
  brain.sheet = sheet ?? null;
  const areas = brain.sheet?.areas ?? [];
  $('brain-areas').replaceChildren(...areas.map((area) => {
    const item = document.createElement('li');
    item.textContent = area.name;
    return item;
  }));
  $('brain-layout').textContent = brain.sheet
    ? 'Each dot is a voxel at its place on the flattened cortex.'
    : 'This bundle does not place its voxels on a cortical sheet: voxels are drawn in file order, row by row.';
}

function draw(values, unit) {
  Object.assign(brain, { values, unit });
  $('brain-view').hidden = false;
  Object.assign(brain, drawBrain($('brain-canvas'), brain));
}

/** The area a sheet point lies in, if any. */
function areaAt(x, y) {
  return brain.sheet?.areas.find(({ bounds: [x0, y0, x1, y1] }) => x >= x0 && x <= x1 && y >= y0 && y <= y1);
}

export function hoverBrain(event) {
  if (!brain.positions) return;
  const canvas = $('brain-canvas');
  const rect = canvas.getBoundingClientRect();
  const x = ((event.clientX - rect.left) * canvas.width) / rect.width;
  const y = ((event.clientY - rect.top) * canvas.height) / rect.height;
  let best = -1;
  let bestDistance = (2 * brain.dot) ** 2;
  for (let i = 0; i < brain.values.length; i += 1) {
    const d = (brain.positions[2 * i] - x) ** 2 + (brain.positions[2 * i + 1] - y) ** 2;
    if (d < bestDistance) {
      bestDistance = d;
      best = i;
    }
  }
  if (best < 0) {
    $('brain-hover').textContent = 'Point at a voxel to read its index and value.';
    return;
  }
  const area = brain.sheet && areaAt(brain.sheet.coordinates[2 * best], brain.sheet.coordinates[2 * best + 1]);
  $('brain-hover').textContent = `voxel ${grouped(best + 1)} of ${grouped(brain.values.length)}: ` +
    `${brain.values[best] >= 0 ? '+' : '−'}${brain.unit ? Math.abs(brain.values[best]).toFixed(2) : Math.abs(brain.values[best]).toPrecision(2)}${brain.unit}` +
    (area ? ` · ${area.name}` : '');
  $('brain-hover').dataset.voxel = String(best);
}

/** The label the attribution view explains for a trial: what the visitor typed, else the
 * trial's true label, else its best decoded label. */
function attributionLabel(trial) {
  const typed = $('brain-label').value.trim();
  if (typed) return typed;
  return state.truth?.[trial] ?? state.decoded?.[trial]?.[0]?.label ?? null;
}

export async function showBrain() {
  $('brain-error').hidden = true;
  if (!state.fmri || !state.modelReady) return;
  const trial = Number($('brain-trial').value);
  if (!(Number.isInteger(trial) && trial >= 1 && trial <= state.fmri.trials)) {
    showError('brain-error', new Error(`trial ${$('brain-trial').value}: this recording has trials 1 to ${state.fmri.trials}`));
    return;
  }
  const why = $('brain-show').value === 'attribution';
  $('brain-label-field').hidden = !why;
  // A readout of the other view's values would be stale.
  if (brain.showing !== undefined && brain.showing !== why) {
    $('brain-hover').textContent = 'Point at a voxel to read its index and value.';
    delete $('brain-hover').dataset.voxel;
  }
  brain.showing = why;
  if (why) $('brain-labels').replaceChildren(...candidateLabels().map((l) => new Option(l)));
  const label = state.truth ? ` (${state.truth[trial - 1]})` : '';
  try {
    if (why) {
      const target = attributionLabel(trial - 1);
      if (!target) throw new Error('type a label to explain (decode first, or load the true labels, to have one filled in)');
      $('brain-label').placeholder = target;
      const map = await call('attribute', { trial: trial - 1, label: target });
      draw(map.values, '');
      $('brain-canvas').setAttribute('aria-label', `voxel attribution of trial ${trial} to "${target}"`);
      $('brain-caption').textContent = `Trial ${trial}${label}: which voxels drove its similarity to ` +
        `"${target}" (integrated gradients from the average pattern). Red voxels raised it, blue ` +
        `lowered it; together they account for the change from ${map.baselineSimilarity.toFixed(3)} ` +
        `to ${map.similarity.toFixed(3)} (within ${Math.abs(map.completenessGap).toFixed(4)}).`;
      document.body.dataset.brainAttribution = target;
    } else {
      draw(await call('voxelPattern', { trial: trial - 1 }), ' sd');
      $('brain-canvas').setAttribute('aria-label', `voxel pattern of trial ${trial}${label}`);
      $('brain-caption').textContent = `Trial ${trial}${label}: red above the voxel's mean, blue ` +
        `below, in standard deviations as the model reads it (colours saturate at ±${brain.scale.toFixed(1)}).`;
      delete document.body.dataset.brainAttribution;
    }
    document.body.dataset.brain = String(trial);
  } catch (err) {
    showError('brain-error', err);
  }
}
