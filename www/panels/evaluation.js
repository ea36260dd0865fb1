// The library's evaluations as the page shows them: a metrics table beside its chance and
// controls, and the latest evaluation kept downloadable as JSON (made in the page; nothing
// is sent).
import { $ } from '../dom.js';
import { metricsTable } from '../metrics.js';

/** The library's metrics as a table (value, chance, controls) in `id`. */
export function renderMetrics(id, evaluation, metricIds) {
  $(id).replaceChildren(...metricsTable(evaluation, metricIds));
  $(id).hidden = false;
  showEvaluation(evaluation);
}

function showEvaluation(evaluation) {
  const json = JSON.stringify(evaluation, null, 2);
  $('evaluation-json').textContent = json;
  const link = $('evaluation-download');
  if (link.href.startsWith('blob:')) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(new Blob([json], { type: 'application/json' }));
  link.hidden = false;
}
