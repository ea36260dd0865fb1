// What a first-time visitor waits for: a cold page (fresh browser, nothing cached) on the
// CPU backend, the sample loaded and decoded as soon as the page allows, and the page's own
// breakdown of that time by stage, printed for the README. A benchmark, not a gate: the
// test checks that the breakdown is complete and adds up, not how fast the machine is.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serveSite, launch, openPage } from './browser.mjs';

let site;
before(async () => { site = await serveSite(); });
after(() => site.server.close());

test('cold page to the first decoded result, by stage (CPU)', async (t) => {
  const browser = await launch({ webgpu: false });
  try {
    // A visitor who clicks at once: the click waits for the model, nothing waits for them.
    const { page, errors } = await openPage(browser, site.url);
    await page.click('#trial-start');
    await page.waitForSelector('body[data-decoded="true"]', { timeout: 300_000 });
    await page.waitForSelector('#timings:not([hidden])');
    const rows = await page.$$eval('#timings-body tr', (trs) => trs.map((tr) =>
      ({ stage: tr.dataset.stage, ms: Number(tr.dataset.ms), text: tr.textContent })));
    for (const row of rows) t.diagnostic(`${row.stage}: ${row.ms} ms (${row.text})`);
    assert.deepEqual(rows.map((r) => r.stage),
      ['wasm', 'device', 'fetch', 'build', 'sample', 'decode', 'waiting', 'other', 'total']);
    assert.ok(rows.every((r) => Number.isFinite(r.ms) && r.ms >= 0));
    assert.equal(rows.find((r) => r.stage === 'waiting').ms, 0, 'the visitor asked before the page was ready');
    const total = rows.at(-1).ms;
    const parts = rows.slice(0, -1).reduce((sum, r) => sum + r.ms, 0);
    assert.ok(Math.abs(parts - total) <= rows.length, `stages add to ${parts} ms, total ${total} ms`);
    // The image decoder arrives after the first result and the first trial is drawn with it.
    await page.waitForSelector('body[data-trial-reconstructed="1"]', { timeout: 300_000 });
    const drawnAt = await page.evaluate(() => performance.now());
    t.diagnostic(`first trial drawn ${Math.round(drawnAt)} ms after opening the page ` +
      `(${await page.textContent('#trial-step')})`);
    // Decoding again does not rewrite the first result's breakdown.
    await page.click('#decode-button');
    await page.waitForFunction(() => /^done/.test(document.getElementById('decode-status').textContent));
    assert.equal(Number(await page.getAttribute('#timings-body tr[data-stage="total"]', 'data-ms')), total);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
