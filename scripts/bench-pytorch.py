#!/usr/bin/env python3
"""PyTorch side of `cgh bench --only gpu`: the same models, batches and random data, f32 with TF32 off, one
SGD-with-momentum training step per iteration (forward, cross-entropy, backward, update) and the loss and accuracy
sums kept on the GPU, as the engine's step does; then square GEMMs at 1024/2048/4096 in NN, NT and TN.
Prints the same columns as the engine's table. Needs torch and torchvision; run on the GPU machine:
    python3 scripts/bench-pytorch.py [--quick] [--seconds 10]
"""
import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


class CifarBlock(nn.Module):
    """He et al. 2016 CIFAR basic block with option A (zero-padded identity) shortcuts, as in models/resnet-cifar.ts."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.pad = cout - cin
        self.stride = stride

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        s = x[:, :, :: self.stride, :: self.stride] if self.stride > 1 else x
        if self.pad:
            s = F.pad(s, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return F.relu(y + s)


def cifar_resnet(depth, cin, classes, width=1.0):
    n = (depth - 2) // 6
    widths = [max(1, round(w * width)) for w in (16, 32, 64)]
    layers = [nn.Conv2d(cin, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU()]
    c = widths[0]
    for stage, w in enumerate(widths):
        for b in range(n):
            layers.append(CifarBlock(c, w, 2 if stage > 0 and b == 0 else 1))
            c = w
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, classes)]
    return nn.Sequential(*layers)


def small_cnn(cin, side, classes, width=1.0):
    c1, c2, h = max(1, round(32 * width)), max(1, round(64 * width)), max(1, round(512 * width))
    s = ((side - 4) // 2 - 4) // 2
    return nn.Sequential(nn.Conv2d(cin, c1, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(c1, c2, 5), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(c2 * s * s, h), nn.ReLU(), nn.Linear(h, classes))


def mlp(features, hidden, classes):
    layers, d = [nn.Flatten()], features
    for h in hidden:
        layers += [nn.Linear(d, h), nn.ReLU()]
        d = h
    return nn.Sequential(*layers, nn.Linear(d, classes))


# The same list as cli/bench/gpu.ts GPU_MODELS.
MODELS = [
    ("ResNet-18 224²", lambda w, k: torchvision.models.resnet18(num_classes=k), (3, 224, 224), 64, 1000),
    ("VGG-13-BN 224²", lambda w, k: torchvision.models.vgg13_bn(num_classes=k), (3, 224, 224), 32, 1000),
    ("Inception-V3 299²", lambda w, k: torchvision.models.inception_v3(num_classes=k, aux_logits=False, init_weights=True), (3, 299, 299), 32, 1000),
    ("ResNet-32 CIFAR 32²", lambda w, k: cifar_resnet(32, 3, k, w), (3, 32, 32), 128, 10),
    ("small CNN 28²", lambda w, k: small_cnn(1, 28, k, w), (1, 28, 28), 128, 10),
    ("MLP 784-1024-1024-10", lambda w, k: mlp(784, [max(1, round(1024 * w))] * 2, k), (1, 28, 28), 128, 10),
]


def product_flops(model, x):
    """2 x multiply-adds of convolutions and linear layers, forward plus both gradients (3x forward), like the engine's count."""
    total = 0

    def hook(mod, inp, out):
        nonlocal total
        if isinstance(mod, nn.Conv2d):
            total += 2 * out.numel() * (mod.in_channels // mod.groups) * mod.kernel_size[0] * mod.kernel_size[1]
        elif isinstance(mod, nn.Linear):
            total += 2 * out.numel() * mod.in_features
    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(x)
    for h in hs:
        h.remove()
    return 3 * total


def bench_model(label, build, shape, batch, classes, quick, seconds, dev):
    width = 0.125 if quick else 1.0
    if quick:
        if label.startswith(("ResNet-18", "VGG", "Inception")):
            return None  # torchvision's models have no width option; --quick runs only the small ones
        batch = 4
    model = build(width, classes).to(dev).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, *shape, device=dev)
    y = torch.randint(0, classes, (batch,), device=dev)
    sums = torch.zeros(2, device=dev)
    flops = product_flops(model, x)

    def step():
        out = model(x)
        loss = F.cross_entropy(out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sums[0] += loss.detach() * batch
        sums[1] += (out.argmax(1) == y).sum()

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    t = time.perf_counter()
    step()
    torch.cuda.synchronize()
    steps = max(3, min(500, round(seconds / (time.perf_counter() - t))))
    host = 0.0
    t = time.perf_counter()
    for _ in range(steps):
        h = time.perf_counter()
        step()
        host += time.perf_counter() - h
    sums.cpu()
    ms = (time.perf_counter() - t) * 1000 / steps
    return label, batch, batch * 1000 / ms, ms, flops / ms / 1e9, host * 1000 / steps


def bench_gemm(quick, dev):
    rows = []
    for s in ([128, 256] if quick else [1024, 2048, 4096]):
        a, b = torch.randn(s, s, device=dev), torch.randn(s, s, device=dev)
        for op, f in (("NN", lambda: a @ b), ("NT", lambda: a @ b.t()), ("TN", lambda: a.t() @ b)):
            for _ in range(3):
                f()
            torch.cuda.synchronize()
            reps = 50
            t = time.perf_counter()
            for _ in range(reps):
                f()
            torch.cuda.synchronize()
            ms = (time.perf_counter() - t) * 1000 / reps
            rows.append((f"{op} {s}", ms, 2 * s ** 3 / ms / 1e6))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small models at 1/8 width and batch 4, GEMM 128/256")
    ap.add_argument("--seconds", type=float, default=10.0, help="time per model (default 10)")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("bench-pytorch: no CUDA device; run this on the GPU machine")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda")
    print(f"PyTorch {torch.__version__} on {torch.cuda.get_device_name(0)}, f32, TF32 off, cudnn.benchmark on")
    print(f"{'model':<28} {'batch':>5} {'examples/s':>11} {'step ms':>9} {'TFLOP/s':>8} {'host ms/step':>12}")
    for label, build, shape, batch, classes in MODELS:
        r = bench_model(label, build, shape, batch, classes, a.quick, a.seconds, dev)
        if r:
            print(f"{r[0]:<28} {r[1]:>5} {r[2]:>11.1f} {r[3]:>9.2f} {r[4]:>8.3f} {r[5]:>12.2f}")
    print(f"\n{'product':<10} {'ms':>8} {'GFLOP/s':>10}")
    for name, ms, gf in bench_gemm(a.quick, dev):
        print(f"{name:<10} {ms:>8.3f} {gf:>10.1f}")


if __name__ == "__main__":
    main()
