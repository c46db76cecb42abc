import type { Experiment } from './grid.js';
import type { ExperimentData } from './experiment-data.js';
import { ExperimentError, type RunResult } from './experiment-run.js';
import { validateNoiseLevel } from './label-noise.js';
import { noiseRunName, plainRunData } from './label-noise-experiment.js';

/**
 * Winsorization (Appendix B, Figure 8): per coordinate, every example's gradient is clipped between the
 * (s+1)-th smallest and largest of the batch before summing; s = 0, 2, 4 at 0% and 100% noise, batch 32.
 */
export interface WinsorizeOptions {
  levels: number[];
  noise: number[];
}

export const WINSORIZE_DEFAULTS: WinsorizeOptions = { levels: [0, 2, 4], noise: [0, 1] };

/** Every level must leave examples unclipped in a batch of `batchSize`; checked before the experiment folder is touched. */
export function validateWinsorizeLevels(levels: number[], batchSize: number): void {
  for (const s of levels) {
    if (!Number.isInteger(s) || s < 0 || 2 * s + 1 >= batchSize) {
      throw new ExperimentError(`winsorization level ${s} does not fit a batch of ${batchSize} (2s+1 must be below the batch); use --levels between 0 and ${Math.floor((batchSize - 2) / 2)}`);
    }
  }
}

export async function winsorizeExperiment(exp: Experiment, data: ExperimentData, o: WinsorizeOptions): Promise<RunResult[]> {
  o.noise.forEach((p) => validateNoiseLevel(p));
  validateWinsorizeLevels(o.levels, exp.spec.settings.batchSize);
  const runData = plainRunData(data);
  const out: RunResult[] = [];
  for (const p of o.noise) {
    for (const s of o.levels) out.push(await exp.run(exp.config(noiseRunName(p, `s${s}-`), { rule: 'winsorize', winsor: s, noise: p }, runData), runData));
  }
  return out;
}
