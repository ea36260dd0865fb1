// `make site`: one self-contained static folder (default site/) that any static host serves
// unchanged (a paper's GitHub Pages site, a lab's web server): the pages and worker from www/,
// the demo bundle and samples, and the parts of the npm package the worker imports, under
// ./pkg/ so every URL stays relative. Needs `make pkg` first.
import { cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONTENT_SECURITY_POLICY } from './serve.mjs';

const out = process.argv[2] ?? 'site';
const PACKAGE_FILES = ['brainclip.js', 'brainclip_bg.wasm', 'brainclip_cpu.js', 'brainclip_cpu_bg.wasm',
  'brainclip_threads.js', 'brainclip_threads_bg.wasm', 'worker.js', 'worker-host.js', 'snippets'];
if (!existsSync('pkg/brainclip_bg.wasm') || !existsSync('pkg/brainclip_cpu_bg.wasm')) throw new Error('pkg/ is missing: run `make pkg` first');

rmSync(out, { recursive: true, force: true });
cpSync('www', out, { recursive: true });
mkdirSync(join(out, 'pkg'));
for (const name of PACKAGE_FILES) {
  if (existsSync(join('pkg', name))) cpSync(join('pkg', name), join(out, 'pkg', name), { recursive: true });
}
// Headers for hosts that read a `_headers` file (Netlify, Cloudflare Pages); others: README,
// "Deploying the demo site".
writeFileSync(join(out, '_headers'), [
  '/*',
  `  Content-Security-Policy: ${CONTENT_SECURITY_POLICY}`,
  '  X-Content-Type-Options: nosniff',
  // Cross-origin isolation: the worker may then run the threaded CPU build.
  '  Cross-Origin-Opener-Policy: same-origin',
  '  Cross-Origin-Embedder-Policy: require-corp',
  '/pkg/*.wasm',
  '  Content-Type: application/wasm',
  '',
].join('\n'));
console.log(`${out}/: the demo site, ready for any static host`);
