// The package's TypeScript declarations (src/web/types.rs) against what its functions really
// return: every result is collected from the npm package in a page, written out as typed
// object literals, and checked by tsc. A property the declarations lack, or one they require
// and a result does not have, or a value of another type fails the check (object literals
// get TypeScript's excess-property check at every depth). Seen red once by renaming
// `DecoderInfo.hasLowLevel` in the declarations.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { serveSite, launch, openBlank } from './browser.mjs';

const ROOT = new URL('../..', import.meta.url).pathname;
const WORK = join(ROOT, 'target', 'types-check');

let site;
before(async () => { site = await serveSite(); });
after(() => site.server.close());

/** Every kind of result the package returns, as TypeScript literals keyed by their type. */
async function collectResults(page) {
  return page.evaluate(async () => {
    const brainclip = await import('./pkg/brainclip_cpu.js');
    await brainclip.default();
    const literal = (value) => {
      if (value === null || value === undefined) return 'null';
      if (ArrayBuffer.isView(value)) return `new ${value.constructor.name}(${value.length})`;
      if (Array.isArray(value)) return `[${value.map(literal).join(', ')}]`;
      if (typeof value === 'object') {
        return `{ ${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${literal(v)}`).join(', ')} }`;
      }
      if (typeof value === 'number' && !Number.isFinite(value)) return 'NaN';
      return JSON.stringify(value);
    };
    const out = [];
    const keep = (type, value) => out.push({ type, literal: literal(value) });

    keep('DeviceInfo', await brainclip.initDevice('cpu'));
    const url = new URL('models/demo/', document.baseURI).href;
    const progress = new Map();
    const bundle = await brainclip.loadBundle(url, (event) => progress.set(event.status, event), { cache: false });
    for (const event of progress.values()) keep('LoadProgress', event);
    keep('BundleInfo', bundle.info());
    keep('VoxelSheet', bundle.voxelSheet());
    const decoder = await brainclip.loadDecoder(bundle, 'cpu');
    keep('DecoderInfo', decoder.info());

    const bytes = new Uint8Array(await (await fetch('samples/sub-01-test-fmri.npy')).arrayBuffer());
    const fmri = await brainclip.readFmri(bytes, 'sub-01-test-fmri.npy');
    keep('FmriSource', fmri.source);
    const labels = await (await fetch('samples/test-labels.json')).json();
    const candidates = [...new Set(labels)];
    keep('RankedLabel[][]', (await decoder.decodeCategories(fmri, candidates, { topK: 2 })).slice(0, 2));
    const embeddings = await decoder.embed(fmri);
    keep('Embeddings', embeddings);
    const imageCandidates = embeddings.image.slice(0, 3 * embeddings.imageDim);
    keep('RankedCandidate[][]', (await decoder.retrieve(fmri, imageCandidates, { topK: 2 })).slice(0, 2));
    const evaluation = await decoder.evaluate(fmri, { labels, candidates });
    evaluation.perTrial = evaluation.perTrial?.slice?.(0, 2) ?? evaluation.perTrial;
    keep('Evaluation', evaluation);
    keep('Attribution', await decoder.attribute(fmri, { trial: 0, label: candidates[0], steps: 4 }));
    const reconstruction = await decoder.reconstruct(fmri, { trials: [0, 1], steps: 1 });
    keep('Reconstruction', reconstruction);
    keep('Reconstruction', await decoder.reconstructLowLevel(fmri, { trials: [0] }));
    const stimulusIds = await (await fetch('samples/test-stimulus-ids.json')).json();
    const seen = [];
    for (const trial of reconstruction.trials) {
      const file = await fetch(`samples/stimuli/${stimulusIds[trial]}.png`);
      seen.push(new Uint8Array(await file.arrayBuffer()));
    }
    const names = reconstruction.trials.map((t) => `${stimulusIds[t]}.png`);
    keep('Metric[]', await decoder.scoreReconstructions(reconstruction.images, reconstruction.size, seen, names));
    const other = await brainclip.readFmri(bytes, 'again.npy');
    keep('NormalizationReport', bundle.normalize(other));
    const session = brainclip.simulateTrainingSession('sub-02');
    keep('FmriSource', session.fmri.source);
    session.fmri = null;
    session.labels = session.labels.slice(0, 3);
    session.stimulusIds = session.stimulusIds.slice(0, 3);
    out.push({ type: 'Omit<TrainingSession, "fmri">', literal: literal({ labels: session.labels, stimulusIds: session.stimulusIds }) });
    return out;
  });
}

test('the TypeScript declarations describe what the package returns', async () => {
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors } = await openBlank(browser, site);
    const results = await collectResults(page);
    assert.deepEqual(errors, []);
    const types = new Set(results.map((r) => r.type));
    for (const type of ['DecoderInfo', 'BundleInfo', 'Evaluation', 'Reconstruction', 'Attribution', 'Embeddings']) {
      assert.ok(types.has(type), `no ${type} was collected`);
    }
    mkdirSync(WORK, { recursive: true });
    const pkg = relative(WORK, join(ROOT, 'pkg', 'brainclip_cpu.js'));
    const source = [
      `import type * as B from '${pkg.startsWith('.') ? pkg : `./${pkg}`}';`,
      ...results.map(({ type, literal }, i) => {
        const qualified = type.replace(/\b([A-Z][A-Za-z]+)\b/g, (name) => (['Omit'].includes(name) ? name : `B.${name}`));
        return `export const result${i}: ${qualified} = ${literal};`;
      }),
      '',
    ].join('\n');
    const file = join(WORK, 'results.ts');
    writeFileSync(file, source);
    try {
      execFileSync(join(ROOT, 'node_modules', '.bin', 'tsc'),
        ['--noEmit', '--strict', '--target', 'esnext', '--module', 'es2022', '--moduleResolution', 'bundler',
          '--lib', 'esnext,dom', '--skipLibCheck', 'false', file], { stdio: 'pipe', encoding: 'utf8' });
    } catch (err) {
      assert.fail(`tsc found results the declarations do not describe:\n${err.stdout}${err.stderr}`);
    }
    process.stdout.write(`# ${results.length} results of ${types.size} types checked against the declarations\n`);
  } finally {
    await browser.close();
    rmSync(WORK, { recursive: true, force: true });
  }
});
