// Writes pkg/package.json, README.md and the licences for the npm package that
// wasm-bindgen generated into pkg/ (builds `brainclip`, `brainclip_cpu`, `brainclip_threads`), taking name,
// version, description, licence and repository from Cargo.toml so there is one source of
// truth.
import { readFileSync, writeFileSync, copyFileSync } from 'node:fs';

const cargo = readFileSync('Cargo.toml', 'utf8');
const field = (name) => cargo.match(new RegExp(`^${name} = "(.*)"$`, 'm'))?.[1];

const BUILDS = ['brainclip', 'brainclip_cpu', 'brainclip_threads'];
// The worker client and the worker's script, hand-written beside the bindings.
const WORKER_FILES = ['worker.js', 'worker.d.ts', 'worker-host.js'];
const build = (name) => ({ types: `./${name}.d.ts`, default: `./${name}.js` });

const manifest = {
  name: field('name'),
  version: field('version'),
  description: field('description'),
  license: field('license'),
  repository: { type: 'git', url: `git+${field('repository')}.git` },
  type: 'module',
  main: './brainclip.js',
  types: './brainclip.d.ts',
  exports: {
    '.': build('brainclip'),
    // The same API without WebGPU: for browsers that offer no adapter, about a quarter of the size.
    './cpu': build('brainclip_cpu'),
    // The same API run in a module worker (every call a promise); it picks the build itself.
    './worker': { types: './worker.d.ts', default: './worker.js' },
    // For bundlers and hosts that serve the wasm from another URL (`init({ module_or_path })`).
    './brainclip_bg.wasm': { types: './brainclip_bg.wasm.d.ts', default: './brainclip_bg.wasm' },
    './brainclip_cpu_bg.wasm': { types: './brainclip_cpu_bg.wasm.d.ts', default: './brainclip_cpu_bg.wasm' },
    './package.json': './package.json',
  },
  files: [
    ...BUILDS.flatMap((name) => [`${name}.js`, `${name}.d.ts`, `${name}_bg.wasm`, `${name}_bg.wasm.d.ts`]),
    ...WORKER_FILES,
    // The threaded build's helper that starts its pool's workers (from wasm-bindgen-rayon).
    'snippets/',
    'README.md', 'LICENSE-MIT', 'LICENSE-APACHE',
  ],
  // Importing the glue defines functions only; nothing runs until `init()`.
  sideEffects: false,
  keywords: ['fmri', 'clip', 'brain-decoding', 'neuroscience', 'webgpu', 'wasm'],
};
writeFileSync('pkg/package.json', JSON.stringify(manifest, null, 2) + '\n');
copyFileSync('docs/npm-README.md', 'pkg/README.md');
for (const file of WORKER_FILES) copyFileSync(`src/web/js/${file}`, `pkg/${file}`);
for (const licence of ['LICENSE-MIT', 'LICENSE-APACHE']) copyFileSync(`docs/licenses/${licence}`, `pkg/${licence}`);
console.log(`pkg/package.json: ${manifest.name}@${manifest.version}`);
