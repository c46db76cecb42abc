import { Rng } from '../../engine/random.js';

/**
 * The easy/hard split stopped exactly at the threshold (browser-safe). Instead of taking the examples
 * correct at the first evaluation where the training accuracy passed the threshold (which overshoots by
 * however much accuracy rose between two evaluations), examples are ranked by the step at which each
 * was first classified correctly, and the first round(threshold * n) are easy: the easy fraction is the
 * threshold to within one example. Examples never learned rank last. Examples that share the boundary
 * step are ordered by a seeded draw, so the split is reproducible; `tied` says how many shared it (the
 * evaluation schedule's resolution: evaluating every step near the threshold makes it small).
 */
export interface ThresholdSplit {
  easy: Int32Array;
  hard: Int32Array;
  /** The first-correct step of the last easy example (-1 if none is easy or it was never learned). */
  boundaryStep: number;
  /** Examples whose first-correct step is the boundary step, of which `tiedEasy` were made easy. */
  tied: number;
  tiedEasy: number;
}

const NEVER = Number.MAX_SAFE_INTEGER;

function rank(first: Int32Array, members: Int32Array, count: number, rng: Rng): { easy: number[]; boundaryStep: number; tied: number; tiedEasy: number } {
  const draw = rng.permutation(members.length);
  const order = Array.from(members.keys()).sort((a, b) => {
    const fa = first[members[a]] < 0 ? NEVER : first[members[a]], fb = first[members[b]] < 0 ? NEVER : first[members[b]];
    return fa - fb || draw[a] - draw[b];
  });
  const easy = order.slice(0, count).map((k) => members[k]);
  if (count === 0) return { easy, boundaryStep: -1, tied: 0, tiedEasy: 0 };
  const boundaryStep = first[easy[count - 1]];
  const tied = Array.from(members).filter((i) => first[i] === boundaryStep).length;
  const tiedEasy = easy.filter((i) => first[i] === boundaryStep).length;
  return { easy, boundaryStep, tied, tiedEasy };
}

function finish(n: number, easyList: number[], boundaryStep: number, tied: number, tiedEasy: number): ThresholdSplit {
  const isEasy = new Uint8Array(n);
  for (const i of easyList) isEasy[i] = 1;
  const easy: number[] = [], hard: number[] = [];
  isEasy.forEach((e, i) => (e ? easy : hard).push(i));
  return { easy: Int32Array.from(easy), hard: Int32Array.from(hard), boundaryStep, tied, tiedEasy };
}

function validate(threshold: number): void {
  if (!(threshold > 0 && threshold < 1)) throw new RangeError(`threshold ${threshold} must be strictly between 0 and 1`);
}

/** Easy: the round(threshold * n) examples learned first; hard: the rest (both ascending). */
export function splitAtThreshold(first: Int32Array, threshold: number, seed: number): ThresholdSplit {
  validate(threshold);
  const all = Int32Array.from(first.keys());
  const r = rank(first, all, Math.round(threshold * first.length), new Rng(seed));
  return finish(first.length, r.easy, r.boundaryStep, r.tied, r.tiedEasy);
}

/**
 * The same within each class: of every class's n_k examples the round(threshold * n_k) learned first are
 * easy, so easy and hard have the classes' proportions and the split is not mostly class identity.
 * boundaryStep is the latest of the classes' boundary steps; tied counts add up.
 */
export function splitAtThresholdPerClass(first: Int32Array, labels: Int32Array, numClasses: number, threshold: number, seed: number): ThresholdSplit {
  validate(threshold);
  if (labels.length !== first.length) throw new RangeError(`${first.length} records but ${labels.length} labels`);
  const rng = new Rng(seed);
  const easy: number[] = [];
  let boundaryStep = -1, tied = 0, tiedEasy = 0;
  for (let k = 0; k < numClasses; k++) {
    const members = Int32Array.from(labels.keys()).filter((i) => labels[i] === k);
    const r = rank(first, members, Math.round(threshold * members.length), rng);
    easy.push(...r.easy);
    boundaryStep = Math.max(boundaryStep, r.boundaryStep);
    tied += r.tied;
    tiedEasy += r.tiedEasy;
  }
  return finish(first.length, easy, boundaryStep, tied, tiedEasy);
}
