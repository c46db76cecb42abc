import type { Protocol } from './protocol.js';
import { labelNoise } from './label-noise.js';
import { suppression } from './suppression.js';
import { winsorize } from './winsorize.js';
import { easyHard } from './easy-hard.js';
import { difficulty } from './difficulty.js';
import { antiAdversarial } from './anti-adversarial.js';

/**
 * Every experiment, in the paper's order: cgh experiment's list and flags, cgh reproduce's plan and the
 * report's sections all read this list. Adding an experiment: its file in this folder and one line here.
 */
export const PROTOCOLS: Protocol<any>[] = [labelNoise, suppression, winsorize, easyHard, difficulty, antiAdversarial];

/** Adds a protocol after the built-in ones (tests; a plug-in experiment). */
export function registerProtocol(p: Protocol<any>): void {
  if (PROTOCOLS.some((q) => q.name === p.name)) throw new Error(`an experiment named ${p.name} is registered already`);
  PROTOCOLS.push(p);
}

export function protocolNames(): string[] {
  return PROTOCOLS.map((p) => p.name);
}

/** The protocol of that name, or undefined. */
export function findProtocol(name: string): Protocol<any> | undefined {
  return PROTOCOLS.find((p) => p.name === name);
}
