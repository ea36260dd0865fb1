// onnxruntime-web in a module worker, for `make bench-web`: the wasm backend, fp32, with the
// thread count the page asks for. The page sends { id, op, args } and times each answer.
import * as ort from '/ort/ort.wasm.min.mjs';

const sessions = {};

const ops = {
  async load({ image, text, threads }) {
    ort.env.wasm.numThreads = threads;
    ort.env.wasm.wasmPaths = '/ort/';
    const options = { executionProviders: ['wasm'], graphOptimizationLevel: 'all' };
    sessions.image = await ort.InferenceSession.create(image, options);
    sessions.text = await ort.InferenceSession.create(text, options);
    return { threads: ort.env.wasm.numThreads, isolated: self.crossOriginIsolated };
  },
  async image({ pixels, n }) {
    const out = await sessions.image.run({ pixel_values: new ort.Tensor('float32', pixels, [n, 3, 224, 224]) });
    return out.image_embeds.data;
  },
  async text({ ids, n, tokens }) {
    const out = await sessions.text.run({ input_ids: new ort.Tensor('int64', ids, [n, tokens]) });
    return out.text_embeds.data;
  },
};

self.onmessage = async ({ data: { id, op, args } }) => {
  try {
    postMessage({ id, value: await ops[op](args) });
  } catch (err) {
    postMessage({ id, error: String(err?.message ?? err) });
  }
};
