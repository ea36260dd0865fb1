// A WebGPU device lost in the middle of a call (a driver reset, the GPU process ending, the
// system reclaiming a background tab's GPU) must not leave the page with an error or a
// garbage answer: the worker is replaced by one on the CPU, which says so (`fallback`,
// `build`, `noWebGpu`), and the call in flight completes there with exactly the answers a CPU
// worker gives. The device is destroyed for real, from the page, between two steps of a
// reconstruction; the worker script that lets the test reach it (fixtures/lose-device-*.js)
// is the test's own.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serveSite, launch, openBlank, serveFixtures } from './browser.mjs';

let site;
before(async () => { site = await serveSite(); });
after(() => site.server.close());

test('a device lost mid-call: the worker goes on on the CPU and the call completes with the CPU answers', async () => {
  const browser = await launch({ webgpu: true });
  try {
    const { page, errors } = await openBlank(browser, site);
    await serveFixtures(page, site, ['lose-device-worker.js', 'lose-device-patch.js']);
    const outcome = await page.evaluate(async () => {
      const { createWorkerDecoder } = await import('./pkg/worker.js');
      const url = new URL('models/demo/', document.baseURI).href;
      const bytes = new Uint8Array(await (await fetch('samples/sub-01-test-fmri.npy')).arrayBuffer());
      const labels = await (await fetch('samples/test-labels.json')).json();
      const candidates = [...new Set(labels)];
      const request = { trials: [0, 1], steps: 4, seed: 7 };
      const scripts = [];
      let first = null;
      const worker = () => {
        const script = scripts.length === 0 ? 'lose-device-worker.js' : 'pkg/worker-host.js';
        scripts.push(script);
        const made = new Worker(new URL(script, document.baseURI), { type: 'module' });
        first ??= made;
        return made;
      };
      const fallbacks = [];
      const decoder = await createWorkerDecoder(url, { worker, onFallback: (f) => fallbacks.push(f) });
      const startedOn = { build: decoder.brainclip.build, noWebGpu: decoder.brainclip.noWebGpu };
      const fmri = await decoder.readFmri(bytes, 'sub-01-test-fmri.npy');
      const steps = [];
      const result = await decoder.reconstruct(fmri, {
        ...request,
        onStep: (step) => {
          steps.push(step);
          if (steps.length === 1) first.postMessage({ loseDevice: true });
        },
      });
      const decoded = await decoder.decodeCategories(fmri, candidates, { topK: 3 });
      const endedOn = {
        build: decoder.brainclip.build,
        noWebGpu: decoder.brainclip.noWebGpu,
        fallback: decoder.brainclip.fallback,
        restarts: decoder.brainclip.restarts,
      };

      const cpu = await createWorkerDecoder(url, { backend: 'cpu' });
      const cpuFmri = await cpu.readFmri(bytes, 'sub-01-test-fmri.npy');
      const expected = await cpu.reconstruct(cpuFmri, request);
      const expectedDecoded = await cpu.decodeCategories(cpuFmri, candidates, { topK: 3 });
      const cpuBuild = cpu.brainclip.build;
      decoder.terminate();
      cpu.terminate();
      return {
        startedOn, endedOn, fallbacks, steps, scripts, cpuBuild, decoded, expectedDecoded,
        images: result.images.map((image) => Array.from(image)),
        expected: expected.images.map((image) => Array.from(image)),
      };
    });
    assert.equal(outcome.startedOn.build, 'brainclip', 'the run starts on the WebGPU build');
    assert.equal(outcome.startedOn.noWebGpu, null);
    assert.deepEqual(outcome.scripts, ['lose-device-worker.js', 'pkg/worker-host.js'], 'one fresh worker after the loss');
    assert.equal(outcome.fallbacks.length, 1, 'onFallback is heard once');
    assert.equal(outcome.fallbacks[0].backend, 'cpu');
    assert.match(outcome.fallbacks[0].reason, /WebGPU device was lost \(destroyed/);
    assert.deepEqual(outcome.endedOn.fallback, outcome.fallbacks[0]);
    assert.equal(outcome.endedOn.build, outcome.cpuBuild, 'the fresh worker runs the CPU build');
    assert.equal(outcome.endedOn.noWebGpu, outcome.fallbacks[0].reason);
    assert.equal(outcome.endedOn.restarts, 1);
    assert.ok(outcome.steps.length > 4, `the reconstruction ran again from its first step (steps seen: ${outcome.steps})`);
    assert.equal(outcome.images.length, 2);
    assert.deepEqual(outcome.images, outcome.expected, 'the interrupted call completes with the CPU answers');
    assert.deepEqual(outcome.decoded, outcome.expectedDecoded, 'later calls run on the CPU too');
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
