/** "25%" for a noise level of 0.25. (The verdicts on the paper's predictions live in experiments/verdicts.) */
export function noiseLabel(p: number): string {
  return `${+(p * 100).toFixed(1)}%`;
}
