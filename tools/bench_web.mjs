// `make bench-web` (not part of `make test`; needs `make site` and the release CLI):
//
// 1. memory: brainclip's WebAssembly memory in headless Chromium (CPU build), stage by stage,
//    on a mapper sized for a real dataset: 15,724 voxels (NSD's nsdgeneral ROI of subject 1)
//    into CLIP ViT-B/32's 512-dimensional space, decoding an upload of 1,000 × 15,724 float32
//    values (63 MB). WebAssembly memory only grows, so each figure is the peak so far.
// 2. speed: brainclip against onnxruntime-web (tools/bench-web, pinned; wasm backend, fp32)
//    on the same random CLIP ViT-B/32 (tools/reference/clip_onnx.py writes the Hugging Face
//    directory and the ONNX files from one model; run it once, outside CI). Both engines run
//    in module workers of one cross-origin-isolated page; runs alternate between them.
//
// BENCH=memory or BENCH=speed runs one part; BENCH_RUNS and BENCH_WARMUP change the counts.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { startServer } from './serve.mjs';

const TARGET = resolve(process.env.CARGO_TARGET_DIR ?? 'target');
const WORK = join(TARGET, 'bench-web');
const VOXELS = 15724;
const TRIALS = 1000;
const DIM = 512;
const cli = join(TARGET, 'release', 'brainclip');

async function benchMemory() {
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
}

const RUNS = Number(process.env.BENCH_RUNS ?? 30);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 5);

