// A user picks fMRI files in the page: the summary shows what was read, bad files show a
// typed error, and nothing about the file is sent anywhere.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serveSite, launch, openPage, assertNothingLeft, assertWorkerRequestsAreSeen } from './browser.mjs';

const FIXTURES = new URL('../fixtures/fmri/', import.meta.url).pathname;
let site;
before(async () => { site = await serveSite(); });
after(() => site.server.close());

test('uploaded NIfTI with mask and .npz are read in the page, nothing leaves it', async () => {
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors, requests } = await openPage(browser, site.url);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 120_000 });
    await assertWorkerRequestsAreSeen(assert, page, requests);

    await page.setInputFiles('#mask-file', `${FIXTURES}mask.nii.gz`);
    await page.setInputFiles('#fmri-file', `${FIXTURES}series4d_float32.nii.gz`);
    await page.waitForSelector('#fmri-summary:not([hidden])');
    assert.equal(await page.textContent('#fmri-trials'), '3');
    assert.equal(await page.textContent('#fmri-voxels'), '41');
    assert.match(await page.textContent('#fmri-source'), /series4d_float32\.nii\.gz · mask mask\.nii\.gz/);

    await page.setInputFiles('#mask-file', []);
    await page.fill('#array-name', 'labels');
    await page.setInputFiles('#fmri-file', `${FIXTURES}deflated_several.npz`);
    await page.waitForFunction(() => document.querySelector('#fmri-source').textContent.includes('labels'));
    assert.equal(await page.textContent('#fmri-voxels'), '6');
    assert.match(await page.textContent('#fmri-dtype'), /int64/);

    assertNothingLeft(assert, requests, site.url);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});

test('a bad file shows a typed, readable error', async () => {
  const browser = await launch({ webgpu: false });
  try {
    const { page } = await openPage(browser, site.url);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 120_000 });
    await page.setInputFiles('#fmri-file', `${FIXTURES}bad_nan.npy`);
    await page.waitForSelector('#fmri-error:not([hidden])');
    assert.equal(await page.getAttribute('#fmri-error', 'data-code'), 'non_finite');
    assert.match(await page.textContent('#fmri-error'), /2 non-finite values.*trial 2, voxel 3/);
  } finally {
    await browser.close();
  }
});
