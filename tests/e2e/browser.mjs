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

/** Opens `url`, collecting console errors and uncaught page errors. */
export async function openPage(browser, url) {
  const page = await browser.newPage();
  const errors = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  page.on('pageerror', (err) => errors.push(String(err)));
  await page.goto(url);
  return { page, errors };
}
