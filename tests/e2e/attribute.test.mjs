// Voxel attribution in the browser: the package's map equals `brainclip attribute`'s, adds up
// to the similarity's change, and the site draws it on the brain view.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveSite, launch, openBlank, openWithSample } from './browser.mjs';

const ROOT = new URL('../../', import.meta.url).pathname;
const BIN = join(process.env.CARGO_TARGET_DIR ?? join(ROOT, 'target'), 'debug', 'brainclip');

let site;
before(async () => { site = await serveSite(); });
after(() => site.server.close());

/** The float32 values of a 1-D little-endian .npy. */
function readNpy(path) {
  const bytes = readFileSync(path);
  const headerLength = bytes.readUInt16LE(8);
  const data = bytes.subarray(10 + headerLength);
  return new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
}

test('the page attributes a trial as brainclip attribute does, and the map adds up', async () => {
  const browser = await launch({ webgpu: false });
  const work = mkdtempSync(join(tmpdir(), 'brainclip-e2e-attribute-'));
  try {
    const { page, errors } = await openBlank(browser, site);
    const inPage = await page.evaluate(async () => {
      const brainclip = await import('./pkg/brainclip_cpu.js');
      await brainclip.default();
      const bundle = await brainclip.loadBundle(new URL('models/demo/', document.baseURI).href, null, { parts: 'decoding' });
      const decoder = await brainclip.loadDecoder(bundle, 'cpu');
      const bytes = new Uint8Array(await (await fetch('samples/sub-01-test-fmri.npy')).arrayBuffer());
      const fmri = await brainclip.readFmri(bytes, 'sub-01-test-fmri.npy', {});
      const started = performance.now();
      const map = await decoder.attribute(fmri, { trial: 3, label: 'red' });
      const milliseconds = performance.now() - started;
      const local = await decoder.attribute(fmri, { trial: 3, label: 'red', method: 'gradient-times-input' });
      const caught = (promise) => promise.then(() => null, (err) => ({ code: err.code, message: err.message }));
      const twoTargets = await caught(decoder.attribute(fmri, { trial: 3, label: 'red', labelEmbedding: new Float32Array(64) }));
      const badTrial = await caught(decoder.attribute(fmri, { trial: 50, label: 'red' }));
      return {
        values: Array.from(map.values), similarity: map.similarity, baseline: map.baselineSimilarity,
        gap: map.completenessGap, method: map.method, steps: map.steps, space: map.space,
        localMethod: local.method, localValues: Array.from(local.values), milliseconds,
        voxels: fmri.voxels, twoTargets, badTrial,
      };
    });
    assert.deepEqual(errors, []);
    assert.equal(inPage.values.length, inPage.voxels);
    assert.equal(inPage.method, 'integrated-gradients');
    assert.equal(inPage.steps, 32);
    assert.equal(inPage.space, 'text');
    assert.equal(inPage.localMethod, 'gradient-times-input');
    const change = inPage.similarity - inPage.baseline;
    assert.ok(Math.abs(inPage.gap) < 0.02 * Math.abs(change), `gap ${inPage.gap} against a change of ${change}`);
    assert.equal(inPage.twoTargets.code, 'invalid_config');
    assert.match(inPage.twoTargets.message, /exactly one of label, labelEmbedding and imageEmbedding/);
    assert.match(inPage.badTrial.message, /0 to 49/);

    const out = join(work, 'map.npy');
    const native = JSON.parse(execFileSync(BIN, ['attribute', '--bundle', 'www/models/demo',
      '--fmri', 'www/samples/sub-01-test-fmri.npy', '--trial', '3', '--label', 'red', '--out', out],
    { cwd: ROOT, encoding: 'utf8' }));
    const nativeValues = readNpy(out);
    assert.equal(nativeValues.length, inPage.values.length);
    const scale = Math.max(...nativeValues.map(Math.abs));
    const worst = Math.max(...inPage.values.map((v, i) => Math.abs(v - nativeValues[i])));
    assert.ok(worst < 1e-4 * scale, `page and CLI maps differ by up to ${worst} (largest value ${scale})`);
    assert.ok(Math.abs(native.similarity - inPage.similarity) < 1e-5);
    process.stdout.write(`# attribution of one trial (32 steps) in the page: ${inPage.milliseconds.toFixed(0)} ms\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
    await browser.close();
  }
});

test('the brain view shows which voxels drove a label', async () => {
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors } = await openWithSample(browser, site.url);
    await page.waitForSelector('body[data-brain="1"]', { timeout: 120_000 });
    await page.selectOption('#brain-show', 'attribution');
    await page.waitForSelector('body[data-brain-attribution]', { timeout: 60_000 });
    const shown = await page.evaluate(() => ({
      label: document.body.dataset.brainAttribution,
      caption: document.querySelector('#brain-caption').textContent,
      aria: document.querySelector('#brain-canvas').getAttribute('aria-label'),
    }));
    const truth = JSON.parse(readFileSync(join(ROOT, 'www/samples/test-labels.json'), 'utf8'))[0];
    assert.equal(shown.label, truth, 'the trial\'s true label is explained by default');
    assert.match(shown.caption, /integrated gradients/);
    assert.match(shown.aria, /voxel attribution of trial 1/);
    // Another label, typed.
    await page.fill('#brain-label', 'blue');
    await page.dispatchEvent('#brain-label', 'change');
    await page.waitForSelector('body[data-brain-attribution="blue"]', { timeout: 60_000 });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
