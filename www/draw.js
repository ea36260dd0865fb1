// Drawing: pure functions of a canvas and the numbers to show, nothing else of the page.

/** Puts RGBA `pixels` (a size × size image) on `canvas`. */
export function drawPixels(canvas, pixels, size) {
  canvas.getContext('2d').putImageData(new ImageData(pixels, size, size), 0, 0);
}

/**
 * The trials × candidates matrix: each cell the cosine similarity of a trial's predicted image
 * embedding and a candidate's (`similarity`, row-major), scaled per trial (row) so each row's
 * best match is brightest; with `truthKnown` the seen image of each trial (candidate i for
 * trial i) is outlined. Returns the cell size in canvas pixels.
 */
export function drawMatrix(canvas, similarity, trials, candidates, truthKnown) {
  const n = candidates;
  const cell = Math.max(2, Math.floor(400 / Math.max(n, trials)));
  canvas.width = n * cell;
  canvas.height = trials * cell;
  const ctx = canvas.getContext('2d');
  for (let t = 0; t < trials; t += 1) {
    const row = similarity.subarray(t * n, (t + 1) * n);
    const lo = Math.min(...row);
    const hi = Math.max(...row);
    for (let c = 0; c < n; c += 1) {
      // Cubed, so the few close matches stand out from the many middling ones.
      const v = hi > lo ? (row[c] - lo) / (hi - lo) : 0;
      const shade = Math.round(255 * v ** 3);
      ctx.fillStyle = `rgb(${Math.round(shade * 0.35)},${Math.round(shade * 0.55)},${shade})`;
      ctx.fillRect(c * cell, t * cell, cell, cell);
    }
  }
  if (truthKnown) {
    // A thin outline inside the cell, so its own brightness still shows.
    ctx.strokeStyle = '#ffb000';
    ctx.lineWidth = 1;
    for (let t = 0; t < Math.min(trials, n); t += 1) ctx.strokeRect(t * cell + 0.5, t * cell + 0.5, cell - 1, cell - 1);
  }
  return cell;
}

/** Diverging colour: blue below the voxel's mean, red above, saturating at ±`scale`. */
export function divergingColour(value, scale) {
  const t = Math.max(-1, Math.min(1, value / scale));
  const r = t > 0 ? 255 : Math.round(255 * (1 + t));
  const b = t < 0 ? 255 : Math.round(255 * (1 - t));
  const g = Math.round(255 * (1 - Math.abs(t)));
  return `rgb(${r},${g},${b})`;
}

/**
 * One value per voxel on `canvas`: at its place on the cortical `sheet` (normalised
 * coordinates and named areas) when there is one, else in voxel order, row by row. `unit` is
 * '' for values without a natural scale (an attribution map). Returns where each voxel was
 * drawn (`positions`, x and y per voxel), the dot size and the colour scale.
 */
export function drawBrain(canvas, { values, sheet, unit }) {
  const ctx = canvas.getContext('2d');
  const { width, height } = canvas;
  const n = values.length;
  // Room above the sheet for the areas' names, in type that stays readable however wide the
  // canvas is drawn (a phone shows it at half its pixel width).
  const shown = canvas.getBoundingClientRect().width;
  const fontSize = Math.round(13 * (shown > 0 ? width / shown : 1));
  const pad = 12;
  const top = sheet?.areas.length ? fontSize + 18 : pad;
  const [w, h] = [width - 2 * pad, height - top - pad];
  // The colour scale follows the trial (its 98th percentile of |value|), so weak and strong
  // patterns both show their structure; the caption states the scale.
  const magnitudes = Array.from(values, Math.abs).sort((a, b) => a - b);
  const floor = unit ? 0.25 : 1e-9;
  const scale = Math.max(floor, magnitudes[Math.floor(0.98 * (n - 1))] ?? 1);
  const positions = new Float32Array(n * 2);
  let dot;
  if (sheet) {
    const c = sheet.coordinates;
    for (let i = 0; i < n; i += 1) {
      positions[2 * i] = pad + c[2 * i] * w;
      positions[2 * i + 1] = top + c[2 * i + 1] * h;
    }
    dot = 5;
  } else {
    const columns = Math.ceil(Math.sqrt((n * w) / h));
    const cell = w / columns;
    for (let i = 0; i < n; i += 1) {
      positions[2 * i] = pad + (i % columns + 0.5) * cell;
      positions[2 * i + 1] = top + (Math.floor(i / columns) + 0.5) * cell;
    }
    dot = Math.max(1, cell);
  }
  ctx.fillStyle = '#1d1f24';
  ctx.fillRect(0, 0, width, height);
  for (let i = 0; i < n; i += 1) {
    ctx.fillStyle = divergingColour(values[i], scale);
    ctx.fillRect(positions[2 * i] - dot / 2, positions[2 * i + 1] - dot / 2, dot, dot);
  }
  ctx.strokeStyle = '#e8e9ec';
  ctx.fillStyle = '#e8e9ec';
  ctx.font = `${fontSize}px system-ui, sans-serif`;
  for (const area of sheet?.areas ?? []) {
    const [x0, y0, x1, y1] = area.bounds;
    const x = pad + x0 * w - 4;
    const y = top + y0 * h - 4;
    ctx.strokeRect(x, y, (x1 - x0) * w + 8, (y1 - y0) * h + 8);
    ctx.fillText(area.name, x, y - 6);
  }
  return { positions, dot, scale };
}

/**
 * Top-1 against effective SNR (per presentation × √presentations, log scale) for each of
 * `runs` ({ snr, repeats, top1 }), chance dashed.
 */
export function drawExplorePlot(canvas, runs, chance) {
  const g = canvas.getContext('2d');
  const { width, height } = canvas;
  const pad = { left: 44, right: 12, top: 12, bottom: 34 };
  const [low, high] = [Math.log10(0.01), Math.log10(20)];
  const x = (snr) => pad.left + (Math.log10(Math.min(Math.max(snr, 0.01), 20)) - low) / (high - low) * (width - pad.left - pad.right);
  const y = (v) => height - pad.bottom - v * (height - pad.top - pad.bottom);
  g.fillStyle = '#fff';
  g.fillRect(0, 0, width, height);
  g.strokeStyle = '#888';
  g.fillStyle = '#333';
  g.font = '12px system-ui, sans-serif';
  g.beginPath();
  g.moveTo(pad.left, pad.top);
  g.lineTo(pad.left, y(0));
  g.lineTo(width - pad.right, y(0));
  g.stroke();
  for (const v of [0, 0.5, 1]) g.fillText(`${v * 100}%`, 6, y(v) + 4);
  for (const snr of [0.01, 0.1, 1, 10]) g.fillText(String(snr), x(snr) - 8, height - pad.bottom + 16);
  g.fillText('effective SNR of a trial', width / 2 - 60, height - 4);
  g.setLineDash([4, 4]);
  g.beginPath();
  g.moveTo(pad.left, y(chance));
  g.lineTo(width - pad.right, y(chance));
  g.stroke();
  g.setLineDash([]);
  g.fillStyle = '#1a56db';
  for (const run of runs) {
    g.beginPath();
    g.arc(x(run.snr * Math.sqrt(run.repeats)), y(run.top1), 4, 0, 2 * Math.PI);
    g.fill();
  }
}
