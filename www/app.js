import init, { initDevice, candidateProbabilities } from './pkg/brainclip.js';

const show = (id, text, isError = false) => {
  const el = document.getElementById(id);
  el.textContent = text;
  el.classList.toggle('error', isError);
};

async function main() {
  await init();
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
  document.body.dataset.ready = 'true';
}

main().catch((err) => {
  show('backend', `error: ${err.code ?? ''} ${err.message}`, true);
  document.body.dataset.ready = 'error';
});
