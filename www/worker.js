// Runs brainclip off the page's main thread, so the page stays responsive while models load
// and decode. The page sends { id, op, args }; the worker answers { id, value } or
// { id, error: { message, code } }, and { progress } while a bundle loads. The fMRI and
// the models live here; the page only ever sees summaries and results.
//
// Two builds of the package: `brainclip` (WebGPU and CPU, 32 MB) and `brainclip_cpu` (the
// CPU path only, 8.9 MB). A browser without a WebGPU adapter gets the small one.
let brainclip = null;

let decoder = null;
let fmri = null;

// Embeddings that depend only on the model and their input are computed once per model:
// the candidate labels' (CLIP text) and the candidate images' (CLIP image).
const cache = { labels: new Map(), images: new Map() };

async function labelEmbeddings(labels) {
  const key = JSON.stringify(labels);
  const reused = cache.labels.has(key);
  if (!reused) cache.labels.set(key, await decoder.embedLabels(labels, {}));
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

async function imageEmbeddings(images, names) {
  const key = imagesKey(images, names);
  const reused = cache.images.has(key);
  if (!reused) cache.images.set(key, await decoder.embedImages(images.map((b) => new Uint8Array(b)), names));
  return { embeddings: cache.images.get(key), reused };
}

/** Why WebGPU cannot be used here, in a visitor's words, or null when an adapter is offered. */
async function whyNoWebGpu() {
  if (!navigator.gpu) return 'this browser offers no WebGPU (navigator.gpu is missing)';
  try {
    if (await navigator.gpu.requestAdapter()) return null;
  } catch (err) {
    return `WebGPU could not start (${err?.message ?? err})`;
  }
  return 'WebGPU adapter unavailable: the browser offered no WebGPU adapter';
}

const summary = (handle) => ({
  trials: handle.trials, voxels: handle.voxels, dtype: handle.dtype, source: handle.source,
});

const ops = {
  async start() {
    const started = performance.now();
    const noWebGpu = await whyNoWebGpu();
    brainclip = await import(noWebGpu ? './pkg/brainclip_cpu.js' : './pkg/brainclip.js');
    await brainclip.default();
    const compiled = performance.now();
    const device = await brainclip.initDevice(noWebGpu ? 'cpu' : 'auto');
    if (noWebGpu) device.fallbackReason = noWebGpu;
    // Two orthogonal queries against themselves: each must pick its own match.
    const probabilities = await brainclip.candidateProbabilities(
      new Float32Array([1, 0, 0, 1]), new Float32Array([1, 0, 0, 1]), 2, 10, device.backend);
    const selfCheck = probabilities[0] > 0.99 && probabilities[3] > 0.99
      ? 'ok' : `unexpected ${Array.from(probabilities)}`;
    return { device, selfCheck, timings: { wasm: compiled - started, device: performance.now() - compiled } };
  },

  // Loads everything decoding needs; the image decoder, the larger part, comes after
  // (`loadImageDecoder`) so that the first decoding need not wait for it.
  async loadModel({ url, subject }) {
    const started = performance.now();
    const bundle = await brainclip.loadBundle(url, (progress) => postMessage({ progress }), { subject, parts: 'decoding' });
    const fetched = performance.now();
    try {
      const info = bundle.info();
      // The old decoder stays valid until the new one exists (a load in flight checks it).
      const next = await brainclip.loadDecoder(bundle, 'auto');
      decoder?.free();
      decoder = next;
      info.timings = { fetch: fetched - started, build: performance.now() - fetched };
      cache.labels.clear();
      cache.images.clear();
      return { ...info, decoder: decoder.info(), sheet: bundle.voxelSheet() };
    } finally {
      bundle.free();
    }
  },

  // Adds the bundle's image decoder to the decoder `loadModel` made; refused when another
  // model was loaded meanwhile (the page asks again for that one).
  async loadImageDecoder({ url, subject }) {
    const target = decoder;
    if (!target) throw new Error('load a model first');
    const bundle = await brainclip.loadBundle(url, null, { subject, parts: 'image-decoder' });
    try {
      if (decoder !== target) {
        throw Object.assign(new Error('another model was loaded meanwhile'), { code: 'superseded' });
      }
      decoder.addImageDecoder(bundle);
      return decoder.info();
    } finally {
      bundle.free();
    }
  },

  async readFmri({ bytes, name, options }) {
    const handle = await brainclip.readFmri(new Uint8Array(bytes), name, options);
    fmri?.free();
    fmri = handle;
    return summary(handle);
  },

  // One trial's voxel pattern as the model reads it, for the brain view.
  async voxelPattern({ trial }) {
    if (!decoder || !fmri) throw new Error('load a model and fMRI first');
    return decoder.voxelPattern(fmri, trial);
  },

  // Ranks the labels for every trial; with the true labels, also scores the decoding
  // (the library's evaluation: the same numbers as `brainclip eval`).
  async decode({ labels, topK, truth }) {
    if (!decoder || !fmri) throw new Error('load a model and fMRI first');
    const started = performance.now();
    const { embeddings, reused } = await labelEmbeddings(labels);
    const ranked = await decoder.decodeCategories(fmri, labels, { topK, labelEmbeddings: embeddings });
    const evaluation = truth
      ? await decoder.evaluate(fmri, { labels: truth, candidates: labels, labelEmbeddings: embeddings })
      : null;
    return { ranked, evaluation, reused, milliseconds: performance.now() - started };
  },

  // Ranks candidate images for every trial. When candidate i is what trial i saw, the
  // identification is scored too, together with category decoding when labels are known.
  async identify({ images, names, topK, candidateOfTrial, truth, labels }) {
    if (!decoder || !fmri) throw new Error('load a model and fMRI first');
    const { embeddings, reused } = await imageEmbeddings(images, names);
    // Every candidate's similarity, for the trials × candidates matrix; the lists keep topK.
    const all = await decoder.retrieve(fmri, embeddings, { space: 'image', topK: images.length });
    const similarity = new Float32Array(all.length * images.length);
    all.forEach((row, trial) => row.forEach((r) => { similarity[trial * images.length + r.index] = r.similarity; }));
    const ranked = all.map((row) => row.slice(0, topK));
    let evaluation = null;
    if (candidateOfTrial) {
      const dim = embeddings.length / images.length;
      const perTrial = new Float32Array(candidateOfTrial.length * dim);
      candidateOfTrial.forEach((c, t) => perTrial.set(embeddings.subarray(c * dim, (c + 1) * dim), t * dim));
      const categories = truth
        ? { labels: truth, candidates: labels, labelEmbeddings: (await labelEmbeddings(labels)).embeddings }
        : {};
      evaluation = await decoder.evaluate(fmri, { imageEmbeddings: perTrial, ...categories });
    }
    return { ranked, evaluation, similarity, reused };
  },

  // The explorer: simulates a new recording of the test stimuli by the loaded subject and
  // scores category decoding on it (the user's own recording stays loaded). The recording's
  // .npy comes back too, for the visitor to keep.
  async explore({ subject, snr, repeats, seed, truth, labels }) {
    if (!decoder) throw new Error('load a model first');
    const started = performance.now();
    const simulated = brainclip.simulateTestRecording(subject, { snr, repeats, seed });
    try {
      const simulatedIn = performance.now() - started;
      const { embeddings } = await labelEmbeddings(labels);
      const evaluation = await decoder.evaluate(simulated, { labels: truth, candidates: labels, labelEmbeddings: embeddings });
      const npy = simulated.toNpy();
      return { evaluation, npy, name: simulated.source.fileName, simulatedIn, milliseconds: performance.now() - started };
    } finally {
      simulated.free();
    }
  },

  // Reconstructs the requested trials, posting every step's decoded estimate as progress;
  // with a low-level head, its blurry image of the same trials comes too.
  // With the seen images' URLs (one per trial), the batch is scored as `brainclip eval
  // --reconstruct` scores it.
  async reconstruct({ trials, steps, seed, strength, guidance, lowLevel, seen }) {
    if (!decoder || !fmri) throw new Error('load a model and fMRI first');
    const started = performance.now();
    const blurry = lowLevel ? await decoder.reconstructLowLevel(fmri, { trials }) : null;
    if (blurry) postMessage({ progress: { kind: 'low-level', images: blurry.images } });
    const result = await decoder.reconstruct(fmri, {
      // Always explicit: "from noise" (1) must not fall back to the head's own default.
      trials, steps, seed, strength, guidance,
      onStep: (step, total, images) => postMessage({
        progress: { kind: 'step', step, total, images, milliseconds: performance.now() - started },
      }),
    });
    const milliseconds = performance.now() - started;
    let metrics = null;
    if (seen && seen.length === result.images.length && seen.length >= 2) {
      const files = await Promise.all(seen.map(async (url) => {
        const response = await fetch(url);
        if (!response.ok) throw new Error(`could not fetch ${url}: HTTP ${response.status}`);
        return new Uint8Array(await response.arrayBuffer());
      }));
      metrics = await decoder.scoreReconstructions(result.images, result.size, files,
        seen.map((url) => url.split('/').pop()));
    }
    return { ...result, lowLevel: blurry?.images ?? null, milliseconds, metrics };
  },
};

self.onmessage = async ({ data: { id, op, args } }) => {
  try {
    postMessage({ id, value: await ops[op](args ?? {}) });
  } catch (err) {
    postMessage({ id, error: { message: err?.message ?? String(err), code: err?.code ?? 'unknown' } });
  }
};
