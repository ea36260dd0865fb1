// The page leads with one trial: a first visitor presses one button and sees the sample's
// first trial decoded, matched and drawn step by step; the strip of stimuli (by pointer or
// arrow keys) moves the card and the brain view to another trial. On both backends: the
// reconstruction is the WebGPU path's heaviest use in the page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serveSite, launch, openPage, assertNothingLeft } from './browser.mjs';

let site;
before(async () => { site = await serveSite(); });
after(() => site.server.close());

const card = (page) => page.evaluate(() => ({
  seen: document.querySelector('#trial-seen img')?.getAttribute('src'),
  labels: [...document.querySelectorAll('#trial-labels li')].map((li) => li.firstChild.textContent),
  matches: [...document.querySelectorAll('#trial-matches img')].map((img) => img.getAttribute('src')),
  selected: [...document.querySelectorAll('#trial-picker button[aria-selected="true"]')].map((b) => b.dataset.trial),
}));

for (const webgpu of [false, true]) {
  test(`one button shows a decoded, matched and reconstructed trial; the strip moves it (${webgpu ? 'WebGPU' : 'CPU'})`, async () => {
    const browser = await launch({ webgpu });
    try {
      const { page, errors, requests } = await openPage(browser, site.url);
      await page.waitForSelector('body[data-model="ready"]', { timeout: 300_000 });
      assert.equal(await page.getAttribute('body', 'data-backend'), webgpu ? 'webgpu' : 'cpu');
      await page.click('#trial-start');
      await page.waitForSelector('body[data-trial-reconstructed="1"]', { timeout: 300_000 });
      await page.waitForSelector('#trial-matches img', { timeout: 300_000 });
      const stimuli = await page.$$eval('#trial-picker img', (imgs) => imgs.map((img) => img.getAttribute('src')));
      assert.equal(stimuli.length, 50);
      const first = await card(page);
      assert.equal(first.seen, stimuli[0]);
      assert.deepEqual(first.selected, ['0']);
      // The card's labels are the first row of the batch table.
      const row = await page.$$eval('#decode-results tbody tr:first-child li', (lis) => lis.map((li) => li.firstChild.textContent));
      assert.deepEqual(first.labels, row);
      assert.equal(first.matches.length, 3);
      // The reconstruction formed over the steps: drawn at every one, and not the same each time.
      const sums = (await page.getAttribute('#trial-reconstruction', 'data-step-sums')).split(' ').map(Number);
      assert.ok(sums.length >= 2, `steps drawn: ${sums}`);
      assert.ok(new Set(sums).size > 1, `the image changed between steps: ${sums}`);
      assert.ok(sums.every((s) => s > 0), 'not blank');

      // The arrow key moves to trial 2: card, strip and brain view follow.
      await page.focus('#trial-picker button[aria-selected="true"]');
      await page.keyboard.press('ArrowRight');
      await page.waitForSelector('body[data-trial-reconstructed="2"]', { timeout: 300_000 });
      await page.waitForSelector('body[data-brain="2"]');
      const second = await card(page);
      assert.equal(second.seen, stimuli[1]);
      assert.deepEqual(second.selected, ['1']);
      assert.notDeepEqual(second.labels, first.labels);
      assert.equal(await page.evaluate(() => document.activeElement?.dataset.trial), '1', 'focus follows');

      // Back to trial 1 by pointer: its reconstruction is shown again, not recomputed.
      await page.click('#trial-picker button[data-trial="0"]');
      await page.waitForFunction(() => /^\(\d+ steps?, seed 0\)$/.test(document.getElementById('trial-step').textContent));
      assert.deepEqual((await card(page)).labels, first.labels);

      // The bundle's 4-step student and its 2- and 1-step students; their guidance is baked in.
      assert.deepEqual(await page.$$eval('#reconstruct-steps option', (os) => os.map((o) => o.value)), ['4', '2', '1']);
      assert.equal(await page.isDisabled('#reconstruct-guidance'), true);
      assert.match(await page.textContent('#reconstruct-guidance'), /baked in/);
      const fourSteps = await page.getAttribute('#trial-reconstruction', 'data-step-sums');
      await page.selectOption('#reconstruct-steps', '1');
      await page.click('#trial-picker button[data-trial="2"]');
      await page.waitForSelector('body[data-trial-reconstructed="3"]', { timeout: 300_000 });
      assert.match(await page.textContent('#trial-step'), /^\(1 step, seed 0, [0-9]+ ms\)$/);
      assert.equal((await page.getAttribute('#trial-reconstruction', 'data-step-sums')).split(' ').length, 1);
      assert.ok(fourSteps.split(' ').length >= 2);

      assertNothingLeft(assert, requests, site.url);
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  });
}
