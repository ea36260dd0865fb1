// `brainclip/worker`: brainclip in a module worker, with the same API as the in-page package
// (every call returns a promise). The page never freezes while models load or decode, and
// nothing leaves the browser: the worker is a thread of this page.
//
//   const decoder = await createWorkerDecoder(url, { onProgress });
//   const fmri = await decoder.readFmri(bytes, 'run-1.npy');
//   const ranked = await decoder.decodeCategories(fmri, labels, { topK: 5, signal });
//
// Handles (fMRI, bundles, decoders) live in the worker; the page holds proxies whose
// getters (an fMRI's `trials`, `voxels`, `source`) were read when they were made. Callbacks
// (`onStep`, progress) are called back in the page; an `AbortSignal` aborts the call in the
// worker, and the call rejects at once with code "aborted". Typed arrays in results are
// transferred; arguments are copied, so the caller's buffers stay usable.

const HANDLE = Symbol('brainclip handle');

const failure = (message, code) => Object.assign(new Error(message), { name: 'BrainClipError', code });

/**
 * Starts a worker with the package loaded: the WebGPU build when the browser offers an
 * adapter (and `backend` is not "cpu"), else the threaded CPU build when the page is
 * cross-origin isolated and more than one thread is wanted (`threads`, default half the
 * cores up to 4), else the single-threaded CPU build. With `training` (for `trainMapper`,
 * which the small CPU-only build leaves out) the WebGPU build stands in for that last one: it
 * trains on its own CPU path. Resolves to the package's functions
 * (`loadBundle`, `loadDecoder`, `readFmri`, …), each returning a promise, plus `build`,
 * `noWebGpu` (why a CPU build was chosen, or null), `threads`, `noThreads` (why the
 * single-threaded build was chosen, or null) and `terminate()`.
 */
