// The page's runs in IndexedDB, so that a reload or a closed tab does not lose them: each epoch the page saves the
// run's settings, its metric rows and its checkpoint, and on load it offers to resume the latest unfinished one.
// One record per run, replaced whole in one transaction, so a record is always a complete epoch's state.

export interface StoredRun {
  /** Chosen by the page when the run starts (e.g. its start time and settings). */
  id: string;
  /** The settings form's query string (form-url.ts), to refill the form. */
  query: string;
  /** The run's config as its config.json download shows it. */
  config: Record<string, unknown>;
  /** metrics.jsonl rows so far. */
  rows: Record<string, unknown>[];
  /** checkpoint.safetensors after the last finished epoch, or null before the first. */
  checkpoint: Uint8Array | null;
  /** Epochs finished. */
  epoch: number;
  status: 'running' | 'stopped' | 'done' | 'failed';
  /** Date.now() of the save. */
  savedAt: number;
}

const DB = 'cgh-runs';
const STORE = 'runs';

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error ?? new Error('IndexedDB request failed'));
  });
}

export class RunStore {
  private constructor(private readonly db: IDBDatabase) {}

  /** Opens the store; null where the browser offers no IndexedDB (private windows of some browsers). */
  static async open(): Promise<RunStore | null> {
    if (typeof indexedDB === 'undefined') return null;
    try {
      const open = indexedDB.open(DB, 1);
      open.onupgradeneeded = () => open.result.createObjectStore(STORE, { keyPath: 'id' });
      return new RunStore(await request(open));
    } catch {
      return null;
    }
  }

  private async transact<T>(mode: IDBTransactionMode, body: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
    const tx = this.db.transaction(STORE, mode);
    const result = request(body(tx.objectStore(STORE)));
    await new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
      tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted (storage full?)'));
    });
    return result;
  }

  /** Replaces the run's record. */
  async save(run: StoredRun): Promise<void> {
    await this.transact('readwrite', (s) => s.put(run));
  }

  async get(id: string): Promise<StoredRun | null> {
    return (await this.transact('readonly', (s) => s.get(id) as IDBRequest<StoredRun | undefined>)) ?? null;
  }

  /** Every stored run, the most recently saved first. */
  async list(): Promise<StoredRun[]> {
    const all = await this.transact('readonly', (s) => s.getAll() as IDBRequest<StoredRun[]>);
    return all.sort((a, b) => b.savedAt - a.savedAt);
  }

  /** The most recently saved run that did not finish (running when the page went away, or stopped), if any. */
  async latestUnfinished(): Promise<StoredRun | null> {
    return (await this.list()).find((r) => r.status === 'running' || r.status === 'stopped') ?? null;
  }

  async remove(id: string): Promise<void> {
    await this.transact('readwrite', (s) => s.delete(id));
  }

  /** Keeps the `keep` most recent runs and deletes the rest (checkpoints are large). */
  async prune(keep: number): Promise<void> {
    for (const r of (await this.list()).slice(keep)) await this.remove(r.id);
  }
}