async function benchSpeed() {
  const clipDir = join(WORK, 'vit-b-32');
  if (!existsSync(join(clipDir, 'image.onnx'))) {
    console.log(`\nspeed: skipped. ${clipDir}/image.onnx is missing; write the models once with ` +
      `tools/reference/clip_onnx.py ${clipDir} (torch and transformers in a venv; see its header).`);
    return;
  }
  const ortDir = resolve('tools/bench-web/node_modules/onnxruntime-web/dist');
  if (!existsSync(ortDir)) execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: 'tools/bench-web', stdio: 'inherit' });
  // brainclip's bundle: the same CLIP (stored f32→f16, as bundles ship it) beside a small mapper.
  const bundle = join(WORK, 'clip-bundle');
  if (!existsSync(join(bundle, 'manifest.json'))) {
    const planted = join(WORK, 'planted512');
    execFileSync(cli, ['sim', 'planted', '--out', planted, '--voxels', '300', '--dim', '512'], { stdio: 'inherit' });
    execFileSync(cli, ['train-mapper', '--fmri', join(planted, 'train_fmri.npy'),
      '--image-embeddings', join(planted, 'train_image_embeddings.npy'),
      '--text-embeddings', join(planted, 'train_text_embeddings.npy'),
      '--out', bundle, '--simulated', '--epochs', '1', '--no-controls',
      '--clip', clipDir, '--bundle-clip', '--f16'], { stdio: 'inherit' });
  }
  const labels = JSON.parse(readFileSync('www/samples/novel-categories.json', 'utf8'));
  // Token ids as brainclip's tokenizer gives them, cut after the longest label's end token, as
  // brainclip itself runs them (the model pools at the end token; padding after it changes
  // nothing but the work).
  const padded = JSON.parse(execFileSync(cli, ['tokenize', '--json', ...labels], { encoding: 'utf8' }));
  const tokens = Math.max(...padded.map((row) => row.indexOf(49407) + 1));
  const ids = padded.flatMap((row) => row.slice(0, tokens));

  const server = await startServer({
    port: 0, csp: false, isolate: true,
    mounts: [['/bench/', WORK], ['/ort/', ortDir], ['/bench-tools/', 'tools/bench-web']],
  });
  const url = `http://127.0.0.1:${server.address().port}/`;
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true });
  try {
    const page = await browser.newPage();
    page.on('console', (msg) => { if (msg.type() === 'error') console.error(`page: ${msg.text()}`); });
    const isolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };
    await page.route(`${url}blank.html`, (route) => route.fulfill({ contentType: 'text/html', headers: isolation, body: '<!doctype html><title>bench</title>' }));
    await page.goto(`${url}blank.html`);
    const result = await page.evaluate(async ({ labels, ids, tokens, runs, warmup }) => {
      const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
      // A 224 × 224 test image: PNG for brainclip (it preprocesses as CLIPImageProcessor
      // does: at 224 px, scaling only), CLIP-normalised CHW floats for onnxruntime-web.
      const canvas = new OffscreenCanvas(224, 224);
      const ctx = canvas.getContext('2d');
      const gradient = ctx.createLinearGradient(0, 0, 224, 224);
      gradient.addColorStop(0, '#c33'); gradient.addColorStop(1, '#36c');
      ctx.fillStyle = gradient; ctx.fillRect(0, 0, 224, 224);
      ctx.fillStyle = '#fd4'; ctx.beginPath(); ctx.arc(112, 112, 60, 0, 2 * Math.PI); ctx.fill();
      const png = new Uint8Array(await (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer());
      const rgba = ctx.getImageData(0, 0, 224, 224).data;
      const mean = [0.48145466, 0.4578275, 0.40821073];
      const std = [0.26862954, 0.26130258, 0.27577711];
      const one = new Float32Array(3 * 224 * 224);
      for (let c = 0; c < 3; c += 1) for (let i = 0; i < 224 * 224; i += 1) one[c * 224 * 224 + i] = (rgba[i * 4 + c] / 255 - mean[c]) / std[c];
      const pixels = (n) => { const out = new Float32Array(n * one.length); for (let k = 0; k < n; k += 1) out.set(one, k * one.length); return out; };

      const ortWorker = (threads) => {
        const worker = new Worker('/bench-tools/ort-worker.js', { type: 'module' });
        let next = 0;
        const pending = new Map();
        worker.onmessage = ({ data }) => { const p = pending.get(data.id); pending.delete(data.id); data.error ? p.reject(new Error(data.error)) : p.resolve(data.value); };
        const call = (op, args) => new Promise((resolve, reject) => { const id = next++; pending.set(id, { resolve, reject }); worker.postMessage({ id, op, args }); });
        return { call, threads, terminate: () => worker.terminate() };
      };
      const timed = async (fn) => { const t = performance.now(); const value = await fn(); return { ms: performance.now() - t, value }; };

      // Cold: compile and load, then the first inference.
      const cold = {};
      let t = performance.now();
      const { createWorkerDecoder } = await import('/pkg/worker.js');
      const decoder = await createWorkerDecoder('/bench/clip-bundle/', { backend: 'cpu', threads: 1, cache: false });
      cold.brainclip = { load: performance.now() - t };
      cold.brainclip.first = (await timed(() => decoder.embedImages([png], ['test.png']))).ms;
      // The threaded build on 2 threads (this page is cross-origin isolated).
      t = performance.now();
      const decoder2 = await createWorkerDecoder('/bench/clip-bundle/', { backend: 'cpu', threads: 2, cache: false });
      cold.brainclip2 = { load: performance.now() - t, build: decoder2.brainclip.build, threads: decoder2.brainclip.threads };
      cold.brainclip2.first = (await timed(() => decoder2.embedImages([png], ['test.png']))).ms;
      const engines = [];
      for (const threads of [1, 2]) {
        const ort = ortWorker(threads);
        t = performance.now();
        const loaded = await ort.call('load', { image: '/bench/vit-b-32/image.onnx', text: '/bench/vit-b-32/text.onnx', threads });
        cold[`ort${threads}`] = { load: performance.now() - t, ...loaded };
        cold[`ort${threads}`].first = (await timed(() => ort.call('image', { pixels: pixels(1), n: 1 }))).ms;
        engines.push(ort);
      }
      const idArray = BigInt64Array.from(ids.map(BigInt));
      const tasks = {
        'image, batch 1': {
          brainclip: (d) => d.embedImages([png], ['test.png']),
          ort: (ort) => ort.call('image', { pixels: pixels(1), n: 1 }),
        },
        'image, batch 16': {
          brainclip: (d) => d.embedImages(Array(16).fill(png), Array(16).fill('test.png')),
          ort: (ort) => ort.call('image', { pixels: pixels(16), n: 16 }),
        },
        [`text, ${labels.length} labels`]: {
          brainclip: (d) => d.embedLabels(labels, { templates: ['{}'] }),
          ort: (ort) => ort.call('text', { ids: idArray, n: labels.length, tokens }),
        },
      };
      // The same weights give the same embeddings (bundle f16 against ONNX f32).
      const agree = {};
      {
        const a = await tasks['image, batch 1'].brainclip(decoder);
        const b = await tasks['image, batch 1'].ort(engines[0]);
        agree.image = Math.max(...a.map((v, i) => Math.abs(v - b[i])));
        const c = await tasks[`text, ${labels.length} labels`].brainclip(decoder);
        const e = await tasks['image, batch 1'].brainclip(decoder2);
        agree.threads = Math.max(...a.map((v, i) => Math.abs(v - e[i])));
        const d = await tasks[`text, ${labels.length} labels`].ort(engines[0]);
        agree.text = Math.max(...c.map((v, i) => Math.abs(v - d[i])));
      }
      const rows = [];
      for (const [task, run] of Object.entries(tasks)) {
        const times = { brainclip: [], brainclip2: [], ort1: [], ort2: [] };
        for (let r = 0; r < warmup + runs; r += 1) {
          // Alternating, so drift in the machine's speed falls on all alike.
          const b = await timed(() => run.brainclip(decoder));
          const o1 = await timed(() => run.ort(engines[0]));
          const b2 = await timed(() => run.brainclip(decoder2));
          const o2 = await timed(() => run.ort(engines[1]));
          if (r >= warmup) {
            times.brainclip.push(b.ms); times.ort1.push(o1.ms); times.brainclip2.push(b2.ms); times.ort2.push(o2.ms);
          }
        }
        rows.push({ task, ...Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)])) });
      }
      decoder.terminate();
      decoder2.terminate();
      for (const ort of engines) ort.terminate();
      return { cold, rows, agree, isolated: self.crossOriginIsolated, cores: navigator.hardwareConcurrency };
    }, { labels, ids, tokens, runs: RUNS, warmup: WARMUP });

    const ms = (x) => `${x.toFixed(0)} ms`;
    console.log(`\nbrainclip (CPU builds) against onnxruntime-web 1.30.0 (wasm, fp32) on a random CLIP ViT-B/32;` +
      ` medians of ${RUNS} runs after ${WARMUP} warm-ups, alternating; ${result.cores} cores, cross-origin isolated: ${result.isolated};` +
      ` brainclip at 2 threads: ${result.cold.brainclip2.build}, ${result.cold.brainclip2.threads} threads`);
    console.log('| task | brainclip, 1 thread | onnxruntime-web, 1 thread | ratio | brainclip, 2 threads | onnxruntime-web, 2 threads | ratio |');
    console.log('| --- | --- | --- | --- | --- | --- | --- |');
    const ratio = (a, b) => `${(a / b).toFixed(2)}×`;
    for (const r of result.rows) {
      console.log(`| ${r.task} | ${ms(r.brainclip)} | ${ms(r.ort1)} | ${ratio(r.brainclip, r.ort1)} | ${ms(r.brainclip2)} | ${ms(r.ort2)} | ${ratio(r.brainclip2, r.ort2)} |`);
    }
    const c = result.cold;
    console.log(`cold: brainclip worker + compile + bundle load ${ms(c.brainclip.load)}, first image ${ms(c.brainclip.first)} ` +
      `(2 threads: ${ms(c.brainclip2.load)}, ${ms(c.brainclip2.first)}); ` +
      `onnxruntime-web (1 thread) compile + sessions ${ms(c.ort1.load)}, first image ${ms(c.ort1.first)}; ` +
      `(2 threads: ${c.ort2.threads} threads, ${ms(c.ort2.load)}, ${ms(c.ort2.first)})`);
    console.log(`the same weights: embeddings differ by at most ${result.agree.image.toExponential(1)} (image) and ` +
      `${result.agree.text.toExponential(1)} (text) between the f16 bundle and the f32 ONNX files; ` +
      `brainclip's two builds by ${result.agree.threads.toExponential(1)}`);
  } finally {
    await browser.close();
    server.close();
  }
}

mkdirSync(WORK, { recursive: true });
const part = process.env.BENCH ?? 'all';
if (part === 'all' || part === 'memory') await benchMemory();
if (part === 'all' || part === 'speed') await benchSpeed();
