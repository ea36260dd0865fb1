// The site's reviewed screenshots under docs/site/ (README), every view at desktop (1280 px)
// and phone (390 px) width, in headless Chromium on the CPU backend: the page after its
// first button (the first screen and the trial card), the model panel with its subject
// choice, the brain view, the decoding metrics with the time breakdown, the similarity
// matrix, the reconstruction panel with its batch metrics, the explorer after four
// recordings, and the training panel after training on simulated subject 2's session.
// Run after `make site`:
//   node tools/screenshots.mjs [OUT_DIR]
// The end-to-end run writes the same set under target/screenshots/ (screenshots.test.mjs).
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { startServer } from './serve.mjs';

export const VIEWS = ['first-view', 'trial', 'model', 'brain', 'attribution', 'decode', 'matrix', 'reconstruction', 'explore', 'training'];
export const WIDTHS = { desktop: 1280, phone: 390 };

/** Writes `${out}/${view}-${width name}.png` for every view and width from the site at `url`;
 * resolves to the paths written. */
export async function takeScreenshots({ url, out, browser }) {
  mkdirSync(out, { recursive: true });
  const written = [];
  const shoot = async (target, view, name) => {
    const path = `${out}/${view}-${name}.png`;
    await target.screenshot({ path });
    written.push(path);
  };
  for (const [name, width] of Object.entries(WIDTHS)) {
    const page = await browser.newPage({ viewport: { width, height: 900 } });
    const errors = [];
    page.on('pageerror', (err) => errors.push(String(err)));
    await page.goto(url);
    await page.waitForSelector('body[data-model="ready"]', { timeout: 300_000 });
    // What a first visitor sees after one click: the sample's first trial, start to finish.
    await page.click('#trial-start');
    await page.waitForSelector('body[data-trial-reconstructed="1"]', { timeout: 300_000 });
    await page.waitForSelector('#trial-matches img', { timeout: 300_000 });
    await shoot(page, 'first-view', name);
    await shoot(page.locator('#trial'), 'trial', name);
    await shoot(page.locator('#model'), 'model', name);
    await page.waitForSelector('body[data-brain="1"]', { timeout: 60_000 });
    const canvas = page.locator('#brain-canvas');
    const box = await canvas.boundingBox();
    await canvas.hover({ position: { x: box.width * 0.75, y: box.height * 0.45 } });
    await shoot(page.locator('#brain'), 'brain', name);
    // The same trial explained: which voxels drove its true label.
    await page.selectOption('#brain-show', 'attribution');
    await page.waitForSelector('body[data-brain-attribution]', { timeout: 120_000 });
    await shoot(page.locator('#brain'), 'attribution', name);
    await page.selectOption('#brain-show', 'activity');
    await page.waitForFunction(() => !document.body.dataset.brainAttribution, null, { timeout: 60_000 });
    // The section's head: metrics and the time breakdown (the 50-row table is folded away).
    await page.click('#timings summary');
    await shoot(page.locator('#decode'), 'decode', name);
    await shoot(page.locator('#identify-matrix'), 'matrix', name);
    await page.fill('#reconstruct-trials', '1-8');
    await page.click('#reconstruct-button');
    await page.waitForSelector('#reconstruct-metrics:not([hidden])', { timeout: 300_000 });
    await shoot(page.locator('#reconstruct'), 'reconstruction', name);
    for (const [exponent, repeats] of [[-0.3, 35], [-1, 35], [-1.3, 4], [-2, 1]]) {
      await page.$eval('#explore-snr', (el, v) => { el.value = String(v); el.dispatchEvent(new Event('input')); }, exponent);
      await page.$eval('#explore-repeats', (el, v) => { el.value = String(v); el.dispatchEvent(new Event('input')); }, repeats);
      const runs = Number(await page.getAttribute('body', 'data-explored') ?? 0);
      await page.click('#explore-button');
      await page.waitForSelector(`body[data-explored="${runs + 1}"]`, { timeout: 300_000 });
    }
    await shoot(page.locator('#explore'), 'explore', name);
    // Trained once (on the desktop page), then drawn at every width.
    if (name === Object.keys(WIDTHS)[0]) {
      await page.click('#train-simulated');
      await page.waitForFunction(() => /1,200 trials/.test(document.getElementById('train-data').textContent), null, { timeout: 120_000 });
      await page.click('#train-button');
      await page.waitForSelector('#train[data-state="done"]', { timeout: 400_000 });
      for (const [other, otherWidth] of Object.entries(WIDTHS)) {
        await page.setViewportSize({ width: otherWidth, height: 900 });
        await shoot(page.locator('#train'), 'training', other);
      }
    }
    await page.close();
    if (errors.length) throw new Error(errors.join('\n'));
  }
  return written;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = process.argv[2] ?? 'docs/site';
  const server = await startServer({ port: 0 });
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true });
  try {
    const written = await takeScreenshots({ url: `http://127.0.0.1:${server.address().port}/`, out, browser });
    console.log(written.join('\n'));
  } finally {
    await browser.close();
    server.close();
  }
}
