// A real redis-server for tests: Debian's, on a free loopback port, in a temporary folder, stopped afterwards.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface TestRedis {
  url: string;
  port: number;
  dir: string;
  /** For TLS: the CA file a client must trust (NODE_EXTRA_CA_CERTS). */
  caFile?: string;
  restart(): Promise<void>;
  /** Shuts the server down (it writes its append-only file) until up(). */
  down(): Promise<void>;
  up(): Promise<void>;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
    socket.on('error', () => resolve(false));
  });
}

function makeCert(dir: string): { cert: string; key: string } {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', key, '-out', cert], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl could not make a test certificate: ${r.stderr}`);
  return { cert, key };
}

/** Starts redis-server with an append-only file, so a restart keeps the queue (as a real deployment should). */
export async function startRedis(opts: { password?: string; tls?: boolean } = {}): Promise<TestRedis> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cgh-redis-'));
  const port = await freePort();
  const args = ['--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--daemonize', 'no',
    '--loglevel', 'warning'];
  let caFile: string | undefined;
  if (opts.tls) {
    const { cert, key } = makeCert(dir);
    caFile = cert;
    args.push('--port', '0', '--tls-port', String(port), '--tls-cert-file', cert, '--tls-key-file', key, '--tls-ca-cert-file', cert,
      '--tls-auth-clients', 'no');
  } else {
    args.push('--port', String(port));
  }
  if (opts.password) args.push('--requirepass', opts.password);
  const auth = opts.password ? `:${encodeURIComponent(opts.password)}@` : '';
  const url = `${opts.tls ? 'rediss' : 'redis'}://${auth}127.0.0.1:${port}/0`;
  let child: ChildProcess | undefined;
  const launch = async () => {
    child = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'inherit'] });
    for (let i = 0; !(await accepts(port)); i++) {
      if (i > 100 || child.exitCode !== null) throw new Error(`redis-server did not start on port ${port}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const halt = () => new Promise<void>((resolve) => {
    if (!child || child.exitCode !== null) { resolve(); return; }
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
  await launch();
  return {
    url, port, dir, caFile,
    restart: async () => { await halt(); await launch(); },
    down: halt,
    up: launch,
    stop: async () => { await halt(); fs.rmSync(dir, { recursive: true, force: true }); },
  };
}
