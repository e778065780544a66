"""Worst gradient-check error per layer over random configurations, as a markdown table.

    python benchmarks/gradcheck_table.py [--configs 30] [--seed 0]

For each layer, draws random shapes, strides, paddings (and output paddings) with a seeded NumPy generator,
standard-normal parameters, and runs ``minigan.gradcheck.gradcheck`` (float64 central differences, input and every
parameter). The unit tests assert < 1e-6 on hypothesis-drawn configurations; this prints how far below that the
layers actually are.
"""

from __future__ import annotations

import argparse

import numpy as np

from minigan import backend, nn
from minigan.gradcheck import gradcheck


def _randomize(module, rng):
    for p in module.params.values():
        p[...] = rng.standard_normal(p.shape)


def conv2d(rng):
    k, s, p = rng.integers(1, 4, 2), rng.integers(1, 4, 2), rng.integers(0, 3, 2)
    h, w = (int(max(1, k[i] - 2 * p[i]) + rng.integers(0, 5)) for i in range(2))
    layer = nn.Conv2d(int(rng.integers(1, 4)), int(rng.integers(1, 4)), tuple(map(int, k)), stride=tuple(map(int, s)),
                      padding=tuple(map(int, p)), bias=bool(rng.integers(2)))
    return layer, rng.standard_normal((int(rng.integers(1, 3)), layer.in_channels, h, w))


def conv_transpose2d(rng):
    k, s, p = rng.integers(1, 5, 2), rng.integers(1, 4, 2), rng.integers(0, 3, 2)
    op = [int(rng.integers(0, s[i])) for i in range(2)]
    while True:
        h, w = (int(v) for v in rng.integers(1, 5, 2))
        if (h - 1) * s[0] - 2 * p[0] + k[0] + op[0] >= 1 and (w - 1) * s[1] - 2 * p[1] + k[1] + op[1] >= 1:
            break
    layer = nn.ConvTranspose2d(int(rng.integers(1, 4)), int(rng.integers(1, 4)), tuple(map(int, k)),
                               stride=tuple(map(int, s)), padding=tuple(map(int, p)), output_padding=tuple(op),
                               bias=bool(rng.integers(2)))
    return layer, rng.standard_normal((int(rng.integers(1, 3)), layer.in_channels, h, w))


def dense(rng):
    fin, fout = (int(v) for v in rng.integers(1, 8, 2))
    return nn.Dense(fin, fout, bias=bool(rng.integers(2))), rng.standard_normal((int(rng.integers(1, 5)), fin))


def batchnorm1d(rng):
    c = int(rng.integers(1, 5))
    return nn.BatchNorm1d(c), rng.standard_normal((int(rng.integers(2, 6)), c))


def batchnorm2d(rng):
    c = int(rng.integers(1, 4))
    return nn.BatchNorm2d(c), rng.standard_normal((int(rng.integers(2, 4)), c, *map(int, rng.integers(1, 4, 2))))


def elementwise(make, min_rank: int = 1):
    def build(rng):
        rank = int(rng.integers(min_rank, 5))
        return make(rng), rng.standard_normal(tuple(int(v) for v in rng.integers(1, 5, rank)))
    return build


LAYERS = {
    "Dense": dense,
    "Conv2d": conv2d,
    "ConvTranspose2d": conv_transpose2d,
    "BatchNorm1d (train)": batchnorm1d,
    "BatchNorm2d (train)": batchnorm2d,
    "ReLU": elementwise(lambda rng: nn.ReLU()),
    "LeakyReLU": elementwise(lambda rng: nn.LeakyReLU(float(rng.choice([0.01, 0.2, 0.3])))),
    "Tanh": elementwise(lambda rng: nn.Tanh()),
    "Sigmoid": elementwise(lambda rng: nn.Sigmoid()),
    "Flatten": elementwise(lambda rng: nn.Flatten(), min_rank=2),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    backend.set_default_dtype(np.float64)
    print("| layer | configurations | worst relative error | where |\n|---|---|---|---|")
    for name, build in LAYERS.items():
        rng = np.random.default_rng(args.seed)
        worst, where = 0.0, ""
        for _ in range(args.configs):
            layer, x = build(rng)
            _randomize(layer, rng)
            result = gradcheck(layer, x, seed=int(rng.integers(2**31)))
            if result.worst_error >= worst:
                worst, where = result.worst_error, f"{layer!r}: {result.worst_where}"
        print(f"| {name} | {args.configs} | {worst:.1e} | {where} |")


if __name__ == "__main__":
    main()
