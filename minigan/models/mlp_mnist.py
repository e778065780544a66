"""The fully-connected MNIST GAN of the classic Keras example (Goodfellow et al.'s MLP setting, made deeper).

G: z (N, nz) -> Dense(nz, 256) LeakyReLU(0.2) Dense(256, 512) LeakyReLU(0.2) Dense(512, 1024) LeakyReLU(0.2)
   Dense(1024, 784) Tanh Reshape(1, 28, 28) -> (N, 1, 28, 28) images in [-1, 1]
D: x (N, 1, 28, 28) -> Flatten Dense(784, 1024) LeakyReLU(0.3) Dropout(0.2) Dense(1024, 512) LeakyReLU(0.3)
   Dropout(0.2) Dense(512, 256) LeakyReLU(0.3) Dropout(0.2) Dense(256, 1) -> logits (N, 1)

G reshapes its output to (N, 1, 28, 28) so that an MLP GAN and a DCGAN are interchangeable for data, sampling and
plots. D ends in a logit (the loss applies the sigmoid, as for every minigan discriminator). Parameters: G
1,486,352, D 1,460,225 (checked against a PyTorch twin in tests/test_models.py). The weights start from the layers'
default rule (PyTorch's U(+-1/sqrt(fan_in))); the Keras original used Glorot-uniform.

The critic (WGAN / WGAN-GP) is D without Dropout: a Dropout mask makes f(x) random, so the Wasserstein estimate and
the gradient penalty would be taken on a different function for every batch, and minigan derives no penalty
gradient through Dropout (:func:`minigan.gradient_penalty.check_penalty_support` refuses it).

Widths, slopes, the dropout rate and the image shape are arguments so that tests can build tiny versions (and the
conditional GAN of :mod:`minigan.models.conditional` reuses the same builders with wider inputs).
"""

from __future__ import annotations

import math

from minigan.nn import Dense, Dropout, Flatten, LeakyReLU, Reshape, Sequential, Tanh

NZ = 100
IMAGE_SHAPE = (1, 28, 28)
G_HIDDEN = (256, 512, 1024)
D_HIDDEN = (1024, 512, 256)
G_SLOPE = 0.2
D_SLOPE = 0.3
D_DROPOUT = 0.2


def mlp_mnist_generator(nz: int = NZ, hidden=G_HIDDEN, image_shape=IMAGE_SHAPE,
                        negative_slope: float = G_SLOPE) -> Sequential:
    """G: (N, nz) noise -> (N, *image_shape) in [-1, 1]; each hidden Dense is followed by LeakyReLU."""
    layers, width = [], nz
    for h in hidden:
        layers += [Dense(width, h), LeakyReLU(negative_slope)]
        width = h
    return Sequential(*layers, Dense(width, math.prod(image_shape)), Tanh(), Reshape(*image_shape))


def mlp_discriminator_layers(in_features: int, hidden=D_HIDDEN, negative_slope: float = D_SLOPE,
                             dropout: float = D_DROPOUT) -> list:
    """The layers of the MLP D on flat (N, in_features) inputs: [Dense LeakyReLU Dropout] per hidden width, then
    Dense(., 1). No Dropout layer at all when ``dropout`` is 0 (the critics)."""
    layers, width = [], in_features
    for h in hidden:
        layers += [Dense(width, h), LeakyReLU(negative_slope)]
        if dropout > 0:
            layers.append(Dropout(dropout))
        width = h
    return layers + [Dense(width, 1)]


def mlp_mnist_discriminator(hidden=D_HIDDEN, image_shape=IMAGE_SHAPE, negative_slope: float = D_SLOPE,
                            dropout: float = D_DROPOUT) -> Sequential:
    """D: (N, *image_shape) images -> (N, 1) logits."""
    return Sequential(Flatten(), *mlp_discriminator_layers(math.prod(image_shape), hidden, negative_slope, dropout))


def mlp_mnist_critic(hidden=D_HIDDEN, image_shape=IMAGE_SHAPE, negative_slope: float = D_SLOPE) -> Sequential:
    """The WGAN / WGAN-GP critic: D without Dropout. (N, *image_shape) -> (N, 1) scores."""
    return mlp_mnist_discriminator(hidden, image_shape, negative_slope, dropout=0.0)
