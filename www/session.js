// The page's one brainclip worker (engine.js): starting it, calling it, cancelling its runs,
// and what the page says when it cannot run at all.
import { startEngine } from './engine.js';
import { $, show, showError } from './dom.js';
import { state } from './state.js';

// A worker that cannot start (no module workers, a wasm that fails to load) or dies must
// not leave the page at "starting…": every waiting call fails with words a visitor can act on.
let workerFailure = null;
export function failWorker(detail) {
  workerFailure ??= Object.assign(new Error(
    `brainclip could not run in this page (${detail}). Reload the page; if this happens again, ` +
    'use a current Chrome, Edge, Firefox or Safari with JavaScript modules in workers and ' +
    'WebAssembly allowed.'), { code: 'worker_failed' });
  show('backend', 'unavailable', true);
  showError('device-error', workerFailure);
  document.body.dataset.ready = 'error';
  return workerFailure;
}
/** Whether `err` is the failure already shown for the worker. */
export const isWorkerFailure = (err) => err === workerFailure;

let engine = null;
let engineStarting = null;

// Cancelling: the runs a visitor can cancel take the page's AbortSignal; Cancel aborts it.
// The worker drops the work at its next step, and the model and recording stay loaded.
let runs = new AbortController();
const CANCELLABLE = new Set(['decode', 'identify', 'explore', 'reconstruct']);
const CANCELLED = () => Object.assign(new Error('Cancelled.'), { code: 'cancelled' });

/** Shows the Cancel button `id` while `run` is in progress. */
export async function whileCancellable(id, run) {
  $(id).hidden = false;
  try {
    return await run();
  } finally {
    $(id).hidden = true;
  }
}

/** Runs `op` in the worker; `args` may carry the call's own `onProgress`. */
export async function call(op, args = {}) {
  if (workerFailure) throw workerFailure;
  await engineStarting;
  const signal = CANCELLABLE.has(op) ? runs.signal : undefined;
  try {
    return await engine[op]({ ...args, signal });
  } catch (err) {
    if (err.code === 'aborted') throw CANCELLED();
    if (err.code === 'worker_failed') throw failWorker(err.message);
    throw err;
  }
}

/** Ends every run in progress now. */
export function cancelRuns() {
  runs.abort(new Error('the visitor pressed Cancel'));
  runs = new AbortController();
}

function showDevice(device) {
  show('backend', device.backend);
  show('adapter', device.adapter);
  show('fallback-reason', device.fallbackReason ?? 'none');
  document.body.dataset.backend = device.backend;
}

/** Starts the worker and shows which backend it runs on, also after a lost GPU. */
export async function startDevice() {
  engineStarting = startEngine({ onFallback: showDevice });
  engine = await engineStarting;
  const { device, selfCheck, timings } = engine;
  Object.assign(state.timings, timings);
  showDevice(device);
  show('self-check', selfCheck, selfCheck !== 'ok');
}
