import { Node, OpDef, CompileContext } from '../graph.js';
import { Gpu, f32, words } from '../gpu.js';
import { grid1d } from './grid.js';

/**
 * The GPU-side step counter of a dropout layer. A layer keeps one across the programs compiled for it
 * (a rebuilt trainer continues the sequence of masks instead of repeating it).
 */
export class DropoutState {
  private buffer: GPUBuffer | null = null;
  ensure(gpu: Gpu): GPUBuffer {
    return (this.buffer ??= gpu.buffer(1, 'dropout.step', new Uint32Array(1)));
  }
}

/**
 * Dropout with probability p (PyTorch scaling: kept values times 1 / (1 - p)); the identity in eval mode.
 * The mask is a hash of the element index, `seed` and a step counter that the forward pass advances on the
 * GPU, so each run of the compiled program draws a new mask and the same seed repeats the same sequence.
 */
export function dropout(x: Node, p: number, seed: number, state: DropoutState = new DropoutState()): Node {
  if (!(p >= 0 && p <= 1)) throw new Error(`dropout: probability ${p} is outside [0, 1]`);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new Error(`dropout: seed ${seed} is not a 32-bit unsigned integer`);
  if (x.graph.mode === 'eval' || p === 0) return x;
  return x.graph.op(DropoutOp, [x], x.shape, { p, seed, state });
}

function apply(n: Node, c: CompileContext, input: Node, advance: boolean) {
  const { p, seed, state } = n.attrs as { p: number; seed: number; state: DropoutState };
  const { grid, rowStride } = grid1d(n.size);
  const threshold = p === 1 ? 0xffffffff : Math.min(0xffffffff, Math.round(p * 2 ** 32));
  const u = c.uniform(words([n.size, rowStride, seed, threshold, f32(p === 1 ? 0 : 1 / (1 - p)), 0, 0, 0]), n.name);
  const bufs = [u, c.buf(input), c.buf(n), state.ensure(c.gpu)];
  const out = [];
  if (advance) out.push(c.gpu.dispatch(c.gpu.kernel('dropout', 'advance'), bufs, [1, 1, 1], `${n.name} advance`));
  out.push(c.gpu.dispatch(c.gpu.kernel('dropout', 'apply'), bufs, grid, n.name));
  return out;
}

export const DropoutOp: OpDef = {
  type: 'dropout',
  compile: (n, c) => apply(n, c, n.inputs[0], true),
  backward(n, dy) {
    // The forward node is an input only to order the backward after the forward's counter advance.
    return [n.graph.op(DropoutBackwardOp, [dy, n], dy.shape, n.attrs, 'f32', 'dropout_backward')];
  },
};

/** dy times the forward pass's mask and scale (the counter is not advanced again). */
export const DropoutBackwardOp: OpDef = {
  type: 'dropout_backward',
  compile: (n, c) => apply(n, c, n.inputs[0], false),
};
