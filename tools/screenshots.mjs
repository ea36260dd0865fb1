// The site's reviewed screenshots under docs/site/ (README): the brain view and the
// reconstruction panel with the sample recording, at desktop (1280 px) and phone (390 px)
// width, in headless Chromium on the CPU backend. Run after `make site`:
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
    if (errors.length) throw new Error(errors.join('\n'));
    console.log(`${out}/{brain,reconstruction}-${name}.png`);
  }
} finally {
  await browser.close();
  server.close();
}
