// DOM helpers every part of the page shares (the demo and the training panel).

export const $ = (id) => document.getElementById(id);

/** Puts `text` in element `id`, styled as an error when `isError`. */
export function show(id, text, isError = false) {
  $(id).textContent = text;
  $(id).classList.toggle('error', isError);
}

/** Shows an error's message in element `id`, its code kept for the tests and styles. */
export function showError(id, err) {
  $(id).textContent = err.message ?? String(err);
  $(id).dataset.code = err.code ?? 'unknown';
  $(id).hidden = false;
}

/** 4466 → "4,466". */
export const grouped = (n) => n.toLocaleString('en-US');

/** One label (or id) per trial: a JSON array, or one per line. */
export function parseList(text, what) {
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    const list = JSON.parse(trimmed);
    if (!Array.isArray(list)) throw new Error(`${what}: expected a JSON array`);
    return list;
  }
  return trimmed.split(/\r?\n/).map((line) => line.trim()).filter(Boolean);
}

/** The candidate labels the visitor typed, one per line, each once. */
export function candidateLabels() {
  return [...new Set($('labels').value.split('\n').map((l) => l.trim()).filter(Boolean))];
}

export function thumbnail(url, alt) {
  const img = document.createElement('img');
  img.src = url;
  img.alt = alt;
  img.width = 48;
  img.height = 48;
  return img;
}

export function canvasFor(size, label) {
  const canvas = document.createElement('canvas');
  canvas.width = size;
  canvas.height = size;
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', label);
  return canvas;
}

/** One decoded label with its probability as a bar, marked when it is the truth. */
export function labelItem(ranked, truth) {
  const item = document.createElement('li');
  item.className = ranked.label === truth ? 'hit' : '';
  const bar = document.createElement('span');
  bar.className = 'bar';
  bar.style.width = `${Math.round(ranked.probability * 100)}%`;
  item.append(document.createTextNode(`${ranked.label} ${(ranked.probability * 100).toFixed(1)} %`), bar);
  return item;
}
