"""The measurements behind minigan.fast's choices, each the median of many calls, in one run.

    python benchmarks/fast_policy.py [--out benchmarks/results/fast_policy.md]

1. Activations whole or in chunks on the threads (inside ``fast.threads()``), at the DCGAN's shapes for batch 64
   and 256: why they run in chunks only from ``fast.ELEMENTWISE_BYTES`` of input.
2. Dense(6272, 1)'s input gradient dy W (inner size 1) as a GEMM and as a broadcast product, BLAS on one thread.
3. The convolution's weight matrix W_m (kh*kw*C, O) made by reordering the whole array to (kh, kw, C, O), or as the
   transposed view of W_m^T (O, kh*kw*C), reordered within each row (nn/conv.py's ``_weight_matrix``).
4. Conv2d(64, 128, 4, 2, 1) forward + backward at batch 64 and 256: the layer's own code on the whole batch (the
   reference, BLAS on its own threads), the same code on replicas in chunks (fast's generic path), and the fused
   kernel of fast.py.
"""

from __future__ import annotations

import argparse
import platform

import numpy as np

from minigan import fast, nn
from minigan.lab.report import emit, median_ms


def _channels_last(shape, seed=0):
    n, c, h, w = shape
    a = np.random.default_rng(seed).standard_normal((n, h, w, c), dtype=np.float32)
    return a.transpose(0, 3, 1, 2)


def _with_policy(policy: str):
    """fast._engaged as it is ("fast"), or forcing chunks on every per-sample layer ("chunks"), or none ("whole")."""
    real = fast._engaged
    if policy == "chunks":
        return lambda layer, x: fast._depth > 0 and getattr(layer, "per_sample", False) and x.shape[0] >= 32
    if policy == "whole":
        return lambda layer, x: False
    return real


def activations() -> list[str]:
    rows = ["| layer | input | whole: fwd / bwd (ms) | in chunks: fwd / bwd (ms) |", "|---|---|---|---|"]
    real = fast._engaged
    for batch in (64, 256):
        x = _channels_last((batch, 64, 14, 14))
        for layer in (nn.ReLU(), nn.LeakyReLU(0.2)):
            cells = []
            for policy in ("whole", "chunks"):
                fast._engaged = _with_policy(policy)
                try:
                    with fast.threads():
                        y = layer.forward(x)
                        forward_ms = median_ms(lambda layer=layer, x=x: layer.forward(x))
                        backward_ms = median_ms(lambda layer=layer, y=y: layer.backward(y))
                        cells.append(f"{forward_ms:.2f} / {backward_ms:.2f}")
                finally:
                    fast._engaged = real
            rows.append(f"| {layer!r} | ({batch}, 64, 14, 14), {x.nbytes / 2**20:.1f} MiB | {cells[0]} | "
                        f"{cells[1]} |")
    return rows


def dense_one_output() -> list[str]:
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    dy, w = rng.standard_normal((64, 1), dtype=np.float32), rng.standard_normal((1, 6272), dtype=np.float32)
    with threadpool_limits(1):
        gemm, broadcast = median_ms(lambda: dy @ w, 200), median_ms(lambda: dy * w, 200)
    return ["| dy W, dy (64, 1), W (1, 6272) | ms |", "|---|---|", f"| GEMM (dy @ W) | {gemm:.3f} |",
            f"| broadcast (dy * W) | {broadcast:.3f} |", f"| GEMM / broadcast | {gemm / broadcast:.1f}x |"]


def weight_matrix() -> list[str]:
    w = np.random.default_rng(0).standard_normal((128, 64, 4, 4), dtype=np.float32)
    o, c, kh, kw = w.shape
    whole = median_ms(lambda: np.ascontiguousarray(w.transpose(2, 3, 1, 0)).reshape(kh * kw * c, o), 200)
    rows = median_ms(lambda: np.ascontiguousarray(w.transpose(0, 2, 3, 1)).reshape(o, kh * kw * c).T, 200)
    return ["| W_m of a (128, 64, 4, 4) weight | ms |", "|---|---|", f"| reorder to (kh, kw, C, O) | {whole:.3f} |",
            f"| W_m^T row by row, transposed view | {rows:.3f} |", f"| ratio | {whole / rows:.1f}x |"]


def convolution() -> list[str]:
    rows = ["| Conv2d(64, 128, 4, 2, 1) | batch | fwd + bwd (ms) |", "|---|---|---|"]
    real_engaged, real_kernels = fast._engaged, fast._kernels
    for batch in (64, 256):
        x = _channels_last((batch, 64, 14, 14))
        layer = nn.Conv2d(64, 128, 4, 2, 1)
        dy = _channels_last((batch, 128, 7, 7), seed=1)

        def step(layer=layer, x=x, dy=dy):
            layer.forward(x)
            layer.backward(dy)

        rows.append(f"| the layer's own code, whole batch, BLAS on its threads | {batch} | {median_ms(step, 10):.1f} |")
        for name, kernels in (("the layer's own code on replicas, in chunks on the threads", lambda layer: None),
                              ("fast.py's fused kernel, in chunks on the threads", real_kernels)):
            fast._kernels = kernels
            try:
                with fast.threads():
                    rows.append(f"| {name} | {batch} | {median_ms(step, 10):.1f} |")
            finally:
                fast._kernels, fast._engaged = real_kernels, real_engaged
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="write the tables here as markdown")
    args = parser.parse_args(argv)
    head = (f"NumPy {np.__version__}, {platform.processor() or platform.machine()}, {fast.num_threads()} minigan "
            f"threads; float32, channels-last inputs; medians of repeated calls, all in one run.")
    sections = [("1. Activations, whole or in chunks", activations()),
                ("2. Dense with one output: dx = dy W", dense_one_output()),
                ("3. The convolution's weight matrix", weight_matrix()),
                ("4. A convolution's forward and backward", convolution())]
    text = head + "\n\n" + "\n\n".join(f"## {title}\n\n" + "\n".join(rows) for title, rows in sections) + "\n"
    return emit(text, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
