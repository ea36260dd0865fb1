// The served page reports the backend it really runs on: WebGPU when Chromium exposes it,
// the CPU fallback (with a reason) when it does not.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serveSite, launch, openPage } from './browser.mjs';

let site;
before(async () => { site = await serveSite(); });
after(() => site.server.close());

for (const webgpu of [true, false]) {
  const expected = webgpu ? 'webgpu' : 'cpu';
  test(`page reports ${expected} ${webgpu ? 'with' : 'without'} --enable-unsafe-webgpu`, async () => {
    const browser = await launch({ webgpu });
    try {
      const { page, errors } = await openPage(browser, site.url);
      await page.waitForSelector('body[data-ready]', { timeout: 120_000 });
      assert.equal(await page.getAttribute('body', 'data-ready'), 'true');
      assert.equal(await page.textContent('#backend'), expected);
      assert.equal(await page.textContent('#self-check'), 'ok');
      const reason = await page.textContent('#fallback-reason');
      if (webgpu) {
        assert.equal(reason, 'none');
      } else {
        assert.match(reason, /WebGPU/);
      }
      console.log(`  ${expected}: adapter "${await page.textContent('#adapter')}", fallback reason "${reason}"`);
      assert.deepEqual(errors, [], `console errors: ${errors.join('\n')}`);
    } finally {
      await browser.close();
    }
  });
}
