import init, { initDevice, candidateProbabilities, readFmri } from './pkg/brainclip.js';

const $ = (id) => document.getElementById(id);
const show = (id, text, isError = false) => {
  $(id).textContent = text;
  $(id).classList.toggle('error', isError);
};
const grouped = (n) => n.toLocaleString('en-US');

async function startDevice() {
  const info = await initDevice('auto');
  show('backend', info.backend);
  show('adapter', info.adapter);
  show('fallback-reason', info.fallbackReason ?? 'none');
  document.body.dataset.backend = info.backend;

  // Two orthogonal queries against themselves: each must pick its own match.
  const probabilities = await candidateProbabilities(
    new Float32Array([1, 0, 0, 1]), new Float32Array([1, 0, 0, 1]), 2, 10, 'auto');
  const ok = probabilities[0] > 0.99 && probabilities[3] > 0.99;
  show('self-check', ok ? 'ok' : `unexpected ${Array.from(probabilities)}`, !ok);
}

async function loadFmri() {
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
    const fmri = await readFmri(new Uint8Array(await file.arrayBuffer()), file.name, options);
    const source = fmri.source;
    show('fmri-trials', grouped(fmri.trials));
    show('fmri-voxels', grouped(fmri.voxels));
    show('fmri-dtype', `${fmri.dtype}, shape [${source.shape.join(', ')}]`);
    show('fmri-source', [source.fileName, source.arrayName, source.maskName && `mask ${source.maskName}`]
      .filter(Boolean).join(' · '));
    $('fmri-summary').hidden = false;
    fmri.free();
  } catch (err) {
    $('fmri-error').textContent = `${err.message}`;
    $('fmri-error').dataset.code = err.code ?? 'unknown';
    $('fmri-error').hidden = false;
  }
}

async function main() {
  await init();
  for (const id of ['fmri-file', 'mask-file', 'array-name']) {
    $(id).addEventListener('change', () => loadFmri());
  }
  await startDevice();
  document.body.dataset.ready = 'true';
}

main().catch((err) => {
  show('backend', `error: ${err.code ?? ''} ${err.message}`, true);
  document.body.dataset.ready = 'error';
});
