// Bundle files stay in the browser's Cache API (`brainclip-cache`), keyed by the SHA-256 the
// manifest records: a second load downloads no weights, in the npm package and in the demo
// page. Where the Cache API is missing, loading goes to the network; a full quota is
// reported by code, and the bundle still loads.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serveSite, launch, openBlank } from './browser.mjs';

let site;
before(async () => { site = await serveSite(); });
after(() => site.server.close());

const weights = (requests) => requests.filter((r) => r.url.endsWith('.safetensors'));

/** Loads the demo bundle's decoding part through the package in the page. */
const loadInPage = (page, { breakCache = null } = {}) => page.evaluate(async (breakCache) => {
  const brainclip = await import('./pkg/brainclip_cpu.js');
  await brainclip.default();
  if (breakCache === 'missing') Object.defineProperty(globalThis, 'caches', { value: undefined });
  if (breakCache === 'quota') {
    Cache.prototype.put = () => Promise.reject(new DOMException('the quota is full', 'QuotaExceededError'));
  }
  const url = new URL('models/demo/', document.baseURI).href;
  const statuses = [];
  const bundle = await brainclip.loadBundle(url, (p) => statuses.push(p.status), { parts: 'decoding' });
  const info = bundle.info();
  bundle.dispose();
  let disposed = false;
  try {
    bundle.info();
  } catch {
    disposed = true;
  }
  return { cache: info.cache, statuses, disposed, cached: await brainclip.isCached(url, { parts: 'decoding' }) };
}, breakCache);

test('a second load takes every file from the cache and requests no weights (CPU)', async () => {
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors, requests } = await openBlank(browser, site);
    // From an empty cache but for an earlier version of the mapper's weights (a bundle since
    // updated) and a file of another bundle: every file downloaded and stored, the earlier
    // version removed, the other bundle's file kept.
    const STALE = 'models/demo/mapper.safetensors?brainclip-sha256=0000';
    const OTHER = 'models/other/mapper.safetensors?brainclip-sha256=1111';
    await page.evaluate(async (keys) => {
      const brainclip = await import('./pkg/brainclip_cpu.js');
      await brainclip.default();
      await brainclip.clearCache();
      const cache = await caches.open('brainclip-cache');
      for (const key of keys) await cache.put(new URL(key, document.baseURI).href, new Response('earlier weights'));
    }, [STALE, OTHER]);
    requests.length = 0;
    const first = await loadInPage(page);
    const files = weights(requests).length;
    assert.ok(files >= 5, `weights downloaded: ${files}`);
    assert.deepEqual(first.cache, { available: true, hits: 0, stored: files, pruned: 1, error: null });
    const kept = await page.evaluate(async () => (await (await caches.open('brainclip-cache')).keys()).map((r) => r.url));
    assert.equal(kept.some((url) => url.endsWith(STALE)), false, 'the earlier version is gone');
    assert.equal(kept.some((url) => url.endsWith(OTHER)), true, "another bundle's file stays");
    assert.equal(first.statuses[0], 'initiate');
    assert.equal(first.statuses.at(-1), 'ready');
    for (const status of ['download', 'done']) assert.ok(first.statuses.includes(status), status);
    assert.equal(first.cached, true);
    assert.equal(first.disposed, true, 'a disposed bundle cannot be used');
    // Again: nothing but the manifest goes to the network.
    requests.length = 0;
    const second = await loadInPage(page);
    assert.deepEqual(second.cache, { available: true, hits: files, stored: 0, pruned: 0, error: null });
    assert.deepEqual(weights(requests), [], 'no weight request');
    assert.deepEqual(second.statuses.filter((s) => s === 'download'), [], 'nothing downloaded');
    // Cleared: gone.
    const cleared = await page.evaluate(async () => {
      const brainclip = await import('./pkg/brainclip_cpu.js');
      await brainclip.default();
      const url = new URL('models/demo/', document.baseURI).href;
      return [await brainclip.clearCache(), await brainclip.isCached(url, { parts: 'decoding' })];
    });
    assert.deepEqual(cleared, [true, false]);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});

test('the demo page loads its second visit from the cache (CPU)', async () => {
  const browser = await launch({ webgpu: false });
  try {
    const context = await browser.newContext();
    const requests = [];
    context.on('request', (r) => requests.push({ url: r.url() }));
    const visit = async () => {
      const page = await context.newPage();
      await page.goto(site.url);
      await page.waitForSelector('body[data-model="ready"]', { timeout: 120_000 });
      // The image decoder follows the model; the reconstruction panel shows when it is in.
      await page.waitForSelector('#reconstruct-controls:not([hidden])', { timeout: 120_000 });
      await page.close();
    };
    await visit();
    const firstVisit = weights(requests).length;
    assert.ok(firstVisit >= 10, `first visit downloads the weights: ${firstVisit}`);
    requests.length = 0;
    await visit();
    assert.deepEqual(weights(requests), [], 'the second visit requests no weights');
  } finally {
    await browser.close();
  }
});

test('without the Cache API the bundle loads from the network; a full quota is reported (CPU)', async () => {
  const browser = await launch({ webgpu: false });
  try {
    for (const [breakCache, expected] of [
      ['missing', { available: false, hits: 0, stored: 0, pruned: 0, error: null }],
      ['quota', { available: true, hits: 0, stored: 0, pruned: 0, error: 'quota_exceeded' }],
    ]) {
      const { page, errors } = await openBlank(browser, site);
      await page.evaluate(async () => {
        const brainclip = await import('./pkg/brainclip_cpu.js');
        await brainclip.default();
        await brainclip.clearCache();
      });
      const { cache, statuses } = await loadInPage(page, { breakCache });
      assert.deepEqual({ ...cache, error: cache.error?.code ?? null }, expected, breakCache);
      if (breakCache === 'quota') assert.match(cache.error.message, /quota is full.*the bundle loaded/);
      assert.equal(statuses.at(-1), 'ready', `${breakCache}: the bundle loaded`);
      assert.deepEqual(errors, []);
      await page.close();
    }
  } finally {
    await browser.close();
  }
});
