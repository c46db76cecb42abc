// The plan of an experiment (or of cgh reproduce) before it starts, with an estimated time: each run's training and
// evaluation examples from the experiment's settings, times the cost of one of each measured on this adapter with the
// experiment's model; then "run k of N" lines with the time left, rescaled by how long the finished runs really took.
import fs from 'node:fs';
import path from 'node:path';
import type { Gpu } from '../../engine/gpu.js';
import { subset } from '../../engine/data/dataset.js';
import { setupRun } from '../run/setup.js';
import { scheduledSteps } from '../run/eval-sets.js';
import type { ExperimentData } from '../run/experiment-data.js';
import type { TrainSettings } from '../run/grid-run.js';
import type { ExperimentSpec } from './experiment-folder.js';
import type { Protocol } from './protocol.js';

export interface PlannedWork {
  /** The grid's name in the plan: its experiment, or its own where one experiment has several grids. */
  experiment: string;
  run: string;
  epochs: number;
  trainExamples: number;
  /** Examples evaluated over the run (every evaluation point's sets). */
  evalExamples: number;
  finished: boolean;
  /** The cost measured with this grid's own model, where a plan measures several (cgh reproduce). */
  cost?: Cost;
}

/** Seconds per training example and per evaluated example on this adapter. */
export interface Cost { trainS: number; evalS: number }

/**
 * The work of each run of an experiment, from its settings: runs that stop at a criterion are counted at their
 * epoch budget, so the estimate is an upper bound for them.
 */
export function gridWork(protocol: Protocol<any>, spec: ExperimentSpec, folder: string, label = spec.experiment): PlannedWork[] {
  const s = spec.settings;
  return protocol.plan(spec).map((r) => {
    const n = s.trainSize ?? 60000;
    const steps = Math.max(1, Math.floor(n / s.batchSize));
    const points = scheduledSteps(steps, steps * s.epochs, s.denseEval).length;
    const perPoint = (s.records === 'all' ? n : Math.min(n, 3 * (s.sampleSize ?? 1000))) + (s.testSize ?? 10000);
    return {
      experiment: label, run: r.name, epochs: s.epochs, trainExamples: s.epochs * steps * s.batchSize, evalExamples: points * perPoint,
      finished: fs.existsSync(path.join(folder, r.name, 'summary.json')),
    };
  });
}

/** Times a few training steps and evaluation passes of the settings' model on `gpu` (after a warm-up that compiles the shaders). */
export async function measureCost(gpu: Gpu, data: ExperimentData, s: TrainSettings): Promise<Cost> {
  const n = Math.min(data.train.n, Math.max(s.batchSize * 12, 500));
  const train = subset(data.train, n);
  const { trainer, batches } = setupRun(gpu, { train, numClasses: data.numClasses, inputShape: data.inputShape } as never, { ...s, rule: 'sgd', groups: 3 });
  const stepsOf = async (count: number) => {
    let k = 0;
    for (const b of batches.epoch()) {
      if (k++ === count) break;
      trainer.step(b.images, b.labels, k, s.lr);
    }
    await gpu.idle();
  };
  const steps = Math.max(1, Math.floor(n / s.batchSize) - 2);
  // Warm-up: a whole pass, since the first dispatches of each pipeline are much slower than the rest on some drivers.
  await stepsOf(steps);
  await trainer.evaluate(train);
  // Repeated until about half a second has passed, so that a busy machine's hiccups average out.
  let t = performance.now(), examples = 0;
  do { await stepsOf(steps); examples += steps * s.batchSize; } while (performance.now() - t < 500);
  const trainS = (performance.now() - t) / 1000 / examples;
  t = performance.now();
  examples = 0;
  do { await trainer.evaluate(train); examples += n; } while (performance.now() - t < 300);
  const evalS = (performance.now() - t) / 1000 / examples;
  await trainer.takeMetrics();
  return { trainS, evalS };
}

export function seconds(w: PlannedWork, c: Cost): number {
  const { trainS, evalS } = w.cost ?? c;
  return w.trainExamples * trainS + w.evalExamples * evalS;
}

/** What the cost of an example depends on, among the settings: runs with the same key share one measurement. */
export function costKey(s: TrainSettings): string {
  return JSON.stringify([s.dataset, s.dataDir, s.model, s.hidden, s.width, s.batchSize, s.trainSize]);
}

export function clock(s: number): string {
  const t = Math.max(0, Math.round(s));
  const h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), ss = String(t % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** The plan's lines: a header with the estimate, then one line per run still to do. */
export function planLines(work: PlannedWork[], cost: Cost): string[] {
  const todo = work.filter((w) => !w.finished);
  const total = todo.reduce((a, w) => a + seconds(w, cost), 0);
  const rate = (s: number) => Math.round(1 / s).toLocaleString('en-US');
  const lines = [`plan: ${todo.length} of ${work.length} runs to do${work.length > todo.length ? ` (${work.length - todo.length} finished earlier)` : ''}, `
    + `about ${clock(total)} (this adapter: ${rate(cost.trainS)} training and ${rate(cost.evalS)} evaluated examples/s, measured just now; `
    + 'runs that stop at a target are counted at their full budget)'];
  for (const w of todo) {
    lines.push(`  ${`${w.experiment}/${w.run}`.padEnd(40)} up to ${w.epochs} epochs, ${w.trainExamples.toLocaleString('en-US')} training and `
      + `${w.evalExamples.toLocaleString('en-US')} evaluated examples, about ${clock(seconds(w, cost))}`);
  }
  return lines;
}

/**
 * Counts the runs as they start and finish: "run k of N" and the time left, the estimate of the runs to come scaled
 * by how the finished ones compared with theirs.
 */
export class PlanTracker {
  private readonly finishedRuns = new Set<PlannedWork>();
  private estimatedDone = 0;
  private actualDone = 0;
  private readonly todo: PlannedWork[];

  constructor(work: PlannedWork[], private readonly cost: Cost) {
    this.todo = work.filter((w) => !w.finished);
  }

  /** The line for a run about to start (null for a run that was not in the plan, e.g. finished earlier). */
  starting(experiment: string, run: string): string | null {
    if (!this.todo.some((w) => w.experiment === experiment && w.run === run)) return null;
    const left = this.todo.filter((w) => !this.finishedRuns.has(w)).reduce((a, w) => a + seconds(w, this.cost), 0);
    const scale = this.estimatedDone > 0 ? this.actualDone / this.estimatedDone : 1;
    return `run ${this.finishedRuns.size + 1} of ${this.todo.length}: ${experiment}/${run}; about ${clock(left * scale)} left`;
  }

  finished(experiment: string, run: string, took: number): void {
    const w = this.todo.find((x) => x.experiment === experiment && x.run === run);
    if (!w || this.finishedRuns.has(w)) return;
    this.finishedRuns.add(w);
    this.estimatedDone += seconds(w, this.cost);
    this.actualDone += took;
  }
}
