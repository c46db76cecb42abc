// `cgh worker`: trains the runs of queued experiment grids, on one GPU of this machine.
import os from 'node:os';
import type { GridExecutor } from '../experiments/queue/executor.js';
import { helpText, parseArgs, UsageError } from './args.js';
import { loadGridExecutor } from './grid-executor.js';
import { openQueue, parseTarget, QUEUE_FLAG, queueUrl } from './queue-connect.js';

const WORKER_SPEC = {
  name: 'worker',
  summary: 'Takes the runs of experiment grids queued on Redis (cgh queue run DIR --queue URL) and trains them into their folders.',
  flags: [
    QUEUE_FLAG,
    { name: 'adapter', type: 'string', metavar: 'NAME', help: 'WebGPU adapter whose name contains NAME (one worker per GPU)' },
    { name: 'concurrency', type: 'int', min: 1, default: 1, help: 'runs at once in this worker' },
    { name: 'name', type: 'string', metavar: 'NAME', help: 'name shown in cgh queue status (default: HOST-PID, plus the adapter)' },
    { name: 'lock-seconds', type: 'int', min: 1, default: 30, metavar: 'S',
      help: 'a job without a heartbeat for S seconds is handed to another worker (after up to 2S)' },
    { name: 'folder', type: 'string', metavar: 'DIR',
      help: 'without a queue: run the one run --run of the grid in DIR, then exit (what --workers N starts)' },
    { name: 'run', type: 'string', metavar: 'RUN', help: 'the run, with --folder' },
  ],
  notes: `The experiment folders must sit on storage that every worker machine sees under the same path (NFS or
similar): a run resumes from its folder's checkpoint on whichever worker takes it, and the folder, not
Redis, holds the results. SIGTERM or Ctrl-C stops the running run and puts its job back on the queue;
it resumes from its last checkpoint (an epoch end). A worker that dies leaves its job to be taken by another after about twice --lock-seconds.
A job names only a folder and a run; the worker checks the run belongs to the folder's experiment and
executes nothing else. A TLS server with a private CA: NODE_EXTRA_CA_CERTS=ca.pem cgh worker ...`,
} as const;

export async function workerCommand(argv: string[], executor?: GridExecutor): Promise<void> {
  const a = parseArgs(WORKER_SPEC, argv);
  if (a.help) { console.log(helpText(WORKER_SPEC)); return; }
  const log = (line: string) => process.stderr.write(`${line}\n`);
  if (a.folder !== undefined || a.run !== undefined) {
    if (a.folder === undefined || a.run === undefined) throw new UsageError('--folder and --run go together; give both (see cgh worker --help)');
    await runOne(a.folder, a.run, a.adapter, executor ?? await loadGridExecutor(), log);
    return;
  }
  const url = queueUrl(a.queue);
  if (!url) throw new UsageError('cgh worker needs --queue redis://HOST:PORT (or CGH_QUEUE set to it)');
  const target = parseTarget(url);
  const exec = executor ?? await loadGridExecutor();
  const connection = await openQueue(target, log);
  // Opening the GPU blocks this thread for seconds; done before taking a job, it cannot delay a heartbeat.
  if (!executor) await (await import('../engine/context.js')).getGpu({ adapterName: a.adapter });
  const name = a.name ?? `${os.hostname()}-${process.pid}${a.adapter ? `-${a.adapter.replace(/\s+/g, '_')}` : ''}`;
  const { GridWorker } = await import('../experiments/queue/worker.js');
  const worker = new GridWorker({ connection, executor: exec, name, adapter: a.adapter, concurrency: a.concurrency, lockMs: a.lockSeconds * 1000, log });
  await worker.start();
  log(`worker ${name} is taking runs from ${target.display} (concurrency ${a.concurrency}); Ctrl-C or SIGTERM stops it and puts its runs back`);
  // Listeners stay until the end (not once): the folder locks' own handler re-raises a signal nobody else handles.
  const signals = onSignals((sig) => log(`${sig}: stopping; the runs resume from their last checkpoints`));
  await signals.received;
  await worker.stop();
  signals.off();
  await connection.quit().catch(() => connection.disconnect());
  log(`worker ${name} stopped`);
}

/** One run of a grid in this process, as a local worker of --workers N; SIGTERM stops it (it resumes from its last checkpoint). */
async function runOne(folder: string, run: string, adapter: string | undefined, executor: GridExecutor, log: (l: string) => void): Promise<void> {
  const plan = await executor.planGrid(folder);
  if (!plan.runs.some((r) => r.name === run)) {
    throw new UsageError(`run "${run}" is not in the ${plan.experiment} grid of ${folder}; its runs: ${plan.runs.map((r) => r.name).join(', ')}`);
  }
  const stop = new AbortController();
  const signals = onSignals(() => {});
  void signals.received.then(() => stop.abort(new Error('stopped by a signal')));
  try {
    await executor.executeGridRun(folder, run, { adapter, log: (l) => log(`${run}: ${l}`), signal: stop.signal });
  } catch (e) {
    if (stop.signal.aborted) throw new Error(`${run} stopped; run the same command again to resume it from its last checkpoint`);
    throw e;
  } finally {
    signals.off();
  }
}

/** Resolves on the first SIGTERM or SIGINT; the handlers stay installed until off(). */
function onSignals(first: (sig: string) => void): { received: Promise<void>; off: () => void } {
  let handler: (sig: NodeJS.Signals) => void = () => {};
  const received = new Promise<void>((resolve) => {
    let seen = false;
    handler = (sig) => {
      if (!seen) first(sig);
      seen = true;
      resolve();
    };
  });
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  return { received, off: () => { process.off('SIGTERM', handler); process.off('SIGINT', handler); } };
}
