// Step time of each gradient rule relative to SGD on the same model and batch (MLP 784-1024-1024-10),
// all measured in one run with the rules interleaved, so that drift in a shared machine's speed hits
// every rule alike. The targets: RM3 and RA3 within 1% of SGD, one-pass M3 within 10%, winsorization at
// batch 32 within 3x.
import { readFileSync } from 'node:fs';
import type { Gpu } from '../../engine/gpu.js';
import { Trainer } from '../../engine/trainer.js';
import { Mlp } from '../../models/mlp.js';
import { Rng } from '../../engine/random.js';
import { createRule, trainerBatchSize, stepsPerUpdate, createCoherenceProbe, RuleOptions } from '../../experiments/rules/index.js';
import { formatTable, fixed } from '../table.js';

export interface RulesBenchRow {
  batch: number;
  rule: string;
  /** Milliseconds per weight update (for serial M3: its K micro-batch steps together). */
  updateMs: number;
  /** updateMs / SGD's updateMs at the same batch. */
  relative: number;
  /**
   * CPU milliseconds per update spent by this process's threads other than the main one: a CPU adapter's
   * workers (lavapipe), i.e. the device work. On a machine shared with other jobs it is a steadier measure
   * than wall time. NaN where /proc is not available.
   */
  cpuMs: number;
  /** cpuMs / SGD's cpuMs. */
  cpuRelative: number;
}

interface Case {
  label: string; options: RuleOptions | null; trainer: Trainer; images: Float32Array; labels: Int32Array; step: number; best: number; bestCpu: number;
}

const now = () => performance.now();

/** CPU milliseconds used so far by every thread of this process but the main one (NaN without /proc). */
function workerCpuMs(): number {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    const ticksMs = 10; // USER_HZ = 100 on Linux
    const main = (Number(stat[11]) + Number(stat[12])) * ticksMs;
    const all = process.cpuUsage();
    return (all.user + all.system) / 1000 - main;
  } catch {
    return NaN;
  }
}

const rule = (r: RuleOptions['rule'], batchSize: number, extra: Partial<RuleOptions> = {}): RuleOptions =>
  ({ rule: r, groups: 3, winsor: 0, m3Mode: 'one-pass', batchSize, momentum: 0, ...extra });

/** The rules compared at each batch size (M3 needs a batch divisible by its 3 groups). */
function casesFor(batch: number): [string, RuleOptions | null][] {
  const list: [string, RuleOptions | null][] = [
    ['sgd', rule('sgd', batch)],
    ['ra3', rule('ra3', batch)],
    ['rm3', rule('rm3', batch)],
  ];
  if (batch % 3 === 0) list.push(['m3 one-pass K=3', rule('m3', batch)], ['m3 serial K=3', rule('m3', batch, { m3Mode: 'serial' })]);
  list.push(['winsorize s=2', rule('winsorize', batch, { winsor: 2 })], ['winsorize s=4', rule('winsorize', batch, { winsor: 4 })]);
  list.push(['sgd + coherence probe', null]);
  return list;
}

export async function benchRules(gpu: Gpu, opts: { batches?: number[]; hidden?: number[]; seconds?: number; rounds?: number } = {}): Promise<RulesBenchRow[]> {
  const batches = opts.batches ?? [96, 32];
  const hidden = opts.hidden ?? [1024, 1024];
  const seconds = opts.seconds ?? 1;
  const rounds = opts.rounds ?? 3;
  const rows: RulesBenchRow[] = [];
  for (const batch of batches) {
    const rng = new Rng(batch);
    const cases: Case[] = casesFor(batch).map(([label, o]) => {
      const tb = o ? trainerBatchSize(o) : batch;
      const model = new Mlp([1, 28, 28], 10, hidden, new Rng(1));
      const trainer = new Trainer(gpu, model, { batchSize: tb, sgd: { lr: 0.01, momentum: 0, weightDecay: 0 }, transform: o ? createRule(o) : undefined });
      const images = new Float32Array(tb * 784).map(() => rng.uniform());
      const labels = new Int32Array(tb).map(() => rng.int(10));
      return { label, options: o, trainer, images, labels, step: 0, best: Infinity, bestCpu: Infinity };
    });
    const probes = new Map(cases.filter((c) => !c.options).map((c) => [c, createCoherenceProbe(c.trainer)]));
    // One update: K trainer steps for serial M3; for the probe row, an SGD step and a coherence reading.
    const update = async (c: Case) => {
      const k = c.options ? stepsPerUpdate(c.options) : 1;
      for (let i = 0; i < k; i++) c.trainer.step(c.images, c.labels, c.step++, 0.01);
      const probe = probes.get(c);
      if (probe) await probe.measure();
    };
    for (const c of cases) { await update(c); await update(c); await gpu.idle(); }
    for (let r = 0; r < rounds; r++) {
      for (const c of cases) {
        let t = now();
        await update(c);
        await gpu.idle();
        const single = now() - t;
        const reps = Math.max(2, Math.min(200, Math.round((seconds * 1000) / Math.max(single, 0.1))));
        const cpu = workerCpuMs();
        t = now();
        for (let i = 0; i < reps; i++) await update(c);
        await gpu.idle();
        c.best = Math.min(c.best, (now() - t) / reps);
        c.bestCpu = Math.min(c.bestCpu, (workerCpuMs() - cpu) / reps);
      }
    }
    const [sgd, sgdCpu] = [cases[0].best, cases[0].bestCpu];
    for (const c of cases) rows.push({ batch, rule: c.label, updateMs: c.best, relative: c.best / sgd, cpuMs: c.bestCpu, cpuRelative: c.bestCpu / sgdCpu });
  }
  return rows;
}

export function formatRulesBench(rows: RulesBenchRow[]): string {
  return formatTable([
    { key: 'batch', title: 'batch' },
    { key: 'rule', title: 'rule', align: 'left' },
    { key: 'updateMs', title: 'ms/update', format: fixed(2) },
    { key: 'relative', title: 'x SGD', format: fixed(3) },
    { key: 'cpuMs', title: 'worker CPU ms', format: fixed(2) },
    { key: 'cpuRelative', title: 'worker CPU x SGD', format: fixed(3) },
  ], rows as unknown as Record<string, unknown>[]);
}
