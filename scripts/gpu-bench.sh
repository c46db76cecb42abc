#!/usr/bin/env bash
# The real-GPU benchmark, side by side with PyTorch in one run, for a GPU machine (NVIDIA/AMD through Vulkan).
# From a built checkout packed with ../shared/tools/pack-offline (or any checkout with node and a Vulkan driver):
#   bash scripts/gpu-bench.sh [OUT_DIR]
# Writes OUT_DIR/{adapters,gpu-plan-tests,engine-gpu,engine-lavapipe-plans,pytorch}.txt (default gpu-bench-<date>/).
set -uo pipefail
out=${1:-gpu-bench-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
if [ -f .offline/setup.sh ] && ! command -v node >/dev/null; then source .offline/setup.sh; cd /tmp/cgh-offline/app; fi
cgh() { node dist/cli/main.js "$@"; }
run() { local name=$1; shift; echo "== $name: $*"; "$@" 2>&1 | tee "$out/$name.txt"; }
nvidia-smi -L 2>/dev/null | tee "$out/gpu.txt"
run adapters cgh adapters
# Correctness of the gpu plans on this adapter first (float64 references; a few minutes).
if [ -d dist/test ] && [ -d node_modules/uvu ]; then
  run gpu-plan-tests env CGH_PLANS=gpu timeout 600 node node_modules/uvu/bin.js dist/test \
    '(gpu-plans|conv-input-grad|conv-weight-grad-split|batchnorm|batchnorm-param-grads|fusion|concat|sgd)\.test\.js$'
fi
run engine-gpu cgh bench --only gpu --profile
# The same suite on the CPU-tuned kernels, to show what the gpu plans bought on this GPU.
run engine-lavapipe-plans env CGH_PLANS=lavapipe cgh bench --only gpu
if python3 -c 'import torch, torchvision' 2>/dev/null; then
  run pytorch python3 scripts/bench-pytorch.py
else
  echo "PyTorch with torchvision is not installed: no side-by-side figures" | tee "$out/pytorch.txt"
fi
echo "results in $out/"
