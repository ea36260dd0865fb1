// The library's metrics as a table: value, chance and every control it reports. The page
// computes no metric itself: these are the numbers `brainclip eval` prints.

/** Percent with one decimal, as the CLI prints it. */
export const percent = (v) => `${(100 * v).toFixed(1)}%`;

// Controls in the order a reader compares against them (the names the library reports).
const CONTROL_ORDER = ['shuffled labels', 'ridge', 'colour only', 'shape only'];
const CONTROL_TEXT = {
  'shuffled labels': '"shuffled labels": the same mapper trained with every stimulus given another stimulus\'s labels.',
  ridge: '"ridge": linear ridge regression from voxels to CLIP space.',
  'colour only': '"colour only": a decoder that knew only the colour of each simulated stimulus.',
  'shape only': '"shape only": a decoder that knew only its shape.',
};

/** The table of `evaluation`'s metrics among `metricIds`, its notes and the controls' legend. */
export function metricsTable(evaluation, metricIds) {
  const metrics = evaluation.metrics.filter((m) => metricIds.includes(m.id));
  const controls = [...new Set(metrics.flatMap((m) => Object.keys(m.controls ?? {})))]
    .sort((a, b) => (CONTROL_ORDER.indexOf(a) + 1 || 99) - (CONTROL_ORDER.indexOf(b) + 1 || 99));
  const table = document.createElement('table');
  table.className = 'metrics';
  const head = table.createTHead().insertRow();
  for (const title of ['metric', 'value', 'chance', ...controls]) {
    const th = document.createElement('th');
    th.textContent = title;
    head.append(th);
  }
  const body = table.createTBody();
  for (const m of metrics) {
    const row = body.insertRow();
    row.dataset.metric = m.id;
    row.insertCell().textContent = m.name;
    const value = row.insertCell();
    value.textContent = percent(m.value);
    value.title = `${m.name}: ${percent(m.value)} over ${m.trials} trials`;
    value.className = 'value';
    row.insertCell().textContent = percent(m.chance);
    for (const c of controls) {
      row.insertCell().textContent = m.controls?.[c] === undefined ? '—' : percent(m.controls[c]);
    }
  }
  const notes = (evaluation.notes ?? []).map((n) => {
    const p = document.createElement('p');
    p.className = 'hint';
    p.textContent = n;
    return p;
  });
  const legend = document.createElement('p');
  legend.className = 'hint';
  legend.textContent = controls
    .map((c) => CONTROL_TEXT[c] ?? `"${c}": a control shipped with the bundle.`).join(' ');
  return [table, ...notes, ...(controls.length ? [legend] : [])];
}
