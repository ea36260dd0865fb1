// "Train on your data": a mapper trained in the page by the package's `trainMapper` (the
// CLI's trainer, its data checks, split, early stopping and seeds) in a worker of its own, so
// decoding above stays usable. Nothing is uploaded: the fMRI and labels stay in this tab.
import { createWorker } from './pkg/worker.js';
import { $, grouped, parseList } from './dom.js';
import { metricsTable, percent } from './metrics.js';

export function setupTraining({ bundleUrl, samples }) {
  let worker = null;
  let clip = null;
  let data = null; // { fmri, labels, stimulusIds, groups, name, simulated, test }
  let result = null;
  let running = null;
  const epochs = { model: [], 'shuffled labels': [] };
  const section = $('train');

  const setState = (value) => { section.dataset.state = value; };
  const status = (text) => { $('train-status').textContent = text; };
  const error = (err) => {
    $('train-error').textContent = err ? (err.message ?? String(err)) : '';
    $('train-error').hidden = !err;
  };

  async function engine() {
    if (!worker) {
      status('starting the training worker…');
      worker = await createWorker({ training: true });
      $('train-build').textContent = `${worker.build}${worker.threads > 1 ? `, ${worker.threads} threads` : ''}, CPU backend`;
    }
    if (!clip) {
      status('loading the CLIP that embeds the labels…');
      // Resolved here: the worker would resolve a relative URL against its own script.
      clip = await worker.loadBundle(new URL(bundleUrl, document.baseURI).href, null, { parts: 'decoding' });
    }
    return worker;
  }

  function showData() {
    $('train-data').textContent = data
      ? `${data.name}: ${grouped(data.fmri.trials)} trials × ${grouped(data.fmri.voxels)} voxels, ${new Set(data.labels).size} labels`
        + (data.stimulusIds ? `, ${grouped(new Set(data.stimulusIds).size)} stimuli` : '')
        + (data.groups ? `, ${new Set(data.groups).size} runs` : '')
      : 'No training data yet.';
    $('train-button').disabled = !data;
  }

  async function useSimulated() {
    error(null);
    try {
      const w = await engine();
      status('simulating subject 2\'s training session…');
      const session = await w.simulateTrainingSession('sub-02');
      data?.fmri.dispose?.();
      data = {
        ...session,
        name: 'simulated sub-02, training session',
        simulated: true,
        groups: null,
        test: { subject: 'sub-02' },
      };
      showData();
      status('');
    } catch (err) {
      error(err);
      status('');
    }
  }

  async function loadFiles() {
    error(null);
    const fmriFile = $('train-fmri').files[0];
    const labelsFile = $('train-labels').files[0];
    if (!fmriFile || !labelsFile) {
      $('train-button').disabled = !data;
      return;
    }
    try {
      const w = await engine();
      status('reading the files…');
      const fmri = await w.readFmri(new Uint8Array(await fmriFile.arrayBuffer()), fmriFile.name);
      const labels = parseList(await labelsFile.text(), labelsFile.name).map(String);
      const optional = async (id) => {
        const file = $(id).files[0];
        return file ? parseList(await file.text(), file.name) : null;
      };
      data?.fmri.dispose?.();
      data = {
        fmri,
        labels,
        stimulusIds: await optional('train-stimuli'),
        groups: await optional('train-groups'),
        name: fmriFile.name,
        simulated: false,
        test: null,
      };
      showData();
      status('');
    } catch (err) {
      data = null;
      showData();
      error(err);
      status('');
    }
  }

  /** Loss and validation top-1 per epoch: the model's solid, the shuffled control's dashed. */
  function drawPlot() {
    const canvas = $('train-plot');
    const ctx = canvas.getContext('2d');
    const { width, height } = canvas;
    ctx.clearRect(0, 0, width, height);
    const pad = { left: 40, right: 40, top: 12, bottom: 24 };
    const w = width - pad.left - pad.right;
    const h = height - pad.top - pad.bottom;
    const all = [...epochs.model, ...epochs['shuffled labels']];
    const maxEpoch = Math.max(1, ...all.map((e) => e.epoch));
    const maxLoss = Math.max(1e-6, ...all.map((e) => e.loss));
    const top1 = (e) => e.val_text_top1 ?? e.val_image_top1;
    const x = (epoch) => pad.left + (w * (epoch - 1)) / Math.max(1, maxEpoch - 1);
    ctx.strokeStyle = '#999';
    ctx.strokeRect(pad.left, pad.top, w, h);
    ctx.fillStyle = '#444';
    ctx.font = '11px sans-serif';
    ctx.fillText('loss', 4, pad.top + 10);
    ctx.fillText('top-1', width - pad.right + 4, pad.top + 10);
    ctx.fillText('epoch', pad.left + w / 2 - 14, height - 6);
    ctx.fillText(maxLoss.toFixed(1), 4, pad.top + 24);
    ctx.fillText('100%', width - pad.right + 4, pad.top + 24);
    const line = (points, colour, dashed) => {
      if (!points.length) return;
      ctx.beginPath();
      ctx.setLineDash(dashed ? [4, 3] : []);
      ctx.strokeStyle = colour;
      points.forEach(([px, py], i) => (i ? ctx.lineTo(px, py) : ctx.moveTo(px, py)));
      ctx.stroke();
    };
    for (const [phase, dashed] of [['model', false], ['shuffled labels', true]]) {
      const series = epochs[phase];
      line(series.map((e) => [x(e.epoch), pad.top + h * (1 - e.loss / maxLoss)]), '#b33', dashed);
      line(series.filter((e) => top1(e) !== null).map((e) => [x(e.epoch), pad.top + h * (1 - top1(e))]), '#2566c5', dashed);
    }
    const chance = all.map((e) => e.val_text_chance ?? e.val_image_chance).find((c) => c != null);
    if (chance != null) line([[pad.left, pad.top + h * (1 - chance)], [pad.left + w, pad.top + h * (1 - chance)]], '#888', true);
    ctx.setLineDash([]);
  }

  function onEpoch(report) {
    epochs[report.phase].push(report);
    const top1 = report.val_text_top1 ?? report.val_image_top1;
    status(`${report.phase === 'model' ? 'mapper' : 'shuffled-label control'}: epoch ${report.epoch}, loss ${report.loss.toFixed(3)}`
      + (top1 == null ? '' : `, validation top-1 ${percent(top1)}`));
    drawPlot();
  }

  async function train() {
    error(null);
    if (!data) return;
    const controller = new AbortController();
    running = controller;
    result?.dispose?.();
    result = null;
    epochs.model = [];
    epochs['shuffled labels'] = [];
    $('train-results').hidden = true;
    $('train-download').hidden = true;
    $('train-button').disabled = true;
    $('train-cancel').hidden = false;
    $('train-progress').hidden = false;
    setState('running');
    drawPlot();
    try {
      const w = await engine();
      const started = performance.now();
      const calibrating = $('train-mode').value === 'calibrate';
      const labelSets = data.test ? { 'test-categories': await (await fetch(samples.candidates)).json() } : {};
      result = await w.trainMapper(data.fmri, {
        labels: data.labels,
        stimulusIds: data.stimulusIds ?? undefined,
        groups: data.groups ?? undefined,
        clipFrom: clip,
        calibrateFrom: calibrating ? clip : undefined,
        settings: {
          epochs: Number($('train-epochs').value),
          // A calibrated mapper keeps the base's sizes.
          hidden: calibrating ? undefined : Number($('train-hidden').value),
          seed: Number($('train-seed').value),
        },
        controls: $('train-controls').checked,
        simulated: data.simulated,
        // The page then offers the subject's sample recording with this bundle.
        subject: data.test?.subject,
        name: `brainclip mapper trained in the browser: ${data.name}`,
        provenance: `${data.name}; trained in the browser by brainclip trainMapper`,
        labelSets,
        onEpoch,
        signal: controller.signal,
      });
      const seconds = (performance.now() - started) / 1000;
      const report = await result.report();
      section.dataset.seconds = seconds.toFixed(1);
      section.dataset.mode = report.mode;
      status(`${report.mode === 'calibrate' ? 'calibrated' : 'trained'} in ${seconds.toFixed(1)} s: best epoch ${report.bestEpoch} of ${epochs.model.length}, `
        + `${grouped(report.trainTrials)} training and ${report.validationTrials.length} validation trials`);
      await showResults(report);
      setState('done');
    } catch (err) {
      setState(err.code === 'aborted' ? 'cancelled' : 'error');
      if (err.code === 'aborted') status('cancelled: nothing was kept');
      else { error(err); status(''); }
    } finally {
      running = null;
      $('train-button').disabled = !data;
      $('train-cancel').hidden = true;
      $('train-progress').hidden = true;
    }
  }

  async function showResults(report) {
    const heldOut = report.heldOut;
    const leak = report.validationLeak;
    $('train-leak').hidden = !leak.leaks;
    $('train-leak').textContent = leak.leaks
      ? `${leak.withNearCopy} of ${leak.checked} validation trials have a near-copy among the training trials `
        + '(neighbouring volumes of one block or run are near-copies), so these held-out numbers are optimistic. '
        + 'Give the runs file to hold out whole runs.'
      : '';
    $('train-heldout').replaceChildren(...(heldOut
      ? metricsTable(heldOut, ['category_top1', 'category_top5', 'image_top1'])
      : [Object.assign(document.createElement('p'), { className: 'hint', textContent: 'No validation trials (valFraction 0).' })]));
    $('train-test-box').hidden = !data.test;
    if (data.test) {
      status(`${$('train-status').textContent}; decoding the test recording…`);
      const w = await engine();
      const [bytes, labels, candidates] = await Promise.all([
        fetch(samples.fmri(data.test.subject)).then((r) => r.arrayBuffer()),
        fetch(samples.labels).then((r) => r.json()),
        fetch(samples.candidates).then((r) => r.json()),
      ]);
      const test = await w.readFmri(new Uint8Array(bytes), `${data.test.subject}-test-fmri.npy`);
      const decoder = await result.decoder();
      try {
        const evaluation = await decoder.evaluate(test, { labels, candidates });
        $('train-test').replaceChildren(...metricsTable(evaluation, ['category_top1', 'category_top5']));
        const top1 = evaluation.metrics.find((m) => m.id === 'category_top1');
        section.dataset.testTop1 = String(top1.value);
        status($('train-status').textContent.replace('; decoding the test recording…', ''));
      } finally {
        decoder.dispose();
        test.dispose();
      }
    }
    const bytes = await result.bundleBytes();
    const link = $('train-download');
    if (link.href.startsWith('blob:')) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(new Blob([bytes], { type: 'application/zip' }));
    link.download = `brainclip-${data.simulated ? 'simulated-sub-02' : 'mapper'}.zip`;
    link.textContent = `Download the bundle (.zip, ${(bytes.length / 1e6).toFixed(1)} MB)`;
    link.hidden = false;
    $('train-results').hidden = false;
  }

  $('train-simulated').addEventListener('click', () => useSimulated());
  for (const id of ['train-fmri', 'train-labels', 'train-stimuli', 'train-groups']) {
    $(id).addEventListener('change', () => loadFiles());
  }
  $('train-button').addEventListener('click', () => train());
  $('train-mode').addEventListener('change', () => {
    $('train-hidden').disabled = $('train-mode').value === 'calibrate';
  });
  $('train-cancel').addEventListener('click', () => running?.abort(new Error('cancelled in the page')));
  showData();
  drawPlot();
}
