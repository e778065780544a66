"""Conditional GAN networks (Mirza & Osindero 2014) for MNIST: the class label y conditions both G and D.

How the label gets in: one-hot concatenation. With c = onehot(y) in {0, 1}^K (K = n_classes = 10),

    G(z | y) = G([z, c])                     G's input is (N, nz + K)
    D(x | y) = D([flatten(x), c])            MLP D: input (N, 784 + K)
    D(x | y) = D([x, c broadcast to H x W])  DCGAN D: K constant feature maps after the image channel, (N, 1 + K, 28, 28)

Why this form (and not a learned embedding, a projection discriminator or an auxiliary classifier):

* it is the paper's own formulation ("we can perform the conditioning by feeding y into both the discriminator and
  generator as additional input layer");
* the networks stay plain :class:`minigan.nn.Sequential` stacks of existing layers, every backward already derived
  and checked. Joining and splitting happen in the trainer (:mod:`minigan.train.cgan`): joining is
  x -> [x, c] with c constant, whose backward is a slice (keep the block of dL/d[x, c] that belongs to x);
* it is exact and cheap: the first Dense's weight splits as W = [W_x, W_c], so W [x; c] = W_x x + W_c[:, y], i.e.
  the label adds a learned per-class bias to the first layer — an embedding lookup written as a matrix product.
  For the DCGAN D the K constant maps do the same for the first convolution: a per-class bias map (position
  dependent only at the borders, where zero padding cuts the kernel).

The generators are the unconditional ones with K more inputs; the discriminators take K more inputs or channels.
Use them with :class:`minigan.train.CGAN`, which picks "vector" conditioning for a D that starts with Dense and
"maps" for a D that starts with Conv2d.
"""

from __future__ import annotations

import math

from minigan import init
from minigan.models.dcgan_mnist import dcgan_mnist_generator
from minigan.models.mlp_mnist import (
    D_DROPOUT,
    D_HIDDEN,
    D_SLOPE,
    G_HIDDEN,
    G_SLOPE,
    IMAGE_SHAPE,
    NZ,
    mlp_discriminator_layers,
    mlp_mnist_generator,
)
from minigan.nn import BatchNorm2d, Conv2d, Dense, Flatten, LeakyReLU, Sequential

N_CLASSES = 10


def cgan_mlp_generator(n_classes: int = N_CLASSES, nz: int = NZ, hidden=G_HIDDEN, image_shape=IMAGE_SHAPE,
                       negative_slope: float = G_SLOPE) -> Sequential:
    """G(z | y): (N, nz + n_classes) = [z, onehot(y)] -> (N, *image_shape); the MLP G of mlp_mnist.py."""
    return mlp_mnist_generator(nz + n_classes, hidden, image_shape, negative_slope)


def cgan_mlp_discriminator(n_classes: int = N_CLASSES, hidden=D_HIDDEN, image_shape=IMAGE_SHAPE,
                           negative_slope: float = D_SLOPE, dropout: float = D_DROPOUT) -> Sequential:
    """D(x | y): (N, prod(image_shape) + n_classes) = [flatten(x), onehot(y)] -> (N, 1) logits.

    The MLP D of mlp_mnist.py without its Flatten (the trainer flattens x before joining the label).
    """
    return Sequential(*mlp_discriminator_layers(math.prod(image_shape) + n_classes, hidden, negative_slope, dropout))


def cgan_dcgan_generator(n_classes: int = N_CLASSES, nz: int = NZ, dcgan_init: bool = True) -> Sequential:
    """G(z | y): (N, nz + n_classes) = [z, onehot(y)] -> (N, 1, 28, 28); the canonical MNIST generator."""
    return dcgan_mnist_generator(nz + n_classes, dcgan_init)


def cgan_dcgan_discriminator(n_classes: int = N_CLASSES, ndf: int = 64, dcgan_init: bool = True) -> Sequential:
    """D(x | y): (N, 1 + n_classes, 28, 28) = [x, onehot(y) as constant maps] -> (N, 1) logits.

    The canonical MNIST D with 1 + n_classes input channels (``ndf`` = 64 there; smaller for tests):
    Conv2d(1 + K, ndf, 4, 2, 1) LeakyReLU(0.2) Conv2d(ndf, 2 ndf, 4, 2, 1) BatchNorm2d LeakyReLU(0.2) Flatten
    Dense(2 ndf * 7 * 7, 1).
    """
    d = Sequential(
        Conv2d(1 + n_classes, ndf, 4, stride=2, padding=1), LeakyReLU(0.2),
        Conv2d(ndf, 2 * ndf, 4, stride=2, padding=1), BatchNorm2d(2 * ndf), LeakyReLU(0.2),
        Flatten(), Dense(2 * ndf * 7 * 7, 1),
    )
    if dcgan_init:
        init.dcgan_normal_(d)
    return d
