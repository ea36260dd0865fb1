// Static file server for the demo site and the end-to-end tests.
// Binds to loopback only; serves the folder `make site` writes, as any static host would
// (`pkg`, when given, maps `/pkg/` to another package folder, as tests that swap it need;
// `mounts` maps other prefixes to folders; `csp: false` leaves the demo's policy out, for
// pages that are not the demo; `isolate: true` sends COOP/COEP, for threads).
import { createServer } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { extname, join, normalize, resolve, sep } from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.npy': 'application/octet-stream',
  '.safetensors': 'application/octet-stream',
  '.ts': 'text/plain; charset=utf-8',
  '.onnx': 'application/octet-stream',
};

// The page's Content-Security-Policy, sent as a header here and repeated in index.html's
// meta tag for hosts that send no headers: only same-origin scripts, workers, styles and
// requests (fMRI and results never leave the page), WebAssembly compilation allowed.
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  // blob: for the threaded build's pool, whose workers start from a copy of its own helper script.
  "worker-src 'self' blob:",
  "connect-src 'self'",
  "img-src 'self' data: blob:",
  "style-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

/** Resolves a URL path inside one of the roots, refusing anything that escapes it. */
function locate(roots, urlPath) {
  const path = decodeURIComponent(urlPath.split('?')[0]);
  for (const [prefix, dir] of roots) {
    if (!path.startsWith(prefix)) continue;
    const root = resolve(dir);
    let file = normalize(join(root, path.slice(prefix.length)));
    if (file !== root && !file.startsWith(root + sep)) return null;
    try {
      if (statSync(file).isDirectory()) file = join(file, 'index.html');
      if (statSync(file).isFile()) return file;
    } catch {
      // fall through to the next root
    }
  }
  return null;
}

export function startServer({ port = 8080, host = '127.0.0.1', root = 'site', pkg = null, mounts = [], csp = true, isolate = false } = {}) {
  const roots = [...(pkg ? [['/pkg/', pkg]] : []), ...mounts, ['/', root]];
  const server = createServer((req, res) => {
    const file = req.method === 'GET' || req.method === 'HEAD' ? locate(roots, req.url) : null;
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    // `no-cache` with a validator: the browser asks each time (a rebuilt site is seen at
    // once) and an unchanged file costs a 304, not its bytes again.
    const { size, mtimeMs } = statSync(file);
    const etag = `"${size.toString(16)}-${Math.floor(mtimeMs).toString(16)}"`;
    const headers = {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'cache-control': 'no-cache',
      etag,
      ...(csp ? { 'content-security-policy': CONTENT_SECURITY_POLICY } : {}),
      ...(isolate ? { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' } : {}),
      'x-content-type-options': 'nosniff',
    };
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, headers);
      return res.end();
    }
    res.writeHead(200, headers);
    if (req.method === 'HEAD') return res.end();
    createReadStream(file).pipe(res);
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => ok(server));
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const port = Number(process.env.PORT ?? 8080);
  // Cross-origin isolated, so the worker can run the threaded CPU build where there are cores.
  await startServer({ port, isolate: true });
  console.log(`brainclip demo: http://127.0.0.1:${port}/  (Ctrl-C to stop)`);
}
