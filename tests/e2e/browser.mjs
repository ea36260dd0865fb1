// Shared helpers for the end-to-end tests: a static server on a free loopback port and a
// headless Debian Chromium, with or without WebGPU.
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';
import { startServer } from '../../tools/serve.mjs';

const QUIET_FLAGS = [
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-gpu-sandbox',
];

export async function serveSite() {
  // As `make serve` serves it: cross-origin isolated.
  const server = await startServer({ port: 0, isolate: true });
  const { port } = server.address();
  return { server, url: `http://127.0.0.1:${port}/` };
}

export async function launch({ webgpu }) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: webgpu ? ['--enable-unsafe-webgpu', ...QUIET_FLAGS] : QUIET_FLAGS,
  });
}

/** Opens `url`, collecting console errors, uncaught page errors and every request made
 * (the page's workers included). */
export async function openPage(browser, url) {
  const page = await browser.newPage();
  const errors = [];
  const requests = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  page.on('pageerror', (err) => errors.push(String(err)));
  page.context().on('request', (req) => requests.push({ url: req.url(), method: req.method(), body: req.postData() }));
  await page.goto(url);
  return { page, errors, requests };
}

/** Opens the demo page (`openPage`), waits for its model and loads the sample recording. */
export async function openWithSample(browser, url) {
  const opened = await openPage(browser, url);
  await opened.page.waitForSelector('body[data-model="ready"]', { timeout: 300_000 });
  await opened.page.click('#use-sample');
  await opened.page.waitForSelector('#fmri-summary:not([hidden])');
  return opened;
}

/** Nothing the user loads may leave the page: every request stays on the site's origin and
 * none carries a body. */
export function assertNothingLeft(assert, requests, siteUrl) {
  const offOrigin = requests.filter((r) => !r.url.startsWith(siteUrl));
  assert.deepEqual(offOrigin, [], 'no request may leave the page origin');
  assert.deepEqual(requests.filter((r) => r.method !== 'GET' || r.body), [], 'no uploads');
}

/**
 * Positive control for the privacy checks: a request made by a worker must show up in
 * `requests`, or an empty list would prove nothing. The page's Content-Security-Policy lets
 * no worker reach another origin (nor run from a blob), so the probe is a second worker of the
 * package's worker client asked to load a bundle from a path that exists nowhere; its entries are
 * then dropped so the real run is checked from a clean slate. Broke once on purpose: with the
 * recorder listening on another browser context than the page's, the privacy assertions
 * still passed (nothing recorded) and this control failed.
 */
export async function assertWorkerRequestsAreSeen(assert, page, requests) {
  const probe = `probe-${Math.random().toString(36).slice(2)}`;
  await page.evaluate(async (path) => {
    const { createWorker } = await import(new URL('pkg/worker.js', document.baseURI).href);
    const brainclip = await createWorker({ backend: 'cpu' });
    await brainclip.loadBundle(new URL(`${path}/`, document.baseURI).href, null, {}).catch(() => {});
    brainclip.terminate();
  }, probe);
  const seen = () => requests.some((r) => r.url.includes(probe));
  const deadline = Date.now() + 20_000;
  while (!seen() && Date.now() < deadline) await new Promise((ok) => setTimeout(ok, 100));
  assert.ok(seen(), 'a request made by a worker is recorded');
  await new Promise((ok) => setTimeout(ok, 500));
  for (let i = requests.length - 1; i >= 0; i -= 1) {
    if (requests[i].url.includes(probe)) requests.splice(i, 1);
  }
}

/**
 * A blank page on the site's origin (the package's own use, without the demo's worker):
 * one WebAssembly compile per page. Beside the demo's worker, a second compile of the same
 * module in the page was once aborted by Chromium ("Response body loading was aborted").
 */
export async function openBlank(browser, site, { isolate = false } = {}) {
  const page = await browser.newPage();
  const errors = [];
  const requests = [];
  page.on('pageerror', (err) => errors.push(String(err)));
  page.context().on('request', (r) => requests.push({ url: r.url() }));
  const url = `${site.url}blank.html`;
  await page.route(url, (route) => route.fulfill({
    contentType: 'text/html', body: '<!doctype html><meta charset="utf-8"><title>blank</title>',
    // Cross-origin isolated (COOP/COEP) when asked, as `make serve` sends for the demo.
    headers: isolate ? { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' } : {},
  }));
  await page.goto(url);
  return { page, errors, requests };
}

/** Serves the test's own worker scripts (`tests/e2e/fixtures/NAME`) at the site's root, so a
 * worker made from them imports the site's package as the shipped one does. */
export async function serveFixtures(page, site, names) {
  for (const name of names) {
    await page.context().route(`${site.url}${name}`, (route) => route.fulfill({
      contentType: 'text/javascript',
      body: readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8'),
    }));
  }
}
