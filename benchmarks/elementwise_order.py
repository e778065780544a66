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

import numpy as np

from minigan.lab.report import emit, median_ms


def measure(shape=(64, 64, 14, 14), a: float = 0.2) -> dict:
    rng = np.random.default_rng(0)

    def channels_last(array):
        return np.ascontiguousarray(array.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)

    x = channels_last(rng.standard_normal(shape, dtype=np.float32))
    dy = channels_last(rng.standard_normal(shape, dtype=np.float32))
    dy_c_order = np.ascontiguousarray(dy)
    mask = x > 0
    fprime = a + (1 - a) * mask.astype(np.float32)
    return {
        "dy * fprime (float, same order)": median_ms(lambda: dy * fprime),
        "dy * mask (bool)": median_ms(lambda: dy * mask),
        "where(mask, dy, a dy)": median_ms(lambda: np.where(mask, dy, a * dy)),
        "dy * fprime, dy in C order": median_ms(lambda: dy_c_order * fprime),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="write the table here as markdown")
    args = parser.parse_args(argv)
    times = measure()
    base = times["dy * fprime (float, same order)"]
    lines = [(f"NumPy {np.__version__}, {platform.processor() or platform.machine()}, shape (64, 64, 14, 14) float32, "
             "channels-last memory; median of 30 calls"), "", "| dx = dy * f'(x) written as | ms | x the float product |",
             "|---|---|---|"]
    lines += [f"| {name} | {ms:.2f} | {ms / base:.1f}x |" for name, ms in times.items()]
    text = "\n".join(lines) + "\n"
    return emit(text, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
