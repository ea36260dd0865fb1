// The demo's three simulated subjects: switching subject loads that subject's mapper from the
// shared bundle (only its own files: the CLIP and image decoder are not fetched again) and
// its sample recording, and the page's evaluation is then that subject's
// `brainclip eval --json` (www/models/demo/sub-02/eval.json), exactly on the CPU backend.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { serveSite, launch, openWithSample, assertNothingLeft } from './browser.mjs';

const evalOf = (path) => JSON.parse(readFileSync(new URL(`../../www/models/demo/${path}`, import.meta.url)));
const CPU_MARGIN_TOLERANCE = 1e-5;
let site;
before(async () => { site = await serveSite(); });
after(() => site.server.close());

/** Decisions and metrics equal, margins equal to f32 rounding (wasm SIMD vs x86 kernels). */
function assertEqualsNative(page, native) {
  const { categoryMargin, imageMargin, ...ranks } = page.perTrial;
  const { categoryMargin: m1, imageMargin: m2, ...nativeRanks } = native.perTrial;
  assert.deepEqual({ ...page, perTrial: ranks }, { ...native, perTrial: nativeRanks });
  for (const [mine, theirs] of [[categoryMargin, m1], [imageMargin, m2]]) {
    mine.forEach((m, t) => assert.ok(Math.abs(m - theirs[t]) < CPU_MARGIN_TOLERANCE, `trial ${t}: ${m} vs ${theirs[t]}`));
  }
}

async function evaluate(page) {
  await page.click('#decode-button');
  await page.waitForSelector('body[data-decoded="true"]', { timeout: 300_000 });
  await page.click('#identify-button');
  await page.waitForSelector('body[data-evaluated="true"]', { timeout: 300_000 });
  return JSON.parse(await page.textContent('#evaluation-json'));
}

test('switching subject decodes that subject\'s sample with its own mapper (CPU)', async () => {
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors, requests } = await openWithSample(browser, site.url);
    assert.equal(await page.getAttribute('body', 'data-subject'), 'sub-01');
    assert.deepEqual(await page.$$eval('#subject option', (os) => os.map((o) => [o.value, o.textContent])), [
      ['sub-01', 'simulated subject 1'], ['sub-02', 'simulated subject 2'], ['sub-03', 'simulated subject 3']]);
    assert.match(await page.textContent('#bundle-voxels'), /^4,466 voxels$/);
    const first = await evaluate(page);
    assertEqualsNative(first, evalOf('eval.json'));
    await page.waitForSelector('#brain-view:not([hidden])');
    const before = requests.length;

    await page.selectOption('#subject', 'sub-02');
    await page.waitForSelector('body[data-subject="sub-02"][data-model="ready"]', { timeout: 300_000 });
    // The sample in use follows the subject.
    await page.waitForFunction(() => document.getElementById('fmri-voxels').textContent === '4,404');
    assert.match(await page.textContent('#bundle-voxels'), /^4,404 voxels$/);
    assert.match(await page.textContent('#bundle-name'), /simulated sub-02$/);
    assert.match(await page.textContent('#sample-subject'), /^simulated subject 2$/);
    const fetched = requests.slice(before).map((r) => new URL(r.url).pathname);
    assert.ok(fetched.some((p) => p.endsWith('/models/demo/sub-02/mapper.safetensors')), fetched.join(' '));
    assert.ok(fetched.some((p) => p.endsWith('/samples/sub-02-test-fmri.npy')), fetched.join(' '));
    assert.ok(!fetched.some((p) => /\/models\/demo\/(mapper|ridge|shuffled|low_level)\.safetensors$/.test(p)),
      `subject 1's own files are not fetched for subject 2: ${fetched.join(' ')}`);
    // The brain view redraws with subject 2's voxels.
    await page.waitForSelector('#brain-view:not([hidden])');
    assert.match(await page.textContent('#brain-caption'), /^Trial 1/);

    const second = await evaluate(page);
    assertEqualsNative(second, evalOf('sub-02/eval.json'));
    assert.notDeepEqual(second.perTrial, first.perTrial, 'another subject, other numbers');

    // And back.
    await page.selectOption('#subject', 'sub-01');
    await page.waitForSelector('body[data-subject="sub-01"][data-model="ready"]', { timeout: 300_000 });
    await page.waitForFunction(() => document.getElementById('fmri-voxels').textContent === '4,466');

    assertNothingLeft(assert, requests, site.url);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});

// A visitor who loads the sample and switches subject before decoding anything still gets
// that subject's image decoder (its own low-level head), not a panel stuck on "loading".
test('switching subject before the first decoding loads that subject\'s image decoder (CPU)', async () => {
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors, requests } = await openWithSample(browser, site.url);
    await page.selectOption('#subject', 'sub-03');
    await page.waitForSelector('body[data-subject="sub-03"][data-model="ready"]', { timeout: 300_000 });
    await page.waitForSelector('#reconstruct-controls:not([hidden])', { timeout: 120_000 });
    assert.ok(requests.some((r) => new URL(r.url).pathname.endsWith('/models/demo/sub-03/low_level.safetensors')));
    assert.equal(await page.isDisabled('#reconstruct-button'), false);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
