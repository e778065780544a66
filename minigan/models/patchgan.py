"""The PatchGAN discriminator of pix2pix and CycleGAN (``NLayerDiscriminator`` of the reference repository,
junyanz/pytorch-CycleGAN-and-pix2pix, ``models/networks.py``).

D does not say "real" or "fake" for a whole image: it is fully convolutional, and each of its output logits
judges one patch of the input (Isola et al. 2017, section 3.2.2). With kernel 4 everywhere, ``n_layers``
stride-2 convolutions, then two stride-1 ones:

    x (N, C_in, H, W)
    Conv2d(C_in, ndf, 4, 2, 1)                     LeakyReLU(0.2)                   no norm on the first layer
    for n = 1 .. n_layers - 1:  c_n = ndf * min(2^n, 8)
        Conv2d(c_{n-1}, c_n, 4, 2, 1, bias=b)      Norm(c_n)   LeakyReLU(0.2)
    c = ndf * min(2^n_layers, 8)
    Conv2d(c_prev, c, 4, 1, 1, bias=b)             Norm(c)     LeakyReLU(0.2)
    Conv2d(c, 1, 4, 1, 1)                                                           -> logits (N, 1, H', W')

b = False before a BatchNorm (its shift makes the bias redundant) and True before an InstanceNorm, as the
reference's ``use_bias = norm_layer == nn.InstanceNorm2d``. pix2pix uses BatchNorm, CycleGAN InstanceNorm.

Each output's receptive field: n_layers = 3 gives the paper's 70x70 PatchGAN; n_layers = 1 gives 16x16, the
natural size for 32x32 digits (at 32x32 input: 16x16 after the first conv, 15x15, then 14x14 logits). The loss
averages over every logit of every sample.

The weights start from the reference's ``init_weights(net, "normal", 0.02)``: convolution weights N(0, 0.02),
biases 0, BatchNorm scale N(1, 0.02) and shift 0 (:func:`minigan.init.dcgan_normal_`; an InstanceNorm without
affine parameters has none).
"""

from __future__ import annotations

from minigan import init
from minigan.nn import BatchNorm2d, Conv2d, InstanceNorm2d, LeakyReLU, Sequential

NORMS = ("batch", "instance")


def norm_layer(kind: str, channels: int):
    """BatchNorm2d(channels) for "batch"; InstanceNorm2d(channels) (affine off, no running statistics, the
    reference's ``functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)``) for
    "instance"."""
    if kind == "batch":
        return BatchNorm2d(channels)
    if kind == "instance":
        return InstanceNorm2d(channels)
    raise ValueError(f"norm must be one of {NORMS}, got {kind!r}")


def patchgan_discriminator(input_nc: int, ndf: int = 64, n_layers: int = 3, norm: str = "batch",
                           normal_init: bool = True) -> Sequential:
    """D: (N, input_nc, H, W) -> (N, 1, H', W') logits, one per patch (see the module docstring)."""
    if n_layers < 1:
        raise ValueError(f"n_layers must be >= 1, got {n_layers}")
    use_bias = norm == "instance"
    layers = [Conv2d(input_nc, ndf, 4, stride=2, padding=1), LeakyReLU(0.2)]
    mult = 1
    for n in range(1, n_layers):
        prev, mult = mult, min(2**n, 8)
        layers += [Conv2d(ndf * prev, ndf * mult, 4, stride=2, padding=1, bias=use_bias), norm_layer(norm, ndf * mult),
                   LeakyReLU(0.2)]
    prev, mult = mult, min(2**n_layers, 8)
    layers += [Conv2d(ndf * prev, ndf * mult, 4, stride=1, padding=1, bias=use_bias), norm_layer(norm, ndf * mult),
               LeakyReLU(0.2), Conv2d(ndf * mult, 1, 4, stride=1, padding=1)]
    d = Sequential(*layers)
    if normal_init:
        init.dcgan_normal_(d)
    return d


def patch_grid(size: int, n_layers: int) -> int:
    """H' of the logits for an input of H = ``size``: each stride-2 conv halves, each stride-1 conv (k 4, p 1)
    takes 1 away."""
    for _ in range(n_layers):
        size //= 2
    return size - 2
