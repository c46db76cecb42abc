/** A float64 plain-loop MLP with mean softmax cross-entropy and PyTorch SGD, as an independent reference. */
export interface RefLayer { W: Float64Array; b: Float64Array; out: number; inp: number }

export function refForward(layers: RefLayer[], x: Float64Array, B: number): { acts: Float64Array[]; pre: Float64Array[] } {
  const acts = [x];
  const pre: Float64Array[] = [];
  let h = x;
  layers.forEach((L, li) => {
    const z = new Float64Array(B * L.out);
    for (let r = 0; r < B; r++)
      for (let o = 0; o < L.out; o++) {
        let s = L.b[o];
        for (let i = 0; i < L.inp; i++) s += h[r * L.inp + i] * L.W[o * L.inp + i];
        z[r * L.out + o] = s;
      }
    pre.push(z);
    h = li + 1 < layers.length ? z.map((v) => Math.max(v, 0)) : z;
    acts.push(h);
  });
  return { acts, pre };
}

/** Mean cross-entropy loss and gradients of every layer's W and b. */
export function refGradients(layers: RefLayer[], x: Float64Array, y: Int32Array, B: number) {
  const { acts, pre } = refForward(layers, x, B);
  const logits = acts[acts.length - 1];
  const C = layers[layers.length - 1].out;
  let loss = 0;
  let d = new Float64Array(B * C);
  for (let r = 0; r < B; r++) {
    let m = -Infinity;
    for (let j = 0; j < C; j++) m = Math.max(m, logits[r * C + j]);
    let s = 0;
    for (let j = 0; j < C; j++) s += Math.exp(logits[r * C + j] - m);
    loss += (m + Math.log(s) - logits[r * C + y[r]]) / B;
    for (let j = 0; j < C; j++) d[r * C + j] = (Math.exp(logits[r * C + j] - m) / s - (j === y[r] ? 1 : 0)) / B;
  }
  const grads: { W: Float64Array; b: Float64Array }[] = [];
  for (let li = layers.length - 1; li >= 0; li--) {
    const L = layers[li];
    const h = acts[li];
    const gW = new Float64Array(L.out * L.inp), gb = new Float64Array(L.out);
    for (let r = 0; r < B; r++)
      for (let o = 0; o < L.out; o++) {
        gb[o] += d[r * L.out + o];
        for (let i = 0; i < L.inp; i++) gW[o * L.inp + i] += d[r * L.out + o] * h[r * L.inp + i];
      }
    grads[li] = { W: gW, b: gb };
    if (li > 0) {
      const dh = new Float64Array(B * L.inp);
      for (let r = 0; r < B; r++)
        for (let i = 0; i < L.inp; i++) {
          let s = 0;
          for (let o = 0; o < L.out; o++) s += d[r * L.out + o] * L.W[o * L.inp + i];
          dh[r * L.inp + i] = pre[li - 1][r * L.inp + i] > 0 ? s : 0;
        }
      d = dh;
    }
  }
  return { loss, grads };
}
