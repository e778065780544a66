r"""pix2pix's generator: the U-Net of Isola et al. 2017 (``UnetGenerator`` / ``UnetSkipConnectionBlock`` of
junyanz/pytorch-CycleGAN-and-pix2pix, ``models/networks.py``); its discriminator is the PatchGAN of
:mod:`minigan.models.patchgan`, which sees the input and the output side by side, ``cat([A, B], channels)``.

The U-Net is built from the inside out. A block with ``outer_nc`` channels outside and ``inner_nc`` inside wraps
the next block (its ``submodule``) between a downsampling and an upsampling, and joins its input to the result
(:class:`minigan.nn.SkipConcat`), so the decoder at each scale sees the encoder's features of that scale:

    innermost:  x -> [x, up(down(x))]                 down = LeakyReLU(0.2), Conv2d(outer, inner, 4, 2, 1)
                                                      up   = ReLU, ConvTranspose2d(inner, outer, 4, 2, 1), Norm(outer)
    middle:     x -> [x, up(sub(down(x)))]            down = LeakyReLU(0.2), Conv2d(outer, inner, 4, 2, 1), Norm(inner)
                                                      up   = ReLU, ConvTranspose2d(2 inner, outer, 4, 2, 1), Norm(outer)
                                                             [, Dropout(0.5) in the num_downs - 5 blocks at the bottom]
    outermost:  x -> up(sub(down(x)))  (no skip)      down = Conv2d(input_nc, ngf, 4, 2, 1)
                                                      up   = ReLU, ConvTranspose2d(2 ngf, output_nc, 4, 2, 1), Tanh

The sub-block returns [its input, its output], twice its input's channels: hence the ``2 inner`` of the
upsampling convolutions. Convolutions before a BatchNorm have no bias (the reference's ``use_bias``).

At 32x32 with ``num_downs = 5`` and ngf = 64 (a 1x1 bottleneck, the paper's U-Net cut to the image size):

    A (N, 1, 32, 32) -> Conv 64 (N, 64, 16, 16) -> 128 (8x8) -> 256 (4x4) -> 512 (2x2) -> 512 (1x1)
    back up: 512 (2x2), joined 1024 -> 256 (4x4), joined 512 -> 128 (8x8), joined 256 -> 64 (16x16),
    joined 128 -> Tanh (N, 1, 32, 32)

The reference puts Dropout(0.5) in the ``num_downs - 5`` innermost middle blocks only (its 256x256 U-Net has 8
downsamplings, so 3 such blocks; dropout is pix2pix's only noise). With num_downs = 5 there are none, and this G is
deterministic, as the reference's U-Net is with 5 downsamplings.

Parameter names: the reference holds the outermost block as ``UnetGenerator.model`` and its layers as
``.model``, so its names are ``model.model.`` + ours (ours start at the outermost block's Sequential: ``0.weight``
is its downsampling, ``1.model.1.weight`` the next block's).

One detail of the reference that is not copied: its blocks begin with ``LeakyReLU(0.2, inplace=True)``, which
overwrites the block's input in place before ``torch.cat([x, self.model(x)], 1)`` reads it, so its skip connections
carry LeakyReLU(x) rather than x. Here the skip carries x, as the paper's Figure 3 draws it.

Weights start from the reference's ``init_weights(net, "normal", 0.02)`` (:func:`minigan.init.dcgan_normal_`).
"""

from __future__ import annotations

from minigan import init
from minigan.models.patchgan import norm_layer, patchgan_discriminator
from minigan.nn import Conv2d, ConvTranspose2d, Dropout, LeakyReLU, ReLU, Sequential, SkipConcat, Tanh


def unet_block(outer_nc: int, inner_nc: int, input_nc: int | None = None, submodule=None, outermost: bool = False,
               innermost: bool = False, norm: str = "batch", use_dropout: bool = False):
    """One ``UnetSkipConnectionBlock``: a SkipConcat of down, ``submodule``, up (a plain Sequential when
    outermost). Input (N, input_nc or outer_nc, H, W) -> (N, outer_nc [+ outer_nc when not outermost], H, W)."""
    input_nc = outer_nc if input_nc is None else input_nc
    use_bias = norm == "instance"
    downconv = Conv2d(input_nc, inner_nc, 4, stride=2, padding=1, bias=use_bias)
    if outermost:
        up = [ReLU(), ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1), Tanh()]
        return Sequential(downconv, submodule, *up)
    if innermost:
        down = [LeakyReLU(0.2), downconv]
        up = [ReLU(), ConvTranspose2d(inner_nc, outer_nc, 4, stride=2, padding=1, bias=use_bias),
              norm_layer(norm, outer_nc)]
        return SkipConcat(Sequential(*down, *up))
    down = [LeakyReLU(0.2), downconv, norm_layer(norm, inner_nc)]
    up = [ReLU(), ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1, bias=use_bias),
          norm_layer(norm, outer_nc)]
    if use_dropout:
        up.append(Dropout(0.5))
    return SkipConcat(Sequential(*down, submodule, *up))


def unet_generator(input_nc: int = 1, output_nc: int = 1, num_downs: int = 5, ngf: int = 64, norm: str = "batch",
                   use_dropout: bool = True, normal_init: bool = True) -> Sequential:
    """G: (N, input_nc, H, W) -> (N, output_nc, H, W) in [-1, 1]; H and W divisible by 2^num_downs (5: 32x32)."""
    if num_downs < 5:
        raise ValueError(f"num_downs must be >= 5 (the reference's U-Net has 5 fixed levels), got {num_downs}")
    block = unet_block(ngf * 8, ngf * 8, innermost=True, norm=norm)
    for _ in range(num_downs - 5):
        block = unet_block(ngf * 8, ngf * 8, submodule=block, norm=norm, use_dropout=use_dropout)
    block = unet_block(ngf * 4, ngf * 8, submodule=block, norm=norm)
    block = unet_block(ngf * 2, ngf * 4, submodule=block, norm=norm)
    block = unet_block(ngf, ngf * 2, submodule=block, norm=norm)
    g = unet_block(output_nc, ngf, input_nc=input_nc, submodule=block, outermost=True, norm=norm)
    if normal_init:
        init.dcgan_normal_(g)
    return g


def pix2pix_networks(input_nc: int = 1, output_nc: int = 1, ngf: int = 64, ndf: int = 64, num_downs: int = 5,
                     n_layers_D: int = 1):
    """(G, D) of pix2pix: the U-Net and a PatchGAN over cat([A, B]) (input_nc + output_nc channels), BatchNorm in
    both (the reference's ``--norm batch`` for pix2pix). D is drawn first, G second."""
    D = patchgan_discriminator(input_nc + output_nc, ndf, n_layers_D, norm="batch")
    G = unet_generator(input_nc, output_nc, num_downs, ngf, norm="batch")
    return G, D
