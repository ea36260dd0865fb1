// decoder.reconstruct through the npm package, in the browser on the CPU backend: a bundle
// with an image decoder (toy models trained at test time by the native CLI that `make test`
// has just built) reconstructs trials of the sample recording with an onStep preview after
// every step, the last preview is the result, the same seed gives the same pixels, and a
// bundle without a decoder answers with a typed error. Nothing leaves the page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../../tools/serve.mjs';
import { launch, openPage, openWithSample, assertNothingLeft, serveSite } from './browser.mjs';

const ROOT = new URL('../../', import.meta.url).pathname;
const BIN = join(process.env.CARGO_TARGET_DIR ?? join(ROOT, 'target'), 'debug', 'brainclip');

// The page's script is a file of its own: the server's Content-Security-Policy allows no
// inline script.
const PAGE = '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><script type="module" src="page.js"></script>';
const SCRIPT = `import init, { readFmri, loadBundle, loadDecoder } from '/pkg/brainclip.js';
window.reconstructIn = async (bundleUrl) => {
  await init();
  const decoder = await loadDecoder(await loadBundle(bundleUrl), 'cpu');
  const bytes = new Uint8Array(await (await fetch('/sub-01-test-fmri.npy')).arrayBuffer());
  const fmri = await readFmri(bytes, 'sub-01-test-fmri.npy', {});
  const previews = [];
  try {
    const result = await decoder.reconstruct(fmri, {
      trials: [0, 5], steps: 3, seed: 2,
      onStep: (step, steps, images) => previews.push({ step, steps, images: images.map((i) => Array.from(i)) }),
    });
    const again = await decoder.reconstruct(fmri, { trials: [0, 5], steps: 3, seed: 2 });
    const images = result.images.map((i) => Array.from(i));
    return {
      info: decoder.info(), trials: result.trials, size: result.size, steps: result.steps,
      lengths: images.map((i) => i.length), isClamped: result.images[0] instanceof Uint8ClampedArray,
      previewSteps: previews.map((p) => [p.step, p.steps, p.images.length]),
      lastPreviewIsResult: JSON.stringify(previews.at(-1).images) === JSON.stringify(images),
      sameSeedSamePixels: JSON.stringify(again.images.map((i) => Array.from(i))) === JSON.stringify(images),
    };
  } catch (err) {
    return { error: { code: err.code, message: err.message } };
  }
};
window.ready = true;
`;

/** Drops the demo's own decoder and its other subjects from a copy of its bundle (manifest
 * and weights): subject 1's one-subject bundle without an image decoder. */
function withoutDecoder(bundle) {
  const path = join(bundle, 'manifest.json');
  const manifest = JSON.parse(readFileSync(path, 'utf8'));
  for (const subject of Object.keys(manifest.subjects ?? {})) rmSync(join(bundle, subject), { recursive: true });
  delete manifest.subjects;
  for (const [name, component] of Object.entries(manifest.components)) {
    if (['autoencoder', 'denoiser', 'low_level'].includes(component.kind)) {
      rmSync(join(bundle, component.weights));
      delete manifest.components[name];
    }
  }
  writeFileSync(path, JSON.stringify(manifest, null, 2));
}

