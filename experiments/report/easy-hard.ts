import fs from 'node:fs';
import path from 'node:path';
import { readSplits, SPLITS_FILE } from '../protocols/easy-hard.js';
import { decodeSafetensors } from '../../engine/safetensors.js';
import { curve, evals, finalOf, pct, epochsTrained, showsTopFive, type LoadedExperiment, type LoadedRun } from './data.js';
import { configsOf, describeData } from './common.js';
import type { Section, Table } from './html.js';
import { easyHardVerdicts } from '../verdicts/easy-hard.js';
import { condition, unfinishedNote } from './conditions.js';
import { barChart, lineChart, type Series } from './svg.js';

const COLORS = { full: '#222222', easy: '#2ca02c', hard: '#d62728' };

/** Figure 4 and the table of Section 4.4 from an easy-hard experiment folder. */
export function easyHardSection(e: LoadedExperiment): Section {
  const threshold = e.runs.get('threshold'), easy = e.runs.get('easy'), hard = e.runs.get('hard'), full = e.runs.get('full');
  const GOAL = 0.9;
  const budget = Math.max(epochsTrained(easy), epochsTrained(hard));
  const splitsFile = path.join(e.root, SPLITS_FILE);
  const split = fs.existsSync(splitsFile) ? readSplits(splitsFile) : null;
  const curves = (field: 'acc' | 'loss'): Series[] => [
    { label: 'full: train', color: COLORS.full, points: curve(full, 'train', field) },
    { label: 'full: original test', color: COLORS.full, dash: true, points: curve(full, 'test', field) },
    { label: 'easy: e-train', color: COLORS.easy, points: curve(easy, 'train', field) },
    { label: 'easy: e-test', color: COLORS.easy, dash: true, points: curve(easy, 'e-test', field) },
    { label: 'hard: h-train', color: COLORS.hard, points: curve(hard, 'train', field) },
    { label: 'hard: h-test', color: COLORS.hard, dash: true, points: curve(hard, 'h-test', field) },
  ];
  const verdicts = easyHardVerdicts(condition(e, 'easy'), condition(e, 'hard'));
  const pick = (...ids: string[]) => verdicts.filter((v) => ids.includes(v.id));
  const checksA = pick('easy-hard-speed', 'easy-hard-gap');
  const checksB = pick('easy-hard-loss');
  const checksT = pick('easy-hard-transfer', 'easy-hard-hard-to-easy');
  const ee = finalOf(easy, 'e-test'), eh = finalOf(easy, 'h-test'), he = finalOf(hard, 'e-test'), hh = finalOf(hard, 'h-test');
  const stopAt = threshold?.summary?.stop;
  const top5 = showsTopFive([easy, hard, full]);
  const top5Of = (run: LoadedRun | undefined, sets: string[]) => (top5 ? [sets.map((s) => pct(finalOf(run, s, 'top5'))).join(' / ')] : []);
  const setupBits = [
    `SGD on ${describeData(full ?? threshold)} until the whole training set first reached ${pct(Number(e.spec.options.threshold), 0)} accuracy`,
    stopAt ? `(at epoch ${stopAt.epoch.toFixed(2)}, step ${stopAt.step}, ${pct(stopAt.acc)})` : '(threshold run unfinished)',
    split ? `; ${split.meta.easy} examples were correct then (easy), ${split.meta.hard} not (hard); e-train ${split.splits.eTrain.length}, e-test `
      + `${split.splits.eTest.length}, h-train ${split.splits.hTrain.length}, h-test ${split.splits.hTest.length} examples, all from the training set.` : '.',
  ];
  return {
    id: 'easy-hard',
    title: 'Easy and hard examples',
    paper: 'Paper: Section 4.2 and Figure 4; the table of Section 4.4 (85% / 17% / 44% / 21%).',
    setup: setupBits.join(' '),
    figures: [
      { title: '(a) Accuracy', caption: 'Solid: the run\'s own training set; dashed: its test set (original test for full, e-test for easy, h-test for '
        + 'hard).', svg: lineChart({ title: 'Accuracy: training (solid) and test '
          + '(dashed)', xLabel: 'epoch', yLabel: 'accuracy (%)', yRange: [0, 100], series: curves('acc') }), checks: checksA },
      { title: '(b) Loss', caption: 'Cross-entropy on the same sets.', svg: lineChart({ title: 'Loss: training (solid) and test '
        + '(dashed)', xLabel: 'epoch', yLabel: 'cross-entropy loss (nats)', series: curves('loss') }), checks: checksB },
      {
        title: 'Cross-generalisation (Section 4.4)',
        caption: 'Final accuracy of the model trained on easy or hard examples, on each test set.',
        svg: barChart({
          title: 'Final accuracy by training set and test set', xLabel: 'evaluated on', yLabel: 'accuracy (%)', yRange: [0, 100],
          groups: ['e-test', 'h-test', 'test'].map((set) => ({ label: set === 'test' ? 'original test' : set, values: [
            { series: 'trained on easy (e-train)', value: finalOf(easy, set) * 100, color: COLORS.easy },
            { series: 'trained on hard (h-train)', value: finalOf(hard, set) * 100, color: COLORS.hard },
          ] })),
        }),
        checks: checksT,
      },
    ],
    tables: [...classTable(threshold?.dir), {
      id: 'table',
      title: 'Trained on × evaluated on (Section 4.4)',
      columns: ['model trained on', 'e-test', 'h-test', 'original test', ...(top5 ? ['top-5: e-test / h-test / original test'] : []),
        'paper (e-test / h-test)'],
      rows: [
        ['easy (e-train)', pct(ee), pct(eh), pct(finalOf(easy, 'test')), ...top5Of(easy, ['e-test', 'h-test', 'test']), '85% / 17%'],
        ['hard (h-train)', pct(he), pct(hh), pct(finalOf(hard, 'test')), ...top5Of(hard, ['e-test', 'h-test', 'test']), '44% / 21%'],
        ['full training set', 'n/a', 'n/a', pct(finalOf(full, 'test')), ...(top5 ? [`n/a / n/a / ${pct(finalOf(full, 'test', 'top5'))}`] : []), ''],
      ],
      note: 'The full model has seen the e-test and h-test examples in training, so only its original-test accuracy is shown.',
    }],
    notes: [...unfinishedNote(e)],
    command: e.spec.command,
    configs: configsOf(e),
  };
}

/** Per class, how many examples were easy and hard (from the threshold run's labels and records). */
function classTable(dir: string | undefined): Table[] {
  const file = dir ? path.join(dir, 'examples.safetensors') : '';
  if (!file || !fs.existsSync(file)) return [];
  const { tensors, metadata } = decodeSafetensors(fs.readFileSync(file), file);
  const label = tensors.get('original_label')?.data, last = tensors.get('last_step')?.data;
  if (!(label instanceof Int32Array) || !(last instanceof Int32Array)) return [];
  const latest = Number(metadata.latest_step);
  const classes = Math.max(...label) + 1;
  const easy = new Array(classes).fill(0), hard = new Array(classes).fill(0);
  label.forEach((c, i) => (last[i] === latest ? easy : hard)[c]++);
  return [{
    id: 'classes',
    title: 'Easy and hard examples per class',
    columns: ['class', 'easy', 'hard', 'easy fraction'],
    rows: easy.map((e, c) => [c, e, hard[c], pct(e / Math.max(1, e + hard[c]))]),
    note: 'Early in training some classes are learned before others, so easy and hard also differ in their class make-up; the splits are drawn without '
      + 'balancing classes, as in the paper.',
  }];
}
