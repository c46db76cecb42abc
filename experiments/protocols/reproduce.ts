import fs from 'node:fs';
import path from 'node:path';
import { getGpu } from '../../engine/context.js';
import { presetSettings } from './presets.js';
import { writeFileAtomic } from '../files/durable-file.js';
import { openGrid, planGrids, runGrid, type ExperimentRequest, type GridRunOptions } from './grid.js';
import { findProtocol, PROTOCOLS } from './index.js';
import { reproducePartsOf } from './protocol.js';
import type { TrainSettings } from '../run/grid-run.js';
import { REPRODUCE_FILE, writeReport } from '../report/index.js';

/**
 * `cgh reproduce`: every experiment of the paper at small scale on the embedded MNIST, sized to finish within
 * 45 minutes on a 2-core machine whose GPU is emulated on the CPU (Mesa lavapipe), then one report.
 * Each experiment lives in its own subfolder and resumes like cgh experiment.
 */
/** What cgh reproduce --help says it runs: the preset, then each protocol's part. */
export function reproduceNotes(): string {
  return `What it runs (preset mnist-small: an MLP with one hidden layer of 128 on the first 1,000 MNIST
training images, 500 test images, batch 50, lr 0.1, constant rate, dense early evaluation):
${reproducePlan().map((p) => `  ${folderOf(p).padEnd(18)}${p.notes ?? ''}`).join('\n')}
Small batches make the median rules' suppression visible at this scale (the paper notes that larger
batches make RM3 behave more like SGD). Kill it at any time and run the same command again: finished
runs are kept, the interrupted one resumes from its last epoch. The report is <out>/report.html, with one
CSV per table beside it; each part's report.html is in its own folder.`;
}

/** One part of the plan: an experiment with the settings that differ from the preset's and its options. */
export interface ReproduceStep {
  experiment: string;
  /** Its subfolder (default: the experiment's name; a second grid of one experiment has its own). */
  folder?: string;
  settings: Partial<TrainSettings>;
  options: Record<string, unknown>;
  /** What it runs, for --help. */
  notes?: string;
}

const folderOf = (step: ReproduceStep) => step.folder ?? step.experiment;

/** --quick runs this fraction (1 / QUICK_SHARE) of each part's epochs. */
export const QUICK_SHARE = 10;

/** How many seeds the seeded parts run by default (label noise and suppression). */
export const DEFAULT_SEEDS = 3;

/**
 * The small-scale plan: every protocol with a reproduce part, in the index's order. `seeds` sets the seeds of
 * the parts that repeat conditions; `quick` is a smoke test: one seed, a tenth of the epochs, two difficulty
 * repeats, and an anti-adversarial run to 90% clean and 50% noisy accuracy.
 */
export function reproducePlan(o: { seeds?: number; quick?: boolean; preset?: string } = {}): ReproduceStep[] {
  const steps: ReproduceStep[] = PROTOCOLS.flatMap((p) => reproducePartsOf(p).map((r) => ({ experiment: p.name, ...(r.folder ? { folder: r.folder } : {}),
    settings: { ...r.settings }, options: { ...r.options } as Record<string, unknown>, notes: r.notes })));
  for (const s of steps) {
    if ('seeds' in s.options) s.options.seeds = o.quick ? 1 : o.seeds ?? DEFAULT_SEEDS;
    if (!o.quick) continue;
    s.settings.epochs = Math.max(2, Math.round((s.settings.epochs ?? presetSettings(o.preset ?? 'mnist-small', s.experiment).epochs) / QUICK_SHARE));
    if ('repeats' in s.options) s.options.repeats = 2;
    if ('antiEpochs' in s.options) Object.assign(s.options, { target: 0.9, goal: 0.5, antiEpochs: 30 });
  }
  return steps;
}

const SETTING_FLAGS: Partial<Record<keyof TrainSettings, string>> = {
  epochs: '--epochs', momentum: '--momentum', batchSize: '--batch-size', lr: '--lr',
  trainSize: '--train-size', testSize: '--test-size', hidden: '--hidden', init: '--init', seed: '--seed', records: '--records',
};

/** A step's settings, and its options over the protocol's defaults (epoch budgets from the preset). */
function stepRequest(step: ReproduceStep, preset: string): { options: Record<string, unknown>; settings: TrainSettings } {
  const protocol = findProtocol(step.experiment);
  if (!protocol) throw new Error(`reproduce plan names an unknown experiment ${step.experiment}`);
  const { thresholdEpochs, antiEpochs, ...settings } = { ...presetSettings(preset, protocol.name), ...step.settings };
  const defaultFlags = Object.fromEntries(protocol.flags.map((f) => [camel(f.name), f.default]));
  const defaults = protocol.parseFlags(defaultFlags, { epochs: settings.epochs, thresholdEpochs, antiEpochs });
  return { options: { ...defaults, ...step.options }, settings };
}