let site;
let dir;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'brainclip-e2e-reconstruct-'));
  const run = (...args) => execFileSync(BIN, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  const config = join(dir, 'ae-config.json');
  writeFileSync(config, JSON.stringify({
    encoder_block_out_channels: [4, 4, 4, 4], decoder_block_out_channels: [4, 4, 4, 4],
    num_encoder_blocks: [1, 1, 1, 1], num_decoder_blocks: [1, 1, 1, 1],
  }));
  const ae = join(dir, 'ae');
  const denoiser = join(dir, 'denoiser');
  run('train-autoencoder', '--out', ae, '--config', config, '--epochs', '1',
    '--images-per-epoch', '8', '--batch-size', '4', '--validation-images', '4');
  run('train-denoiser', '--out', denoiser, '--autoencoder', ae, '--clip', 'www/models/demo',
    '--images', '16', '--epochs', '1', '--batch-size', '8', '--hidden-size', '16', '--depth', '1',
    '--steps', '4', '--guidance', '2');
  const root = join(dir, 'site');
  mkdirSync(root);
  for (const name of ['with-decoder', 'without-decoder']) {
    cpSync(join(ROOT, 'www/models/demo'), join(root, name), { recursive: true });
    withoutDecoder(join(root, name));
  }
  run('add-decoder', '--bundle', join(root, 'with-decoder'), '--autoencoder', ae, '--denoiser', denoiser);
  cpSync(join(ROOT, 'www/samples/sub-01-test-fmri.npy'), join(root, 'sub-01-test-fmri.npy'));
  writeFileSync(join(root, 'index.html'), PAGE);
  writeFileSync(join(root, 'page.js'), SCRIPT);
  site = await startServer({ port: 0, root, pkg: join(ROOT, 'pkg') });
});
after(() => {
  site?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('decoder.reconstruct draws with a preview per step, reproducibly, in the page', async () => {
  const url = `http://127.0.0.1:${site.address().port}/`;
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors, requests } = await openPage(browser, url);
    await page.waitForFunction(() => window.ready === true);
    const out = await page.evaluate(() => window.reconstructIn('/with-decoder/'));
    assert.equal(out.error, undefined, JSON.stringify(out.error));
    assert.equal(out.info.hasImageDecoder, true);
    assert.deepEqual(out.info.schedule, { kind: 'rectified_flow', steps: [4], guidance: 2 });
    assert.deepEqual(out.trials, [0, 5]);
    assert.equal(out.steps, 3);
    assert.equal(out.size, 64);
    assert.deepEqual(out.lengths, [64 * 64 * 4, 64 * 64 * 4]);
    assert.ok(out.isClamped, 'images are Uint8ClampedArrays, ready for ImageData');
    assert.deepEqual(out.previewSteps, [[1, 3, 2], [2, 3, 2], [3, 3, 2]]);
    assert.ok(out.lastPreviewIsResult, 'the last preview is the result');
    assert.ok(out.sameSeedSamePixels, 'the same seed draws the same pixels');

    const missing = await page.evaluate(() => window.reconstructIn('/without-decoder/'));
    assert.equal(missing.error?.code, 'invalid_config');
    assert.match(missing.error.message, /no image decoder/);
    assert.deepEqual(errors, []);
    assertNothingLeft(assert, requests, url);
  } finally {
    await browser.close();
  }
});

