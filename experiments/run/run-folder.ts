import fs from 'node:fs';
import path from 'node:path';
import { asFloat32, decodeSafetensors, encodeSafetensors, SafetensorsError, storedTensor } from '../../engine/safetensors.js';
import { appendRowDurable, FileWriteError, fileWriteError, makeFolder, removeStaleTempFiles, writeFileAtomic } from '../files/durable-file.js';
import { FolderLockedError, lockFolder, releaseFolder } from '../files/folder-lock.js';

/** A problem with a run folder; the message is one line naming the problem and the fix. */
export class RunError extends Error {
  override name = 'RunError';
}

/** Float32 values; dtype I64 stores them as int64 (PyTorch's integer counters such as num_batches_tracked). */
export interface CheckpointTensor { name: string; shape: number[]; data: Float32Array; dtype?: 'F32' | 'I64' }
export interface LoadedCheckpoint { tensors: Map<string, { shape: number[]; data: Float32Array }>; meta: Record<string, unknown> }

export interface OpenOptions {
  resume: boolean;
  /** Config keys that may differ between the original run and its resumption (e.g. the package version). */
  ignoreKeys?: string[];
  /**
   * What identifies the run (run/fingerprint.ts: its settings and data): recorded in every checkpoint, and a
   * checkpoint with another one is refused.
   */
  fingerprint?: string;
}

const CONFIG = 'config.json';
const METRICS = 'metrics.jsonl';
const CHECKPOINT = 'checkpoint.safetensors';
const SUMMARY = 'summary.json';

/**
 * One run's folder: config.json (every setting), metrics.jsonl (one JSON row per line, appended and
 * fsynced as it comes), checkpoint.safetensors (replaced atomically), summary.json (written when done).
 * Nothing here ever deletes a finished row: resuming truncates metrics.jsonl only back to the rows
 * the checkpoint had seen, which the resumed run then writes again identically.
 */
export class RunFolder {
  private constructor(readonly dir: string, readonly config: Record<string, unknown>, private readonly resuming: boolean,
    private readonly fingerprint?: string) {}

