// The npm package as its users get it: `npm pack`, installed from the tarball into a fresh
// app (tests/consumer/), which runs the README's "Use from JavaScript" example twice: built by
// Vite, and as plain ES modules with an import map. Both decode exactly as the package does in
// a page of its own; a second visit requests no weights; publint, arethetypeswrong and the
// TypeScript compiler accept the tarball and the example.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startServer } from '../../tools/serve.mjs';
import { launch, serveSite, openBlank } from './browser.mjs';

const TARGET = resolve(process.env.CARGO_TARGET_DIR ?? 'target');
const APP = join(TARGET, 'consumer');
const bin = (name) => resolve('node_modules', '.bin', name);
let tarball;

before(() => {
  rmSync(APP, { recursive: true, force: true });
  mkdirSync(APP, { recursive: true });
  const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', APP, './pkg'], { encoding: 'utf8' }));
  tarball = join(APP, packed[0].filename);
  for (const file of readdirSync('tests/consumer')) cpSync(join('tests/consumer', file), join(APP, file));
  // As an app installs it: from the tarball, nothing else (the package has no dependencies).
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--offline', '--loglevel=error', tarball], { cwd: APP });
});

test('the README shows the example the consumer test runs', () => {
  const readme = readFileSync('README.md', 'utf8');
  const example = readFileSync('tests/consumer/usage.js', 'utf8').trim();
  assert.ok(readme.includes(example), 'README.md holds tests/consumer/usage.js verbatim');
});

test('publint and arethetypeswrong accept the tarball; the example type-checks', () => {
  execFileSync(bin('publint'), ['run', tarball, '--strict'], { stdio: 'pipe' });
  // An ES-module package for browsers and bundlers: node10 resolution (no `exports`) and
  // CommonJS `require` are not what it is for.
  execFileSync(bin('attw'), [tarball, '--profile', 'esm-only', '--format', 'ascii'], { stdio: 'pipe' });
  execFileSync(bin('tsc'), ['-p', join(APP, 'tsconfig.json')], { stdio: 'pipe' });
});

/** The library's own ranking: the package in a page of its own, no worker, no bundler. */
async function libraryRanking(browser) {
  const site = await serveSite();
  try {
    const { page } = await openBlank(browser, site);
    return await page.evaluate(async () => {
      const brainclip = await import('./pkg/brainclip_cpu.js');
      await brainclip.default();
      const bundle = await brainclip.loadBundle(new URL('models/demo/', document.baseURI).href, null, { parts: 'decoding', cache: false });
      const decoder = await brainclip.loadDecoder(bundle, 'cpu');
      const bytes = new Uint8Array(await (await fetch('samples/sub-01-test-fmri.npy')).arrayBuffer());
      const fmri = await brainclip.readFmri(bytes, 'sub-01-test-fmri.npy', {});
      const labels = await (await fetch('samples/novel-categories.json')).json();
      return decoder.decodeCategories(fmri, labels, { topK: 3 });
    });
  } finally {
    site.server.close();
  }
}

/** Opens the consumer page at `url` and waits for its result. */
async function runConsumer(context, url) {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(String(err)));
  await page.goto(url);
  await page.waitForSelector('body[data-done]', { timeout: 120_000 });
  const result = await page.evaluate(() => window.consumerResult);
  const log = await page.textContent('#log');
  await page.close();
  return { result, log, errors };
}

const MOUNTS = [['/models/', 'site/models'], ['/samples/', 'site/samples']];

for (const [how, prepare] of [
  ['a Vite production build', () => {
    execFileSync(bin('vite'), ['build'], { cwd: APP, stdio: 'pipe' });
    return join(APP, 'dist');
  }],
  ['plain ES modules with an import map', () => APP],
]) {
  test(`${how} decodes as the package does, in a worker; the second visit requests no weights`, async () => {
    const root = prepare();
    const server = await startServer({ port: 0, root, mounts: MOUNTS, csp: false });
    const url = `http://127.0.0.1:${server.address().port}/`;
    const browser = await launch({ webgpu: false });
    try {
      const expected = await libraryRanking(browser);
      const context = await browser.newContext();
      const requests = [];
      context.on('request', (r) => requests.push(r.url()));
      const first = await runConsumer(context, url);
      assert.deepEqual(first.errors, []);
      assert.equal(first.result.error, undefined, first.log);
      assert.deepEqual(first.result.ranked, expected, 'the same ranking as the package in its own page');
      assert.equal(first.result.trials, expected.length);
      assert.equal(first.result.aborted, 'aborted');
      assert.equal(first.result.cached, true, 'every file is in the cache after the first load');
      assert.match(first.log, /^initiate /m);
      assert.match(first.log, /^ready bundle 100%/m);
      const weights = () => requests.filter((r) => r.endsWith('.safetensors'));
      assert.ok(weights().length >= 5, 'the first visit downloads the weights');
      // The worker really ran the package: the CPU build's module came over the network.
      assert.ok(requests.some((r) => /brainclip_cpu.*\.wasm$/.test(r)), requests.join('\n'));

      requests.length = 0;
      const second = await runConsumer(context, url);
      assert.deepEqual(second.result.ranked, expected);
      assert.deepEqual(weights(), [], 'the second visit requests no weights');
      assert.match(second.log, /\(cached\)/);
    } finally {
      await browser.close();
      server.close();
    }
  });
}

