// The demo as a user meets it: the embedded (simulated) bundle loads, the sample recording
// is decoded zero-shot and its images identified, and the page's evaluation — computed by
// the library in the page — is the object `brainclip eval --json` wrote for the bundle
// (www/models/demo/eval.json): exactly on the CPU backend, within rounding on WebGPU. A
// recording of the wrong size gets a typed error, and no request leaves the page's origin
// (with a positive control showing that a worker's request elsewhere would be seen).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { serveSite, launch, openPage, assertNothingLeft, assertWorkerRequestsAreSeen } from './browser.mjs';

const FIXTURES = new URL('../fixtures/fmri/', import.meta.url).pathname;
const NATIVE = JSON.parse(readFileSync(new URL('../../www/models/demo/eval.json', import.meta.url)));
// Similarities closer than this can be ordered differently by another backend's rounding
// (SwiftShader's WebGPU sums in another order than the CPU; the margins measured so far
// differ from the native ones by under 1e-6, printed as a diagnostic).
const TIE_TOLERANCE = 1e-4;
// The CPU backend in wasm runs the same code as natively, but with wasm SIMD kernels instead
// of x86 ones: similarities then differ in the 7th digit, so decisions and metrics are equal
// and margins agree to this.
const CPU_MARGIN_TOLERANCE = 1e-5;
let site;
before(async () => { site = await serveSite(); });
after(() => site.server.close());

/** Largest difference between the page's and the native per-trial margins. */
function marginGap(page, native) {
  return Math.max(...['categoryMargin', 'imageMargin'].flatMap((k) => page.perTrial[k]
    .map((m, t) => Math.abs(m - native.perTrial[k][t]))));
}

/** The CPU backend: the same metric objects, the same per-trial decisions, margins equal to
 * within the last digits of f32. */
function assertEqualsNative(page, native) {
  const { categoryMargin, imageMargin, ...ranks } = page.perTrial;
  const { categoryMargin: m1, imageMargin: m2, ...nativeRanks } = native.perTrial;
  assert.deepEqual({ ...page, perTrial: ranks }, { ...native, perTrial: nativeRanks });
  assert.ok(marginGap(page, native) < CPU_MARGIN_TOLERANCE, `margins differ by ${marginGap(page, native)}`);
}

/** WebGPU sums in another order than the CPU: every decision must match the native one
 * unless the native margin says it was a near-tie, and every value must be close. */
function assertAgreesWithinRounding(page, native) {
  for (const [ranks, margins] of [['categoryRank', 'categoryMargin'], ['imageRank', 'imageMargin']]) {
    page.perTrial[ranks].forEach((rank, t) => {
      const nativeRank = native.perTrial[ranks][t];
      if ((rank === 0) !== (nativeRank === 0)) {
        assert.ok(Math.abs(native.perTrial[margins][t]) < TIE_TOLERANCE,
          `trial ${t}: ${ranks} ${rank} vs native ${nativeRank}, native margin ${native.perTrial[margins][t]}`);
      }
    });
    page.perTrial[margins].forEach((m, t) => {
      assert.ok(Math.abs(m - native.perTrial[margins][t]) < TIE_TOLERANCE,
        `${margins}[${t}]: ${m} vs native ${native.perTrial[margins][t]}`);
    });
  }
  assert.deepEqual(page.metrics.map((m) => m.id), native.metrics.map((m) => m.id));
  page.metrics.forEach((m, i) => {
    const n = native.metrics[i];
    const slack = 1 / n.trials + 1e-9;
    assert.ok(Math.abs(m.value - n.value) <= slack, `${m.id}: ${m.value} vs ${n.value}`);
    for (const [name, value] of Object.entries(n.controls ?? {})) {
      assert.ok(Math.abs(m.controls[name] - value) <= slack, `${m.id} ${name}: ${m.controls[name]} vs ${value}`);
    }
  });
}