function camel(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** The cgh experiment command that runs (or resumes) one part of the plan on its own. */
export function equivalentCommand(step: ReproduceStep, preset: string, out: string): string {
  const args = ['cgh', 'experiment', step.experiment, '--preset', preset];
  for (const [k, v] of Object.entries(step.settings)) {
    const flag = SETTING_FLAGS[k as keyof TrainSettings];
    if (!flag) throw new Error(`reproduce plan setting ${k} has no flag`);
    args.push(flag, Array.isArray(v) ? v.join(',') : String(v));
  }
  const protocol = findProtocol(step.experiment)!;
  args.push(...protocol.toFlags({ ...step.options }), '--out', path.join(out, folderOf(step)));
  return args.join(' ');
}

export interface ReproduceOptions extends GridRunOptions {
  command: string;
  version?: string;
  /** Replace the plan (tests run a tiny one). */
  plan?: ReproduceStep[];
  /** Base preset of the plan (default mnist-small). */
  preset?: string;
  /** Seeds of the seeded parts (default 3). */
  seeds?: number;
  /** A smoke test (see reproducePlan); its verdicts are marked "smoke test, not evidence". */
  quick?: boolean;
}

type PartOptions = Pick<ReproduceOptions, 'command' | 'version' | 'plan' | 'preset' | 'seeds' | 'quick'>;

/** One part of a reproduce folder: an experiment, its subfolder and what cgh experiment would ask for it. */
export interface ReproducePart { experiment: string; folder: string; request: ExperimentRequest }

export function reproduceParts(out: string, o: PartOptions): ReproducePart[] {
  const preset = o.preset ?? 'mnist-small';
  return (o.plan ?? reproducePlan({ seeds: o.seeds, quick: o.quick, preset })).map((step) => {
    const { options, settings } = stepRequest(step, preset);
    const command = `${equivalentCommand(step, preset, out)}  (part of: ${o.command})`;
    return { experiment: step.experiment, folder: path.join(out, folderOf(step)), request: { preset, settings, options, command, version: o.version } };
  });
}

/** Makes or reopens every part's folder (as each part's cgh experiment would), for workers to run them. */
export async function openReproduce(out: string, o: PartOptions): Promise<ReproducePart[]> {
  fs.mkdirSync(out, { recursive: true });
  const parts = reproduceParts(out, o);
  for (const p of parts) await openGrid(p.experiment, p.folder, p.request);
  return parts;
}

export async function reproduce(out: string, o: ReproduceOptions): Promise<string> {
  const log = o.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const parts = reproduceParts(out, o);
  const t0 = performance.now();
  const gpu = await getGpu();
  // The whole plan and its estimate first, then "run k of N" across all the parts.
  const tracker = await planGrids(parts.map((p) => ({ experiment: p.experiment, out: p.folder, request: p.request, label: path.basename(p.folder) })),
    { ...o, log });
  fs.mkdirSync(out, { recursive: true });
  const timings: string[] = [];
  for (const part of parts) {
    const s0 = performance.now();
    const label = path.basename(part.folder);
    log(`== ${label}`);
    await runGrid(part.experiment, part.folder, part.request, { ...o, log, tracker, label });
    const took = (performance.now() - s0) / 1000;
    timings.push(`${label} ${took.toFixed(0)} s`);
    log(`== ${label} done in ${took.toFixed(0)} s`);
  }
  const where = `the WebGPU adapter ${gpu.report.name} (${gpu.report.backend})`;
  return writeReproduceReport(out, o, { where, adapter: gpu.report.name, seconds: (performance.now() - t0) / 1000, timings });
}

/** Where and how long the parts ran, for the report's introduction. */
export interface ReproduceRunInfo { where: string; adapter: string; seconds: number; timings: string[] }

/** Writes the reproduce folder's description and its one report over the parts; returns the report's path. */
export function writeReproduceReport(out: string, o: Pick<ReproduceOptions, 'command' | 'version' | 'seeds' | 'quick'>, info: ReproduceRunInfo): string {
  const { where, adapter, seconds, timings } = info;
  const intro = [
    `Produced by: ${o.command} (version ${o.version ?? 'unknown'}), on ${where}.`,
    `Wall time of this invocation: ${(seconds / 60).toFixed(1)} minutes${timings.length ? ` (${timings.join(', ')})` : ''}; `
      + 'parts finished by an earlier invocation take no time here.',
    ...(o.quick ? ['Smoke test (--quick): one seed and a tenth of the epochs; the premises are mostly not reached and no verdict here is evidence.'] : []),
    'Scale: MNIST (the embedded copy), the first 1,000 training images (500 for suppression, 3,000 for easy/hard), 500 test images, a one-hidden-layer '
      + 'MLP (winsorize-iclr: the Coherent Gradients MNIST test\'s 3×256 MLP, one seed). The paper used ImageNet, ResNet-18/VGG-13/Inception-V3 '
      + 'and 90 epochs, so numbers differ; the predictions compared are qualitative.',
  ];
  writeFileAtomic(path.join(out, REPRODUCE_FILE), JSON.stringify({ command: o.command, version: o.version, adapter, seconds, intro,
    quick: o.quick === true, seeds: o.quick ? 1 : o.seeds ?? DEFAULT_SEEDS }, null, 2) + '\n');
  return writeReport(out);
}
