"""The 64x64 DCGAN of the PyTorch DCGAN tutorial (Radford et al. 2016's architecture for CelebA faces).

With nz = 100, ngf = ndf = 64 and nc = 3 (RGB) or 1 (grey), shapes per sample written (C, H, W):

G: z (N, nz) -> Reshape(nz, 1, 1)
   ConvTranspose2d(nz,    ngf*8, 4, 1, 0) BatchNorm2d ReLU   -> (ngf*8,  4,  4)
   ConvTranspose2d(ngf*8, ngf*4, 4, 2, 1) BatchNorm2d ReLU   -> (ngf*4,  8,  8)
   ConvTranspose2d(ngf*4, ngf*2, 4, 2, 1) BatchNorm2d ReLU   -> (ngf*2, 16, 16)
   ConvTranspose2d(ngf*2, ngf,   4, 2, 1) BatchNorm2d ReLU   -> (ngf,   32, 32)
   ConvTranspose2d(ngf,   nc,    4, 2, 1) Tanh               -> (nc,    64, 64)  in [-1, 1]
D: x (N, nc, 64, 64) ->
   Conv2d(nc,    ndf,   4, 2, 1) LeakyReLU(0.2)              -> (ndf,   32, 32)
   Conv2d(ndf,   ndf*2, 4, 2, 1) BatchNorm2d LeakyReLU(0.2)  -> (ndf*2, 16, 16)
   Conv2d(ndf*2, ndf*4, 4, 2, 1) BatchNorm2d LeakyReLU(0.2)  -> (ndf*4,  8,  8)
   Conv2d(ndf*4, ndf*8, 4, 2, 1) BatchNorm2d LeakyReLU(0.2)  -> (ndf*8,  4,  4)
   Conv2d(ndf*8, 1,     4, 1, 0) Flatten                     -> (1,) logits, shape (N, 1)

No convolution has a bias (each is followed by BatchNorm, whose shift makes a bias redundant; the tutorial drops
them everywhere). Initialisation as the tutorial's ``weights_init``: conv weights N(0, 0.02), BatchNorm scale
N(1, 0.02) and shift 0 (:func:`minigan.init.dcgan_normal_`). The tutorial ends D with a Sigmoid; minigan's D
returns the logit and the loss folds the sigmoid in. G takes z as (N, nz), like the canonical MNIST generator; the
leading Reshape has no parameters, so the state_dict names are the tutorial's ``nn.Sequential`` names shifted by
nothing but that layer (the tests' PyTorch twin starts with ``nn.Unflatten`` for the same reason).
Parameters at the defaults (nc = 3): G 3,576,704, D 2,765,568, as the tutorial prints.

The critic (WGAN / WGAN-GP) is D without BatchNorm, as in Arjovsky et al.'s ``DCGAN_D_nobn`` (still no biases):
Gulrajani et al. rule out batch normalisation in a gradient-penalty critic, because it makes each sample's score
depend on the rest of the batch.
"""

from __future__ import annotations

from minigan import init
from minigan.nn import (
    BatchNorm2d,
    Conv2d,
    ConvTranspose2d,
    Flatten,
    LeakyReLU,
    ReLU,
    Reshape,
    Sequential,
    Tanh,
)

NZ = 100
NGF = 64
NDF = 64


def dcgan64_generator(nz: int = NZ, ngf: int = NGF, nc: int = 3, dcgan_init: bool = True) -> Sequential:
    """G: (N, nz) noise -> (N, nc, 64, 64) images in [-1, 1]."""
    g = Sequential(
        Reshape(nz, 1, 1),
        ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), BatchNorm2d(ngf * 8), ReLU(),
        ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), BatchNorm2d(ngf * 4), ReLU(),
        ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), BatchNorm2d(ngf * 2), ReLU(),
        ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), BatchNorm2d(ngf), ReLU(),
        ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), Tanh(),
    )
    if dcgan_init:
        init.dcgan_normal_(g)
    return g


def _dcgan64_d(ndf: int, nc: int, batchnorm: bool, dcgan_init: bool) -> Sequential:
    """The shared body of D and the critic; ``batchnorm`` puts BatchNorm2d after the 2nd, 3rd and 4th conv."""
    layers = [Conv2d(nc, ndf, 4, 2, 1, bias=False), LeakyReLU(0.2)]
    width = ndf
    for _ in range(3):
        layers.append(Conv2d(width, width * 2, 4, 2, 1, bias=False))
        if batchnorm:
            layers.append(BatchNorm2d(width * 2))
        layers.append(LeakyReLU(0.2))
        width *= 2
    d = Sequential(*layers, Conv2d(width, 1, 4, 1, 0, bias=False), Flatten())
    if dcgan_init:
        init.dcgan_normal_(d)
    return d


def dcgan64_discriminator(ndf: int = NDF, nc: int = 3, dcgan_init: bool = True) -> Sequential:
    """D: (N, nc, 64, 64) images -> (N, 1) logits."""
    return _dcgan64_d(ndf, nc, batchnorm=True, dcgan_init=dcgan_init)


def dcgan64_critic(ndf: int = NDF, nc: int = 3, dcgan_init: bool = True) -> Sequential:
    """The WGAN / WGAN-GP critic: D without BatchNorm. (N, nc, 64, 64) -> (N, 1) scores."""
    return _dcgan64_d(ndf, nc, batchnorm=False, dcgan_init=dcgan_init)
