// The demo as a user meets it: the embedded (simulated) bundle loads, the sample recording
// decodes zero-shot and identifies its images well above chance, a recording of the wrong
// size gets a typed error, and no request leaves the page's origin.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serveSite, launch, openPage, assertNothingLeft } from './browser.mjs';

const FIXTURES = new URL('../fixtures/fmri/', import.meta.url).pathname;
let site;
before(async () => { site = await serveSite(); });
after(() => site.server.close());

for (const webgpu of [true, false]) {
  test(`the sample recording decodes novel categories above chance (${webgpu ? 'WebGPU' : 'CPU'})`, async (t) => {
    const browser = await launch({ webgpu });
    try {
      const { page, errors, requests } = await openPage(browser, site.url);
      await page.waitForSelector('body[data-model="ready"]', { timeout: 300_000 });
      assert.equal(await page.getAttribute('body', 'data-backend'), webgpu ? 'webgpu' : 'cpu');
      assert.equal(await page.isVisible('#simulated-notice'), true, 'the demo says its subjects are simulated');
      assert.match(await page.textContent('#bundle-voxels'), /4,466 voxels/);
      // The bundle ships its test categories; the page offers them as candidates.
      assert.equal((await page.inputValue('#labels')).split('\n').length, 50);

      await page.click('#use-sample');
      await page.waitForSelector('#fmri-summary:not([hidden])');
      assert.equal(await page.textContent('#fmri-trials'), '50');
      const labels = (await page.inputValue('#labels')).split('\n');
      assert.equal(labels.length, 50);

      await page.click('#decode-button');
      await page.waitForSelector('body[data-decoded="true"]', { timeout: 300_000 });
      assert.equal(await page.locator('#decode-results tbody tr').count(), 50);
      const top1 = Number(await page.getAttribute('#decode-summary', 'data-top1'));
      t.diagnostic(`decoding: ${await page.textContent('#decode-summary')}`);
      // Chance is 1 of 50 per trial. `brainclip eval` gives the committed bundle 21 of 50
      // natively; the page must match it on both backends, not merely beat chance.
      assert.ok(top1 >= 18, `top-1 ${top1} of 50: ${await page.textContent('#decode-summary')}`);

      // N-way identification among the 50 test images, embedded in the page by CLIP.
      await page.click('#identify-button');
      await page.waitForSelector('body[data-identified="true"]', { timeout: 300_000 });
      assert.equal(await page.locator('#identify-results tbody tr').count(), 50);
      const identified = Number(await page.getAttribute('#identify-summary', 'data-top1'));
      t.diagnostic(`identification: ${await page.textContent('#identify-summary')}`);
      // Natively 45 of 50 (chance 1 of 50).
      assert.ok(identified >= 40, `identification top-1 ${identified} of 50: ${await page.textContent('#identify-summary')}`);

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
