// The conv2d kernels' uniform, as engine/ops/conv2d.ts's geometryWords writes it: the convolution's geometry (NCHW
// input, OIHW weights), then 8 words that the including kernel names in its own `struct Tail`. A fragment: kernels
// paste it with `//#include _conv_params` (see scripts/embed-shaders.mjs).
struct Params {
  N: u32, C: u32, H: u32, W: u32, O: u32, Ho: u32, Wo: u32, groups: u32,
  KH: u32, KW: u32, SH: u32, SW: u32, PH: u32, PW: u32, DH: u32, DW: u32,
  tail: Tail,
}

@group(0) @binding(0) var<uniform> p: Params;