for (const webgpu of [false, true]) {
  test(`the page's evaluation of the sample is brainclip eval's (${webgpu ? 'WebGPU' : 'CPU'})`, async (t) => {
    const browser = await launch({ webgpu });
    try {
      const { page, errors, requests } = await openPage(browser, site.url);
      await page.waitForSelector('body[data-model="ready"]', { timeout: 300_000 });
      await assertWorkerRequestsAreSeen(assert, page, requests);
      assert.equal(await page.getAttribute('body', 'data-backend'), webgpu ? 'webgpu' : 'cpu');
      assert.equal(await page.isVisible('#simulated-notice'), true, 'the demo says its subjects are simulated');
      assert.match(await page.textContent('#bundle-voxels'), /4,466 voxels/);
      // The bundle ships its test categories; the page offers them as candidates.
      assert.equal((await page.inputValue('#labels')).split('\n').length, 50);

      await page.click('#use-sample');
      await page.waitForSelector('#fmri-summary:not([hidden])');
      assert.equal(await page.textContent('#fmri-trials'), '50');

      await page.click('#decode-button');
      await page.waitForSelector('body[data-decoded="true"]', { timeout: 300_000 });
      assert.equal(await page.locator('#decode-results tbody tr').count(), 50);
      // Each headline is shown beside chance and its controls.
      const header = await page.textContent('#decode-metrics thead');
      for (const column of ['value', 'chance', 'shuffled labels', 'ridge', 'colour only', 'shape only']) {
        assert.ok(header.includes(column), `${column} in ${header}`);
      }
      t.diagnostic(`decoding: ${await page.textContent('#decode-metrics tbody')}`);

      await page.click('#identify-button');
      await page.waitForSelector('body[data-evaluated="true"]', { timeout: 300_000 });
      assert.equal(await page.locator('#identify-results tbody tr').count(), 50);
      // The trials × candidates matrix: 50 × 50 cells, the seen image of each trial outlined,
      // and a cell's readout is that pair's similarity.
      assert.equal(await page.isVisible('#matrix-canvas'), true);
      const size = await page.$eval('#matrix-canvas', (c) => [c.width, c.height]);
      assert.equal(size[0], size[1]);
      assert.equal(size[0] % 50, 0);
      const box = await page.locator('#matrix-canvas').boundingBox();
      await page.locator('#matrix-canvas').hover({ position: { x: box.width * 6.5 / 50, y: box.height * 6.5 / 50 } });
      assert.match(await page.textContent('#matrix-hover'), /^trial 7 × [^:]+\.png: similarity -?[0-9]\.[0-9]{3} \(the seen image\)$/);
      await page.locator('#matrix-canvas').hover({ position: { x: box.width * 9.5 / 50, y: box.height * 6.5 / 50 } });
      assert.match(await page.textContent('#matrix-hover'), /^trial 7 × [^:]+\.png: similarity -?[0-9]\.[0-9]{3}$/);
      const evaluation = JSON.parse(await page.textContent('#evaluation-json'));
      // A row's brightest cell is its best match: on the diagonal exactly for the trials the
      // library ranks the seen image first.
      const brightestOnDiagonal = await page.$eval('#matrix-canvas', (canvas) => {
        const cell = canvas.width / 50;
        const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
        const blue = (t, c) => data[(Math.floor((t + 0.5) * cell) * canvas.width + Math.floor((c + 0.5) * cell)) * 4 + 2];
        return Array.from({ length: 50 }, (_, t) => Array.from({ length: 50 }, (_, c) => blue(t, c))
          .every((v, c) => c === t || v < blue(t, t)));
      });
      assert.deepEqual(brightestOnDiagonal, evaluation.perTrial.imageRank.map((rank) => rank === 0));
      t.diagnostic(`identification: ${await page.textContent('#identify-metrics tbody')}`);
      t.diagnostic(`largest margin difference from brainclip eval: ${marginGap(evaluation, NATIVE).toExponential(2)}`);
      if (webgpu) assertAgreesWithinRounding(evaluation, NATIVE);
      else assertEqualsNative(evaluation, NATIVE);

      // Run again (on one backend; caching is the page's): the labels' and images' embeddings
      // are reused, and nothing moves.
      if (!webgpu) {
        const statusSays = (id, pattern) => page.waitForFunction(
          ([id, source]) => new RegExp(source).test(document.getElementById(id).textContent),
          [id, pattern.source], { timeout: 300_000 });
        await page.click('#decode-button');
        await statusSays('decode-status', /^done in [0-9.]+ s \(the labels' embeddings reused\)$/);
        await page.click('#identify-button');
        await statusSays('identify-status', /^done in [0-9.]+ s \(the images' embeddings reused\)$/);
        assert.deepEqual(JSON.parse(await page.textContent('#evaluation-json')), evaluation);
      }

      assertNothingLeft(assert, requests, site.url);
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  });
}

test('fMRI with the wrong voxel count gets an error naming both counts', async () => {
  const browser = await launch({ webgpu: false });
  try {
    const { page } = await openPage(browser, site.url);
    await page.waitForSelector('body[data-model="ready"]', { timeout: 300_000 });
    await page.setInputFiles('#fmri-file', `${FIXTURES}float32_le_C_v1.npy`);
    await page.waitForSelector('#fmri-summary:not([hidden])');
    await page.fill('#labels', 'red star\nblue ring');
    await page.click('#decode-button');
    await page.waitForSelector('#decode-error:not([hidden])');
    assert.equal(await page.getAttribute('#decode-error', 'data-code'), 'voxel_count_mismatch');
    const voxels = await page.textContent('#fmri-voxels');
    const message = await page.textContent('#decode-error');
    assert.ok(message.includes(voxels) && message.includes('4,466'), message);
  } finally {
    await browser.close();
  }
});
