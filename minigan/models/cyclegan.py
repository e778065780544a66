r"""CycleGAN's networks (Zhu et al. 2017): two ResNet generators and two PatchGAN discriminators, as the
reference implementation builds them (junyanz/pytorch-CycleGAN-and-pix2pix, ``models/networks.py``:
``ResnetGenerator``, ``ResnetBlock``, ``NLayerDiscriminator``; ``models/cycle_gan_model.py`` for which network
is which).

The generator (``ResnetGenerator``, itself after Johnson et al. 2016): a 7x7 convolution on a
reflection-padded input, two stride-2 downsamplings, ``n_blocks`` residual blocks at a quarter of the
resolution, two stride-2 transposed convolutions back up, a 7x7 convolution to the output channels and tanh.
Every convolution but the last is followed by InstanceNorm2d (no affine parameters, no running statistics) and
ReLU, and has a bias (the reference's ``use_bias = norm_layer == nn.InstanceNorm2d``). With C = ngf, at 32x32:

    x (N, input_nc, 32, 32)
    ReflectionPad2d(3)                                       (N, input_nc, 38, 38)
    Conv2d(input_nc, C, 7)              IN  ReLU             (N, C, 32, 32)
    Conv2d(C, 2C, 3, stride 2, pad 1)   IN  ReLU             (N, 2C, 16, 16)
    Conv2d(2C, 4C, 3, stride 2, pad 1)  IN  ReLU             (N, 4C, 8, 8)
    n_blocks x ResnetBlock(4C):  y = x + f(x)                (N, 4C, 8, 8)
        f = ReflectionPad2d(1) (N, 4C, 10, 10), Conv2d(4C, 4C, 3) (N, 4C, 8, 8), IN, ReLU,
            ReflectionPad2d(1) (N, 4C, 10, 10), Conv2d(4C, 4C, 3) (N, 4C, 8, 8), IN
    ConvTranspose2d(4C, 2C, 3, stride 2, pad 1, output_padding 1)  IN  ReLU      (N, 2C, 16, 16)
    ConvTranspose2d(2C, C, 3, stride 2, pad 1, output_padding 1)   IN  ReLU      (N, C, 32, 32)
    ReflectionPad2d(3)                                       (N, C, 38, 38)
    Conv2d(C, output_nc, 7)  Tanh                            (N, output_nc, 32, 32)

A transposed convolution with kernel 3, stride 2, padding 1 and output_padding 1 maps H to
(H - 1) 2 - 2 + 3 + 1 = 2H, so the output has the input's size whenever H and W are divisible by 4. Inside a
block the reflection pad of 1 needs H / 4 >= 2, so the smallest image is 8x8.

The residual blocks are :class:`minigan.nn.Residual` around a Sequential held as ``conv_block``, so the
parameter names are the reference's without its outer ``model.``: ``10.conv_block.1.weight`` is the
reference's ``model.10.conv_block.1.weight`` (layer 10 is the first block: 4 layers of the stem, 3 of each
downsampling).

The discriminator is :func:`minigan.models.patchgan.patchgan_discriminator` with InstanceNorm (CycleGAN's
``--norm instance``). With ``n_layers`` = 2, at 32x32: Conv2d(C_in, ndf, 4, 2, 1) (N, ndf, 16, 16), LeakyReLU;
Conv2d(ndf, 2 ndf, 4, 2, 1) (N, 2 ndf, 8, 8), IN, LeakyReLU; Conv2d(2 ndf, 4 ndf, 4, 1, 1) (N, 4 ndf, 7, 7),
IN, LeakyReLU; Conv2d(4 ndf, 1, 4, 1, 1) -> (N, 1, 6, 6) scores, each seeing a 34x34 window (the LSGAN loss
takes them as they are: no sigmoid). With ``n_layers`` = 1: (N, 1, 14, 14) scores of 16x16 patches.

Who is who (the reference's names; the paper's in brackets): G_A [G] maps A to B, G_B [F] maps B to A; D_A
[D_Y] judges domain B (real B against G_A's fakes), D_B [D_X] judges domain A. :func:`cyclegan_networks`
returns the generators as one :class:`minigan.nn.ModuleDict` and the discriminators as another, so that one
Adam updates both generators and another both discriminators, as the reference chains their parameters into
one optimizer each.

Weights: the reference's ``init_weights(net, "normal", 0.02)``, convolution weights N(0, 0.02^2) and biases 0
(:func:`minigan.init.dcgan_normal_`; InstanceNorm here has no parameters). The four networks are drawn in the
reference's order, G_A, G_B, D_A, D_B, from the library-wide generator.

Departures from the reference, for 32x32 grayscale digits on a CPU:

* widths and depth: the defaults are ngf = 16 (the reference: 64) and n_blocks = 3 (the reference: 9 for
  256x256, 6 for 128x128); D has ndf = 32 (64) and n_layers = 2 (3: its 70x70 patches would exceed a 32x32
  digit);
* images are 32x32 with one channel (the reference's are 256x256 RGB);
* :class:`minigan.train.cyclegan.CycleGAN` trains on batches of m = 4 images by default (the reference: batch
  1). InstanceNorm normalises each image by its own statistics, so the batch changes nothing in the forward
  pass; it only averages the gradient over more images per step.

Nothing else differs: no dropout (CycleGAN's ``--no_dropout`` default), reflection padding, InstanceNorm,
biases and the initialisation are the reference's.
"""

