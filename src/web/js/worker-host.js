// The worker side of `brainclip/worker`: loads a build of the package (the WebGPU one when
// the browser offers an adapter, else the CPU one) and runs what the page asks for. Handles
// (fMRI, bundles, decoders) stay here; the page holds their ids. Functions and AbortSignals
// in arguments arrive as ids and are stood in for here; results' typed arrays are
// transferred, not copied.
let brainclip = null;
const handles = new Map();
let nextHandle = 1;
const controllers = new Map();

/** Why WebGPU cannot be used here, or null when an adapter is offered. */
async function whyNoWebGpu() {
  if (!globalThis.navigator?.gpu) return 'this browser offers no WebGPU (navigator.gpu is missing)';
  try {
    if (await navigator.gpu.requestAdapter()) return null;
  } catch (err) {
    return `WebGPU could not start (${err?.message ?? err})`;
  }
  return 'WebGPU adapter unavailable: the browser offered no WebGPU adapter';
}

const isPlain = (value) => {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
};
const isHandle = (value) => typeof value.free === 'function' && '__wbg_ptr' in value;

/** A handle's getters (e.g. an fMRI's `trials`, `voxels`, `source`), read once. */
function snapshot(handle) {
  const props = {};
  for (const [name, descriptor] of Object.entries(Object.getOwnPropertyDescriptors(Object.getPrototypeOf(handle)))) {
    if (descriptor.get) props[name] = encode(handle[name], null);
  }
  return props;
}

/** A result for the page: handles by id, typed arrays' own buffers transferred. */
function encode(value, transfer) {
  if (value === null || typeof value !== 'object') return value;
  if (isHandle(value)) {
    const id = nextHandle++;
    handles.set(id, value);
    return { $handle: id, kind: value.constructor.name, props: snapshot(value) };
  }
  if (ArrayBuffer.isView(value)) {
    // Only a buffer the array owns whole: never a view into wasm memory.
    if (transfer && value.buffer instanceof ArrayBuffer && value.byteOffset === 0 && value.byteLength === value.buffer.byteLength) {
      transfer.add(value.buffer);
    }
    return value;
  }
  if (Array.isArray(value)) return value.map((item) => encode(item, transfer));
  if (isPlain(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, encode(v, transfer)]));
  return value;
}

/** An argument from the page: ids become the handles, callbacks and signals they stand for. */
function decode(value, signals) {
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return value;
  if (Array.isArray(value)) return value.map((item) => decode(item, signals));
  if ('$handle' in value) {
    const handle = handles.get(value.$handle);
    if (!handle) throw Object.assign(new Error('this handle was disposed'), { code: 'disposed' });
    return handle;
  }
  if ('$callback' in value) {
    const id = value.$callback;
    return (...args) => {
      const transfer = new Set();
      postMessage({ callback: id, args: encode(args, transfer) }, [...transfer]);
    };
  }
  if ('$signal' in value) {
    const controller = new AbortController();
    controllers.set(value.$signal, controller);
    signals.push(value.$signal);
    return controller.signal;
  }
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decode(v, signals)]));
}

/** Threads for the CPU kernels when not asked: onnxruntime-web's default, half the cores up to 4. */
const defaultThreads = () => Math.min(4, Math.ceil((globalThis.navigator?.hardwareConcurrency || 1) / 2));

/** Why the threaded CPU build cannot be used for `threads` threads here, or null when it can. */
function whyNoThreads(threads) {
  if (threads <= 1) return `${threads} thread${threads === 1 ? ' was' : 's were'} asked for`;
  if (!globalThis.crossOriginIsolated) {
    return 'the page is not cross-origin isolated (serve it with COOP: same-origin and COEP: require-corp), so it cannot share memory with threads';
  }
  return null;
}

// A WebGPU device can be lost at any moment: a driver reset, the GPU process ending, the
// system reclaiming the GPU from a background tab. Every device the WebGPU build asks for is
// watched; once one is lost, no answer of this worker is trusted: the page hears of it and
// goes on in a fresh worker on the CPU (worker.js).
let deviceLost = null;
function watchDevices() {
  const adapter = globalThis.GPUAdapter?.prototype;
  if (!adapter || adapter.requestDevice.brainclipWatched) return;
  const requestDevice = adapter.requestDevice;
  const watched = async function watchedRequestDevice(...args) {
    const device = await requestDevice.apply(this, args);
    device.lost.then((info) => {
      deviceLost ??= { reason: info.reason ?? 'unknown', message: info.message || 'no details given' };
      postMessage({ deviceLost });
    });
    return device;
  };
  watched.brainclipWatched = true;
  adapter.requestDevice = watched;
}

