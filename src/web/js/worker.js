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
 * single-threaded build was chosen, or null), `restarts` and `terminate()`.
 *
 * A WebAssembly trap in the worker (a panic) ends that worker: the call that trapped, and any
 * other call waiting on it, rejects with code "internal_error" naming the call, and the next
 * call starts a fresh worker, in which the handles it needs (bundles, decoders, fMRI) are
 * made again by the calls that made them. `worker` may be a function returning a new
 * `Worker` for each start; a `Worker` given as it is cannot be restarted.
 *
 * A WebGPU device lost during a call (a driver reset, the GPU process ending) ends that
 * worker too: from then on brainclip runs on the CPU, in a fresh worker where the handles are
 * made again; the calls in flight are run there and complete with the CPU's answers.
 * `fallback` then says why (`{ backend: 'cpu', reason }`), and `onFallback` hears it once.
 */
export async function createWorker({ backend = 'auto', threads, training = false, worker, onFallback } = {}) {
  const spawn = typeof worker === 'function'
    ? worker
    : (() => {
      let given = worker;
      return () => {
        if (given === null) return null;
        const next = given ?? new Worker(new URL('./worker-host.js', import.meta.url), { type: 'module' });
        if (given) given = null;
        return next;
      };
    })();
  const callbacks = new Map();
  let nextId = 1;
  let thread = null;
  let pending = new Map();
  let dead = null;
  let restarting = null;
  let restarts = 0;
  let started = null;
  // Set once the WebGPU device was lost: every later worker runs on the CPU.
  let fallback = null;
  // Handles are known to the page by their own ids; `live` maps each to its id in the current
  // worker, `recipes` says which call made it (to make it again after a restart).
  const live = new Map();
  const recipes = new Map();
  const disposed = new Set();

  /** Rejects every waiting call of `failed` (one worker) with `error`. */
  const failAll = (waiting, error) => {
    for (const { reject } of waiting.values()) reject(error);
    waiting.clear();
  };

  function attach(current) {
    const waiting = new Map();
    const die = (message) => {
      if (thread !== current) return;
      dead = failure(`the brainclip worker stopped: ${message}`, 'worker_failed');
      failAll(waiting, dead);
    };
    current.addEventListener('error', (event) => {
      event.preventDefault?.();
      die(event.message || 'it could not be started (module workers and WebAssembly are needed)');
    });
    current.addEventListener('messageerror', () => die('a message from it could not be read'));
    // The device gone: this worker is ended, and its calls (rejected with "device_lost") are
    // run again, by `call`, in a fresh worker on the CPU.
    const loseDevice = (lost) => {
      if (thread !== current) return;
      const first = !fallback;
      fallback ??= {
        backend: 'cpu',
        reason: `the WebGPU device was lost (${lost.reason}: ${lost.message}); brainclip runs on the CPU from here`,
      };
      backend = 'cpu';
      current.terminate();
      thread = null;
      live.clear();
      failAll(waiting, failure(fallback.reason, 'device_lost'));
      if (first) onFallback?.(fallback);
    };
    current.addEventListener('message', ({ data }) => {
      if (data.callback !== undefined) {
        callbacks.get(data.callback)?.(...data.args.map(decode));
        return;
      }
      if (data.deviceLost) {
        loseDevice(data.deviceLost);
        return;
      }
      const entry = waiting.get(data.id);
      if (!entry) return;
      waiting.delete(data.id);
      if (data.error?.code === 'device_lost') {
        entry.reject(failure(data.error.message, 'device_lost'));
        loseDevice(data.error.deviceLost);
        return;
      }
      if (data.error?.fatal) {
        // The module trapped: this worker is done. Every call waiting on it fails the same
        // way; the next one starts a fresh worker.
        const { fatal, ...error } = data.error;
        current.terminate();
        if (thread === current) {
          thread = null;
          live.clear();
        }
        entry.reject(Object.assign(new Error(error.message), error));
        failAll(waiting, Object.assign(new Error(error.message), error));
        return;
      }
      if (data.error) entry.reject(Object.assign(new Error(data.error.message), data.error));
      else entry.resolve(data.value);
    });
    return waiting;
  }

  /** Sends one message to the current worker; resolves to the raw (undecoded) value. */
  function post(message) {
    const id = nextId++;
    return new Promise((resolve, reject) => {
      if (dead) return reject(dead);
      if (!thread) return reject(failure('the brainclip worker stopped during the call; the next call starts a fresh one', 'internal_error'));
      pending.set(id, { resolve, reject });
      thread.postMessage({ id, ...message });
    });
  }

  /** A worker with the package started, made anew after a trap. */
  async function ready() {
    if (thread) return;
    if (!restarting) {
      restarting = (async () => {
        const next = spawn();
        if (!next) throw dead ?? failure('the brainclip worker stopped and cannot be restarted (it was given as a Worker, not a function)', 'worker_failed');
        thread = next;
        pending = attach(next);
        try {
          const info = await post({ start: { backend, threads, training } });
          if (started) restarts += 1;
          started = fallback ? { ...info, noWebGpu: fallback.reason } : info;
        } catch (err) {
          next.terminate();
          if (thread === next) thread = null;
          throw err;
        }
      })().finally(() => { restarting = null; });
    }
    await restarting;
  }

  /** The current worker's id of handle `handle`, made again there when the worker is new. */
  const making = new Map();
  async function materialize(handle) {
    if (live.has(handle)) return live.get(handle);
    if (making.has(handle)) return making.get(handle);
    const recipe = recipes.get(handle);
    if (!recipe) throw failure('this handle was made by a worker that has stopped', 'disposed');
    const made = (async () => {
      const value = await send(recipe.target, recipe.method, onThisBackend(recipe.method, recipe.args), { replay: true });
      const found = recipe.path.reduce((at, key) => at?.[key], value);
      if (!found || found.$handle === undefined) throw failure(`${recipe.method} did not make the handle again`, 'internal_error');
      live.set(handle, found.$handle);
      return found.$handle;
    })().finally(() => making.delete(handle));
    making.set(handle, made);
    return made;
  }

  /** Handles (page ids) in `value`, so that each can be made present in the worker first. */
  function handlesIn(value, found = new Set()) {
    if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return found;
    if (value[HANDLE] !== undefined) found.add(value[HANDLE]);
    else if (Array.isArray(value)) value.forEach((item) => handlesIn(item, found));
    else if (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null) {
      Object.values(value).forEach((item) => handlesIn(item, found));
    }
    return found;
  }

  /** Arguments for the worker: handles by their worker ids, functions and signals by id
   * (`owned`); a replay passes neither callbacks nor signals. */
  function encode(value, owned, replay) {
    if (typeof value === 'function') {
      if (replay) return null;
      const id = nextId++;
      callbacks.set(id, value);
      owned.callbacks.push(id);
      return { $callback: id };
    }
    if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return value;
    if (value[HANDLE] !== undefined) return { $handle: live.get(value[HANDLE]) };
    if (typeof AbortSignal !== 'undefined' && value instanceof AbortSignal) {
      if (replay) return undefined;
      const id = nextId++;
      owned.signals.push({ id, signal: value });
      return { $signal: id };
    }
    if (Array.isArray(value)) return value.map((item) => encode(item, owned, replay));
    const proto = Object.getPrototypeOf(value);
    // Other objects (a Blob, a Map) go as the structured clone makes them.
    if (proto !== Object.prototype && proto !== null) return value;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, encode(v, owned, replay)]));
  }

  /** A result for the page: handles become proxies, remembered with the call that made them. */
  function decode(value, recipe = null, path = []) {
    if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return value;
    if (Array.isArray(value)) return value.map((item, i) => decode(item, recipe, [...path, i]));
    if ('$handle' in value && 'kind' in value) {
      const handle = nextId++;
      live.set(handle, value.$handle);
      if (recipe) recipes.set(handle, { ...recipe, path });
      return remote(handle, value.props);
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decode(v, recipe, [...path, k])]));
  }

  /** One call in the worker (started or restarted as needed); resolves to the raw value. */
  async function send(target, method, args, { replay = false, owned = { callbacks: [], signals: [] } } = {}) {
    await ready();
    const needed = [...handlesIn(args)];
    if (target !== 0) needed.push(target);
    for (const handle of needed) {
      if (disposed.has(handle) && !replay) {
        throw failure(`this handle was disposed (${method} was called on it)`, 'disposed');
      }
      await materialize(handle);
    }
    const encoded = encode(args, owned, replay);
    return post({ target: target === 0 ? 0 : live.get(target), method, args: encoded });
  }

  /** After a fallback, a call that named the WebGPU backend names the CPU instead. */
  function onThisBackend(method, args) {
    const at = { initDevice: 0, loadDecoder: 1 }[method];
    if (!fallback || at === undefined || args[at] !== 'webgpu') return args;
    return args.map((arg, i) => (i === at ? 'cpu' : arg));
  }

  async function call(target, method, args) {
    const owned = { callbacks: [], signals: [] };
    const aborted = [...collectSignals(args)].find((signal) => signal.aborted);
    if (aborted) throw failure(`${method} was cancelled: ${reasonOf(aborted)}`, 'aborted');
    // Lost the WebGPU device under it: the same call, once more, on the CPU.
    const result = send(target, method, args, { owned }).catch((err) => {
      if (err.code !== 'device_lost') throw err;
      return send(target, method, onThisBackend(method, args), { owned });
    });
    const cleanups = [];
    // An abort answers at once; the worker drops the work at its next yield point.
    const signals = [...collectSignals(args)];
    const abort = new Promise((_, reject) => {
      for (const signal of signals) {
        const onAbort = () => {
          // The latest id: a call run again after a lost device has a new one.
          const entry = owned.signals.findLast((s) => s.signal === signal);
          if (entry && thread) thread.postMessage({ abort: entry.id, reason: reasonOf(signal) });
          reject(failure(`${method} was cancelled: ${reasonOf(signal)}`, 'aborted'));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        cleanups.push(() => signal.removeEventListener('abort', onAbort));
      }
    });
    try {
      const value = await (signals.length ? Promise.race([result, abort]) : result);
      if (method === 'dispose') {
        live.delete(target);
        disposed.add(target);
        return decode(value);
      }
      // What is made again after a restart: the call with its arguments, callbacks and
      // signals left out.
      return decode(value, { target, method, args });
    } finally {
      for (const cleanup of cleanups) cleanup();
      // Callbacks may still be called by a call that was aborted here; they are dropped.
      for (const id of owned.callbacks) callbacks.delete(id);
      result.catch(() => {});
    }
  }

  // A proxy the page can no longer reach frees its handle in the worker, as wasm-bindgen's
  // own handles do; `dispose()` frees it at once. Its recipe stays while handles made from
  // it may need it again.
  const unreachable = new FinalizationRegistry((handle) => {
    if (!dead && thread && live.has(handle)) {
      thread.postMessage({ id: 0, target: live.get(handle), method: 'dispose', args: [] });
    }
    live.delete(handle);
    disposed.add(handle);
  });

  /** A proxy for a handle in the worker: methods return promises; getters are snapshots. */
  function remote(handle, props) {
    const local = {
      ...props,
      [HANDLE]: handle,
      dispose: () => call(handle, 'dispose', []).catch(() => {}),
      free: () => call(handle, 'dispose', []).catch(() => {}),
    };
    const proxy = new Proxy(local, {
      get(target, name) {
        if (name in target) return target[name];
        if (typeof name === 'symbol' || name === 'then') return undefined;
        return (...args) => call(handle, name, args);
      },
    });
    unreachable.register(proxy, handle);
    return proxy;
  }

  await ready();
  const local = {
    get build() { return started.build; },
    get noWebGpu() { return started.noWebGpu; },
    get threads() { return started.threads; },
    get noThreads() { return started.noThreads; },
    get fallback() { return fallback; },
    get restarts() { return restarts; },
    terminate: () => {
      thread?.terminate();
      dead = failure('the brainclip worker stopped: terminated', 'worker_failed');
      failAll(pending, dead);
    },
  };
  return new Proxy(local, {
    get(target, name) {
      if (name in target) return target[name];
      if (typeof name === 'symbol' || name === 'then') return undefined;
      return (...args) => call(0, name, args);
    },
  });
}

/** The AbortSignals among a call's arguments. */
function collectSignals(value, found = new Set()) {
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return found;
  if (typeof AbortSignal !== 'undefined' && value instanceof AbortSignal) found.add(value);
  else if (Array.isArray(value)) value.forEach((item) => collectSignals(item, found));
  else if (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null) {
    Object.values(value).forEach((item) => collectSignals(item, found));
  }
  return found;
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
 * events), `backend` ("auto", "webgpu" or "cpu"), `threads` and `onFallback` (as
 * `createWorker` takes them).
 */
export async function createWorkerDecoder(url, { onProgress, backend = 'auto', threads, worker, onFallback, ...loadOptions } = {}) {
  const brainclip = await createWorker({ backend, threads, worker, onFallback });
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
