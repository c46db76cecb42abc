import { curve, epochsTo, epochsTrained, finalOf, pct, showsTopFive, type LoadedExperiment } from './data.js';
import { configsOf, deadText, describeData } from './common.js';
import type { Section } from './html.js';
import { antiAdversarialVerdicts } from '../verdicts/anti-adversarial.js';
import { condition, unfinishedNote } from './conditions.js';
import { lineChart } from './svg.js';

/** Section 2's anti-adversarial initialisation experiment from its folder. */
export function antiAdversarialSection(e: LoadedExperiment): Section {
  const goal = Number(e.spec.options.goal);
  const target = Number(e.spec.options.target);
  const pre = e.runs.get('pretrain'), fromPre = e.runs.get('noisy-from-pretrained'), fromScratch = e.runs.get('noisy-from-scratch');
  const a = epochsTo(fromPre, 'train', goal), b = epochsTo(fromScratch, 'train', goal);
  const budget = Math.max(epochsTrained(fromPre), epochsTrained(fromScratch));
  const show = (x: number | null) => (x === null ? `not within ${budget} epochs` : `${+x.toFixed(2)} epochs`);
  const checks = antiAdversarialVerdicts(condition(e, 'noisy-from-pretrained'), condition(e, 'noisy-from-scratch'));
  const stop = pre?.summary?.stop;
  const top5 = showsTopFive([pre, fromPre, fromScratch]);
  return {
    id: 'anti-adversarial',
    title: 'Anti-adversarial initialisation',
    paper: 'Paper: Section 2 ("Anti-adversarial initialization").',
    setup: `${describeData(pre)}: pre-trained on the clean labels until ${pct(target, 0)} training `
      + `accuracy${stop ? ` (reached ${pct(stop.acc)} at epoch ${stop.epoch.toFixed(2)})` : ''}, then trained on 100%-noise labels from those weights and, `
        + `with the same labels and batch order, from a random initialisation, each until ${pct(goal, 0)} training accuracy.`,
    figures: [{
      title: 'Memorising random labels',
      caption: 'Training accuracy on the 100%-noise labels (the whole training set).',
      svg: lineChart({
        title: 'Training accuracy on 100%-noise labels', xLabel: 'epoch', yLabel: 'training accuracy (%)', yRange: [0, 100], hline: { y: goal * 100,
          label: `${pct(goal, 0)} goal` },
        series: [
          { label: 'from clean-trained weights', color: '#1f77b4', points: curve(fromPre, 'train', 'acc') },
          { label: 'from random initialisation', color: '#d62728', points: curve(fromScratch, 'train', 'acc') },
          { label: 'clean pre-training (clean labels)', color: '#7f7f7f', dash: true, points: curve(pre, 'train', 'acc') },
        ],
      }),
      checks,
    }],
    tables: [{
      id: 'epochs',
      title: `Epochs to ${pct(goal, 0)} training accuracy on 100%-noise labels`,
      columns: ['initialisation', 'epochs', ...(top5 ? ['final training top-5'] : []), 'dead units at the end', 'paper (ResNet-18, ImageNet)'],
      rows: [
        ['clean-trained weights', show(a), ...(top5 ? [pct(finalOf(fromPre, 'train', 'top5'))] : []), deadText(fromPre), '62'],
        ['random', show(b), ...(top5 ? [pct(finalOf(fromScratch, 'train', 'top5'))] : []), deadText(fromScratch), '81'],
      ],
      note: 'A dead unit never fires on any training image; with many of them the comparison measures dead units, not the paper\'s question.',
    }],
    notes: unfinishedNote(e),
    command: e.spec.command,
    configs: configsOf(e),
  };
}
