/**
 * Per-example learning records (browser-safe).
 *
 * Definition: at each recorded evaluation step the whole training set is evaluated in eval mode against
 * the labels the run trains on (the noisy ones under label noise); for every example we keep the first
 * and the last of those steps at which it was classified correctly (-1: never). Steps are counted in
 * updates, so step 0 is the untrained network and an example that chance got right at step 0 has
 * first = 0. Resolution is the evaluation schedule's (dense early, every epoch later), as in the
 * Coherent Gradients code, which logged the same two steps per example.
 *
 * Because the record of the latest evaluation is kept too, "correct at the latest evaluation" is
 * last === latestStep, which is what easy/hard uses: the examples learned when training stopped.
 */
export class ExampleRecords {
  readonly first: Int32Array;
  readonly last: Int32Array;
  /** The step of the latest update() (-1 before any). */
  latestStep = -1;

  constructor(readonly n: number) {
    this.first = new Int32Array(n).fill(-1);
    this.last = new Int32Array(n).fill(-1);
  }

  /** Fold in one evaluation of all n examples at `step` (steps must not decrease). */
  update(step: number, correct: Uint8Array): void {
    if (correct.length !== this.n) throw new Error(`records hold ${this.n} examples but the evaluation has ${correct.length}`);
    if (step < this.latestStep) throw new Error(`records at step ${this.latestStep} cannot take an evaluation from the earlier step ${step}`);
    for (let i = 0; i < this.n; i++) {
      if (!correct[i]) continue;
      if (this.first[i] < 0) this.first[i] = step;
      this.last[i] = step;
    }
    this.latestStep = step;
  }

  /** 1 where the example was correct at the latest evaluation. */
  correctAtLatest(): Uint8Array {
    const out = new Uint8Array(this.n);
    if (this.latestStep < 0) return out;
    for (let i = 0; i < this.n; i++) out[i] = this.last[i] === this.latestStep ? 1 : 0;
    return out;
  }

  /** Fraction of the chosen examples (all when omitted) whose first correct step is at or before `step`. */
  fractionLearnedBy(step: number, indices?: Int32Array): number {
    const m = indices ? indices.length : this.n;
    if (m === 0) return NaN;
    let c = 0;
    for (let k = 0; k < m; k++) {
      const f = this.first[indices ? indices[k] : k];
      if (f >= 0 && f <= step) c++;
    }
    return c / m;
  }

  /** As float tensors for a checkpoint (exact for steps below 2^24). */
  toTensors(): { name: string; shape: number[]; data: Float32Array }[] {
    return [
      { name: 'records.first', shape: [this.n], data: Float32Array.from(this.first) },
      { name: 'records.last', shape: [this.n], data: Float32Array.from(this.last) },
      { name: 'records.latest', shape: [1], data: Float32Array.of(this.latestStep) },
    ];
  }

  /** Restore from checkpoint tensors; false when the checkpoint holds no records. */
  loadTensors(tensors: Map<string, { shape: number[]; data: Float32Array }>): boolean {
    const first = tensors.get('records.first'), last = tensors.get('records.last'), latest = tensors.get('records.latest');
    if (!first || !last || !latest) return false;
    if (first.data.length !== this.n || last.data.length !== this.n) throw new Error(`the checkpoint's records cover ${first.data.length} examples, not `
      + `${this.n}; it was written for other data`);
    this.first.set(first.data);
    this.last.set(last.data);
    this.latestStep = latest.data[0];
    return true;
  }

  static isRecordTensor(name: string): boolean {
    return name.startsWith('records.');
  }
}
