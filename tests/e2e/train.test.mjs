// Training in the browser: the "Train on your data" panel trains a mapper on simulated
// subject 2's training session, shows held-out and test numbers, and offers a bundle whose
// reload (in the page and by the CLI) decodes the test trials with the numbers the panel
// showed; the CLI's run with the same settings and seed ends with the same weights.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unzipSync } from 'fflate';
import { serveSite, launch, openPage, openBlank, assertNothingLeft } from './browser.mjs';

const ROOT = new URL('../../', import.meta.url).pathname;
const BIN = join(process.env.CARGO_TARGET_DIR ?? join(ROOT, 'target'), 'debug', 'brainclip');
/** Largest difference allowed between the page's and the CLI's weights (see README,
 * "Training in the browser"). */
const WEIGHT_BOUND = 1e-5;

let site;
before(async () => { site = await serveSite(); });
after(() => site.server.close());

/** Every float32 tensor of a safetensors file, by name. */
function safetensors(bytes) {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.readBigUInt64LE(0));
  const header = JSON.parse(view.subarray(8, 8 + headerLength).toString('utf8'));
  const data = view.subarray(8 + headerLength);
  const tensors = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    assert.equal(info.dtype, 'F32', `${name} is stored as f32`);
    const [start, end] = info.data_offsets;
    const slice = data.subarray(start, end);
    tensors[name] = new Float32Array(slice.buffer.slice(slice.byteOffset, slice.byteOffset + slice.byteLength));
  }
  return tensors;
}

