// Types of `brainclip/worker`: the package's API, every call returning a promise.
import type * as brainclip from './brainclip.js';

type Handle = brainclip.FmriHandle | brainclip.BundleHandle | brainclip.DecoderHandle;

/** A value as it crosses to or from the worker: handles become their proxies. */
export type RemoteValue<T> = T extends Handle
  ? Remote<T>
  : T extends readonly (infer Item)[]
    ? RemoteValue<Item>[]
    : T;

type RemoteArgs<A extends unknown[]> = { [I in keyof A]: A[I] extends Handle ? Remote<A[I]> : A[I] };

/** A function of the package or method of a handle, run in the worker. */
export type RemoteFunction<F> = F extends (...args: infer A) => infer R
  ? (...args: RemoteArgs<A>) => Promise<RemoteValue<Awaited<R>>>
  : never;

/**
 * A handle living in the worker: its methods return promises; its getters (an fMRI's
 * `trials`, `voxels`, `dtype`, `source`) hold the values read when it was made.
 */
export type Remote<T> = {
  readonly [K in keyof T as K extends 'free' | 'dispose' ? never : K extends string ? K : never]: T[K] extends (...args: never[]) => unknown
    ? RemoteFunction<T[K]>
    : T[K];
} & {
  /** Frees the handle in the worker. */
  dispose(): Promise<void>;
  free(): Promise<void>;
};

type PackageFunctions = typeof brainclip;
type FunctionNames = {
  [K in keyof PackageFunctions]: PackageFunctions[K] extends abstract new (...args: never[]) => unknown
    ? never
    : PackageFunctions[K] extends (...args: never[]) => unknown
      ? K
      : never;
}[keyof PackageFunctions];

/** The package's functions, run in a worker. */
export type WorkerBrainclip = {
  readonly [K in Exclude<FunctionNames, 'default' | 'initSync' | 'start'>]: RemoteFunction<PackageFunctions[K]>;
} & {
  /** Which build the worker loaded. */
  readonly build: 'brainclip' | 'brainclip_cpu' | 'brainclip_threads';
  /** Why the CPU build was chosen, or null when WebGPU is used. */
  readonly noWebGpu: string | null;
  /** Threads the CPU kernels run on (1 on WebGPU and in the single-threaded build). */
  readonly threads: number;
  /** Why the single-threaded build was chosen, or null when the threaded one runs. */
  readonly noThreads: string | null;
  /** How often a worker was replaced: after a trap (code "internal_error"), or on the CPU after the WebGPU device was lost. */
  readonly restarts: number;
  /** Set once the WebGPU device was lost: brainclip runs on the CPU from then on, and why. */
  readonly fallback: Fallback | null;
  /** Ends the worker; every call in flight rejects with code "worker_failed". */
  terminate(): void;
};

/** Why brainclip left WebGPU for the CPU in the middle of its work. */
export interface Fallback {
  readonly backend: 'cpu';
  readonly reason: string;
}

export interface CreateWorkerOptions {
  /** "auto" (default: WebGPU when the browser offers an adapter), "webgpu" or "cpu". */
  backend?: brainclip.BackendPreference;
  /**
   * Threads for the CPU backend (default: half the cores, at most 4, as onnxruntime-web
   * chooses). More than 1 needs a cross-origin isolated page (COOP/COEP headers); elsewhere
   * the single-threaded build runs and `noThreads` says why.
   */
  threads?: number;
  /**
   * Load a build that has `trainMapper`: where the CPU-only build would run, the WebGPU build
   * (which trains on its own CPU path) runs instead.
   */
  training?: boolean;
  /**
   * A worker running `brainclip/worker-host` made by the caller (e.g. by a bundler's worker
   * import), or a function that makes one: only with a function can a worker that trapped be
   * replaced by a fresh one.
   */
  worker?: Worker | (() => Worker);
  /**
   * Called once if the WebGPU device is lost: the worker is replaced by one on the CPU, and
   * the calls in flight complete there.
   */
  onFallback?: (fallback: Fallback) => void;
}

export interface CreateWorkerDecoderOptions extends CreateWorkerOptions, brainclip.LoadBundleOptions {
  onProgress?: (progress: brainclip.LoadProgress) => void;
}

/** A decoder living in a worker, with `readFmri` and the worker's package functions. */
export type WorkerDecoder = Remote<brainclip.DecoderHandle> & {
  readFmri: WorkerBrainclip['readFmri'];
  readonly brainclip: WorkerBrainclip;
  terminate(): void;
};

/** Starts a worker with the package loaded. */
export function createWorker(options?: CreateWorkerOptions): Promise<WorkerBrainclip>;

/** Starts a worker, loads the bundle at `url` there and resolves to its decoder. */
export function createWorkerDecoder(url: string, options?: CreateWorkerDecoderOptions): Promise<WorkerDecoder>;
