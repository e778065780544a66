"""Ready-made GAN architectures, built from minigan.nn layers, and the registry the command line reads.

``MODELS`` maps a model name (as typed after ``minigan train``) to a :class:`ModelSpec`:

    spec = MODELS["dcgan-mnist"]
    G, D = spec.build()                  # fresh networks, initialised as the paper / tutorial does
    spec.nz, spec.image_shape            # 100, (1, 28, 28): G takes (N, nz [+ n_classes]), returns (N, *image_shape)
    spec.n_classes, spec.d_labels        # 0, None for an unconditional model; 10, "vector"/"maps" for a CGAN
    spec.algorithm, spec.lr, spec.betas  # which trainer of minigan.train, and its Adam settings

Images are in [-1, 1] (every G ends in tanh). Every D returns (N, 1) logits (GAN, CGAN) or scores (WGAN-GP).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from minigan.models.conditional import (
    cgan_dcgan_discriminator,
    cgan_dcgan_generator,
    cgan_mlp_discriminator,
    cgan_mlp_generator,
)
from minigan.models.critics import dcgan_mnist_critic
from minigan.models.dcgan64 import dcgan64_critic, dcgan64_discriminator, dcgan64_generator
from minigan.models.dcgan_mnist import dcgan_mnist_discriminator, dcgan_mnist_generator
from minigan.models.mlp_mnist import mlp_mnist_critic, mlp_mnist_discriminator, mlp_mnist_generator
from minigan.models.toy import mlp, toy_discriminator, toy_generator


@dataclass(frozen=True)
class ModelSpec:
    """What a caller needs to train or sample a named model.

    Fields:
        build:        ``build() -> (G, D)``, freshly initialised networks (float32, active backend).
        nz:           noise dimension; G's input is (N, nz), or (N, nz + n_classes) for a conditional model.
        image_shape:  (C, H, W) of one generated / real sample; G returns (N, *image_shape), D takes it.
        n_classes:    0 for an unconditional model; K > 0: train with :class:`minigan.train.CGAN`, whose
                      ``sample_data(m)`` returns (x, integer labels y) and whose ``sample(n, labels=...)`` picks
                      the classes.
        d_labels:     None, or how D sees the label (CGAN's ``d_labels``): "vector" = [flatten(x), onehot(y)],
                      "maps" = [x, onehot(y) as K constant channels].
        algorithm:    "gan" (minigan.train.GAN), "cgan" (CGAN) or "wgan-gp" (WGANGP; D is a critic).
        lr, betas:    the Adam settings of the model's source (DCGAN: 2e-4, (0.5, 0.999); WGAN-GP: 1e-4, (0, 0.9)).
        description:  one line: the architecture and where it comes from.
    """

    build: Callable[[], tuple]
    nz: int
    image_shape: tuple[int, int, int]
    n_classes: int = 0
    d_labels: str | None = None
    algorithm: str = "gan"
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    description: str = ""


_MNIST = (1, 28, 28)
_FACES = (3, 64, 64)

MODELS: dict[str, ModelSpec] = {
    "mlp-mnist": ModelSpec(
        lambda: (mlp_mnist_generator(), mlp_mnist_discriminator()), 100, _MNIST,
        description="MLP GAN of the classic Keras MNIST example: G 100-256-512-1024-784, D 784-1024-512-256-1"),
    "dcgan-mnist": ModelSpec(
        lambda: (dcgan_mnist_generator(), dcgan_mnist_discriminator()), 100, _MNIST,
        description="the canonical MNIST DCGAN of DESIGN.md (benchmark model)"),
    "cgan-mnist": ModelSpec(
        lambda: (cgan_mlp_generator(), cgan_mlp_discriminator()), 100, _MNIST, n_classes=10, d_labels="vector",
        algorithm="cgan",
        description="conditional MLP GAN (Mirza & Osindero 2014), one-hot label joined to z and to flatten(x)"),
    "cgan-dcgan-mnist": ModelSpec(
        lambda: (cgan_dcgan_generator(), cgan_dcgan_discriminator()), 100, _MNIST, n_classes=10, d_labels="maps",
        algorithm="cgan",
        description="conditional canonical DCGAN: one-hot label joined to z and as 10 constant maps to x"),
    "wgan-gp-mnist": ModelSpec(
        lambda: (dcgan_mnist_generator(), dcgan_mnist_critic()), 100, _MNIST, algorithm="wgan-gp", lr=1e-4,
        betas=(0.0, 0.9), description="canonical MNIST DCGAN generator with its D as a critic (no BatchNorm)"),
    "wgan-gp-mlp-mnist": ModelSpec(
        lambda: (mlp_mnist_generator(), mlp_mnist_critic()), 100, _MNIST, algorithm="wgan-gp", lr=1e-4,
        betas=(0.0, 0.9), description="MLP GAN generator with its D as a critic (no Dropout)"),
    "dcgan-faces": ModelSpec(
        lambda: (dcgan64_generator(), dcgan64_discriminator()), 100, _FACES,
        description="64x64 RGB DCGAN of the PyTorch DCGAN tutorial (CelebA), ngf = ndf = 64"),
    "wgan-gp-faces": ModelSpec(
        lambda: (dcgan64_generator(), dcgan64_critic()), 100, _FACES, algorithm="wgan-gp", lr=1e-4,
        betas=(0.0, 0.9), description="64x64 DCGAN generator with a critic without BatchNorm (DCGAN_D_nobn)"),
}

__all__ = [
    "MODELS",
    "ModelSpec",
    "cgan_dcgan_discriminator",
    "cgan_dcgan_generator",
    "cgan_mlp_discriminator",
    "cgan_mlp_generator",
    "dcgan64_critic",
    "dcgan64_discriminator",
    "dcgan64_generator",
    "dcgan_mnist_critic",
    "dcgan_mnist_discriminator",
    "dcgan_mnist_generator",
    "mlp",
    "mlp_mnist_critic",
    "mlp_mnist_discriminator",
    "mlp_mnist_generator",
    "toy_discriminator",
    "toy_generator",
]