// The demo page as a visitor uses it: the shipped bundle's decoder reconstructs trials of
// the sample recording, every canvas showing the last step's image and the low-level image
// beside it; a trial outside the recording is refused by name. Nothing leaves the page.
test('the demo page reconstructs the sample recording step by step', async () => {
  const demo = await serveSite();
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors, requests } = await openWithSample(browser, demo.url);
    await page.fill('#reconstruct-trials', '0-3');
    await page.click('#reconstruct-button');
    assert.match(await page.textContent('#reconstruct-error'), /trials 0-3: this recording has trials 1 to 50/);

    // The start the shipped head names (chosen on the development split) is preselected.
    const manifest = JSON.parse(readFileSync(join(ROOT, 'site/models/demo/manifest.json'), 'utf8'));
    const head = Object.values(manifest.components).find((c) => c.kind === 'low_level');
    assert.equal(Number(await page.inputValue('#reconstruct-strength')), head.config.strength ?? 1);

    await page.fill('#reconstruct-trials', '1-3, 10');
    const steps = Number(await page.inputValue('#reconstruct-steps'));
    await page.click('#reconstruct-button');
    await page.waitForSelector('body[data-reconstructed="true"]', { timeout: 300_000 });
    const drawn = await page.evaluate(() => [...document.querySelectorAll('#reconstruct-grid canvas')]
      .map((canvas) => {
        const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
        const values = Array.from(data).filter((_, i) => i % 4 !== 3);
        const mean = values.reduce((a, b) => a + b, 0) / values.length;
        return {
          label: canvas.getAttribute('aria-label'),
          step: canvas.dataset.step ?? null,
          opaque: Array.from(data).filter((_, i) => i % 4 === 3).every((a) => a === 255),
          spread: Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length),
        };
      }));
    const status = await page.textContent('#reconstruct-status');
    console.log(`demo page, browser CPU: ${status}`);
    const labels = drawn.map((d) => d.label);
    assert.deepEqual(labels, [1, 2, 3, 10].flatMap((t) => [
      `low-level reconstruction of trial ${t}`, `reconstruction of trial ${t}`,
    ]));
    for (const d of drawn) {
      assert.ok(d.opaque, `${d.label}: every pixel drawn`);
      assert.ok(d.spread > 5, `${d.label}: an image, not a flat fill (spread ${d.spread})`);
      if (!d.label.startsWith('low-level')) assert.equal(d.step, String(steps), `${d.label}: the last step`);
    }
    assert.match(status, new RegExp(`^done: 4 trials, ${steps} steps, seed 0, in [0-9.]+ s on cpu$`));
    const timing = await page.textContent('#reconstruct-timing');
    console.log(`demo page, ${timing}`);
    assert.equal(timing.match(/[0-9]+: [0-9]+ ms/g)?.length, steps, timing);

    // What the page drew is the library's output for the same request, exactly (CPU): the
    // npm package run in the page beside the worker, on the same bundle and recording.
    const strength = Number(await page.inputValue('#reconstruct-strength'));
    const largestDifference = await page.evaluate(async ({ trials, steps, strength }) => {
      const { default: init, readFmri, loadBundle, loadDecoder } = await import('./pkg/brainclip.js');
      await init();
      const decoder = await loadDecoder(await loadBundle(new URL('models/demo/', document.baseURI).href), 'cpu');
      const bytes = new Uint8Array(await (await fetch('samples/sub-01-test-fmri.npy')).arrayBuffer());
      const fmri = await readFmri(bytes, 'sub-01-test-fmri.npy', {});
      const sampled = await decoder.reconstruct(fmri, { trials, steps, seed: 0, strength });
      const blurry = await decoder.reconstructLowLevel(fmri, { trials });
      const drawn = (label) => [...document.querySelectorAll('#reconstruct-grid canvas')]
        .filter((c) => c.getAttribute('aria-label').startsWith(label))
        .map((c) => c.getContext('2d').getImageData(0, 0, c.width, c.height).data);
      const largest = (a, b) => a.reduce((m, images, i) => Math.max(m, ...images.map((v, k) => Math.abs(v - b[i][k]))), 0);
      return {
        reconstruction: largest(drawn('reconstruction'), sampled.images),
        lowLevel: largest(drawn('low-level'), blurry.images),
      };
    }, { trials: [0, 1, 2, 9], steps, strength });
    assert.deepEqual(largestDifference, { reconstruction: 0, lowLevel: 0 });
    assert.deepEqual(errors, []);
    assertNothingLeft(assert, requests, demo.url);
  } finally {
    await browser.close();
    demo.server.close();
  }
});

// Cancel ends a long run at once (the page's AbortSignal; the worker drops the run at its
// next step) and the page keeps working with the model and recording it had: nothing is
// loaded again.
test('Cancel stops a long reconstruction within a second and the page still works', async () => {
  const demo = await serveSite();
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors, requests } = await openWithSample(browser, demo.url);
    await page.fill('#reconstruct-trials', '1-50');
    await page.click('#reconstruct-button');
    await page.waitForSelector('#reconstruct-grid canvas[data-step="1"]', { timeout: 120_000 });
    assert.equal(await page.isVisible('#reconstruct-cancel'), true);
    const manifests = () => requests.filter((r) => r.url.endsWith('manifest.json')).length;
    const manifestsBefore = manifests();
    const started = Date.now();
    await page.click('#reconstruct-cancel');
    await page.waitForFunction(() => document.getElementById('reconstruct-status').textContent === 'cancelled');
    const seconds = (Date.now() - started) / 1000;
    console.log(`cancelled a 50-trial reconstruction in ${seconds.toFixed(2)} s`);
    assert.ok(seconds < 1, `cancelled in ${seconds} s`);
    assert.equal(await page.isVisible('#reconstruct-cancel'), false);
    assert.equal(await page.getAttribute('body', 'data-reconstructed'), null, 'the cancelled run never finished');
    assert.equal(await page.isVisible('#reconstruct-error'), false);

    // A second run started while the worker still winds the first down, cancelled at once, is
    // no failure either.
    await page.click('#reconstruct-button');
    await page.click('#reconstruct-cancel');
    await page.waitForFunction(() => document.getElementById('reconstruct-status').textContent === 'cancelled');
    assert.equal(await page.isVisible('#device-error'), false);

    await page.fill('#reconstruct-trials', '1-2');
    await page.click('#reconstruct-button');
    await page.waitForSelector('body[data-reconstructed="true"]', { timeout: 300_000 });
    assert.match(await page.textContent('#reconstruct-status'), /^done: 2 trials, 4 steps/);
    assert.equal(manifests(), manifestsBefore, 'no bundle was loaded again');
    assert.deepEqual(errors, []);
    assertNothingLeft(assert, requests, demo.url);
  } finally {
    await browser.close();
    demo.server.close();
  }
});

