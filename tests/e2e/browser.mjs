// Shared helpers for the end-to-end tests: a static server on a free loopback port and a
// headless Debian Chromium, with or without WebGPU.
import { chromium } from 'playwright-core';
import { startServer } from '../../tools/serve.mjs';

const QUIET_FLAGS = [
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-gpu-sandbox',
];

export async function serveSite() {
  const server = await startServer({ port: 0 });
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

/** Nothing the user loads may leave the page: every request stays on the site's origin and
 * none carries a body. */
export function assertNothingLeft(assert, requests, siteUrl) {
  const offOrigin = requests.filter((r) => !r.url.startsWith(siteUrl));
  assert.deepEqual(offOrigin, [], 'no request may leave the page origin');
  assert.deepEqual(requests.filter((r) => r.method !== 'GET' || r.body), [], 'no uploads');
}

/**
 * Positive control for the privacy checks: a worker's request to a second local origin must
 * show up in `requests`, or an empty list would prove nothing. The probe's own entries are
 * then dropped so the real run is checked from a clean slate. Broke once on purpose: with the
 * recorder listening on another browser context than the page's, the privacy assertions
 * still passed (nothing recorded) and this control failed.
 */
export async function assertWorkerRequestsAreSeen(assert, page, requests) {
  const { createServer } = await import('node:http');
  const other = createServer((req, res) => { res.writeHead(204); res.end(); });
  await new Promise((ok) => other.listen(0, '127.0.0.1', ok));
  const probe = `http://127.0.0.1:${other.address().port}/probe`;
  try {
    await page.evaluate((url) => {
      const source = `fetch(${JSON.stringify(url)}).catch(() => {});`;
      new Worker(URL.createObjectURL(new Blob([source], { type: 'text/javascript' })));
    }, probe);
    const deadline = Date.now() + 20_000;
    while (!requests.some((r) => r.url === probe) && Date.now() < deadline) {
      await new Promise((ok) => setTimeout(ok, 100));
    }
    assert.ok(requests.some((r) => r.url === probe), 'a worker request to another origin is recorded');
  } finally {
    other.close();
  }
  for (let i = requests.length - 1; i >= 0; i -= 1) {
    if (requests[i].url === probe || requests[i].url.startsWith('blob:')) requests.splice(i, 1);
  }
}