test('a mapper trained in the page decodes, downloads, reloads and matches the CLI', async () => {
  const browser = await launch({ webgpu: false });
  const work = mkdtempSync(join(tmpdir(), 'brainclip-e2e-train-'));
  try {
    const { page, errors, requests } = await openPage(browser, site.url);
    await page.waitForSelector('body[data-model="ready"]', { timeout: 300_000 });
    await page.click('#train-simulated');
    await page.waitForFunction(() => /1,200 trials/.test(document.getElementById('train-data').textContent), null, { timeout: 120_000 });
    // Cancel: the run stops between epochs and nothing is kept.
    await page.click('#train-button');
    await page.waitForFunction(() => /epoch 1,/.test(document.getElementById('train-status').textContent), null, { timeout: 120_000 });
    const cancelledAt = Date.now();
    await page.click('#train-cancel');
    await page.waitForSelector('#train[data-state="cancelled"]', { timeout: 10_000 });
    const cancelMs = Date.now() - cancelledAt;
    assert.equal(await page.isEnabled('#train-button'), true);
    assert.equal(await page.isHidden('#train-download'), true);

    await page.click('#train-button');
    await page.waitForSelector('#train[data-state="done"], #train[data-state="error"]', { timeout: 400_000 });
    const panel = await page.evaluate(() => {
      const section = document.getElementById('train');
      const value = (box, metric) => document.querySelector(`#${box} tr[data-metric="${metric}"] td.value`)?.textContent;
      return {
        state: section.dataset.state,
        error: document.getElementById('train-error').textContent,
        seconds: Number(section.dataset.seconds),
        testTop1: Number(section.dataset.testTop1),
        heldOutTop1: value('train-heldout', 'category_top1'),
        heldOutText: document.getElementById('train-heldout').textContent,
        testText: document.getElementById('train-test').textContent,
        status: document.getElementById('train-status').textContent,
        build: document.getElementById('train-build').textContent,
      };
    });
    assert.equal(panel.state, 'done', panel.error);
    // Trials of distinct stimuli in random order: no near-copy warning.
    assert.equal(await page.isHidden('#train-leak'), true);
    assert.match(panel.heldOutText, /shuffled labels/);
    assert.match(panel.heldOutText, /ridge/);
    assert.match(panel.testText, /2\.0%/, 'the test table shows chance (1 of 50)');
    // The demo's own mapper for subject 2 (trained natively, larger, with images and captions).
    const demo = JSON.parse(readFileSync(join(ROOT, 'www/models/demo/sub-02/eval.json'), 'utf8'));
    const nativeTop1 = demo.metrics.find((m) => m.id === 'category_top1').value;
    assert.ok(panel.testTop1 >= 0.9 * nativeTop1,
      `trained in the page: test top-1 ${panel.testTop1}; the demo's native mapper: ${nativeTop1}`);

    const download = await Promise.all([page.waitForEvent('download'), page.click('#train-download')]).then(([d]) => d);
    const zipPath = join(work, 'trained.zip');
    await download.saveAs(zipPath);
    assertNothingLeft(assert, requests, site.url);
    assert.deepEqual(errors, []);

    // Reloaded from the downloaded bytes in a fresh page: the same test numbers.
    const blank = await openBlank(browser, site);
    await blank.page.route(`${site.url}trained.zip`, (route) => route.fulfill({ path: zipPath, contentType: 'application/zip' }));
    const reloaded = await blank.page.evaluate(async () => {
      const brainclip = await import('./pkg/brainclip.js');
      await brainclip.default();
      const bytes = new Uint8Array(await (await fetch('trained.zip')).arrayBuffer());
      const bundle = brainclip.loadBundleBytes(bytes, 'trained.zip');
      const info = bundle.info();
      const decoder = await brainclip.loadDecoder(bundle, 'cpu');
      const fmri = await brainclip.readFmri(new Uint8Array(await (await fetch('samples/sub-02-test-fmri.npy')).arrayBuffer()), 'sub-02-test-fmri.npy', {});
      const labels = await (await fetch('samples/test-labels.json')).json();
      const candidates = await (await fetch('samples/novel-categories.json')).json();
      const evaluation = await decoder.evaluate(fmri, { labels, candidates });
      const caught = (f) => { try { f(); return null; } catch (err) { return { code: err.code, message: err.message }; } };
      const damaged = caught(() => brainclip.loadBundleBytes(bytes.slice(0, 1000), 'cut.zip'));
      return { top1: evaluation.metrics.find((m) => m.id === 'category_top1').value, info, damaged };
    });
    assert.deepEqual(blank.errors, []);
    assert.equal(reloaded.top1, panel.testTop1);
    assert.equal(reloaded.info.simulated, true);
    assert.deepEqual(Object.keys(reloaded.info.labels), ['test-categories']);
    assert.equal(reloaded.damaged.code, 'corrupt_file');
    assert.match(reloaded.damaged.message, /cut\.zip/);

    // The page itself loads the downloaded bundle (Model: "Or load a bundle file") and decodes
    // subject 2's sample recording with it: the same top-1.
    await page.setInputFiles('#bundle-file', zipPath);
    await page.waitForSelector('body[data-model="ready"][data-bundle-source="file"]', { timeout: 120_000 });
    assert.match(await page.textContent('#bundle-name'), /trained in the browser/);
    assert.equal(await page.textContent('#bundle-voxels'), '4,404 voxels');
    await page.click('#use-sample');
    await page.waitForFunction(() => document.getElementById('fmri-voxels').textContent === '4,404', null, { timeout: 60_000 });
    await page.click('#decode-button');
    await page.waitForSelector('#decode-metrics tr[data-metric="category_top1"]', { timeout: 120_000 });
    const decodedTop1 = await page.textContent('#decode-metrics tr[data-metric="category_top1"] td.value');
    assert.equal(decodedTop1, `${(100 * panel.testTop1).toFixed(1)}%`);

    // The CLI reads the downloaded bundle and finds the same numbers.
    const world = join(work, 'world');
    execFileSync(BIN, ['sim', 'world', '--out', world, '--subjects', '2', '--no-images'], { cwd: ROOT, stdio: 'pipe' });
    const evalArgs = ['eval', '--fmri', 'www/samples/sub-02-test-fmri.npy', '--labels', 'www/samples/test-labels.json',
      '--candidates', 'www/samples/novel-categories.json', '--json'];
    const fromZip = JSON.parse(execFileSync(BIN, [...evalArgs, '--bundle', zipPath], { cwd: ROOT, encoding: 'utf8' }));
    assert.equal(fromZip.metrics.find((m) => m.id === 'category_top1').value, panel.testTop1);

    // The same training natively: the browser preset's settings, the same seed.
    const native = join(work, 'native');
    execFileSync(BIN, ['train-mapper', '--fmri', join(world, 'sub-02/train_fmri.npy'),
      '--labels', join(world, 'train_labels.json'), '--stimulus-ids', join(world, 'train_stimulus_ids.json'),
      '--clip', 'www/models/demo', '--variant', 'mlp', '--hidden', '128', '--blocks', '1', '--latent', '64',
      '--epochs', '30', '--patience', '10', '--seed', '0', '--no-controls', '--out', native],
    { cwd: ROOT, stdio: 'pipe' });
    const fromPage = safetensors(unzipSync(readFileSync(zipPath))['mapper.safetensors']);
    const fromCli = safetensors(readFileSync(join(native, 'mapper.safetensors')));
    assert.deepEqual(Object.keys(fromPage).sort(), Object.keys(fromCli).sort());
    let worst = 0;
    for (const [name, values] of Object.entries(fromCli)) {
      assert.equal(fromPage[name].length, values.length, name);
      for (let i = 0; i < values.length; i += 1) worst = Math.max(worst, Math.abs(values[i] - fromPage[name][i]));
    }
    // Calibration: the demo's mapper (subject 1's) kept, a new input layer learned for
    // subject 2's voxels; a short run without controls.
    await page.selectOption('#train-mode', 'calibrate');
    assert.equal(await page.isDisabled('#train-hidden'), true);
    await page.fill('#train-epochs', '5');
    await page.uncheck('#train-controls');
    await page.click('#train-button');
    await page.waitForSelector('#train[data-state="done"][data-mode="calibrate"], #train[data-state="error"]', { timeout: 400_000 });
    const calibrated = await page.evaluate(() => ({
      state: document.getElementById('train').dataset.state,
      error: document.getElementById('train-error').textContent,
      testTop1: Number(document.getElementById('train').dataset.testTop1),
      seconds: Number(document.getElementById('train').dataset.seconds),
    }));
    assert.equal(calibrated.state, 'done', calibrated.error);
    assert.ok(calibrated.testTop1 >= 0.3, `calibrated for 5 epochs: test top-1 ${calibrated.testTop1} (chance 0.02)`);

    process.stdout.write(`# calibrating the demo's mapper to subject 2 in the page: ${calibrated.seconds} s for 5 epochs, test top-1 ${calibrated.testTop1}\n`);
    process.stdout.write(`# training in the page (${panel.build}): ${panel.seconds} s with controls and evaluation; `
      + `test top-1 ${panel.testTop1} (the demo's native mapper ${nativeTop1}); held-out top-1 ${panel.heldOutTop1}; `
      + `largest weight difference from the CLI's run ${worst.toExponential(2)}; cancelled in ${cancelMs} ms\n`);
    assert.ok(worst <= WEIGHT_BOUND, `page and CLI weights differ by up to ${worst}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
    await browser.close();
  }
});
