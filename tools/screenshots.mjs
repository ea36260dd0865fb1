// The site's reviewed screenshots under docs/site/ (README): the model panel with its subject
// choice, the brain view, the reconstruction panel with the sample recording, the decoding
// results with the time breakdown, and the simulated-brain explorer after three recordings,
// at desktop (1280 px) and phone (390 px) width, in headless Chromium on the CPU backend.
// Run after `make site`:
//   node tools/screenshots.mjs [OUT_DIR]
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { startServer } from './serve.mjs';

const out = process.argv[2] ?? 'docs/site';
mkdirSync(out, { recursive: true });
const server = await startServer({ port: 0 });
const url = `http://127.0.0.1:${server.address().port}/`;
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true });
try {
  for (const [name, width] of [['desktop', 1280], ['phone', 390]]) {
    const page = await browser.newPage({ viewport: { width, height: 900 } });
    const errors = [];
    page.on('pageerror', (err) => errors.push(String(err)));
    await page.goto(url);
    await page.waitForSelector('body[data-model="ready"]', { timeout: 300_000 });
    await page.click('#use-sample');
    await page.waitForSelector('body[data-brain="1"]', { timeout: 60_000 });
    const canvas = page.locator('#brain-canvas');
    const box = await canvas.boundingBox();
    await canvas.hover({ position: { x: box.width * 0.75, y: box.height * 0.45 } });
    await page.locator('#brain').screenshot({ path: `${out}/brain-${name}.png` });
    await page.fill('#reconstruct-trials', '1-8');
    await page.click('#reconstruct-button');
    await page.waitForSelector('body[data-reconstructed="true"]', { timeout: 300_000 });
    await page.locator('#reconstruct').screenshot({ path: `${out}/reconstruction-${name}.png` });
    await page.locator('#model').screenshot({ path: `${out}/model-${name}.png` });
    await page.click('#decode-button');
    await page.waitForSelector('body[data-decoded="true"]', { timeout: 300_000 });
    await page.click('#timings summary');
    // The section's head: metrics and the time breakdown, without the 50-row table.
    const top = await page.locator('#decode').boundingBox();
    const end = await page.locator('#timings').boundingBox();
    await page.screenshot({
      path: `${out}/decode-${name}.png`, fullPage: true,
      clip: { x: top.x, y: top.y, width: top.width, height: end.y + end.height - top.y },
    });
    for (const [exponent, repeats] of [[-0.3, 35], [-1, 35], [-2, 1]]) {
      await page.$eval('#explore-snr', (el, v) => { el.value = String(v); el.dispatchEvent(new Event('input')); }, exponent);
      await page.$eval('#explore-repeats', (el, v) => { el.value = String(v); el.dispatchEvent(new Event('input')); }, repeats);
      const runs = Number(await page.getAttribute('body', 'data-explored') ?? 0);
      await page.click('#explore-button');
      await page.waitForSelector(`body[data-explored="${runs + 1}"]`, { timeout: 300_000 });
    }
    await page.locator('#explore').screenshot({ path: `${out}/explore-${name}.png` });
    if (errors.length) throw new Error(errors.join('\n'));
    console.log(`${out}/{brain,reconstruction,model,decode,explore}-${name}.png`);
  }
} finally {
  await browser.close();
  server.close();
}
