// The threaded CPU build: the worker runs it on a cross-origin isolated page when more than
// one thread is wanted, and it decodes as the single-threaded build does; elsewhere the worker
// falls back to the single-threaded build and says why.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serveSite, launch, openBlank } from './browser.mjs';

let site;
before(async () => { site = await serveSite(); });
after(() => site.server.close());

/** Decodes the demo's sub-01 test trials in a worker started with `threads`; embeds two images. */
async function decodeInWorker(page, threads) {
  return page.evaluate(async (threads) => {
    const { createWorkerDecoder } = await import('./pkg/worker.js');
    const url = new URL('models/demo/', document.baseURI).href;
    const decoder = await createWorkerDecoder(url, { backend: 'cpu', threads, cache: false });
    const { build, threads: running, noThreads } = decoder.brainclip;
    const bytes = new Uint8Array(await (await fetch('samples/sub-01-test-fmri.npy')).arrayBuffer());
    const fmri = await decoder.readFmri(bytes, 'sub-01-test-fmri.npy', {});
    const labels = await (await fetch('samples/novel-categories.json')).json();
    const ranked = await decoder.decodeCategories(fmri, labels, { topK: 3 });
    const images = await Promise.all(['test-blue-ellipse-0.png', 'test-blue-frame-0.png']
      .map(async (name) => new Uint8Array(await (await fetch(`samples/stimuli/${name}`)).arrayBuffer())));
    const embedded = Array.from(await decoder.embedImages(images, ['ellipse.png', 'frame.png']));
    decoder.terminate();
    return { build, running, noThreads, ranked, embedded, isolated: self.crossOriginIsolated };
  }, threads);
}

test('the threaded build decodes as the single-threaded one on an isolated page; elsewhere the worker says why not', async () => {
  const browser = await launch({ webgpu: false });
  try {
    const isolated = await openBlank(browser, site, { isolate: true });
    const single = await decodeInWorker(isolated.page, 1);
    const threaded = await decodeInWorker(isolated.page, 2);
    assert.equal(threaded.isolated, true, 'the page is cross-origin isolated');
    assert.equal(single.build, 'brainclip_cpu');
    assert.match(single.noThreads, /1 thread was asked for/);
    assert.equal(threaded.build, 'brainclip_threads', `threaded build not used: ${threaded.noThreads}`);
    assert.equal(threaded.running, 2);
    assert.equal(threaded.noThreads, null);
    assert.deepEqual(threaded.ranked, single.ranked, 'the same ranking');
    // Parallel matrix products sum in another order: equal up to float rounding.
    assert.equal(threaded.embedded.length, single.embedded.length);
    const worst = Math.max(...threaded.embedded.map((v, i) => Math.abs(v - single.embedded[i])));
    assert.ok(worst < 1e-5, `image embeddings differ by up to ${worst}`);
    assert.deepEqual(isolated.errors, []);

    // A thread count that is not one is refused by name.
    const refused = await isolated.page.evaluate(async () => {
      const { createWorker } = await import('./pkg/worker.js');
      return createWorker({ backend: 'cpu', threads: 1.5 }).then(() => null, (err) => ({ code: err.code, message: err.message }));
    });
    assert.equal(refused?.code, 'invalid_config');
    assert.match(refused.message, /threads is 1.5; expected a whole number/);

    const plain = await openBlank(browser, site);
    const fallback = await decodeInWorker(plain.page, 2);
    assert.equal(fallback.isolated, false);
    assert.equal(fallback.build, 'brainclip_cpu');
    assert.match(fallback.noThreads, /not cross-origin isolated/);
    assert.deepEqual(fallback.ranked, single.ranked);
  } finally {
    await browser.close();
  }
});
