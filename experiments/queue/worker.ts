import os from 'node:os';
import path from 'node:path';
import { DelayedError, Queue, UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { GridExecutor } from './executor.js';
import { GRID_JOB, REGISTRY_KEY, RUN_JOB } from './names.js';
import { JobDataError, parseJobData } from './jobs.js';
import { gridStep } from './grid-job.js';
import { breakLockOf, lockHolderOf, setLockOwner } from '../files/folder-lock.js';

/** What a worker's run-folder locks say holds them. */
const WORKER_LOCK_OWNER = 'cgh worker';

export interface GridWorkerOptions {
  connection: Redis;
  executor: GridExecutor;
  /** Shown in cgh queue status. */
  name: string;
  adapter?: string;
  /** Runs at once in this process, over all grids. */
  concurrency: number;
  /**
   * How long a job stays claimed without a heartbeat; a dead worker's job goes to another after about
   * twice this. Heartbeats come every half of it.
   */
  lockMs: number;
  log: (line: string) => void;
  /** How often the list of queued grids is read (new grids are picked up this fast). */
  watchMs?: number;
}

interface Active {
  stop: AbortController;
  returnOnStop: boolean;
  /** When the job's lock was last known to be ours (taken or renewed). */
  heldAt: number;
}

/**
 * A worker of every grid queued on one Redis: a BullMQ Worker per grid queue (found in the registry
 * set), and at most `concurrency` jobs at once over all of them. BullMQ renews each job's lock while it
 * runs (the heartbeat) and hands a job whose lock lapsed (a killed worker, a lost machine) to another
 * worker, whose executeGridRun resumes from the folder's checkpoint. stop() stops the running runs and
 * puts their jobs back on the queue. A run whose lock could not be renewed for
 * a whole lock period (Redis unreachable from here) is stopped too: another worker may have taken it.
 */
export class GridWorker {
  private readonly workers = new Map<string, Worker>();
  private readonly active = new Map<string, Active>();
  private running = 0;
  private stopping = false;
  private watchTimer?: NodeJS.Timeout;
  private leaseTimer?: NodeJS.Timeout;
  private watching = false;
  private stopped?: Promise<void>;

  constructor(private readonly o: GridWorkerOptions) {}

  async start(): Promise<void> {
    setLockOwner(`${WORKER_LOCK_OWNER} ${this.o.name}`);
    await this.watch();
    this.watchTimer = setInterval(() => void this.watch(), this.o.watchMs ?? 2000);
    this.leaseTimer = setInterval(() => this.checkLeases(), Math.max(250, this.o.lockMs / 4));
  }

  /** Stops runs whose lock has not been renewed for a lock period: Redis may have handed them to another worker. */
  private checkLeases(): void {
    const now = Date.now();
    for (const [key, a] of this.active) {
      if (now - a.heldAt <= this.o.lockMs || a.stop.signal.aborted) continue;
      this.o.log(`${key}: no heartbeat reached Redis for ${((now - a.heldAt) / 1000).toFixed(0)}s; stopping the run here, another worker may take it`);
      a.stop.abort(new Error('lock lapsed'));
    }
  }

  /** Stops taking jobs, stops the running runs, returns their jobs to the queue, disconnects. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping = true;
      clearInterval(this.watchTimer);
      clearInterval(this.leaseTimer);
      await Promise.all([...this.workers.values()].map((w) => w.pause(true)));
      for (const a of this.active.values()) { a.returnOnStop = true; a.stop.abort(new Error('the worker is stopping')); }
      await Promise.all([...this.workers.values()].map((w) => w.close()));
    })();
    return this.stopped;
  }

  private async watch(): Promise<void> {
    if (this.watching || this.stopping) return;
    this.watching = true;
    try {
      const names = await this.o.connection.smembers(REGISTRY_KEY);
      for (const name of names.sort()) if (!this.workers.has(name) && !this.stopping) this.addQueue(name);
    } catch (e) {
      this.o.log(`cannot read the list of grids (${(e as Error).message}); trying again`);
    } finally {
      this.watching = false;
    }
  }

  private addQueue(name: string): void {
    const queue = new Queue(name, { connection: this.o.connection });
    const worker = new Worker(name, (job, token, signal) => this.take(job, token, queue, signal), {
      connection: this.o.connection,
      name: this.o.name,
      concurrency: this.o.concurrency,
      lockDuration: this.o.lockMs,
      stalledInterval: this.o.lockMs,
      // A job whose worker died is handed on a few times; more often than that, the run itself kills its workers.
      maxStalledCount: 3,
      removeOnComplete: { count: 100000 },
      removeOnFail: { count: 100000 },
    });
    worker.on('error', (e) => this.onError(e));
    worker.on('locksRenewed', ({ jobIds }: { jobIds: string[] }) => {
      const now = Date.now();
      for (const id of jobIds) {
        const a = this.active.get(`${name}/${id}`);
        if (a) a.heldAt = now;
      }
    });
    // Another worker has the job now (the lock lapsed, e.g. during a long Redis outage): stop ours at a checkpoint.
    worker.on('lockRenewalFailed', (ids: string[]) => {
      for (const id of ids) {
        const a = this.active.get(`${name}/${id}`);
        if (a) { this.o.log(`${name}: lost the claim on ${id}; stopping it here`); a.stop.abort(new Error('lock lost')); }
      }
    });
    this.workers.set(name, worker);
    if (this.running >= this.o.concurrency) void worker.pause(true);
  }

  private lastError = '';
  private onError(e: Error): void {
    const line = (e.message || String(e)).split('\n')[0];
    if (line !== this.lastError) this.o.log(`queue: ${line}`);
    this.lastError = line;
  }

  /** Takes a job if a slot is free, otherwise puts it straight back (another grid's job arrived meanwhile). */
  private async take(job: Job, token: string | undefined, queue: Queue, signal?: AbortSignal): Promise<unknown> {
    if (this.stopping || this.running >= this.o.concurrency) {
      await job.moveToWait(token);
      throw new WaitingError();
    }
    this.running++;
    this.updatePause();
    try {
      return job.name === GRID_JOB ? await this.gridJob(job, token!, queue) : await this.runJob(job, token, signal);
    } finally {
      this.running--;
      this.updatePause();
    }
  }

  private updatePause(): void {
    if (this.stopping) return;
    const full = this.running >= this.o.concurrency;
    for (const w of this.workers.values()) {
      if (full && !w.isPaused()) void w.pause(true);
      else if (!full && w.isPaused()) void w.resume();
    }
  }

  private async gridJob(job: Job, token: string, queue: Queue): Promise<unknown> {
    const { folder } = parse(job, false);
    const result = await gridStep(job, token, folder, this.o.executor, queue);
    const counts = `${result.finished.length} done, ${result.failed.length} failed, ${result.blocked.length} blocked`;
    this.o.log(`${queue.name}: grid finished (${counts}); report: ${result.report}`);
    return result;
  }

  private async runJob(job: Job, token: string | undefined, signal?: AbortSignal): Promise<unknown> {
    if (job.name !== RUN_JOB) throw new UnrecoverableError(`unknown job kind "${job.name}"; cgh workers run only grid and run jobs`);
    const { folder, run } = parse(job, true) as { folder: string; run: string };
    const plan = await this.o.executor.planGrid(folder);
    if (!plan.runs.some((r) => r.name === run)) throw new UnrecoverableError(`run "${run}" is not in the ${plan.experiment} grid of ${folder}; refused`);
    const key = `${job.queueName}/${job.id}`;
    const a: Active = { stop: new AbortController(), returnOnStop: false, heldAt: Date.now() };
    const onCancel = () => a.stop.abort(signal?.reason);
    signal?.addEventListener('abort', onCancel);
    this.active.set(key, a);
    let last = 0;
    const log = (line: string) => {
      this.o.log(`${run}: ${line}`);
      const now = Date.now();
      if (now - last > 2000) { last = now; job.updateProgress({ worker: this.o.name, line }).catch(() => {}); }
    };
    job.updateProgress({ worker: this.o.name }).catch(() => {});
    this.o.log(`${run}: started (${folder}, attempt ${job.attemptsMade + 1})`);
    const t0 = Date.now();
    try {
      for (let tookOver = false; ; tookOver = true) {
        try {
          await this.o.executor.executeGridRun(folder, run, { adapter: this.o.adapter, log, signal: a.stop.signal });
          break;
        } catch (e) {
          if ((e as Error).name !== 'FolderLockedError' || a.stop.signal.aborted) throw e;
          if (!tookOver && takeOver(path.join(folder, run), this.o.log)) continue;
          // A local cgh experiment (or a worker still stopping) has the run: try again later.
          const seconds = Math.round(this.o.lockMs / 1000);
          this.o.log(`${run}: ${(e as Error).message.split(';')[0]}; trying again in ${seconds}s`);
          await job.moveToDelayed(Date.now() + this.o.lockMs, token);
          throw new DelayedError();
        }
      }
    } catch (e) {
      if (!a.stop.signal.aborted) throw e;
    } finally {
      signal?.removeEventListener('abort', onCancel);
      this.active.delete(key);
    }
    if (a.stop.signal.aborted) {
      if (a.returnOnStop) {
        // The next worker resumes the run from its last checkpoint.
        await job.moveToWait(token);
        this.o.log(`${run}: stopped and put back on the queue, to resume from its last checkpoint`);
        throw new WaitingError();
      }
      throw new Error(`${run} stopped: ${(a.stop.signal.reason as Error)?.message ?? 'cancelled'}`);
    }
    this.o.log(`${run}: done in ${((Date.now() - t0) / 1000).toFixed(0)}s`);
    return { worker: this.o.name };
  }
}

/**
 * Breaks a run folder's lock held by a worker on another host: the job came to this worker because that
 * worker's lease lapsed, and a worker whose lease lapses stops its run. (A dead holder on this host is
 * recognised by the lock itself; a lock of anything but a worker is left alone.)
 */
function takeOver(dir: string, log: (line: string) => void): boolean {
  const holder = lockHolderOf(dir);
  if (!holder?.owner?.startsWith(WORKER_LOCK_OWNER) || holder.host === os.hostname()) return false;
  if (!breakLockOf(dir, holder)) return false;
  log(`${dir}: took over the lock of ${holder.owner} on ${holder.host}, whose lease on the run lapsed`);
  return true;
}

function parse(job: Job, withRun: boolean): { folder: string; run?: string } {
  try {
    return parseJobData(job.data, job.queueName, withRun);
  } catch (e) {
    if (e instanceof JobDataError) throw new UnrecoverableError(`refused: ${e.message}`);
    throw e;
  }
}
