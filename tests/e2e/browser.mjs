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
