// The page's use of brainclip: the npm package's worker client (`brainclip/worker`), so every
// model and the fMRI live in a module worker and the page stays responsive. The page gets
// summaries and results; every long call takes the page's AbortSignal (Cancel).
import { createWorker } from './pkg/worker.js';

/**
 * Starts brainclip in a worker. Calls that report progress take their own `onProgress`:
 * `loadModel` the bundle's download, `reconstruct` `{ kind: 'low-level' | 'step', … }`. A
 * worker that cannot start rejects this; one that dies later rejects every call with code
 * "worker_failed". If the WebGPU device is lost, brainclip goes on on the CPU (the call in
 * flight completes there) and `onFallback` gets the device as it now is.
 */
export async function startEngine({ onFallback = () => {} } = {}) {
  const started = performance.now();
  let device = null;
  const brainclip = await createWorker({
    onFallback: ({ backend, reason }) => {
      Object.assign(device, { backend, adapter: 'none (the CPU backend)', fallbackReason: reason });
      onFallback(device);
    },
  });
  const compiled = performance.now();
  device = await brainclip.initDevice(brainclip.noWebGpu ? 'cpu' : 'auto');
  if (brainclip.noWebGpu) device.fallbackReason = brainclip.noWebGpu;
  // Two orthogonal queries against themselves: each must pick its own match.
  const probabilities = await brainclip.candidateProbabilities(
    new Float32Array([1, 0, 0, 1]), new Float32Array([1, 0, 0, 1]), 2, 10, device.backend);
  const selfCheck = probabilities[0] > 0.99 && probabilities[3] > 0.99
    ? 'ok' : `unexpected ${Array.from(probabilities)}`;

  let decoder = null;
  let fmri = null;
  // Embeddings that depend only on the model and their input are computed once per model:
  // the candidate labels' (CLIP text) and the candidate images' (CLIP image).
  const cache = { labels: new Map(), images: new Map() };

  async function labelEmbeddings(labels, signal) {
    const key = JSON.stringify(labels);
    const reused = cache.labels.has(key);
    if (!reused) cache.labels.set(key, await decoder.embedLabels(labels, { signal }));
    return { embeddings: cache.labels.get(key), reused };
  }

  /** A key for image files: their names and a hash of every byte (FNV-1a). */
  function imagesKey(images, names) {
    let hash = 0x811c9dc5;
    for (const buffer of images) {
      for (const byte of new Uint8Array(buffer)) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
    }
    return `${names.join('\u0000')}#${images.length}#${hash}`;
  }

  async function imageEmbeddings(images, names, signal) {
    const key = imagesKey(images, names);
    const reused = cache.images.has(key);
    if (!reused) cache.images.set(key, await decoder.embedImages(images.map((b) => new Uint8Array(b)), names, { signal }));
    return { embeddings: cache.images.get(key), reused };
  }

  const needModel = () => { if (!decoder) throw new Error('load a model first'); };
  const needFmri = () => { if (!decoder || !fmri) throw new Error('load a model and fMRI first'); };

  return {
    device,
    selfCheck,
    timings: { wasm: compiled - started, device: performance.now() - compiled },
    terminate: () => brainclip.terminate(),

    // Loads everything decoding needs; the image decoder, the larger part, comes after
    // (`loadImageDecoder`) so that the first decoding need not wait for it.
    // `file` ({ bytes, name }): a bundle archive (.zip) the user chose, e.g. one trained below.
    async loadModel({ url, file, subject, signal, onProgress = null }) {
      const loadStarted = performance.now();
      const bundle = file
        // In memory already: all of it at once, image decoder included.
        ? await brainclip.loadBundleBytes(new Uint8Array(file.bytes), file.name, { subject, parts: 'all' })
        : await brainclip.loadBundle(url, onProgress, { subject, parts: 'decoding', signal });
      const fetched = performance.now();
      try {
        const info = await bundle.info();
        // The old decoder stays valid until the new one exists (a load in flight checks it).
        const next = await brainclip.loadDecoder(bundle, 'auto');
        decoder?.dispose();
        decoder = next;
        info.timings = { fetch: fetched - loadStarted, build: performance.now() - fetched };
        cache.labels.clear();
        cache.images.clear();
        return { ...info, decoder: await decoder.info(), sheet: await bundle.voxelSheet() };
      } finally {
        bundle.dispose();
      }
    },

    // Adds the bundle's image decoder to the decoder `loadModel` made; refused when another
    // model was loaded meanwhile (the page asks again for that one).
    async loadImageDecoder({ url, subject, signal }) {
      needModel();
      const target = decoder;
      const bundle = await brainclip.loadBundle(url, null, { subject, parts: 'image-decoder', signal });
      try {
        if (decoder !== target) {
          throw Object.assign(new Error('another model was loaded meanwhile'), { code: 'superseded' });
        }
        await decoder.addImageDecoder(bundle);
        return await decoder.info();
      } finally {
        bundle.dispose();
      }
    },

    async readFmri({ bytes, name, options }) {
      const handle = await brainclip.readFmri(new Uint8Array(bytes), name, options);
      fmri?.dispose();
      fmri = handle;
      const { trials, voxels, dtype, source } = handle;
      return { trials, voxels, dtype, source };
    },

    // One trial's voxel pattern as the model reads it, for the brain view.
    async voxelPattern({ trial }) {
      needFmri();
      return decoder.voxelPattern(fmri, trial);
    },

    // Which voxels drove one trial's similarity to a label (integrated gradients).
    async attribute({ trial, label, signal }) {
      needFmri();
      return decoder.attribute(fmri, { trial, label, signal });
    },

    // Ranks the labels for every trial; with the true labels, also scores the decoding
    // (the library's evaluation: the same numbers as `brainclip eval`).
    async decode({ labels, topK, truth, signal }) {
      needFmri();
      const decodeStarted = performance.now();
      const { embeddings, reused } = await labelEmbeddings(labels, signal);
      const ranked = await decoder.decodeCategories(fmri, labels, { topK, labelEmbeddings: embeddings, signal });
      const evaluation = truth
        ? await decoder.evaluate(fmri, { labels: truth, candidates: labels, labelEmbeddings: embeddings, signal })
        : null;
      return { ranked, evaluation, reused, milliseconds: performance.now() - decodeStarted };
    },

    // Ranks candidate images for every trial. When candidate i is what trial i saw, the
    // identification is scored too, together with category decoding when labels are known.
    async identify({ images, names, topK, candidateOfTrial, truth, labels, signal }) {
      needFmri();
      const { embeddings, reused } = await imageEmbeddings(images, names, signal);
      // Every candidate's similarity, for the trials × candidates matrix; the lists keep topK.
      const all = await decoder.retrieve(fmri, embeddings, { space: 'image', topK: images.length, signal });
      const similarity = new Float32Array(all.length * images.length);
      all.forEach((row, trial) => row.forEach((r) => { similarity[trial * images.length + r.index] = r.similarity; }));
      const ranked = all.map((row) => row.slice(0, topK));
      let evaluation = null;
      if (candidateOfTrial) {
        const dim = embeddings.length / images.length;
        const perTrial = new Float32Array(candidateOfTrial.length * dim);
        candidateOfTrial.forEach((c, t) => perTrial.set(embeddings.subarray(c * dim, (c + 1) * dim), t * dim));
        const categories = truth
          ? { labels: truth, candidates: labels, labelEmbeddings: (await labelEmbeddings(labels, signal)).embeddings }
          : {};
        evaluation = await decoder.evaluate(fmri, { imageEmbeddings: perTrial, ...categories, signal });
      }
      return { ranked, evaluation, similarity, reused };
    },

    // The explorer: simulates a new recording of the test stimuli by the loaded subject and
    // scores category decoding on it (the user's own recording stays loaded). The recording's
    // .npy comes back too, for the visitor to keep.
    async explore({ subject, snr, repeats, seed, truth, labels, signal }) {
      needModel();
      const exploreStarted = performance.now();
      const simulated = await brainclip.simulateTestRecording(subject, { snr, repeats, seed });
      try {
        const simulatedIn = performance.now() - exploreStarted;
        const { embeddings } = await labelEmbeddings(labels, signal);
        const evaluation = await decoder.evaluate(simulated, { labels: truth, candidates: labels, labelEmbeddings: embeddings, signal });
        const npy = await simulated.toNpy();
        return { evaluation, npy, name: simulated.source.fileName, simulatedIn, milliseconds: performance.now() - exploreStarted };
      } finally {
        simulated.dispose();
      }
    },

    // Reconstructs the requested trials, reporting every step's decoded estimate as
    // progress; with a low-level head, its blurry image of the same trials comes too.
    // With the seen images' URLs (one per trial), the batch is scored as `brainclip eval
    // --reconstruct` scores it.
    async reconstruct({ trials, steps, seed, strength, guidance, lowLevel, seen, signal, onProgress = () => {} }) {
      needFmri();
      const reconstructStarted = performance.now();
      const blurry = lowLevel ? await decoder.reconstructLowLevel(fmri, { trials, signal }) : null;
      if (blurry) onProgress({ kind: 'low-level', images: blurry.images });
      const result = await decoder.reconstruct(fmri, {
        // Always explicit: "from noise" (1) must not fall back to the head's own default.
        trials, steps, seed, strength, guidance, signal,
        onStep: (step, total, images) => onProgress({
          kind: 'step', step, total, images, milliseconds: performance.now() - reconstructStarted,
        }),
      });
      const milliseconds = performance.now() - reconstructStarted;
      let metrics = null;
      if (seen && seen.length === result.images.length && seen.length >= 2) {
        const files = await Promise.all(seen.map(async (url) => {
          const response = await fetch(url, { signal });
          if (!response.ok) throw new Error(`could not fetch ${url}: HTTP ${response.status}`);
          return new Uint8Array(await response.arrayBuffer());
        }));
        metrics = await decoder.scoreReconstructions(result.images, result.size, files,
          seen.map((url) => url.split('/').pop()));
      }
      return { ...result, lowLevel: blurry?.images ?? null, milliseconds, metrics };
    },
  };
}
