import type { Network } from '../engine/trainer.js';

/** A named network of the model registry (what the trainer needs of it is engine/trainer.ts's Network). */
export interface Model extends Network {
  readonly name: string;
}

export function parameterCount(m: Model): number {
  return m.parameters().reduce((s, p) => s + p.size, 0);
}
