// The npm package as a consumer gets it (`npm pack` of pkg/): a package.json whose `exports`
// and `files` name files that exist, both builds with their wasm, the licences and README;
// and TypeScript declarations whose public surface has no `any` (every option and result
// object is a named type).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';

const PKG = 'pkg';
const manifest = JSON.parse(readFileSync(join(PKG, 'package.json'), 'utf8'));

test('package.json exports both builds and ships every file they need', (t) => {
  const cargoVersion = readFileSync('Cargo.toml', 'utf8').match(/^version = "(.*)"$/m)[1];
  assert.equal(manifest.version, cargoVersion);
  assert.equal(manifest.type, 'module');
  for (const [entry, target] of Object.entries(manifest.exports)) {
    for (const path of typeof target === 'string' ? [target] : Object.values(target)) {
      assert.ok(existsSync(join(PKG, path)), `exports["${entry}"] → ${path} exists`);
    }
  }
  assert.deepEqual(Object.keys(manifest.exports['.']), ['types', 'default'], 'types first, as TypeScript requires');
  const packed = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: PKG, encoding: 'utf8' }))[0];
  const files = packed.files.map((f) => f.path).sort();
  t.diagnostic(`npm pack: ${packed.filename}, ${(packed.size / 1e6).toFixed(1)} MB packed, ${(packed.unpackedSize / 1e6).toFixed(1)} MB unpacked, ${files.length} files`);
  for (const build of ['brainclip', 'brainclip_cpu']) {
    for (const file of [`${build}.js`, `${build}.d.ts`, `${build}_bg.wasm`]) assert.ok(files.includes(file), `${file} is packed`);
    // Whatever the glue imports is packed too (wasm-bindgen puts inline JS under snippets/).
    const glue = readFileSync(join(PKG, `${build}.js`), 'utf8');
    for (const [, path] of glue.matchAll(/from ['"]\.\/([^'"]+)['"]/g)) assert.ok(files.includes(path), `${build}.js imports ${path}`);
  }
  for (const file of ['README.md', 'LICENSE-MIT', 'LICENSE-APACHE', 'package.json']) assert.ok(files.includes(file), `${file} is packed`);
  // The worker client, its types, and the worker's script it starts by URL.
  assert.deepEqual(manifest.exports['./worker'], { types: './worker.d.ts', default: './worker.js' });
  for (const file of ['worker.js', 'worker.d.ts', 'worker-host.js']) assert.ok(files.includes(file), `${file} is packed`);
  const client = readFileSync(join(PKG, 'worker.js'), 'utf8');
  for (const [, path] of client.matchAll(/new URL\('\.\/([^']+)'/g)) assert.ok(files.includes(path), `worker.js starts ${path}`);
  const host = readFileSync(join(PKG, 'worker-host.js'), 'utf8');
  for (const [, path] of host.matchAll(/import\('\.\/([^']+)'\)/g)) assert.ok(files.includes(path), `worker-host.js imports ${path}`);
  assert.match(readFileSync(join(PKG, 'README.md'), 'utf8'), /simulated/i, 'the npm README says the demo subjects are simulated');
});

test('the TypeScript declarations name every option and result type: no any', () => {
  for (const build of ['brainclip', 'brainclip_cpu']) {
    const dts = readFileSync(join(PKG, `${build}.d.ts`), 'utf8');
    // The public surface ends where wasm-bindgen's loader types begin.
    const publicPart = dts.slice(0, dts.indexOf('export type InitInput'));
    const offending = publicPart.split('\n').filter((line) => /\bany\b/.test(line) && !/^\s*(\*|\/\/)/.test(line));
    assert.deepEqual(offending, [], `${build}.d.ts: declarations typed any`);
    for (const declaration of [
      // Options may be left out.
      /decodeCategories\(fmri: FmriHandle, labels: string\[\], options\?: DecodeOptions\): Promise<RankedLabel\[\]\[\]>/,
      /evaluate\(fmri: FmriHandle, options\?: EvaluateOptions\): Promise<Evaluation>/,
      /reconstruct\(fmri: FmriHandle, options\?: ReconstructOptions\): Promise<Reconstruction>/,
      /loadBundle\(url_prefix: string, on_progress\?: \(\(progress: LoadProgress\) => void\) \| null, options\?: LoadBundleOptions\): Promise<BundleHandle>/,
      /export interface LoadProgress \{/,
    ]) assert.match(publicPart, declaration, `${build}.d.ts`);
  }
});

// The CPU build's budget: at most 3 MB gzipped (onnxruntime-web's CPU build is 3.66 MB).
test('the CPU build stays within 3 MB gzipped', (t) => {
  for (const build of ['brainclip', 'brainclip_cpu']) {
    const wasm = readFileSync(join(PKG, `${build}_bg.wasm`));
    const gzip = gzipSync(wasm, { level: 9 }).length;
    t.diagnostic(`${build}_bg.wasm: ${(wasm.length / 1e6).toFixed(2)} MB, gzip -9 ${(gzip / 1e6).toFixed(3)} MB`);
    if (build === 'brainclip_cpu') assert.ok(gzip <= 3e6, `${build}: ${gzip} bytes gzipped`);
  }
});
