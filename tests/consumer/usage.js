// @ts-check
import { createWorkerDecoder } from 'brainclip/worker';

/**
 * Decodes a recording the way an app built on brainclip would: everything runs in a worker,
 * and nothing leaves the browser.
 * @param {{ bundleUrl: string, fmriBytes: Uint8Array, fmriName: string, labels: string[],
 *           onStatus?: (text: string) => void }} input
 */
export async function decodeRecording({ bundleUrl, fmriBytes, fmriName, labels, onStatus = console.log }) {
  // Load a bundle in a module worker, with progress per file. The files go into the
  // browser's Cache API, so the next visit downloads no weights.
  const decoder = await createWorkerDecoder(bundleUrl, {
    parts: 'decoding', // the image decoder can come later: decoder.addImageDecoder(...)
    onProgress: (p) => onStatus(`${p.status} ${p.file ?? 'bundle'} ${Math.round(p.progress ?? 0)}%${p.cached ? ' (cached)' : ''}`),
  });
  try {
    const cached = await decoder.brainclip.isCached(bundleUrl, { parts: 'decoding' });

    // A preprocessed recording (.npy, .npz or NIfTI with a mask; trials × voxels).
    const fmri = await decoder.readFmri(fmriBytes, fmriName);
    onStatus(`${fmri.trials} trials × ${fmri.voxels} voxels`);

    // Zero-shot decoding: any labels, ranked for every trial.
    const ranked = await decoder.decodeCategories(fmri, labels, { topK: 3 });
    onStatus(`trial 1: ${ranked[0].map((r) => `${r.label} ${(100 * r.probability).toFixed(0)}%`).join(', ')}`);

    // Any long call can be cancelled with an AbortSignal; it rejects with code "aborted".
    const controller = new AbortController();
    const running = decoder.evaluate(fmri, { labels: ranked.map((r) => r[0].label), signal: controller.signal });
    controller.abort();
    const aborted = await running.then(() => null, (err) => err.code);

    return { cached, trials: fmri.trials, voxels: fmri.voxels, ranked, aborted };
  } finally {
    decoder.terminate();
  }
}
