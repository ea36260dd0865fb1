// The brain view: the sample's trial drawn on the simulated subject's cortical sheet with its
// areas named, a readout of the voxel under the pointer, a new picture for another trial,
// and a heat strip for a bundle that places no voxels.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../../tools/serve.mjs';
import { launch, openWithSample } from './browser.mjs';

/** Counts of clearly red and clearly blue pixels on the brain canvas, and a fingerprint. */
async function canvasSummary(page) {
  return page.evaluate(() => {
    const canvas = document.getElementById('brain-canvas');
    const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
    let red = 0;
    let blue = 0;
    let hash = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i] > 200 && data[i + 2] < 120) red += 1;
      if (data[i + 2] > 200 && data[i] < 120) blue += 1;
      hash = (hash * 31 + data[i] + 7 * data[i + 2]) % 1_000_000_007;
    }
    return { red, blue, hash };
  });
}

async function openSample(browser, url) {
  const opened = await openWithSample(browser, url);
  await opened.page.waitForSelector('body[data-brain="1"]', { timeout: 60_000 });
  return opened;
}

test('the brain view draws a trial on the cortical sheet and reads out the voxel under the pointer', async () => {
  const server = await startServer({ port: 0 });
  const browser = await launch({ webgpu: false });
  try {
    const url = `http://127.0.0.1:${server.address().port}/`;
    const { page, errors } = await openSample(browser, url);
    const areas = await page.$$eval('#brain-areas li', (items) => items.map((i) => i.textContent));
    assert.deepEqual(areas, ['early visual', 'higher visual']);
    assert.match(await page.textContent('#brain-caption'), /^Trial 1 \(red circle\): red above/);
    const first = await canvasSummary(page);
    assert.ok(first.red > 500 && first.blue > 100, `both signs drawn: ${JSON.stringify(first)}`);

    // Point at the middle of the higher visual area: a voxel there is named with its value.
    const canvas = page.locator('#brain-canvas');
    const box = await canvas.boundingBox();
    await canvas.hover({ position: { x: box.width * 0.75, y: box.height * 0.55 } });
    const readout = await page.textContent('#brain-hover');
    assert.match(readout, /^voxel [0-9,]+ of 4,466: [+−][0-9]+\.[0-9]{2} sd · higher visual$/);
    const voxel = Number(await page.getAttribute('#brain-hover', 'data-voxel'));
    assert.ok(voxel >= 2000, `a higher visual voxel (they follow the early ones): ${voxel}`);

    await page.fill('#brain-trial', '2');
    await page.dispatchEvent('#brain-trial', 'change');
    await page.waitForSelector('body[data-brain="2"]');
    assert.notEqual((await canvasSummary(page)).hash, first.hash, 'another trial, another picture');
    await page.fill('#brain-trial', '51');
    await page.dispatchEvent('#brain-trial', 'change');
    assert.match(await page.textContent('#brain-error'), /trial 51: this recording has trials 1 to 50/);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    server.close();
  }
});

test('a bundle that places no voxels gets a heat strip in voxel order', async () => {
  const root = mkdtempSync(join(tmpdir(), 'brainclip-no-sheet-'));
  cpSync('site', root, { recursive: true });
  const manifestPath = join(root, 'models/demo/manifest.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  delete manifest.components.voxel_sheet;
  writeFileSync(manifestPath, JSON.stringify(manifest));
  const server = await startServer({ port: 0, root });
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors } = await openSample(browser, `http://127.0.0.1:${server.address().port}/`);
    assert.match(await page.textContent('#brain-layout'), /drawn in file order/);
    assert.equal(await page.$$eval('#brain-areas li', (items) => items.length), 0);
    const strip = await canvasSummary(page);
    assert.ok(strip.red > 500 && strip.blue > 500, JSON.stringify(strip));
    const canvas = page.locator('#brain-canvas');
    await canvas.hover({ position: { x: 20, y: 20 } });
    assert.match(await page.textContent('#brain-hover'), /^voxel 1 of 4,466: [+−][0-9.]+ sd$/);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    server.close();
    rmSync(root, { recursive: true, force: true });
  }
});
