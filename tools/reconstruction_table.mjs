// The reconstruction table of docs/reconstruction/table.md and the README: every variant's
// metrics (from `brainclip eval --reconstruct --json`, files SUBJECT-VARIANT.json), as the
// mean over the simulated subjects ± their spread (standard deviation), beside the chance
// level (mismatched pairs for PixCorr and SSIM).
//   node tools/reconstruction_table.mjs build/demo/diffusion/report STRENGTH > table.md
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2] ?? 'build/demo/diffusion/report';
// The strength the shipped low-level heads start from by default (the demo's default).
const strength = process.argv[3];
if (!strength) throw new Error('usage: reconstruction_table.mjs REPORT_DIR STRENGTH');
const VARIANTS = [
  ['autoencoder', 'the seen images through the autoencoder alone (ceiling of any decoder)'],
  ['seen-teacher-50', 'teacher, 50 steps, from the seen images\' CLIP embeddings (upper bound)'],
  ['seen-student-4', 'student, 4 steps, from the seen images\' CLIP embeddings (upper bound)'],
  ['teacher-50', 'teacher, 50 steps (the students\' guidance), from noise'],
  ['student-4', 'student, 4 steps, from noise'],
  ['student-2', 'student, 2 steps, from noise'],
  ['student-1', 'student, 1 step, from noise'],
  ['student-4-img2img', `student, 4 steps from the low-level image (strength ${strength}, the demo's default)`],
  ['low-level', 'low-level path alone (no sampling)'],
];
const METRICS = ['pixcorr', 'ssim', 'clip_two_way', 'latent_two_way', 'depicted_category', 'depicted_colour', 'depicted_shape'];
const TITLES = {
  pixcorr: 'PixCorr', ssim: 'SSIM', clip_two_way: 'CLIP 2-way', latent_two_way: 'latent 2-way',
  depicted_category: 'category', depicted_colour: 'colour', depicted_shape: 'shape',
};
const PERCENT = new Set(['clip_two_way', 'latent_two_way', 'depicted_category', 'depicted_colour', 'depicted_shape']);

const files = readdirSync(dir).map((f) => f.match(/^(sub-\d+)-(.+)\.json$/)).filter(Boolean);
const subjects = [...new Set(files.map((m) => m[1]))].sort();
const read = (subject, variant) => {
  try {
    return JSON.parse(readFileSync(join(dir, `${subject}-${variant}.json`), 'utf8')).reconstruction;
  } catch {
    return null;
  }
};
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));
const show = (id, x) => (PERCENT.has(id) ? (100 * x).toFixed(1) : x.toFixed(3));

const lines = [
  `Mean over ${subjects.length} simulated subjects (${subjects.join(', ')}) ± spread across subjects; ` +
    '50 test trials each, 50 categories the mapper never saw, 64 × 64 pixels. Percentages for the ' +
    'identification and depiction columns. The first three rows do not depend on the subject ' +
    '(every subject saw the same 50 test stimuli), hence no spread.',
  '',
  `| reconstruction | ${METRICS.map((m) => TITLES[m]).join(' | ')} |`,
  `| --- | ${METRICS.map(() => '---').join(' | ')} |`,
];
let chance = null;
for (const [variant, title] of VARIANTS) {
  const runs = subjects.map((s) => read(s, variant)).filter(Boolean);
  if (runs.length === 0) continue;
  const cells = METRICS.map((id) => {
    const values = runs.map((r) => r.find((m) => m.id === id)?.value).filter((v) => v !== undefined);
    if (values.length === 0) return '—';
    const cell = `${show(id, mean(values))} ± ${show(id, sd(values))}`;
    // PixCorr and SSIM have no fixed chance: the same score on mismatched pairs.
    if (PERCENT.has(id)) return cell;
    return `${cell} (${show(id, mean(runs.map((r) => r.find((m) => m.id === id).chance)))})`;
  });
  chance ??= METRICS.map((id) => {
    if (!PERCENT.has(id)) return 'in ( )';
    const values = runs.map((r) => r.find((m) => m.id === id)?.chance).filter((v) => v !== undefined);
    return values.length ? show(id, mean(values)) : '—';
  });
  lines.push(`| ${title} | ${cells.join(' | ')} |`);
}
if (chance) lines.push(`| chance (PixCorr, SSIM: the same score on mismatched pairs, in parentheses) | ${chance.join(' | ')} |`);
console.log(lines.join('\n'));
