import type { TrainSettings } from '../run/grid-run.js';
import { findProtocol } from './index.js';

/**
 * Presets: the training settings of each experiment at a given scale. A preset gives every setting;
 * command-line flags override single ones.
 *
 * - paper: the paper's ImageNet protocol (Section 2, 3.3 and Appendix A): ResNet-18 (or --model
 *   vgg13 / inception_v3), batch 256, lr 0.1, StepLR(30) for ResNet-18 and cosine for the others,
 *   90 epochs, no augmentation or weight decay; momentum 0.9 for the label-noise, easy/hard and
 *   anti-adversarial runs, 0 for the suppression and difficulty (RM3) runs; winsorization as in
 *   Appendix B (ResNet-32 on CIFAR-10, batch 32, lr 0.1 divided by 10 at 40K steps and every 20K after,
 *   100K steps = 64 epochs; here at epochs 26, 38 and 51). The data is a folder made by cgh prepare
 *   (--data-dir; ImageNet at 256/224, or 342/299 for Inception-V3). The four evaluation sets (pristine,
 *   corrupt, a training sample, test; loss, top-1 and top-5) are capped at 50,000 examples from a seeded
 *   permutation and measured before each epoch and after the last, as the authors' ImageNet driver does
 *   (not on the MNIST code's dense schedule).
 * - mnist: the Coherent Gradients code's MNIST setting: MLP with 3 hidden layers of 256, lr 0.1,
 *   batch 100, constant rate, all 60,000 training and 10,000 test images.
 * - mnist-small: what cgh reproduce uses, sized for a CPU-emulated GPU: MLP with one hidden layer of 128,
 *   the first 1,000 training images, 500 test images, batch 50.
 * - cifar10: small-cnn on CIFAR-10 (needs --data-dir), batch 128, lr 0.05, step schedule.
 * - tiny: a smoke test: MLP with 32 hidden units, 500 training and 500 test images, 2 epochs.
 */

export const PRESET_NAMES = ['paper', 'mnist', 'mnist-small', 'cifar10', 'tiny'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

export class PresetError extends Error {
  override name = 'PresetError';
}

/** Epoch budgets of an experiment's phases. */
export interface PhaseEpochs {
  /** Main training (label-noise, suppression, winsorize, the easy/hard and difficulty trainings). */
  epochs: number;
  /** Budget of the runs that stop at a training-accuracy threshold (easy/hard, difficulty). */
  thresholdEpochs: number;
  /** Budget of the anti-adversarial runs (pre-training and each 100%-noise run). */
  antiEpochs: number;
}

const BASE: Record<PresetName, TrainSettings & PhaseEpochs> = {
  paper: {
    dataset: 'imagefolder', model: 'resnet18', hidden: [], init: 'pytorch', batchSize: 256, evalBatchSize: 256, lr: 0.1, schedule: 'step', stepSize: 30,
    epochs: 90, thresholdEpochs: 90, antiEpochs: 90, momentum: 0.9, weightDecay: 0, sampleSize: 50_000, denseEval: false, records: 'epochs',
    seed: 0, dataSeed: 0,
  },
  mnist: {
    dataset: 'mnist', model: 'mlp', hidden: [256, 256, 256], init: 'pytorch', batchSize: 100, evalBatchSize: 1000, lr: 0.1, schedule: 'constant', stepSize: 30,
    epochs: 60, thresholdEpochs: 10, antiEpochs: 100, momentum: 0.9, weightDecay: 0, denseEval: true, records: 'all', seed: 0, dataSeed: 0,
  },
  'mnist-small': {
    dataset: 'mnist', model: 'mlp', hidden: [128], init: 'pytorch', trainSize: 1000, testSize: 500, batchSize: 50, evalBatchSize: 1000, lr: 0.1,
    schedule: 'constant', stepSize: 30, epochs: 30, thresholdEpochs: 5, antiEpochs: 40, momentum: 0.9, weightDecay: 0, denseEval: true, records: 'all',
    seed: 0, dataSeed: 0,
  },
  cifar10: {
    dataset: 'cifar10', model: 'small-cnn', hidden: [], init: 'pytorch', batchSize: 128, evalBatchSize: 500, lr: 0.05, schedule: 'step', stepSize: 20,
    epochs: 60, thresholdEpochs: 10, antiEpochs: 100, momentum: 0.9, weightDecay: 0, denseEval: true, records: 'all', seed: 0, dataSeed: 0,
  },
  tiny: {
    dataset: 'mnist', model: 'mlp', hidden: [32], init: 'pytorch', trainSize: 500, testSize: 500, batchSize: 50, evalBatchSize: 500, lr: 0.1,
    schedule: 'constant', stepSize: 30, epochs: 2, thresholdEpochs: 2, antiEpochs: 2, momentum: 0.9, weightDecay: 0, denseEval: true, records: 'all',
    seed: 0, dataSeed: 0,
  },
};

export function validatePreset(name: string): PresetName {
  if (!(PRESET_NAMES as readonly string[]).includes(name)) throw new PresetError(`unknown preset "${name}"; use --preset ${PRESET_NAMES.join('|')}`);
  return name as PresetName;
}

/**
 * A preset's settings for one experiment, with the given flags applied. The protocol's own choices
 * (momentum 0 with the median rules, batch 32 for winsorization) adjust the preset first, so a flag can
 * still override them; under the paper's preset, models other than ResNet-18 get the cosine schedule
 * unless the protocol chose a schedule.
 */
export function presetSettings(preset: string, experiment: string, flags: Partial<TrainSettings & PhaseEpochs> = {}): TrainSettings & PhaseEpochs {
  const name = validatePreset(preset);
  const protocol = findProtocol(experiment);
  if (!protocol) throw new PresetError(`unknown experiment "${experiment}"`);
  const s: TrainSettings & PhaseEpochs = { ...BASE[name], hidden: [...BASE[name].hidden] };
  const baseSchedule = s.schedule;
  protocol.adjustPreset?.(s, name);
  const protocolSchedule = s.schedule !== baseSchedule || s.milestones !== undefined;
  const given = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined));
  Object.assign(s, given);
  if (name === 'paper' && !protocolSchedule && given.schedule === undefined) s.schedule = s.model === 'resnet18' ? 'step' : 'cosine';
  return s;
}