from __future__ import annotations

from minigan import init
from minigan.models.patchgan import patchgan_discriminator
from minigan.nn import (
    Conv2d,
    ConvTranspose2d,
    InstanceNorm2d,
    ModuleDict,
    ReflectionPad2d,
    ReLU,
    Residual,
    Sequential,
    Tanh,
)

N_DOWNSAMPLING = 2  # the reference's n_downsampling: two stride-2 convolutions down, two transposed ones up


def resnet_block(dim: int) -> Residual:
    """``ResnetBlock(dim, padding_type="reflect", norm_layer=InstanceNorm2d, use_dropout=False,
    use_bias=True)``: x (N, dim, H, W) -> x + f(x), f = pad 1, conv 3x3, IN, ReLU, pad 1, conv 3x3, IN;
    H, W >= 2."""
    return Residual(Sequential(
        ReflectionPad2d(1), Conv2d(dim, dim, 3, bias=True), InstanceNorm2d(dim), ReLU(),
        ReflectionPad2d(1), Conv2d(dim, dim, 3, bias=True), InstanceNorm2d(dim),
    ))


def resnet_generator(input_nc: int = 1, output_nc: int = 1, ngf: int = 16, n_blocks: int = 3,
                     normal_init: bool = True) -> Sequential:
    """``ResnetGenerator(input_nc, output_nc, ngf, norm_layer=InstanceNorm2d, use_dropout=False, n_blocks)``:
    (N, input_nc, H, W) -> (N, output_nc, H, W) in [-1, 1], H and W divisible by 4 and >= 8 (see the module
    docstring)."""
    if n_blocks < 0:
        raise ValueError(f"n_blocks must be >= 0, got {n_blocks}")
    if ngf < 1 or input_nc < 1 or output_nc < 1:
        raise ValueError(f"ngf, input_nc and output_nc must be >= 1, got {ngf}, {input_nc}, {output_nc}")
    layers = [ReflectionPad2d(3), Conv2d(input_nc, ngf, 7, bias=True), InstanceNorm2d(ngf), ReLU()]
    for i in range(N_DOWNSAMPLING):  # (N, ngf 2^i, H / 2^i, W / 2^i) -> (N, ngf 2^(i+1), H / 2^(i+1), ...)
        mult = 2**i
        layers += [Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=True),
                   InstanceNorm2d(ngf * mult * 2), ReLU()]
    mult = 2**N_DOWNSAMPLING
    layers += [resnet_block(ngf * mult) for _ in range(n_blocks)]  # (N, 4 ngf, H / 4, W / 4)
    for i in range(N_DOWNSAMPLING):  # (N, ngf 2^(2-i), ...) -> (N, ngf 2^(1-i), twice the size)
        mult = 2**(N_DOWNSAMPLING - i)
        layers += [ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1,
                                   bias=True),
                   InstanceNorm2d(ngf * mult // 2), ReLU()]
    layers += [ReflectionPad2d(3), Conv2d(ngf, output_nc, 7), Tanh()]
    g = Sequential(*layers)
    if normal_init:
        init.dcgan_normal_(g)
    return g


def cyclegan_networks(input_nc: int = 1, output_nc: int = 1, ngf: int = 16, n_blocks: int = 3, ndf: int = 32,
                      n_layers: int = 2, normal_init: bool = True):
    """(G, D): ``G = ModuleDict(G_A=A -> B, G_B=B -> A)``, ``D = ModuleDict(D_A=judge of B, D_B=judge of A)``,
    drawn in the order G_A, G_B, D_A, D_B (the reference's ``define_G`` / ``define_D`` calls)."""
    G_A = resnet_generator(input_nc, output_nc, ngf, n_blocks, normal_init)
    G_B = resnet_generator(output_nc, input_nc, ngf, n_blocks, normal_init)
    D_A = patchgan_discriminator(output_nc, ndf, n_layers, norm="instance", normal_init=normal_init)
    D_B = patchgan_discriminator(input_nc, ndf, n_layers, norm="instance", normal_init=normal_init)
    return ModuleDict(G_A=G_A, G_B=G_B), ModuleDict(D_A=D_A, D_B=D_B)
