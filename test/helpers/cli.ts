// Runs the built `cgh` command in a child process, as a user would.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../cli/main.js', import.meta.url));

export interface CliResult { code: number | null; stdout: string; stderr: string; errLines: string[] }

/**
 * Dawn itself prints these notices on stderr when it opens a Vulkan adapter; they are not cgh's output,
 * so the one-line checks leave them out.
 */
const DAWN_NOTICE = /^Warning: max\w+ artificially reduced from \d+ to \d+/;

function result(code: number | null, stdout: string, stderr: string): CliResult {
  const errLines = stderr.split('\n').filter((l) => l !== '' && !DAWN_NOTICE.test(l));
  return { code, stdout, stderr, errLines };
}

export function cgh(args: string[], env: Record<string, string> = {}): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, CGH_DEBUG: '', ...env } });
  return result(r.status, r.stdout, r.stderr);
}

/** Starts cgh and kills it with SIGKILL as soon as `until()` holds (polled every 20 ms). */
export function cghKilledWhen(args: string[], until: () => boolean): Promise<CliResult & { killed: boolean }> {
  return cghSignalledWhen(args, until, ['SIGKILL']);
}

/** Starts cgh and, as soon as `until()` holds (polled every 20 ms), sends it `signals` one right after another. */
export function cghSignalledWhen(args: string[], until: () => boolean, signals: NodeJS.Signals[]): Promise<CliResult & { killed: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, CGH_DEBUG: '' } });
    let stdout = '', stderr = '', killed = false;
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const poll = setInterval(() => {
      if (killed || !until()) return;
      killed = true;
      for (const s of signals) child.kill(s);
    }, 20);
    child.on('close', (code) => { clearInterval(poll); resolve({ ...result(code, stdout, stderr), killed }); });
  });
}

/** Every file in a folder with its bytes, to check that nothing changed. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fs.readdirSync(dir).sort()) out[f] = fs.readFileSync(path.join(dir, f)).toString('base64');
  return out;
}
