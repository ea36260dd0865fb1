// `brainclip/worker`: the package's API run in a module worker gives the in-page package's
// results bit for bit, forwards step callbacks and aborts, and says when a handle or the
// worker is gone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serveSite, launch, openBlank } from './browser.mjs';

let site;
before(async () => { site = await serveSite(); });
after(() => site.server.close());

const REQUEST = { trials: [0, 1], steps: 2, seed: 3 };

test('the worker client decodes and reconstructs as the in-page package does (CPU)', async () => {
  const browser = await launch({ webgpu: false });
  try {
    // One page per way of running: one WebAssembly compile per page.
    const inPage = await openBlank(browser, site);
    const expected = await inPage.page.evaluate(async (request) => {
      const brainclip = await import('./pkg/brainclip_cpu.js');
      await brainclip.default();
      const bundle = await brainclip.loadBundle(new URL('models/demo/', document.baseURI).href, null, {});
      const decoder = await brainclip.loadDecoder(bundle, 'cpu');
      const bytes = new Uint8Array(await (await fetch('samples/sub-01-test-fmri.npy')).arrayBuffer());
      const fmri = await brainclip.readFmri(bytes, 'sub-01-test-fmri.npy', {});
      const labels = await (await fetch('samples/novel-categories.json')).json();
      const ranked = await decoder.decodeCategories(fmri, labels, { topK: 3 });
      const steps = [];
      const result = await decoder.reconstruct(fmri, { ...request, onStep: (step, total) => steps.push([step, total]) });
      return { ranked, steps, images: result.images.map((image) => Array.from(image)) };
    }, REQUEST);

    const inWorker = await openBlank(browser, site);
    const actual = await inWorker.page.evaluate(async (request) => {
      const { createWorkerDecoder } = await import('./pkg/worker.js');
      const url = new URL('models/demo/', document.baseURI).href;
      const statuses = [];
      const decoder = await createWorkerDecoder(url, { backend: 'cpu', onProgress: (p) => statuses.push(p.status) });
      const bytes = new Uint8Array(await (await fetch('samples/sub-01-test-fmri.npy')).arrayBuffer());
      const fmri = await decoder.readFmri(bytes, 'sub-01-test-fmri.npy', {});
      const labels = await (await fetch('samples/novel-categories.json')).json();
      const ranked = await decoder.decodeCategories(fmri, labels, { topK: 3 });
      const steps = [];
      const result = await decoder.reconstruct(fmri, { ...request, onStep: (step, total) => steps.push([step, total]) });
      const info = await decoder.info();
      const caught = (promise) => promise.then(() => null, (err) => ({ code: err.code, message: err.message }));

      // An abort reaches the worker: the call rejects at once and the worker stops the work.
      const controller = new AbortController();
      let abortedAt = 0;
      const aborted = await caught(decoder.reconstruct(fmri, {
        steps: 4,
        signal: controller.signal,
        onStep: (step) => { if (step === 1) { abortedAt = performance.now(); controller.abort(); } },
      }));
      const abortMs = performance.now() - abortedAt;
      // The decoder is still there, and decodes as before.
      const again = await decoder.decodeCategories(fmri, labels, { topK: 3 });

      // A disposed handle, then a terminated worker.
      await fmri.dispose();
      const disposed = await caught(decoder.decodeCategories(fmri, labels, {}));
      decoder.terminate();
      const terminated = await caught(decoder.info());
      return {
        ranked, again, steps, statuses, info, aborted, abortMs, disposed, terminated,
        trials: fmri.trials, voxels: fmri.voxels, fileName: fmri.source.fileName,
        images: result.images.map((image) => Array.from(image)),
        transferred: result.images[0] instanceof Uint8ClampedArray,
      };
    }, REQUEST);

    assert.deepEqual(actual.ranked, expected.ranked, 'the same ranking');
    assert.deepEqual(actual.again, expected.ranked, 'the same ranking after an abort');
    assert.deepEqual(actual.steps, expected.steps, 'every step called back in the page');
    assert.equal(actual.images.length, REQUEST.trials.length);
    actual.images.forEach((image, i) => assert.ok(
      image.length === expected.images[i].length && image.every((v, j) => v === expected.images[i][j]),
      `reconstruction ${i} is bit for bit the in-page one`));
    assert.equal(actual.transferred, true);
    assert.equal(actual.statuses[0], 'initiate');
    assert.equal(actual.statuses.at(-1), 'ready');
    assert.equal(actual.info.backend, 'cpu');
    assert.equal(actual.info.hasImageDecoder, true);
    assert.deepEqual([actual.trials, actual.fileName], [50, 'sub-01-test-fmri.npy']);
    assert.ok(actual.voxels > 0);
    assert.equal(actual.aborted?.code, 'aborted', JSON.stringify(actual.aborted));
    assert.ok(actual.abortMs < 1000, `rejected ${actual.abortMs} ms after abort()`);
    assert.equal(actual.disposed?.code, 'disposed');
    assert.equal(actual.terminated?.code, 'worker_failed');
    assert.deepEqual([...inPage.errors, ...inWorker.errors], []);
  } finally {
    await browser.close();
  }
});
