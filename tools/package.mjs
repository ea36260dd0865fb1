// Writes pkg/package.json for the npm package that wasm-bindgen generated into pkg/,
// taking name, version and description from Cargo.toml so there is one source of truth.
import { readFileSync, writeFileSync, copyFileSync } from 'node:fs';

const cargo = readFileSync('Cargo.toml', 'utf8');
const field = (name) => cargo.match(new RegExp(`^${name} = "(.*)"$`, 'm'))?.[1];

const manifest = {
  name: field('name'),
  version: field('version'),
  description: field('description'),
  license: field('license'),
  repository: field('repository'),
  type: 'module',
  main: 'brainclip.js',
  types: 'brainclip.d.ts',
  // `brainclip_cpu` is the same API without WebGPU, a fifth of the size.
  files: ['brainclip.js', 'brainclip.d.ts', 'brainclip_bg.wasm', 'brainclip_bg.wasm.d.ts',
    'brainclip_cpu.js', 'brainclip_cpu.d.ts', 'brainclip_cpu_bg.wasm', 'brainclip_cpu_bg.wasm.d.ts', 'README.md'],
  sideEffects: ['./snippets/*'],
  keywords: ['fmri', 'clip', 'brain-decoding', 'webgpu', 'wasm'],
};
writeFileSync('pkg/package.json', JSON.stringify(manifest, null, 2) + '\n');
copyFileSync('README.md', 'pkg/README.md');
console.log(`pkg/package.json: ${manifest.name}@${manifest.version}`);
