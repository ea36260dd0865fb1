// Every long call takes `{ signal }` and rejects with code "aborted" within a second of the
// abort, on the CPU backend too (whose work yields to the event loop between batches and
// sampler steps); the decoder stays usable and gives the same results afterwards.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serveSite, launch, openBlank } from './browser.mjs';

let site;
before(async () => { site = await serveSite(); });
after(() => site.server.close());

test('an AbortSignal cancels loading, decoding and reconstruction within a second (CPU)', async () => {
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors } = await openBlank(browser, site);
    const outcome = await page.evaluate(async () => {
      const brainclip = await import('./pkg/brainclip_cpu.js');
      await brainclip.default();
      const url = new URL('models/demo/', document.baseURI).href;
      const caught = async (promise) => {
        try {
          await promise;
          return null;
        } catch (err) {
          return { code: err.code, message: err.message };
        }
      };
      const out = {};

      // A load aborted while its files download.
      const loading = new AbortController();
      const load = caught(brainclip.loadBundle(url, (p) => {
        if (p.status === 'download') loading.abort();
      }, { cache: false, signal: loading.signal }));
      out.load = await load;

      const bundle = await brainclip.loadBundle(url, null, { cache: false });
      const decoder = await brainclip.loadDecoder(bundle, 'cpu');
      const sample = await (await fetch('samples/sub-01-test-fmri.npy')).arrayBuffer();
      const fmri = await brainclip.readFmri(new Uint8Array(sample), 'sub-01-test-fmri.npy');
      const labels = await (await fetch('samples/test-labels.json')).json();
      const candidates = [...new Set(labels)];
      const before = await decoder.decodeCategories(fmri, candidates, { topK: 3 });

      // An already aborted signal: nothing starts.
      out.preAborted = await caught(decoder.decodeCategories(fmri, candidates, { signal: AbortSignal.abort() }));

      // A long reconstruction (every trial, the most steps the bundle offers), aborted after
      // its first step.
      const steps = Math.max(...decoder.info().schedule.steps);
      const reconstructing = new AbortController();
      let abortedAt = 0;
      let stepsSeen = 0;
      const started = performance.now();
      out.reconstruct = await caught(decoder.reconstruct(fmri, {
        steps,
        signal: reconstructing.signal,
        onStep: () => {
          stepsSeen += 1;
          if (stepsSeen === 1) {
            // From a timer, as a page's Cancel button would: an event between steps.
            setTimeout(() => { abortedAt = performance.now(); reconstructing.abort(new Error('the visitor pressed Cancel')); }, 0);
          }
        },
      }));
      out.reconstructMs = performance.now() - abortedAt;
      out.stepsSeen = stepsSeen;
      out.steps = steps;
      out.untilFirstStep = abortedAt - started;

      // An evaluation aborted by a timer while it runs.
      const evaluating = new AbortController();
      setTimeout(() => evaluating.abort(), 5);
      const evalStarted = performance.now();
      out.evaluate = await caught(decoder.evaluate(fmri, { labels, signal: evaluating.signal }));
      out.evaluateMs = performance.now() - evalStarted;

      // A signal that is not one.
      out.badSignal = await caught(decoder.embedLabels(['cat'], { signal: 'stop' }));

      // The decoder is intact: the same ranking as before.
      const after = await decoder.decodeCategories(fmri, candidates, { topK: 3 });
      out.same = JSON.stringify(before) === JSON.stringify(after);
      return out;
    });
    console.log(`abort: reconstruction (${outcome.steps} steps, ${outcome.stepsSeen} done) rejected ` +
      `${outcome.reconstructMs.toFixed(0)} ms after abort(); first step after ${outcome.untilFirstStep.toFixed(0)} ms`);
    assert.equal(outcome.load?.code, 'aborted', JSON.stringify(outcome.load));
    assert.match(outcome.load.message, /loading the bundle at .*models\/demo/);
    assert.equal(outcome.preAborted?.code, 'aborted');
    assert.equal(outcome.reconstruct?.code, 'aborted', JSON.stringify(outcome.reconstruct));
    assert.match(outcome.reconstruct.message, /reconstruction was cancelled: the visitor pressed Cancel/);
    assert.ok(outcome.stepsSeen < outcome.steps, `${outcome.stepsSeen} of ${outcome.steps} steps ran`);
    assert.ok(outcome.reconstructMs < 1000, `rejected ${outcome.reconstructMs} ms after abort()`);
    // Either cancelled mid-way or (on a fast machine) finished before the timer: never an error.
    if (outcome.evaluate) assert.equal(outcome.evaluate.code, 'aborted');
    assert.equal(outcome.badSignal?.code, 'shape_mismatch');
    assert.match(outcome.badSignal.message, /signal: got string, expected an AbortSignal/);
    assert.equal(outcome.same, true, 'the decoder decodes as before');
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
