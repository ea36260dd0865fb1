// `make bench-web`: brainclip's memory in the browser (CPU build, headless Chromium), stage
// by stage, on a mapper sized for a real dataset: 15,724 voxels (NSD's nsdgeneral ROI of
// subject 1) into CLIP ViT-B/32's 512-dimensional space, decoding an upload of
// 1,000 × 15,724 float32 values (63 MB). WebAssembly memory only grows, so each figure is
// the peak so far. Not part of `make test`; needs `make site` and the release CLI.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { startServer } from './serve.mjs';

const TARGET = resolve(process.env.CARGO_TARGET_DIR ?? 'target');
const WORK = join(TARGET, 'bench-web');
const VOXELS = 15724;
const TRIALS = 1000;
const DIM = 512;
const cli = join(TARGET, 'release', 'brainclip');

mkdirSync(WORK, { recursive: true });
const planted = join(WORK, 'planted');
const bundle = join(WORK, 'mapper-15724');
if (!existsSync(join(bundle, 'manifest.json'))) {
  if (!existsSync(cli)) execFileSync('cargo', ['build', '--release', '--bin', 'brainclip'], { stdio: 'inherit' });
  console.log(`making a ${VOXELS}-voxel mapper (planted data, one epoch; the weights' values do not matter here)…`);
  execFileSync(cli, ['sim', 'planted', '--out', planted, '--voxels', String(VOXELS), '--dim', String(DIM)], { stdio: 'inherit' });
  execFileSync(cli, ['train-mapper', '--fmri', join(planted, 'train_fmri.npy'),
    '--image-embeddings', join(planted, 'train_image_embeddings.npy'),
    '--text-embeddings', join(planted, 'train_text_embeddings.npy'),
    '--out', bundle, '--simulated', '--epochs', '1', '--no-controls'], { stdio: 'inherit' });
}

// The upload: 1,000 trials of random values as a float32 .npy.
const upload = join(WORK, `upload-${TRIALS}x${VOXELS}.npy`);
if (!existsSync(upload)) {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${TRIALS}, ${VOXELS}), }`;
  header = header.padEnd(Math.ceil((10 + header.length + 1) / 64) * 64 - 10 - 1, ' ') + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head.writeUInt16LE(header.length, 8);
  const values = new Float32Array(TRIALS * VOXELS);
  for (let i = 0; i < values.length; i += 1) values[i] = Math.sin(i * 12.9898) * 2;
  writeFileSync(upload, Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(values.buffer)]));
}

const server = await startServer({ port: 0, mounts: [['/bench/', WORK]] });
const url = `http://127.0.0.1:${server.address().port}/`;
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true });
try {
  const page = await browser.newPage();
  await page.route(`${url}blank.html`, (route) => route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>bench</title>' }));
  await page.goto(`${url}blank.html`);
  const stages = await page.evaluate(async ({ uploadName, dim }) => {
    const brainclip = await import('./pkg/brainclip_cpu.js');
    const wasm = await brainclip.default();
    const out = [];
    const mark = (stage) => out.push({ stage, wasm: wasm.memory.buffer.byteLength, js: performance.memory?.usedJSHeapSize ?? null });
    mark('initialised');
    const bundle = await brainclip.loadBundle(new URL('bench/mapper-15724/', document.baseURI).href, null, { cache: false });
    const weights = bundle.info();
    mark('bundle loaded');
    const decoder = await brainclip.loadDecoder(bundle, 'cpu');
    mark('decoder built');
    bundle.dispose();
    const bytes = new Uint8Array(await (await fetch(`bench/${uploadName}`)).arrayBuffer());
    const fmri = await brainclip.readFmri(bytes, uploadName, {});
    mark(`fMRI read (${fmri.trials} × ${fmri.voxels})`);
    const labels = Array.from({ length: 50 }, (_, i) => `label ${i}`);
    const embeddings = new Float32Array(labels.length * dim).map((_, i) => Math.cos(i));
    const started = performance.now();
    const ranked = await decoder.decodeCategories(fmri, labels, { topK: 5, labelEmbeddings: embeddings });
    const milliseconds = performance.now() - started;
    mark(`decoded (${ranked.length} trials)`);
    return { out, weights, milliseconds };
  }, { uploadName: upload.split('/').pop(), dim: DIM });
  const mib = (bytes) => (bytes / 2 ** 20).toFixed(0);
  console.log(`\nbrainclip CPU build in Chromium: a ${VOXELS.toLocaleString('en')}-voxel mapper (→ ${DIM}), ${TRIALS.toLocaleString('en')} trials`);
  console.log('| stage | wasm memory (MiB) | JS heap (MiB) |\n| --- | --- | --- |');
  for (const { stage, wasm, js } of stages.out) console.log(`| ${stage} | ${mib(wasm)} | ${js === null ? '–' : mib(js)} |`);
  console.log(`decoding ${TRIALS} trials against 50 labels: ${(stages.milliseconds / 1000).toFixed(2)} s`);
} finally {
  await browser.close();
  server.close();
}
