// Running training metrics on the GPU, read back only at log intervals:
// Acc[0] += sum of per-example losses, Acc[1] += number correct, Acc[2] += examples,
// Acc[3] = first step (plus one) whose loss was not finite, 0 while none was. One invocation; fixed order.

struct Params { B: u32, step: u32, _a: u32, _b: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> Losses: array<f32>;
@group(0) @binding(2) var<storage, read> Correct: array<f32>;
@group(0) @binding(3) var<storage, read_write> Acc: array<f32>;

fn finite(x: f32) -> bool { return x == x && abs(x) <= 3.4e38; }

@compute @workgroup_size(1)
fn main() {
  var loss = 0.0;
  var right = 0.0;
  for (var b = 0u; b < p.B; b++) { loss += Losses[b]; right += Correct[b]; }
  Acc[0] += loss;
  Acc[1] += right;
  Acc[2] += f32(p.B);
  if (!finite(loss) && Acc[3] == 0.0) { Acc[3] = f32(p.step + 1u); }
}