/** The first `rows` rows of a C-order float32 .npy, as a new .npy. */
function firstRows(npy, rows) {
  const headerLength = npy.readUInt16LE(8);
  const header = npy.subarray(10, 10 + headerLength).toString('latin1');
  const [, total, columns] = /'shape': \(([0-9]+), ([0-9]+),? ?\)/.exec(header).map(Number);
  assert.ok(rows <= total);
  let text = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${columns}), }`;
  text = text.padEnd(Math.ceil((10 + text.length + 1) / 64) * 64 - 10 - 1, ' ') + '\n';
  const head = Buffer.alloc(10);
  npy.copy(head, 0, 0, 8);
  head.writeUInt16LE(text.length, 8);
  return Buffer.concat([head, Buffer.from(text, 'latin1'),
    npy.subarray(10 + headerLength, 10 + headerLength + rows * columns * 4)]);
}

// The batch metrics under the reconstruction grid are `brainclip eval --reconstruct`'s for the
// same trials, settings and seed (the native CLI on the same 8 trials of the sample).
test('the demo page scores a batch of reconstructions as brainclip eval --reconstruct does (CPU)', async (t) => {
  const demo = await serveSite();
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors } = await openWithSample(browser, demo.url);
    await page.fill('#reconstruct-trials', '1-8');
    await page.click('#reconstruct-button');
    await page.waitForSelector('#reconstruct-metrics:not([hidden])', { timeout: 300_000 });
    const rows = await page.$$eval('#reconstruct-metrics tbody tr', (trs) => trs.map((tr) => ({
      id: tr.dataset.metric, value: Number(tr.dataset.value), text: tr.textContent,
    })));
    for (const row of rows) t.diagnostic(row.text);
    assert.deepEqual(rows.map((r) => r.id), ['pixcorr', 'ssim', 'clip_two_way', 'latent_two_way']);

    const work = mkdtempSync(join(tmpdir(), 'brainclip-e2e-metrics-'));
    try {
      const sample = readFileSync(join(ROOT, 'www/samples/sub-01-test-fmri.npy'));
      writeFileSync(join(work, 'fmri.npy'), firstRows(sample, 8));
      const json = (name) => JSON.parse(readFileSync(join(ROOT, 'www/samples', name), 'utf8'));
      writeFileSync(join(work, 'ids.json'), JSON.stringify(json('test-stimulus-ids.json').slice(0, 8)));
      writeFileSync(join(work, 'labels.json'), JSON.stringify(json('test-labels.json').slice(0, 8)));
      const native = JSON.parse(execFileSync(BIN, ['eval', '--bundle', 'www/models/demo',
        '--fmri', join(work, 'fmri.npy'), '--labels', join(work, 'labels.json'),
        '--reconstruct', '--stimuli', 'www/samples/stimuli', '--stimulus-ids', join(work, 'ids.json'),
        '--json'], { cwd: ROOT, encoding: 'utf8' })).reconstruction;
      for (const row of rows) {
        const theirs = native.find((m) => m.id === row.id);
        t.diagnostic(`${row.id}: page ${row.value}, brainclip eval ${theirs.value}`);
        // The wasm CPU kernels round in their last bits where the native ones do not (the
        // scores differ by about 3e-7); a 2-way near-tie may fall the other way (one pair of 56).
        const tolerance = row.id.endsWith('two_way') ? 1 / 56 + 1e-9 : 1e-4;
        assert.ok(Math.abs(row.value - theirs.value) <= tolerance, `${row.id}: ${row.value} vs ${theirs.value}`);
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    demo.server.close();
  }
});

