// A WebAssembly trap in the worker (what a Rust panic becomes) must not leave the page calling
// a broken module: the call that trapped rejects with code "internal_error" naming it, and the
// next call runs in a fresh worker holding the same bundle and recording, with the answers a
// worker that never trapped gives. The trap is a real one inside brainclip's module, built
// into the test's own worker script (fixtures/trap-patch.js) and nowhere else.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serveSite, launch, openBlank, serveFixtures } from './browser.mjs';

let site;
before(async () => { site = await serveSite(); });
after(() => site.server.close());

test('a trap rejects its call with internal_error and the next call runs in a fresh worker', async () => {
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors } = await openBlank(browser, site);
    await serveFixtures(page, site, ['trap-worker.js', 'trap-patch.js']);
    const outcome = await page.evaluate(async () => {
      const { createWorkerDecoder } = await import('./pkg/worker.js');
      const url = new URL('models/demo/', document.baseURI).href;
      const bytes = new Uint8Array(await (await fetch('samples/sub-01-test-fmri.npy')).arrayBuffer());
      const labels = await (await fetch('samples/test-labels.json')).json();
      const candidates = [...new Set(labels)];
      const scripts = [];
      const worker = () => {
        const script = scripts.length === 0 ? 'trap-worker.js' : 'pkg/worker-host.js';
        scripts.push(script);
        return new Worker(new URL(script, document.baseURI), { type: 'module' });
      };
      const decoder = await createWorkerDecoder(url, { backend: 'cpu', worker });
      const fmri = await decoder.readFmri(bytes, 'sub-01-test-fmri.npy');
      let trapped = null;
      try {
        await decoder.decodeCategories(fmri, candidates, { topK: 3 });
      } catch (err) {
        trapped = { code: err.code, name: err.name, message: err.message };
      }
      const after = await decoder.decodeCategories(fmri, candidates, { topK: 3 });
      const info = await decoder.info();
      const restarts = decoder.brainclip.restarts;

      const plain = await createWorkerDecoder(url, { backend: 'cpu' });
      const plainFmri = await plain.readFmri(bytes, 'sub-01-test-fmri.npy');
      const expected = await plain.decodeCategories(plainFmri, candidates, { topK: 3 });
      const plainVoxels = (await plain.info()).voxels;
      decoder.terminate();
      plain.terminate();
      return { trapped, after, expected, restarts, scripts, voxels: info.voxels, plainVoxels };
    });
    assert.ok(outcome.trapped, 'the trapping call must reject');
    assert.equal(outcome.trapped.code, 'internal_error', JSON.stringify(outcome.trapped));
    assert.equal(outcome.trapped.name, 'BrainClipError');
    assert.match(outcome.trapped.message, /decodeCategories failed inside brainclip/);
    assert.deepEqual(outcome.scripts, ['trap-worker.js', 'pkg/worker-host.js'], 'one fresh worker after the trap');
    assert.equal(outcome.restarts, 1);
    assert.equal(outcome.voxels, outcome.plainVoxels, 'the fresh worker holds the same bundle');
    assert.deepEqual(outcome.after, outcome.expected, 'the fresh worker decodes as one that never trapped');
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
