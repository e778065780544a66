"""Baseline: forward + backward through the canonical MNIST DCGAN, minigan vs its PyTorch twin, one process.

The work timed is a training step without the loss and the optimizer update (those arrive with the training
issue): D forward + backward on a real batch, G forward, D forward + backward on the fake batch, then D forward on
the fake batch again and backward for dx only, into G's backward. Median over steps after warm-up.

    python benchmarks/fwd_bwd_baseline.py [--batch 64] [--steps 30] [--backend numpy|cupy] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np

from minigan import backend
from minigan.models import dcgan_mnist_discriminator, dcgan_mnist_generator

GFLOP_PER_STEP_AT_64 = 10.29  # DESIGN.md


def minigan_step(g, d, x_real, z):
    d.zero_grad()
    g.zero_grad()
    logits = d(x_real)
    d.backward(backend.array_module(logits).ones_like(logits))
    x_fake = g(z)
    logits = d(x_fake)
    d.backward(backend.array_module(logits).ones_like(logits))
    logits = d(x_fake)
    dx = d.backward(backend.array_module(logits).ones_like(logits), param_grads=False)
    g.backward(dx)


def torch_step(torch, tg, td, x_real, z):
    td.zero_grad()
    tg.zero_grad()
    td(x_real).sum().backward()
    x_fake = tg(z)
    td(x_fake.detach()).sum().backward()
    for p in td.parameters():
        p.requires_grad_(False)
    td(x_fake).sum().backward()
    for p in td.parameters():
        p.requires_grad_(True)


def median_time(fn, steps, warmup, sync):
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def gemm_peak_gflops(xp, sync, n=2048, reps=5):
    a = xp.ones((n, n), dtype=np.float32)
    b = xp.ones((n, n), dtype=np.float32)
    t = median_time(lambda: a @ b, reps, 2, sync)
    return 2 * n**3 / t / 1e9


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--backend", default="numpy", choices=backend.BACKENDS)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    backend.use(args.backend)
    backend.seed(0)
    xp = backend.get_xp()
    g, d = dcgan_mnist_generator(), dcgan_mnist_discriminator()
    rng = np.random.default_rng(0)
    x_real_np = rng.uniform(-1, 1, (args.batch, 1, 28, 28)).astype(np.float32)
    z_np = rng.standard_normal((args.batch, 100)).astype(np.float32)
    x_real, z = xp.asarray(x_real_np), xp.asarray(z_np)

    def sync():
        backend.synchronize()

    result = {
        "machine": platform.processor() or platform.machine(),
        "python": platform.python_version(), "numpy": np.__version__, "backend": args.backend,
        "batch": args.batch, "steps": args.steps,
    }
    result["minigan_s"] = median_time(lambda: minigan_step(g, d, x_real, z), args.steps, args.warmup, sync)
    result["gemm_peak_gflops"] = gemm_peak_gflops(xp, sync)
    # The timed work is ~ 10.29 GFLOP at batch 64 less the optimizer, scaled linearly in the batch.
    result["minigan_gflops"] = GFLOP_PER_STEP_AT_64 * args.batch / 64 / result["minigan_s"]
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        from torch_twin import dcgan_mnist_twins

        device = "cuda" if args.backend == "cupy" else "cpu"
        tg, td = dcgan_mnist_twins(torch, g, d, device)
        tx, tz = torch.as_tensor(x_real_np, device=device), torch.as_tensor(z_np, device=device)

        def tsync():
            if device == "cuda":
                torch.cuda.synchronize()

        result["torch"] = torch.__version__
        result["torch_threads"] = torch.get_num_threads()
        result["torch_s"] = median_time(lambda: torch_step(torch, tg, td, tx, tz), args.steps, args.warmup, tsync)
        result["ratio_minigan_over_torch"] = result["minigan_s"] / result["torch_s"]
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>26}: {v:.4g}" if isinstance(v, float) else f"{k:>26}: {v}")
    return result


if __name__ == "__main__":
    main()
