// Nothing jumps while results stream in. Chromium reports every layout shift the way Web
// Vitals counts them; from opening the page, through the model loading, to the first trial
// decoded, matched and drawn, the shifts not caused by the visitor's own click (within
// 500 ms of it) must add up to under 0.1, Web Vitals' "good" cumulative layout shift, at
// desktop and at phone width. A sum over the whole visit is stricter than Web Vitals' worst
// 5-second window.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serveSite, launch } from './browser.mjs';

let site;
before(async () => { site = await serveSite(); });
after(() => site.server.close());

const VIEWPORTS = { desktop: { width: 1280, height: 800 }, phone: { width: 390, height: 844 } };

for (const [name, viewport] of Object.entries(VIEWPORTS)) {
  test(`no layout jumps while the first trial streams in (${name}, CPU)`, async (t) => {
    const browser = await launch({ webgpu: false });
    try {
      const page = await browser.newPage({ viewport });
      await page.addInitScript(() => {
        window.layoutShifts = [];
        new PerformanceObserver((list) => {
          for (const shift of list.getEntries()) {
            window.layoutShifts.push({
              value: shift.value,
              byInput: shift.hadRecentInput,
              at: Math.round(shift.startTime),
              moved: shift.sources.map((s) => s.node?.id || s.node?.className || s.node?.nodeName).join(' '),
            });
          }
        }).observe({ type: 'layout-shift', buffered: true });
      });
      await page.goto(site.url);
      await page.waitForSelector('body[data-model="ready"]', { timeout: 300_000 });
      await page.click('#trial-start');
      await page.waitForSelector('body[data-trial-reconstructed="1"]', { timeout: 300_000 });
      await page.waitForSelector('#trial-matches img', { timeout: 300_000 });
      await page.waitForFunction(() => /^Pick another trial/.test(document.getElementById('trial-status').textContent));
      const shifts = await page.evaluate(() => window.layoutShifts);
      const counted = shifts.filter((s) => !s.byInput);
      for (const s of counted) t.diagnostic(`${s.at} ms: ${s.value.toFixed(4)} (${s.moved})`);
      const total = counted.reduce((sum, s) => sum + s.value, 0);
      t.diagnostic(`layout shift: ${total.toFixed(4)} (${shifts.length - counted.length} more within 500 ms of the click)`);
      assert.ok(total < 0.1, `the page jumped by ${total.toFixed(3)} while loading and decoding`);
    } finally {
      await browser.close();
    }
  });
}
