// What a Vite app needs for brainclip: ES-module workers (the worker chooses between the
// package's two builds with dynamic imports). `optimizeDeps.exclude` matters for `vite dev`,
// whose pre-bundling would move the glue away from its .wasm.
export default {
  worker: { format: 'es' },
  optimizeDeps: { exclude: ['brainclip'] },
  build: { outDir: 'dist', target: 'es2022' },
  logLevel: 'warn',
};
