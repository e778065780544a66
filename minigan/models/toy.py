"""Small fully-connected G and D for the 2D mixtures (as in the mode-collapse papers: a few ReLU layers).

G: z (N, nz) -> Dense(nz, h) ReLU [Dense(h, h) ReLU] x (depth - 1) Dense(h, 2)
D: x (N, 2)  -> Dense(2, h) LeakyReLU(0.2) [Dense(h, h) LeakyReLU(0.2)] x (depth - 1) Dense(h, 1)   (logit/score)

No BatchNorm anywhere, so the same D serves as a GAN discriminator, a WGAN critic and a WGAN-GP critic.
"""

from __future__ import annotations

from minigan.nn import Dense, LeakyReLU, ReLU, Sequential


def mlp(in_features: int, out_features: int, hidden: int, depth: int, activation) -> Sequential:
    """``depth`` hidden layers of width ``hidden``, each followed by ``activation()``, then a linear output."""
    layers, width = [], in_features
    for _ in range(depth):
        layers += [Dense(width, hidden), activation()]
        width = hidden
    return Sequential(*layers, Dense(width, out_features))


def toy_generator(nz: int = 2, hidden: int = 128, depth: int = 3) -> Sequential:
    return mlp(nz, 2, hidden, depth, ReLU)


def toy_discriminator(hidden: int = 128, depth: int = 3) -> Sequential:
    return mlp(2, 1, hidden, depth, lambda: LeakyReLU(0.2))
