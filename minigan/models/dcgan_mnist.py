"""The canonical MNIST DCGAN (the benchmark and quality-comparison model; keep it exactly as in docs/design.md,
section "The canonical MNIST DCGAN").

G: z (N, 100) -> Dense(100, 128*7*7) BatchNorm1d ReLU Reshape(128, 7, 7)
   ConvTranspose2d(128, 64, 4, 2, 1) BatchNorm2d ReLU ConvTranspose2d(64, 1, 4, 2, 1) Tanh -> (N, 1, 28, 28)
D: x (N, 1, 28, 28) -> Conv2d(1, 64, 4, 2, 1) LeakyReLU(0.2) Conv2d(64, 128, 4, 2, 1) BatchNorm2d LeakyReLU(0.2)
   Flatten Dense(128*7*7, 1) -> logits (N, 1)

Both start from Radford et al.'s N(0, 0.02) initialisation. A forward + backward of G and D (one training step:
D on a real and a fake batch, then G through D) costs 10.29 GFLOP at batch 64.
"""

from __future__ import annotations

from minigan import init
from minigan.nn import (
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    ConvTranspose2d,
    Dense,
    Flatten,
    LeakyReLU,
    ReLU,
    Reshape,
    Sequential,
    Tanh,
)

NZ = 100


def dcgan_mnist_generator(nz: int = NZ, dcgan_init: bool = True) -> Sequential:
    """G: (N, nz) noise -> (N, 1, 28, 28) images in [-1, 1]."""
    g = Sequential(
        Dense(nz, 128 * 7 * 7), BatchNorm1d(128 * 7 * 7), ReLU(), Reshape(128, 7, 7),
        ConvTranspose2d(128, 64, 4, stride=2, padding=1), BatchNorm2d(64), ReLU(),
        ConvTranspose2d(64, 1, 4, stride=2, padding=1), Tanh(),
    )
    if dcgan_init:
        init.dcgan_normal_(g)
    return g


def dcgan_mnist_discriminator(dcgan_init: bool = True) -> Sequential:
    """D: (N, 1, 28, 28) images -> (N, 1) logits (the loss applies the sigmoid)."""
    d = Sequential(
        Conv2d(1, 64, 4, stride=2, padding=1), LeakyReLU(0.2),
        Conv2d(64, 128, 4, stride=2, padding=1), BatchNorm2d(128), LeakyReLU(0.2),
        Flatten(), Dense(128 * 7 * 7, 1),
    )
    if dcgan_init:
        init.dcgan_normal_(d)
    return d
