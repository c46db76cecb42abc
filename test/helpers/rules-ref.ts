/** Float64 plain-loop references for the gradient rules (sorting, not selection networks). */

/** Median of values (K odd: middle; K even: mean of the two middle), by sorting a copy. */
export function sortedMedian(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const K = v.length;
  return K % 2 === 1 ? v[(K - 1) / 2] : (v[K / 2 - 1] + v[K / 2]) / 2;
}

/** Winsorized sum: each value clipped to [(s+1)-th smallest, (s+1)-th largest], then summed. */
export function winsorizedSum(values: ArrayLike<number>, s: number): number {
  const v = Array.from(values).sort((a, b) => a - b);
  const lo = v[s], hi = v[v.length - 1 - s];
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += Math.min(Math.max(values[i], lo), hi);
  return sum;
}

/** ||sum_b g_b||^2 and sum_b ||g_b||^2 of per-example gradients g [B][n]. */
export function coherenceSums(g: Float64Array[]): { normOfSum: number; sumOfNorms: number } {
  const n = g[0].length;
  let normOfSum = 0, sumOfNorms = 0;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (const gb of g) { s += gb[i]; sumOfNorms += gb[i] * gb[i]; }
    normOfSum += s * s;
  }
  return { normOfSum, sumOfNorms };
}

/**
 * A small network whose first layer's rows are not examples: x [B, T, F] → relu(x W1ᵀ + b1) summed over
 * T → W2, b2 → logits, mean cross-entropy. Returns each example's gradient of the mean loss
 * (its own loss's gradient / B) for W1, b1, W2, b2, in float64.
 */
export interface PatchParams { W1: Float64Array; b1: Float64Array; W2: Float64Array; b2: Float64Array; T: number; F: number; H: number; C: number }

export function patchPerExample(p: PatchParams, x: ArrayLike<number>, y: ArrayLike<number>, B: number): Float64Array[][] {
  const { T, F, H, C } = p;
  const out: Float64Array[][] = [];
  for (let b = 0; b < B; b++) {
    const pre = new Float64Array(T * H);
    const pooled = new Float64Array(H);
    for (let t = 0; t < T; t++)
      for (let h = 0; h < H; h++) {
        let s = p.b1[h];
        for (let f = 0; f < F; f++) s += x[(b * T + t) * F + f] * p.W1[h * F + f];
        pre[t * H + h] = s;
        pooled[h] += Math.max(s, 0);
      }
    const logits = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      let s = p.b2[c];
      for (let h = 0; h < H; h++) s += pooled[h] * p.W2[c * H + h];
      logits[c] = s;
    }
    const m = Math.max(...logits);
    let z = 0;
    for (let c = 0; c < C; c++) z += Math.exp(logits[c] - m);
    const d = new Float64Array(C);
    for (let c = 0; c < C; c++) d[c] = (Math.exp(logits[c] - m) / z - (c === y[b] ? 1 : 0)) / B;
    const gW2 = new Float64Array(C * H), gb2 = Float64Array.from(d);
    const dpooled = new Float64Array(H);
    for (let c = 0; c < C; c++)
      for (let h = 0; h < H; h++) { gW2[c * H + h] = d[c] * pooled[h]; dpooled[h] += d[c] * p.W2[c * H + h]; }
    const gW1 = new Float64Array(H * F), gb1 = new Float64Array(H);
    for (let t = 0; t < T; t++)
      for (let h = 0; h < H; h++) {
        if (pre[t * H + h] <= 0) continue;
        gb1[h] += dpooled[h];
        for (let f = 0; f < F; f++) gW1[h * F + f] += dpooled[h] * x[(b * T + t) * F + f];
      }
    out.push([gW1, gb1, gW2, gb2]);
  }
  return out;
}

/**
 * x [B, C, H, W] → batch norm (batch statistics, biased variance) → relu → flatten → W, b → logits, mean
 * cross-entropy. Per-example gradients of the mean loss for gamma, beta, W, b, in float64: each example's
 * term of the batch gradient with the statistics of the whole batch (gamma: sum over its positions of
 * dy · xhat; beta: sum of dy).
 */
export interface BnParams { gamma: Float64Array; beta: Float64Array; W: Float64Array; b: Float64Array; C: number; HW: number; K: number; eps: number }

export function bnPerExample(p: BnParams, x: ArrayLike<number>, y: ArrayLike<number>, B: number): Float64Array[][] {
  const { C, HW, K, eps } = p;
  const F = C * HW;
  const xhat = new Float64Array(B * F), act = new Float64Array(B * F), pre = new Float64Array(B * F);
  for (let c = 0; c < C; c++) {
    let m = 0, v = 0;
    for (let b = 0; b < B; b++) for (let i = 0; i < HW; i++) m += x[b * F + c * HW + i];
    m /= B * HW;
    for (let b = 0; b < B; b++) for (let i = 0; i < HW; i++) v += (x[b * F + c * HW + i] - m) ** 2;
    v /= B * HW;
    for (let b = 0; b < B; b++)
      for (let i = 0; i < HW; i++) {
        const j = b * F + c * HW + i;
        xhat[j] = (x[j] - m) / Math.sqrt(v + eps);
        pre[j] = p.gamma[c] * xhat[j] + p.beta[c];
        act[j] = Math.max(pre[j], 0);
      }
  }
  const out: Float64Array[][] = [];
  for (let b = 0; b < B; b++) {
    const logits = new Float64Array(K);
    for (let k = 0; k < K; k++) {
      let s = p.b[k];
      for (let f = 0; f < F; f++) s += act[b * F + f] * p.W[k * F + f];
      logits[k] = s;
    }
    const m = Math.max(...logits);
    let z = 0;
    for (let k = 0; k < K; k++) z += Math.exp(logits[k] - m);
    const d = Float64Array.from(logits, (l, k) => (Math.exp(l - m) / z - (k === y[b] ? 1 : 0)) / B);
    const gW = new Float64Array(K * F), gGamma = new Float64Array(C), gBeta = new Float64Array(C);
    for (let f = 0; f < F; f++) {
      let dact = 0;
      for (let k = 0; k < K; k++) { gW[k * F + f] = d[k] * act[b * F + f]; dact += d[k] * p.W[k * F + f]; }
      const dy = pre[b * F + f] > 0 ? dact : 0;
      const c = Math.floor(f / HW);
      gGamma[c] += dy * xhat[b * F + f];
      gBeta[c] += dy;
    }
    out.push([gGamma, gBeta, gW, d]);
  }
  return out;
}
