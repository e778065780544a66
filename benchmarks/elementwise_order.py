"""Why the activations keep f'(x) as a float array: three ways to write dx = dy * f'(x) on channels-last arrays.

    python benchmarks/elementwise_order.py [--out benchmarks/results/elementwise.md]

The DCGAN's activations see (N, C, H, W) arrays that live channels-last (a convolution's output, nn/im2col.py).
Timed here, each the median of 30 calls, at the shape of the discriminator's first LeakyReLU at batch 64:

* dy * fprime, fprime a float array of the same memory order (what minigan's layers do);
* dy * mask, mask the boolean array x > 0 (a cast inside the product);
* where(mask, dy, a dy) (NumPy's three-argument where);
* dy * fprime with dy in the other memory order (C-order NCHW against a channels-last fprime).
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np


def _median_ms(fn, repeats: int = 30) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e3)


def measure(shape=(64, 64, 14, 14), a: float = 0.2) -> dict:
    rng = np.random.default_rng(0)
    n, c, h, w = shape

    def channels_last(array):
        return np.ascontiguousarray(array.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)

    x = channels_last(rng.standard_normal(shape, dtype=np.float32))
    dy = channels_last(rng.standard_normal(shape, dtype=np.float32))
    dy_c_order = np.ascontiguousarray(dy)
    mask = x > 0
    fprime = a + (1 - a) * mask.astype(np.float32)
    return {
        "dy * fprime (float, same order)": _median_ms(lambda: dy * fprime),
        "dy * mask (bool)": _median_ms(lambda: dy * mask),
        "where(mask, dy, a dy)": _median_ms(lambda: np.where(mask, dy, a * dy)),
        "dy * fprime, dy in C order": _median_ms(lambda: dy_c_order * fprime),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="write the table here as markdown")
    args = parser.parse_args(argv)
    times = measure()
    base = times["dy * fprime (float, same order)"]
    lines = [f"NumPy {np.__version__}, {platform.processor() or platform.machine()}, shape (64, 64, 14, 14) float32, "
             "channels-last memory; median of 30 calls", "", "| dx = dy * f'(x) written as | ms | x the float product |",
             "|---|---|---|"]
    lines += [f"| {name} | {ms:.2f} | {ms / base:.1f}x |" for name, ms in times.items()]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