  static open(dir: string, config: Record<string, unknown>, opts: OpenOptions): RunFolder {
    const configFile = path.join(dir, CONFIG);
    let existing: Record<string, unknown> | null = null;
    try {
      if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) throw new RunError(`${dir} is a file, not a run folder; choose another --out`);
      if (fs.existsSync(dir)) takeFolder(dir);
      if (fs.existsSync(configFile)) existing = readJson(configFile);
    } catch (e) {
      throw asRunError(e, dir);
    }
    if (existing && !opts.resume) throw new RunError(`${dir} already holds a run; use --resume to continue it or choose another --out`);
    if (existing) {
      const ignore = new Set(opts.ignoreKeys ?? []);
      const keys = [...new Set([...Object.keys(existing), ...Object.keys(config)])].filter((k) => !ignore.has(k));
      const differ = keys.filter((k) => JSON.stringify(existing![k]) !== JSON.stringify(config[k]));
      if (differ.length > 0) {
        const shown = differ.slice(0, 4).map((k) => `${k} (${show(existing![k])} there, ${show(config[k])} now)`).join(', ');
        const more = differ.length > 4 ? ` and ${differ.length - 4} more` : '';
        throw new RunError(`cannot resume ${dir}: its config differs in ${shown}${more}; use the original settings or choose another --out`);
      }
      return new RunFolder(dir, existing, true, opts.fingerprint);
    }
    const leftovers = [CHECKPOINT, METRICS].filter((f) => fs.existsSync(path.join(dir, f)));
    if (leftovers.length > 0) {
      throw new RunError(`${dir} holds ${leftovers[0] === CHECKPOINT ? 'a checkpoint' : 'metric rows'} but no ${CONFIG}, so it is not known which run `
        + `they belong to; move ${leftovers.join(' and ')} away or choose another --out`);
    }
    try {
      makeFolder(dir);
      takeFolder(dir);
      writeAtomic(configFile, JSON.stringify(config, null, 2) + '\n');
    } catch (e) {
      throw asRunError(e, dir);
    }
    return new RunFolder(dir, config, opts.resume, opts.fingerprint);
  }

  /** Lets another process use the folder (the lock is also released when this process exits). */
  release(): void {
    releaseFolder(this.dir);
  }

  get metricsFile(): string { return path.join(this.dir, METRICS); }
  get checkpointFile(): string { return path.join(this.dir, CHECKPOINT); }

  /** One JSON line, appended and fsynced before returning. */
  appendMetrics(row: Record<string, unknown>): void {
    appendRowDurable(this.metricsFile, JSON.stringify(row) + '\n');
  }

  readMetrics(): Record<string, unknown>[] {
    return this.completeLines().map((line, i) => {
      try {
        return JSON.parse(line);
      } catch {
        throw new RunError(`${this.metricsFile} line ${i + 1} is not JSON; restore the file or start another run with another --out`);
      }
    });
  }

  /** Lines ending in a newline; a torn last line (a kill mid-write) is not a row. */
  private completeLines(): string[] {
    if (!fs.existsSync(this.metricsFile)) return [];
    const text = fs.readFileSync(this.metricsFile, 'utf8');
    const end = text.lastIndexOf('\n');
    return end < 0 ? [] : text.slice(0, end).split('\n');
  }

  /** Replaces checkpoint.safetensors atomically; meta records how many metric rows exist now. */
  saveCheckpoint(tensors: CheckpointTensor[], meta: Record<string, unknown>): void {
    const full = { ...meta, metricsRows: this.completeLines().length, ...(this.fingerprint ? { fingerprint: this.fingerprint } : {}) };
    const bytes = encodeSafetensors(tensors.map(storedTensor), { cgh: JSON.stringify(full) });
    writeAtomic(this.checkpointFile, bytes);
  }

  /**
   * The last checkpoint, or null when there is none, after checking that it belongs to this run and that
   * metrics.jsonl holds every row it saw, each of them readable. Nothing is changed: rewindTo does that once the
   * caller has checked the rest.
   */
  loadCheckpoint(): LoadedCheckpoint | null {
    let loaded: LoadedCheckpoint | null = null;
    if (fs.existsSync(this.checkpointFile)) {
      let decoded;
      try {
        decoded = decodeSafetensors(fs.readFileSync(this.checkpointFile), this.checkpointFile);
      } catch (e) {
        if (e instanceof SafetensorsError) throw new RunError(`${e.message}; delete it to restart the run from scratch, or choose another --out`);
        throw asRunError(e, this.dir);
      }
      let meta: Record<string, unknown>;
      try {
        meta = JSON.parse(decoded.metadata.cgh ?? '');
      } catch {
        throw new RunError(`${this.checkpointFile} has no run metadata (was it written by cgh?); delete it to restart the run, or choose another --out`);
      }
      const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
      for (const [name, t] of decoded.tensors) {
        const data = t.dtype === 'F32' || t.dtype === 'I64' ? asFloat32(t) : null;
        if (!data) {
          throw new RunError(
            `${this.checkpointFile}: tensor ${name} is ${t.dtype}, expected F32 (or I64 for a counter); ` +
              'delete the checkpoint or choose another --out',
          );
        }
        tensors.set(name, { shape: t.shape, data });
      }
      loaded = { tensors, meta };
      this.checkBelongs(meta);
      this.keptLines(loaded);
    }
    return loaded;
  }

  /**
   * When resuming, cuts metrics.jsonl back to the rows it held when `checkpoint` was taken (to none without one),
   * so that no row is lost or doubled. Call it only once the checkpoint has been checked and loaded.
   */
  rewindTo(checkpoint: LoadedCheckpoint | null): void {
    if (!this.resuming) return;
    const keep = this.keptLines(checkpoint).map((l) => l + '\n').join('');
    const current = fs.existsSync(this.metricsFile) ? fs.readFileSync(this.metricsFile, 'utf8') : '';
    if (current !== keep) writeAtomic(this.metricsFile, keep);
  }

  /** A checkpoint of another run (a fingerprint that differs from this folder's run) cannot be resumed here. */
  private checkBelongs(meta: Record<string, unknown>): void {
    const there = meta.fingerprint;
    if (this.fingerprint === undefined || there === undefined) return;
    if (there !== this.fingerprint) {
      throw new RunError(`${this.checkpointFile} belongs to another run (its settings or data differ from those of ${this.dir}); move it away to `
        + `restart the run, or choose another --out`);
    }
  }

  /** The rows a checkpoint saw (none without one), checked to be there and readable. */
  private keptLines(checkpoint: LoadedCheckpoint | null): string[] {
    const rows = checkpoint ? checkpoint.meta.metricsRows : 0;
    if (!Number.isSafeInteger(rows) || (rows as number) < 0) {
      throw new RunError(`${this.checkpointFile} does not say how many metric rows it saw (metricsRows ${JSON.stringify(rows)}); delete it to restart `
        + `the run, or choose another --out`);
    }
    const lines = this.completeLines();
    if (lines.length < (rows as number)) {
      throw new RunError(`${this.metricsFile} holds ${lines.length} rows but the checkpoint was taken after ${rows}; restore metrics.jsonl or choose `
        + `another --out`);
    }
    const kept = lines.slice(0, rows as number);
    kept.forEach((line, i) => {
      let row: unknown;
      try { row = JSON.parse(line); } catch { /* reported below */ }
      if (!row || typeof row !== 'object' || Array.isArray(row)) {
        throw new RunError(`${this.metricsFile} line ${i + 1} is not JSON; restore the file or start another run with another --out`);
      }
    });
    return kept;
  }

  /**
   * Sets the run's epochs (a resumed run extended or continued to another count): config.json is rewritten with
   * them, and a finished run is no longer marked done.
   */
  setEpochs(epochs: number): void {
    (this.config as { epochs: number }).epochs = epochs;
    writeAtomic(path.join(this.dir, CONFIG), JSON.stringify(this.config, null, 2) + '\n');
    fs.rmSync(path.join(this.dir, SUMMARY), { force: true });
  }

  markDone(summary: Record<string, unknown>): void {
    writeAtomic(path.join(this.dir, SUMMARY), JSON.stringify(summary, null, 2) + '\n');
  }

  isDone(): boolean {
    return fs.existsSync(path.join(this.dir, SUMMARY));
  }
}

const writeAtomic = writeFileAtomic;

/** Only one process works in a run folder; temporary files that killed ones left there are removed. */
function takeFolder(dir: string): void {
  lockFolder(dir, 'run folder');
  removeStaleTempFiles(dir);
}

function readJson(file: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    if (e instanceof SyntaxError) throw new RunError(`${file} is not valid JSON; restore it or choose another --out`);
    throw e;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new RunError(`${file} is not a JSON object; restore it or choose another --out`);
  return v as Record<string, unknown>;
}

function show(v: unknown): string {
  const s = v === undefined ? 'unset' : JSON.stringify(v);
  return s.length > 40 ? s.slice(0, 37) + '...' : s;
}

function asRunError(e: unknown, dir: string): Error {
  if (e instanceof RunError || e instanceof FolderLockedError || e instanceof FileWriteError) return e as Error;
  const code = (e as NodeJS.ErrnoException).code;
  if (code) return fileWriteError(e, dir);
  return e as Error;
}
