// The consumer page: runs the README's example on the demo bundle and sample recording.
import { decodeRecording } from './usage.js';

const log = document.getElementById('log');
const fmriBytes = new Uint8Array(await (await fetch('/samples/sub-01-test-fmri.npy')).arrayBuffer());
const labels = await (await fetch('/samples/novel-categories.json')).json();
try {
  const result = await decodeRecording({
    bundleUrl: new URL('/models/demo/', location.href).href,
    fmriBytes,
    fmriName: 'sub-01-test-fmri.npy',
    labels,
    onStatus: (text) => log.append(`${text}\n`),
  });
  window.consumerResult = result;
  document.body.dataset.done = 'true';
} catch (err) {
  log.append(`error: ${err.message}\n`);
  window.consumerResult = { error: err.message, code: err.code };
  document.body.dataset.done = 'error';
}
