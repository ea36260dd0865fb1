// The explorer: the page simulates new recordings of the test stimuli with the simulator
// compiled to wasm. At the subjects' own noise level decoding is near the committed
// evaluation; with almost no signal it is near chance; and the recording the page made is
// `brainclip sim test-recording`'s, value for value.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveSite, launch, openPage, assertNothingLeft } from './browser.mjs';

const NATIVE = JSON.parse(readFileSync(new URL('../../www/models/demo/eval.json', import.meta.url)));
// Rendering and noise use sin, cos, exp and ln, whose last bit may differ between the
// platform's maths library and wasm's.
const VALUE_TOLERANCE = 1e-4;
let site;
before(async () => { site = await serveSite(); });
after(() => site.server.close());

/** A C-order float32 .npy's shape and values. */
function readNpy(bytes) {
  const headerLength = bytes.readUInt16LE(8);
  const header = bytes.subarray(10, 10 + headerLength).toString('latin1');
  assert.match(header, /'descr': '<f4'/);
  const shape = /'shape': \(([0-9, ]+)\)/.exec(header)[1].split(',').filter((d) => d.trim()).map(Number);
  const data = bytes.subarray(10 + headerLength);
  return { shape, values: new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) };
}

async function record(page, { snrExponent, repeats, seed }) {
  await page.$eval('#explore-snr', (el, v) => { el.value = String(v); el.dispatchEvent(new Event('input')); }, snrExponent);
  await page.$eval('#explore-repeats', (el, v) => { el.value = String(v); el.dispatchEvent(new Event('input')); }, repeats);
  await page.fill('#explore-seed', String(seed));
  const runs = Number(await page.getAttribute('body', 'data-explored') ?? 0);
  await page.click('#explore-button');
  await page.waitForSelector(`body[data-explored="${runs + 1}"]`, { timeout: 300_000 });
  const cells = await page.$$eval('#explore-table tbody tr:last-child td', (tds) => tds.map((td) => td.textContent));
  const top1 = Number(await page.getAttribute('#explore-table tbody tr:last-child', 'data-top1'));
  return { cells, top1 };
}

test('the explorer: decoding falls to chance as noise grows, on the simulator native code runs (CPU)', async (t) => {
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors, requests } = await openPage(browser, site.url);
    await page.waitForSelector('body[data-model="ready"]', { timeout: 300_000 });
    assert.equal(await page.isVisible('#explore'), true);
    assert.equal(await page.textContent('#explore-snr-value'), '0.5', "the subjects' own SNR by default");

    const committed = NATIVE.metrics.find((m) => m.id === 'category_top1');
    const usual = await record(page, { snrExponent: -0.3, repeats: 35, seed: 1 });
    t.diagnostic(`SNR 0.5 × 35: top-1 ${usual.top1} (committed, another noise draw: ${committed.value})`);
    assert.deepEqual(usual.cells.slice(0, 3), ['0.5', '35', '1']);
    assert.ok(Math.abs(usual.top1 - committed.value) <= 0.12, `${usual.top1} vs ${committed.value}`);

    // The recording the page decoded, downloaded, is the native simulator's.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#explore-download')]);
    const fromPage = readNpy(readFileSync(await download.path()));
    const out = join(mkdtempSync(join(tmpdir(), 'brainclip-')), 'native.npy');
    execFileSync('cargo', ['run', '--quiet', '--bin', 'brainclip', '--', 'sim', 'test-recording',
      '--subject', 'sub-01', '--snr', '0.5', '--repeats', '35', '--seed', '1', '--out', out]);
    const native = readNpy(readFileSync(out));
    assert.deepEqual(fromPage.shape, [50, 4466]);
    assert.deepEqual(fromPage.shape, native.shape);
    const gap = fromPage.values.reduce((m, v, i) => Math.max(m, Math.abs(v - native.values[i])), 0);
    t.diagnostic(`largest difference from the native simulator: ${gap.toExponential(2)}`);
    assert.ok(gap < VALUE_TOLERANCE, `values differ by ${gap}`);

    const drowned = await record(page, { snrExponent: -2, repeats: 1, seed: 1 });
    t.diagnostic(`SNR 0.01 × 1: top-1 ${drowned.top1} (chance ${committed.chance})`);
    assert.deepEqual(drowned.cells.slice(0, 3), ['0.01', '1', '1']);
    assert.ok(drowned.top1 <= committed.chance + 0.1, `${drowned.top1} is not near chance ${committed.chance}`);
    assert.equal(await page.locator('#explore-table tbody tr').count(), 2);

    assertNothingLeft(assert, requests, site.url);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
