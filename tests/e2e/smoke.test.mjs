// The served page reports the backend it really runs on: WebGPU when Chromium exposes it,
// the CPU fallback (with a reason) when it does not.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CONTENT_SECURITY_POLICY, startServer } from '../../tools/serve.mjs';
import { serveSite, launch, openPage } from './browser.mjs';

let site;
before(async () => { site = await serveSite(); });
after(() => site.server.close());

for (const webgpu of [true, false]) {
  const expected = webgpu ? 'webgpu' : 'cpu';
  test(`page reports ${expected} ${webgpu ? 'with' : 'without'} --enable-unsafe-webgpu`, async () => {
    const browser = await launch({ webgpu });
    try {
      const { page, errors, requests } = await openPage(browser, site.url);
      await page.waitForSelector('body[data-ready]', { timeout: 120_000 });
      assert.equal(await page.getAttribute('body', 'data-ready'), 'true');
      assert.equal(await page.textContent('#backend'), expected);
      // Without WebGPU the page downloads only the CPU build, about a quarter of the size.
      const wasm = requests.map((r) => r.url.split('/').pop()).filter((name) => name.endsWith('.wasm'));
      assert.deepEqual(wasm, [webgpu ? 'brainclip_bg.wasm' : 'brainclip_cpu_bg.wasm']);
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

// A compute worker that cannot start is reported in words a visitor can act on, never left
// at "starting…": a package whose wasm is not WebAssembly, and one whose script does not load.
for (const [what, breakPackage] of [
  // Both builds broken: the page loads the one the browser's WebGPU calls for.
  ['a wasm that is not WebAssembly', (dir) => {
    for (const build of ['brainclip', 'brainclip_cpu']) writeFileSync(join(dir, `${build}_bg.wasm`), 'not wasm');
  }],
  ['a package script that does not load', (dir) => {
    for (const build of ['brainclip', 'brainclip_cpu']) writeFileSync(join(dir, `${build}.js`), 'export default (;');
  }],
]) {
  test(`the page reports ${what} instead of hanging`, async () => {
    const pkg = mkdtempSync(join(tmpdir(), 'brainclip-broken-pkg-'));
    cpSync('pkg', pkg, { recursive: true });
    breakPackage(pkg);
    const server = await startServer({ port: 0, pkg });
    const browser = await launch({ webgpu: false });
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${server.address().port}/`);
      await page.waitForSelector('body[data-ready="error"]', { timeout: 60_000 });
      assert.equal(await page.textContent('#backend'), 'unavailable');
      assert.equal(await page.isVisible('#device-error'), true);
      const message = await page.textContent('#device-error');
      assert.match(message, /^brainclip could not run in this page \(.+\)\. Reload the page/);
      console.log(`  ${what}: "${message.slice(0, 120)}…"`);
    } finally {
      await browser.close();
      server.close();
      rmSync(pkg, { recursive: true, force: true });
    }
  });
}

// Privacy enforced by the browser, not only promised: the same Content-Security-Policy comes
// as a header and in the page's meta tag (for hosts that send no headers), and under it the
// page cannot reach another origin even if its code tried.
test('the page runs under a same-origin Content-Security-Policy that blocks other origins', async () => {
  const response = await fetch(site.url);
  const header = response.headers.get('content-security-policy');
  assert.equal(header, CONTENT_SECURITY_POLICY);
  const html = await response.text();
  const meta = html.match(/<meta http-equiv="Content-Security-Policy" content="([^"]+)">/);
  assert.ok(meta, 'index.html carries the policy in a meta tag');
  assert.equal(meta[1], CONTENT_SECURITY_POLICY);

  const { createServer } = await import('node:http');
  let reached = 0;
  const other = createServer((req, res) => { reached += 1; res.writeHead(200, { 'access-control-allow-origin': '*' }); res.end('x'); });
  await new Promise((ok) => other.listen(0, '127.0.0.1', ok));
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors } = await openPage(browser, site.url);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 120_000 });
    const outcome = await page.evaluate(async (url) => {
      try {
        await fetch(url);
        return 'fetched';
      } catch (err) {
        return `blocked: ${err.message}`;
      }
    }, `http://127.0.0.1:${other.address().port}/`);
    assert.match(outcome, /^blocked/);
    assert.equal(reached, 0, 'the other origin saw no request');
    assert.ok(errors.some((e) => /Content Security Policy/.test(e)), 'the browser reports the violation');
  } finally {
    await browser.close();
    other.close();
  }
});

// `make site` is deployable as it is: served from a sub-path by a plain static server (as a
// paper's GitHub Pages project site is, at /<repository>/), the page starts and loads its
// bundle through relative URLs only.
test('the site folder works from a sub-path of a plain static server', async () => {
  const root = mkdtempSync(join(tmpdir(), 'brainclip-host-'));
  symlinkSync(resolve('site'), join(root, 'brainclip'));
  const server = await startServer({ port: 0, root });
  const browser = await launch({ webgpu: false });
  try {
    const url = `http://127.0.0.1:${server.address().port}/brainclip/`;
    const { page, errors, requests } = await openPage(browser, url);
    await page.waitForSelector('body[data-model="ready"], body[data-model="error"]', { timeout: 120_000 });
    assert.equal(await page.getAttribute('body', 'data-model'), 'ready');
    assert.deepEqual(errors, []);
    const outside = requests.filter((r) => !r.url.startsWith(url));
    assert.deepEqual(outside.map((r) => r.url), [], 'every request stays under the sub-path');
  } finally {
    await browser.close();
    server.close();
    rmSync(root, { recursive: true, force: true });
  }
});

// Loading reports bytes as they arrive: for every file of the demo bundle a start at 0, then
// growing counts, ending at its size on disk (its Content-Length), and the running total of
// the bundle ending at the sum of the sizes; its total once every file's length is known.
// The page shows them while it loads. With `parts: 'decoding'`, the image decoder's files wait.
test('loadBundle reports every file\'s bytes as they arrive', async () => {
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors } = await openPage(browser, site.url);
    await page.waitForSelector('body[data-model="ready"]', { timeout: 120_000 });
    const loaded = await page.evaluate(async () => {
      const brainclip = await import('./pkg/brainclip.js');
      await brainclip.default();
      const seen = [];
      const url = new URL('models/demo/', document.baseURI).href;
      // Not from the cache the page's own load filled: every byte is downloaded.
      const bundle = await brainclip.loadBundle(url, (p) => seen.push(p), { cache: false });
      bundle.free();
      // The part a page decodes with first: the image decoder's files are left for later.
      const decodingFiles = new Set();
      const decoding = await brainclip.loadBundle(url, (p) => p.file && decodingFiles.add(p.file), { parts: 'decoding', cache: false });
      const notLoaded = decoding.info().notLoaded;
      decoding.free();
      return { seen, notLoaded, decodingFiles: [...decodingFiles] };
    });
    const { seen: events, notLoaded, decodingFiles } = loaded;
    const manifest = JSON.parse(readFileSync('site/models/demo/manifest.json', 'utf8'));
    // The last event is the bundle's "ready"; before it, each file's.
    assert.equal(events.at(-1).status, 'ready');
    const files = [...new Set(events.filter((e) => e.file !== null).map((e) => e.file))];
    let sum = 0;
    for (const file of files) {
      const size = statSync(join('site/models/demo', file)).size;
      sum += size;
      const mine = events.filter((e) => e.file === file);
      assert.equal(mine[0].loaded, 0, `${file} starts at 0`);
      assert.ok(mine.every((e, i) => i === 0 || e.loaded >= mine[i - 1].loaded), `${file}: growing`);
      assert.deepEqual([mine.at(-1).loaded, mine.at(-1).total], [size, size], file);
      assert.ok(mine.every((e) => e.count === files.length));
    }
    const components = Object.values(manifest.components).map((c) => c.weights);
    assert.ok(components.every((w) => files.includes(w)), 'every component file is reported');
    assert.equal(events.at(-1).bundleLoaded, sum);
    // The files download at once: the bundle's total is known before any file ends.
    const totals = events.map((e) => e.bundleTotal).filter((total) => total !== null);
    assert.ok(totals.every((total) => total === sum), `bundleTotal is the sum of the sizes: ${totals}`);
    assert.equal(events.at(-1).bundleTotal, sum);
    assert.equal(events.at(-1).filesDone, files.length);
    const imageDecoder = Object.entries(manifest.components)
      .filter(([, c]) => ['autoencoder', 'denoiser', 'low_level'].includes(c.kind));
    assert.deepEqual(notLoaded, imageDecoder.map(([name]) => name));
    assert.deepEqual(decodingFiles.filter((f) => imageDecoder.some(([, c]) => c.weights === f)), []);
    assert.equal(decodingFiles.length, files.length - imageDecoder.length);
    const clip = events.filter((e) => e.file === 'clip.safetensors');
    const size = clip.at(-1).loaded;
    assert.ok(clip.some((e) => e.loaded > 0 && e.loaded < size),
      `the 6.8 MB CLIP reports part-way (${clip.map((e) => e.loaded).join(', ')})`);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