export async function createWorker({ backend = 'auto', threads, training = false, worker } = {}) {
  const thread = worker ?? new Worker(new URL('./worker-host.js', import.meta.url), { type: 'module' });
  const pending = new Map();
  const callbacks = new Map();
  let nextId = 1;
  let dead = null;

  const die = (message) => {
    dead = failure(`the brainclip worker stopped: ${message}`, 'worker_failed');
    for (const { reject } of pending.values()) reject(dead);
    pending.clear();
  };
  thread.addEventListener('error', (event) => {
    event.preventDefault?.();
    die(event.message || 'it could not be started (module workers and WebAssembly are needed)');
  });
  thread.addEventListener('messageerror', () => die('a message from it could not be read'));
  thread.addEventListener('message', ({ data }) => {
    if (data.callback !== undefined) {
      callbacks.get(data.callback)?.(...data.args.map(decode));
      return;
    }
    const waiting = pending.get(data.id);
    if (!waiting) return;
    pending.delete(data.id);
    if (data.error) waiting.reject(Object.assign(new Error(data.error.message), data.error));
    else waiting.resolve(decode(data.value));
  });

  /** Arguments for the worker: proxies by id, functions and signals by id (`owned`). */
  function encode(value, owned) {
    if (typeof value === 'function') {
      const id = nextId++;
      callbacks.set(id, value);
      owned.callbacks.push(id);
      return { $callback: id };
    }
    if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return value;
    if (value[HANDLE] !== undefined) return { $handle: value[HANDLE] };
    if (typeof AbortSignal !== 'undefined' && value instanceof AbortSignal) {
      const id = nextId++;
      owned.signals.push({ id, signal: value });
      return { $signal: id };
    }
    if (Array.isArray(value)) return value.map((item) => encode(item, owned));
    const proto = Object.getPrototypeOf(value);
    // Other objects (a Blob, a Map) go as the structured clone makes them.
    if (proto !== Object.prototype && proto !== null) return value;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, encode(v, owned)]));
  }

  function decode(value) {
    if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return value;
    if (Array.isArray(value)) return value.map(decode);
    if ('$handle' in value && 'kind' in value) return remote(value.$handle, value.props);
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decode(v)]));
  }

  function send(message) {
    const id = nextId++;
    return new Promise((resolve, reject) => {
      if (dead) return reject(dead);
      pending.set(id, { resolve, reject });
      thread.postMessage({ id, ...message });
    });
  }

  async function call(target, method, args) {
    const owned = { callbacks: [], signals: [] };
    const encoded = encode(args, owned);
    const aborted = owned.signals.find(({ signal }) => signal.aborted);
    if (aborted) throw failure(`${method} was cancelled: ${reasonOf(aborted.signal)}`, 'aborted');
    const result = send({ target, method, args: encoded });
    const cleanups = [];
    // An abort answers at once; the worker drops the work at its next yield point.
    const abort = new Promise((_, reject) => {
      for (const { id, signal } of owned.signals) {
        const onAbort = () => {
          thread.postMessage({ abort: id, reason: reasonOf(signal) });
          reject(failure(`${method} was cancelled: ${reasonOf(signal)}`, 'aborted'));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        cleanups.push(() => signal.removeEventListener('abort', onAbort));
      }
    });
    try {
      return await (owned.signals.length ? Promise.race([result, abort]) : result);
    } finally {
      for (const cleanup of cleanups) cleanup();
      // Callbacks may still be called by a call that was aborted here; they are dropped.
      for (const id of owned.callbacks) callbacks.delete(id);
      result.catch(() => {});
    }
  }

  // A proxy the page can no longer reach frees its handle in the worker, as wasm-bindgen's
  // own handles do; `dispose()` frees it at once.
  const unreachable = new FinalizationRegistry((id) => {
    if (!dead) thread.postMessage({ id: 0, target: id, method: 'dispose', args: [] });
  });

  /** A proxy for a handle in the worker: methods return promises; getters are snapshots. */
  function remote(id, props) {
    const local = {
      ...props,
      [HANDLE]: id,
      dispose: () => call(id, 'dispose', []).catch(() => {}),
      free: () => call(id, 'dispose', []).catch(() => {}),
    };
    const proxy = new Proxy(local, {
      get(target, name) {
        if (name in target) return target[name];
        if (typeof name === 'symbol' || name === 'then') return undefined;
        return (...args) => call(id, name, args);
      },
    });
    unreachable.register(proxy, id);
    return proxy;
  }

  let started;
  try {
    started = await send({ start: { backend, threads, training } });
  } catch (err) {
    thread.terminate();
    throw err;
  }
  const local = { ...started, terminate: () => { thread.terminate(); die('terminated'); } };
  return new Proxy(local, {
    get(target, name) {
      if (name in target) return target[name];
      if (typeof name === 'symbol' || name === 'then') return undefined;
      return (...args) => call(0, name, args);
    },
  });
}

function reasonOf(signal) {
  const reason = signal.reason;
  if (reason instanceof Error && reason.name !== 'AbortError') return reason.message;
  if (typeof reason === 'string' && reason) return reason;
  return 'its AbortSignal was aborted';
}

/**
 * Starts a worker, loads the bundle at `url` there and resolves to its decoder: the
 * decoder's methods (`decodeCategories`, `evaluate`, `reconstruct`, …) plus `readFmri`,
 * `brainclip` (the worker's package functions) and `terminate()`. `options`: `subject`,
 * `parts`, `cache`, `signal` (as `loadBundle` takes them), `onProgress` (its progress
 * events), `backend` ("auto", "webgpu" or "cpu"), `threads` (as `createWorker` takes it).
 */
export async function createWorkerDecoder(url, { onProgress, backend = 'auto', threads, worker, ...loadOptions } = {}) {
  const brainclip = await createWorker({ backend, threads, worker });
  try {
    const bundle = await brainclip.loadBundle(url, onProgress ?? null, loadOptions);
    const decoder = await brainclip.loadDecoder(bundle, backend);
    bundle.dispose();
    const extras = {
      brainclip,
      readFmri: (...args) => brainclip.readFmri(...args),
      terminate: () => brainclip.terminate(),
    };
    return new Proxy(decoder, {
      get: (target, name) => (name in extras ? extras[name] : target[name]),
    });
  } catch (err) {
    brainclip.terminate();
    throw err;
  }
}