/** Whether the preset needs --data-dir. */
export function needsDataDir(preset: PresetName): boolean {
  return preset === 'paper' || preset === 'cifar10';
}

export const PRESET_HELP = `Presets (--preset):
  paper        the paper's ImageNet protocol: resnet18 (or --model vgg13 / inception_v3, cosine schedule),
               batch 256, lr 0.1, StepLR(30), 90 epochs, no augmentation or weight decay; momentum 0.9
               except with the median rules; winsorize: resnet32 on CIFAR-10, batch 32, 64 epochs.
               Needs --data-dir DIR, ImageNet made by cgh prepare (--resize 342 --crop 299 for inception_v3).
               Four evaluation sets of at most 50,000 (top-1, top-5, loss) before each epoch and after the last.
               Cost with the default options, in training images (1,281,167 per epoch) plus evaluation:
                 label-noise   5 runs x 90 epochs              = 577 M images
                 suppression   12 runs (4 rules x 3 levels) x 90 = 1,384 M images
                 easy-hard     threshold run (~2 epochs) + easy and hard (500K each) and full, 90 epochs = ~210 M
                 difficulty    8 threshold runs (~2 epochs) + RM3 and SGD, 90 epochs = ~251 M
                 anti-adversarial up to 3 runs x 90 epochs     = <= 346 M
               plus per run 4 x 50,000 images at each of the 91 evaluation points (18 M) and a pass over the
               training set at each epoch end for the per-example records (115 M). At ResNet-18's 162 images/s
               measured on an H200 before the GPU kernel work, label-noise alone is ~41 days; see README.
  mnist        the Coherent Gradients MNIST setting: mlp 256,256,256, lr 0.1, batch 100, all of MNIST.
  mnist-small  what cgh reproduce runs: mlp 128, the first 1,000 training and 500 test images, batch 50.
  cifar10      small-cnn on CIFAR-10 (--data-dir), batch 128, lr 0.05, divided by 10 every 20 epochs.
  tiny         a smoke test: mlp 32, 500 training and 500 test images, 2 epochs.`;
