// Summarises the demo's evaluations (one `brainclip eval --json` per simulated subject and
// training seed, named sub-XX-seedN.json) into the table the README shows: every metric with
// chance, the controls and the ceilings, as the mean over subjects ± the spread (standard
// deviation) across subjects, and the spread across seeds within a subject.
//   node tools/demo_summary.mjs build/demo/results > summary.md
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2] ?? 'build/demo/results';
const out = process.argv[3];
const runs = readdirSync(dir)
  .map((name) => name.match(/^(sub-\d+)-seed(\d+)\.json$/))
  .filter(Boolean)
  .map(([file, subject, seed]) => ({ subject, seed: Number(seed), eval: JSON.parse(readFileSync(join(dir, file), 'utf8')) }));
if (runs.length === 0) throw new Error(`no sub-XX-seedN.json evaluations in ${dir}`);

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));
const pct = (x) => `${(100 * x).toFixed(1)}`;
const subjects = [...new Set(runs.map((r) => r.subject))].sort();
const seeds = [...new Set(runs.map((r) => r.seed))].sort();
const columns = ['value', 'shuffled labels', 'ridge', 'colour only', 'shape only'];
const first = runs[0].eval.metrics;

const summary = { subjects, seeds, metrics: [] };
const lines = [
  `| metric | chance | ${columns.map((c) => (c === 'value' ? 'brainclip mapper' : c)).join(' | ')} |`,
  `| --- | --- | ${columns.map(() => '---').join(' | ')} |`,
];
for (const metric of first) {
  const row = { id: metric.id, name: metric.name, chance: metric.chance, columns: {} };
  const cells = [];
  for (const column of columns) {
    // Per subject: the mean over seeds; reported as the mean over subjects ± their spread.
    const perSubject = subjects.map((subject) => {
      const values = runs
        .filter((r) => r.subject === subject)
        .map((r) => r.eval.metrics.find((m) => m.id === metric.id))
        .map((m) => (column === 'value' ? m?.value : m?.controls?.[column]))
        .filter((v) => v !== undefined);
      return { subject, mean: mean(values), seedSpread: sd(values), n: values.length };
    }).filter((s) => s.n > 0);
    if (perSubject.length === 0) {
      cells.push('—');
      continue;
    }
    const means = perSubject.map((s) => s.mean);
    const seedSpread = mean(perSubject.map((s) => s.seedSpread));
    row.columns[column] = { mean: mean(means), subjectSpread: sd(means), seedSpread, perSubject };
    const ceiling = column === 'colour only' || column === 'shape only';
    cells.push(ceiling ? pct(mean(means)) : `${pct(mean(means))} ± ${pct(sd(means))}`);
  }
  summary.metrics.push(row);
  lines.push(`| ${metric.name} | ${pct(metric.chance)} | ${cells.join(' | ')} |`);
}
lines.push('');
lines.push(`Percent; mean over ${subjects.length} simulated subjects (${subjects.join(', ')}) of each subject's mean over ${seeds.length} training seeds, ± the standard deviation across subjects. Spread across seeds within a subject (mean sd): `
  + summary.metrics.map((m) => `${m.id} ${pct(m.columns.value?.seedSpread ?? 0)}`).join(', ') + '.');
lines.push('');
lines.push('Per subject (brainclip mapper, mean over seeds): '
  + summary.metrics.map((m) => `${m.id}: ${(m.columns.value?.perSubject ?? []).map((s) => `${s.subject} ${pct(s.mean)}`).join(' / ')}`).join('; ') + '.');
console.log(lines.join('\n'));
if (out) writeFileSync(out, `${JSON.stringify(summary, null, 2)}\n`);
