"""Critics for WGAN (Arjovsky et al. 2017) and WGAN-GP (Gulrajani et al. 2017): each is its discriminator with the
layers that a critic must not hold taken out.

* No BatchNorm: it makes a sample's score depend on the other samples of its batch, which breaks the
  per-sample gradient norm the penalty constrains (Gulrajani et al., section 4, "no critic batch normalization").
* No Dropout: the critic must be one function f; a random mask makes it a different one for every batch.
* The output is an unbounded score, not a logit: the same last layer, read differently by the loss.

:func:`minigan.gradient_penalty.check_penalty_support` accepts every critic here (Dense, Conv2d, LeakyReLU, Flatten,
Reshape only) and refuses the discriminators. The same critics serve WGAN with weight clipping.

    dcgan_mnist_critic   = dcgan_mnist_discriminator without the BatchNorm2d after conv 2
    mlp_mnist_critic     = mlp_mnist_discriminator without its three Dropout(0.2)
    dcgan64_critic       = dcgan64_discriminator without the BatchNorm2d after convs 2, 3 and 4

The last two live next to their discriminators (they share a builder); the first is written out here, because
dcgan_mnist.py holds the canonical model of docs/design.md exactly as specified.
"""

from __future__ import annotations

from minigan import init
from minigan.models.dcgan64 import dcgan64_critic
from minigan.models.mlp_mnist import mlp_mnist_critic
from minigan.nn import Conv2d, Dense, Flatten, LeakyReLU, Sequential

__all__ = ["dcgan64_critic", "dcgan_mnist_critic", "mlp_mnist_critic"]


def dcgan_mnist_critic(dcgan_init: bool = True) -> Sequential:
    """The canonical MNIST D without its BatchNorm: (N, 1, 28, 28) -> (N, 1) scores.

    Conv2d(1, 64, 4, 2, 1) LeakyReLU(0.2) Conv2d(64, 128, 4, 2, 1) LeakyReLU(0.2) Flatten Dense(128*7*7, 1)
    """
    d = Sequential(
        Conv2d(1, 64, 4, stride=2, padding=1), LeakyReLU(0.2),
        Conv2d(64, 128, 4, stride=2, padding=1), LeakyReLU(0.2),
        Flatten(), Dense(128 * 7 * 7, 1),
    )
    if dcgan_init:
        init.dcgan_normal_(d)
    return d