/** The error a call gets when the device was lost under it. */
const lostDuring = (call) => ({
  message: `${call} was interrupted: the WebGPU device was lost (${deviceLost.reason}: ${deviceLost.message})`,
  code: 'device_lost',
  name: 'BrainClipError',
  deviceLost,
});

async function start({ backend, threads, training }) {
  const noWebGpu = backend === 'cpu' ? 'the CPU backend was asked for' : await whyNoWebGpu();
  if (!noWebGpu) {
    watchDevices();
    brainclip = await import('./brainclip.js');
    await brainclip.default();
    return { build: 'brainclip', noWebGpu, threads: 1, noThreads: 'WebGPU runs the model' };
  }
  if (threads !== undefined && threads !== null && !(Number.isInteger(threads) && threads >= 1)) {
    throw Object.assign(new Error(`threads is ${JSON.stringify(threads)}; expected a whole number of at least 1`), { code: 'invalid_config' });
  }
  const count = threads ?? defaultThreads();
  let noThreads = whyNoThreads(count);
  if (!noThreads) {
    try {
      const threaded = await import('./brainclip_threads.js');
      await threaded.default();
      await threaded.initThreadPool(count);
      brainclip = threaded;
      return { build: 'brainclip_threads', noWebGpu, threads: count, noThreads: null };
    } catch (err) {
      noThreads = `the threaded build could not start (${err?.message ?? err})`;
    }
  }
  // `trainMapper` is left out of the small CPU-only build: training runs on the WebGPU
  // build's CPU path instead.
  // Literal specifiers: a bundler follows only those.
  const build = training ? 'brainclip' : 'brainclip_cpu';
  brainclip = training ? await import('./brainclip.js') : await import('./brainclip_cpu.js');
  await brainclip.default();
  return { build, noWebGpu, threads: 1, noThreads };
}

async function run({ target, method, args }, signals) {
  if (target === 0) {
    if (['default', 'initSync', 'initThreadPool'].includes(method) || typeof brainclip[method] !== 'function') {
      throw Object.assign(new Error(`brainclip has no function ${method}`), { code: 'unknown_function' });
    }
    return brainclip[method](...decode(args, signals));
  }
  const handle = handles.get(target);
  if (!handle) throw Object.assign(new Error(`this handle was disposed (${method} was called on it)`), { code: 'disposed' });
  if (method === 'dispose' || method === 'free') {
    handles.delete(target);
    return handle.free();
  }
  if (typeof handle[method] !== 'function') {
    throw Object.assign(new Error(`${handle.constructor.name} has no method ${method}`), { code: 'unknown_function' });
  }
  return handle[method](...decode(args, signals));
}

// A WebAssembly trap (a Rust panic, an allocation that failed) leaves the module's memory in
// no known state: this worker answers nothing more, and the page starts a fresh one.
let broken = null;

self.onmessage = async ({ data }) => {
  if (data.abort !== undefined) {
    controllers.get(data.abort)?.abort(data.reason);
    return;
  }
  if (broken) {
    postMessage({ id: data.id, error: { ...broken, fatal: true } });
    return;
  }
  const signals = [];
  const call = data.start ? 'starting brainclip' : data.method;
  try {
    const value = data.start ? await start(data.start) : await run(data, signals);
    // A result computed on a device that was lost meanwhile may be garbage.
    if (deviceLost) {
      postMessage({ id: data.id, error: lostDuring(call) });
      return;
    }
    const transfer = new Set();
    const encoded = encode(value, transfer);
    postMessage({ id: data.id, value: encoded }, [...transfer]);
  } catch (err) {
    // A lost device makes calls fail in many ways (a trap, an error, a failed read); its
    // `lost` promise settles a moment later, so it is given that moment.
    if (!deviceLost && globalThis.GPUAdapter?.prototype.requestDevice.brainclipWatched) {
      await new Promise((resolve) => { setTimeout(resolve, 0); });
    }
    if (deviceLost) {
      postMessage({ id: data.id, error: lostDuring(call) });
      return;
    }
    if (err instanceof WebAssembly.RuntimeError) {
      broken = {
        message: `${call} failed inside brainclip (${err.message}); the worker was stopped and the next call starts a fresh one`,
        code: 'internal_error',
        name: 'BrainClipError',
      };
      postMessage({ id: data.id, error: { ...broken, fatal: true } });
      return;
    }
    postMessage({ id: data.id, error: { message: err?.message ?? String(err), code: err?.code ?? 'unknown', name: err?.name ?? 'Error' } });
  } finally {
    for (const id of signals) controllers.delete(id);
  }
};
