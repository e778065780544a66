r"""StackGAN (Zhang et al. 2017) at digit scale: text -> 16x16 digits (stage I) -> 32x32 digits (stage II).

The reference is hanzhanggit/StackGAN-Pytorch, ``code/model.py`` (CA_NET, STAGE1_G, STAGE1_D, STAGE2_G, STAGE2_D,
D_GET_LOGITS, upBlock, ResBlock), with two parts taken from the TensorFlow original hanzhanggit/StackGAN
(``stageI/model.py``): conditioning augmentation (:class:`minigan.nn.conditioning.ConditioningAugmentation`,
fc + leaky ReLU, mean and log sigma) and the discriminator's own text encoder (``context_embedding``). Shapes for
one grey channel, text embeddings of T = 21 (the bag of words of :func:`minigan.data.bag_of_words`, times the
trainer's text_scale), noise nz, condition C = c_dim, D's text code E = ef_dim; N the batch:

    conv3x3(i, o)   = Conv2d(i, o, 3, stride 1, padding 1, no bias)
    upBlock(i, o)   = Upsample(2, nearest), conv3x3(i, o), BatchNorm2d(o), ReLU     (N, i, H, W) -> (N, o, 2H, 2W)
    ResBlock(k)     = Residual(conv3x3(k, k), BN, ReLU, conv3x3(k, k), BN), then ReLU    (N, k, H, W) -> same
    join(h, c)      = cat([h, c replicated over H x W], dim 1)          (N, K, H, W), (N, E) -> (N, K + E, H, W)

Stage-I G (:class:`StageIGenerator`), ngf channels at 4x4:
    phi (N, T)           -> ca_net: CA                                                   c (N, C)
    [z, c] (N, nz + C)   -> fc: Dense(nz + C, 16 ngf, no bias), BatchNorm1d, ReLU, Reshape (N, ngf, 4, 4)
                         -> upsample: upBlock(ngf, ngf/2), upBlock(ngf/2, ngf/4)         (N, ngf/4, 16, 16)
                         -> img: conv3x3(ngf/4, 1), Tanh                                 (N, 1, 16, 16)

Stage-II G (:class:`StageIIGenerator`), ngf channels at 16x16:
    x1 (N, 1, 16, 16)    -> encoder: conv3x3(1, ngf), ReLU, Conv2d(ngf, 2 ngf, 4, 2, 1, no bias), BN, ReLU
                                                                                         (N, 2 ngf, 8, 8)
    phi (N, T)           -> ca_net: CA (its own parameters)                              c (N, C)
    join                 -> hr_joint: conv3x3(2 ngf + C, 2 ngf), BN, ReLU                (N, 2 ngf, 8, 8)
                         -> residual: r_num x ResBlock(2 ngf)                            (N, 2 ngf, 8, 8)
                         -> upsample: upBlock(2 ngf, ngf), upBlock(ngf, ngf/2)           (N, ngf/2, 32, 32)
                         -> img: conv3x3(ngf/2, 1), Tanh                                 (N, 1, 32, 32)

The whole generator after stage II (:class:`StackGANGenerator`): ``stage1`` (frozen) then ``stage2``,
phi, z -> (N, 1, 32, 32); x1 = stage1(phi, z) is detached (no gradient reaches stage I).

D (:class:`StackGANDiscriminator`) at image size S (16 for stage I, 32 for stage II), L = log2(S / 4) stride-2
convolutions, K = ndf 2^(L-1) channels at 4x4:
    x (N, 1, S, S)       -> encode_img: Conv2d(1, ndf, 4, 2, 1, no bias), LeakyReLU(0.2),
                            then L - 1 x [Conv2d(k, 2k, 4, 2, 1, no bias), BN, LeakyReLU(0.2)]   h (N, K, 4, 4)
    phi (N, T)           -> context: Dense(T, E), LeakyReLU(0.2)                          e (N, E)
    join(h, e)           -> get_cond_logits: conv3x3(K + E, K), BN, LeakyReLU(0.2),
                            Conv2d(K, 1, 4, stride 4)                                     logits (N, 1)

Initialisation: the reference's ``weights_init``: convolution and Dense weights N(0, 0.02), Dense biases 0,
BatchNorm scale N(1, 0.02), shift 0 (:func:`minigan.init.dcgan_normal_`). The final Conv2d of D's logits has a
bias, as in the reference, set to 0 here (``weights_init`` leaves a convolution's bias at PyTorch's default).

Departures from the reference (the PyTorch port unless said otherwise):

* size: 16x16 and 32x32 grey digits instead of 64x64 and 256x256 RGB; so 2 upBlocks in stage-I G (not 4), one
  stride-2 convolution in stage-II G's encoder (not 2: the text is joined at 8x8, half the input's size, where
  the reference joins at a quarter), 2 upBlocks after it (not 4), D with log2(S/4) stride-2 convolutions (2 and 3,
  not 4 and 6) and without stage-II D's two extra conv3x3 layers at 4x4; widths and r_num (2, not 4) are small;
* conditioning augmentation as the TF original (leaky ReLU, log sigma; the port has ReLU, log variance), eps from
  N(0, I) (the TF original: truncated normal);
* D's text: its own Dense(T, E) + LeakyReLU(0.2) of the text embedding, as the TF original's
  ``context_embedding``; the PyTorch port gives D the generator's detached mu instead;
* D returns logits (the loss folds the sigmoid in; the reference ends in Sigmoid and uses BCELoss), shape (N, 1)
  (the reference: (N,)); no unconditional logits (the port's STAGE2_D also has ``get_uncond_logits``, whose
  real/fake terms its losses add in stage II; here both stages have the conditional logits only);
* joining replicates the code over the map with an explicit backward (:func:`join_maps` / :func:`split_maps`).
"""

from __future__ import annotations

import math

from minigan import backend, init
from minigan.nn import (
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    Dense,
    LeakyReLU,
    ModuleDict,
    ReLU,
    Reshape,
    Residual,
    Sequential,
    Tanh,
    Upsample,
)
from minigan.nn.conditioning import ConditioningAugmentation

T_DIM = 21  # len(minigan.data.captions.VOCABULARY): the bag-of-words text embedding
NZ = 100  # cfg.Z_DIM
C_DIM = 16  # cfg.GAN.CONDITION_DIM (128 in the reference)
EF_DIM = 16  # D's text code (the TF original's EMBEDDING_DIM)


# ---------------------------------------------------------------------------------------------------------------
# blocks
# ---------------------------------------------------------------------------------------------------------------
def conv3x3(in_planes: int, out_planes: int) -> Conv2d:
    """The reference's conv3x3: Conv2d(in, out, 3, stride 1, padding 1, bias=False)."""
    return Conv2d(in_planes, out_planes, 3, stride=1, padding=1, bias=False)


def up_block(in_planes: int, out_planes: int) -> Sequential:
    """The reference's upBlock: Upsample(2, nearest), conv3x3, BatchNorm2d, ReLU. (N, i, H, W) -> (N, o, 2H, 2W)."""
    return Sequential(Upsample(scale_factor=2), conv3x3(in_planes, out_planes), BatchNorm2d(out_planes), ReLU())


def res_block(channels: int) -> Sequential:
    """The reference's ResBlock: relu(x + block(x)), block = conv3x3, BN, ReLU, conv3x3, BN (shape kept)."""
    block = Sequential(conv3x3(channels, channels), BatchNorm2d(channels), ReLU(),
                       conv3x3(channels, channels), BatchNorm2d(channels))
    return Sequential(Residual(block, name="block"), ReLU())


def join_maps(h, c):
    r"""y = cat([h, c replicated spatially], dim 1): h (N, K, H, W), c (N, E) -> y (N, K + E, H, W),

        y[n, k, i, j] = h[n, k, i, j]  (k < K),     y[n, K + e, i, j] = c[n, e]   (every i, j)

    (the reference's ``c_code.view(-1, E, 1, 1).repeat(1, 1, H, W)`` then ``torch.cat((h_code, c_code), 1)``)."""
    xp = backend.array_module(h)
    n, _, H, W = h.shape
    maps = xp.broadcast_to(c[:, :, None, None], (n, c.shape[1], H, W))
    return xp.concatenate([h, maps], axis=1)


def split_maps(dy, channels: int):
    r"""(dL/dh, dL/dc) from dL/dy, y = :func:`join_maps` (h, c), h with K = ``channels`` channels:

        dL/dh[n, k, i, j] = dy[n, k, i, j]                                 (the first K channels)
        dL/dc[n, e]       = \sum_{i, j} dy[n, K + e, i, j]                 (c[n, e] is copied to every i, j)

    dy (N, K + E, H, W) -> (N, K, H, W), (N, E)."""
    return dy[:, :channels], dy[:, channels:].sum(axis=(2, 3))


class _Networks(ModuleDict):
    """A ModuleDict that shows its own class name."""

    def __repr__(self):
        body = "".join(f"\n  ({k}): {v!r}" for k, v in self.items())
        return f"{type(self).__name__}({body}\n)"


# ---------------------------------------------------------------------------------------------------------------
# generators
# ---------------------------------------------------------------------------------------------------------------
class StageIGenerator(_Networks):
    """STAGE1_G: text embedding phi (N, t_dim) and noise z (N, nz) -> (N, channels, 16, 16) in [-1, 1].

    Members ``ca_net``, ``fc``, ``upsample``, ``img`` (module docstring). ``generate`` runs it and keeps every
    member's cache; ``backward_image`` then takes dL/dimage and adds every parameter gradient (the CA's with its
    KL term weighted by ``ca_net.kl_weight``).
    """

    image_size = 16

    def __init__(self, t_dim: int = T_DIM, nz: int = NZ, c_dim: int = C_DIM, ngf: int = 128, channels: int = 1,
                 ca_rng=None):
        if ngf < 4 or ngf % 4:
            raise ValueError(f"StageIGenerator: ngf must be a multiple of 4, got {ngf}")
        super().__init__(
            ca_net=ConditioningAugmentation(t_dim, c_dim, rng=ca_rng),
            fc=Sequential(Dense(nz + c_dim, ngf * 4 * 4, bias=False), BatchNorm1d(ngf * 4 * 4), ReLU(),
                          Reshape(ngf, 4, 4)),
            upsample=Sequential(up_block(ngf, ngf // 2), up_block(ngf // 2, ngf // 4)),
            img=Sequential(conv3x3(ngf // 4, channels), Tanh()),
        )
        self.t_dim, self.nz, self.c_dim, self.ngf, self.channels = t_dim, nz, c_dim, ngf, channels

    @property
    def conditioning(self) -> ConditioningAugmentation:
        """The conditioning augmentation this generator trains (its KL enters the loss)."""
        return self.ca_net

    def generate(self, phi, z, train: bool | None = None, rng=None):
        """phi (N, t_dim), z (N, nz) -> images (N, channels, 16, 16); eps from ``rng`` if given, else the CA's own.

        ``train`` None: every member in its own mode."""
        with self.ca_net.drawing_from(rng):
            c = self.ca_net.forward(phi, train)  # (N, C)
        h = self.fc.forward(backend.array_module(z).concatenate([z, c], axis=1), train)  # (N, ngf, 4, 4)
        return self.img.forward(self.upsample.forward(h, train), train)

    def backward_image(self, dx) -> None:
        """Add dL/dtheta of every member from dx = dL/dimage (the last ``generate``'s caches)."""
        d = self.upsample.backward(self.img.backward(dx))
        d_zc = self.fc.backward(d)  # (N, nz + C)
        self.ca_net.backward(d_zc[:, self.nz:], input_grad=False)  # the text needs no gradient


class StageIIGenerator(_Networks):
    """STAGE2_G without its stage I: a stage-I image x1 (N, channels, 16, 16) and phi (N, t_dim) ->
    (N, channels, 32, 32). Members ``ca_net``, ``encoder``, ``hr_joint``, ``residual``, ``upsample``, ``img``."""

    image_size = 32

    def __init__(self, t_dim: int = T_DIM, c_dim: int = C_DIM, ngf: int = 32, r_num: int = 2, channels: int = 1,
                 ca_rng=None):
        if ngf < 2 or ngf % 2:
            raise ValueError(f"StageIIGenerator: ngf must be even, got {ngf}")
        if r_num < 0:
            raise ValueError(f"StageIIGenerator: r_num must be >= 0, got {r_num}")
        k = 2 * ngf
        super().__init__(
            ca_net=ConditioningAugmentation(t_dim, c_dim, rng=ca_rng),
            encoder=Sequential(conv3x3(channels, ngf), ReLU(), Conv2d(ngf, k, 4, stride=2, padding=1, bias=False),
                               BatchNorm2d(k), ReLU()),
            hr_joint=Sequential(conv3x3(k + c_dim, k), BatchNorm2d(k), ReLU()),
            residual=Sequential(*[res_block(k) for _ in range(r_num)]),
            upsample=Sequential(up_block(k, ngf), up_block(ngf, ngf // 2)),
            img=Sequential(conv3x3(ngf // 2, channels), Tanh()),
        )
        self.t_dim, self.c_dim, self.ngf, self.r_num, self.channels = t_dim, c_dim, ngf, r_num, channels

    @property
    def conditioning(self) -> ConditioningAugmentation:
        return self.ca_net

    def generate(self, x1, phi, train: bool | None = None, rng=None):
        """x1 (N, channels, 16, 16), phi (N, t_dim) -> (N, channels, 32, 32)."""
        h = self.encoder.forward(x1, train)  # (N, 2 ngf, 8, 8)
        with self.ca_net.drawing_from(rng):
            c = self.ca_net.forward(phi, train)  # (N, C)
        self._joined_channels = h.shape[1]
        h = self.hr_joint.forward(join_maps(h, c), train)  # (N, 2 ngf, 8, 8)
        h = self.upsample.forward(self.residual.forward(h, train), train)  # (N, ngf / 2, 32, 32)
        return self.img.forward(h, train)

    def backward_image(self, dx) -> None:
        """Add dL/dtheta of every member from dx = dL/dimage; x1 gets none (the reference detaches it)."""
        d = self.residual.backward(self.upsample.backward(self.img.backward(dx)))
        dh, dc = split_maps(self.hr_joint.backward(d), self._joined_channels)
        self.encoder.backward(dh, input_grad=False)
        self.ca_net.backward(dc, input_grad=False)


class StackGANGenerator(_Networks):
    """Both stages: phi (N, t_dim), z (N, nz) -> stage1 -> (N, channels, 16, 16) -> stage2 -> (N, channels, 32, 32).

    Stage-II training updates ``stage2`` only (its optimizer holds ``stage2``; ``backward_image`` stops there);
    ``stage1`` runs in its own mode (training mode, as STAGE1_G inside the port's netG: BatchNorm on batch
    statistics, its running statistics updated; ``G.stage1.eval()`` freezes them too). After ``generate``,
    ``low_res`` holds the stage-I images.
    """

    image_size = 32

    def __init__(self, stage1: StageIGenerator, stage2: StageIIGenerator):
        if not isinstance(stage1, StageIGenerator) or not isinstance(stage2, StageIIGenerator):
            raise TypeError("StackGANGenerator takes a StageIGenerator and a StageIIGenerator")
        super().__init__(stage1=stage1, stage2=stage2)
        self.t_dim, self.nz = stage1.t_dim, stage1.nz
        self.low_res = None

    @property
    def conditioning(self) -> ConditioningAugmentation:
        return self.stage2.ca_net

    def generate(self, phi, z, train: bool | None = None, rng=None):
        """phi (N, t_dim), z (N, nz) -> (N, channels, 32, 32); the stage-I images stay in ``low_res``."""
        self.low_res = self.stage1.generate(phi, z, train, rng)
        return self.stage2.generate(self.low_res, phi, train, rng)

    def backward_image(self, dx) -> None:
        self.stage2.backward_image(dx)


# ---------------------------------------------------------------------------------------------------------------
# discriminator
# ---------------------------------------------------------------------------------------------------------------
class StackGANDiscriminator(_Networks):
    """STAGE1_D / STAGE2_D with D_GET_LOGITS: an image (N, channels, S, S) and a text embedding (N, t_dim) ->
    logits (N, 1). Members ``encode_img``, ``context``, ``get_cond_logits`` (module docstring).

    The image code is computed once and scored with several texts, as the reference does (real/right and
    real/wrong share ``encode(x_real)``): ``encode`` / ``encode_backward`` run the image encoder, ``logits`` /
    ``logits_backward`` the text encoder and the head, each backward right after its forward (one cache per
    member). ``logits_backward`` returns dL/dh, which the caller adds up over the texts before ``encode_backward``.
    """

    def __init__(self, image_size: int, t_dim: int = T_DIM, ef_dim: int = EF_DIM, ndf: int = 32,
                 channels: int = 1):
        n_down = round(math.log2(image_size / 4)) if image_size >= 8 else 0
        if n_down < 1 or 4 * 2**n_down != image_size:
            raise ValueError(f"StackGANDiscriminator: image_size must be 4 times a power of 2 (8, 16, 32, ...), got "
                             f"{image_size}")
        layers = [Conv2d(channels, ndf, 4, stride=2, padding=1, bias=False), LeakyReLU(0.2)]
        k = ndf
        for _ in range(n_down - 1):
            layers += [Conv2d(k, 2 * k, 4, stride=2, padding=1, bias=False), BatchNorm2d(2 * k), LeakyReLU(0.2)]
            k *= 2
        super().__init__(
            encode_img=Sequential(*layers),
            context=Sequential(Dense(t_dim, ef_dim), LeakyReLU(0.2)),
            get_cond_logits=Sequential(conv3x3(k + ef_dim, k), BatchNorm2d(k), LeakyReLU(0.2),
                                       Conv2d(k, 1, 4, stride=4)),
        )
        self.image_size, self.t_dim, self.ef_dim, self.ndf, self.channels = image_size, t_dim, ef_dim, ndf, channels
        self.code_channels = k

    def encode(self, x, train: bool | None = None):
        """x (N, channels, S, S) -> h (N, K, 4, 4)."""
        return self.encode_img.forward(x, train)

    def encode_backward(self, dh, param_grads: bool = True, input_grad: bool = False):
        """dL/dx from dh = dL/dh (None unless input_grad); adds the encoder's gradients if param_grads."""
        return self.encode_img.backward(dh, param_grads, input_grad)

    def logits(self, h, phi, train: bool | None = None):
        """h (N, K, 4, 4), phi (N, t_dim) -> logits (N, 1)."""
        e = self.context.forward(phi, train)  # (N, E)
        out = self.get_cond_logits.forward(join_maps(h, e), train)  # (N, 1, 1, 1)
        return out.reshape(out.shape[0], 1)

    def logits_backward(self, dlogits, param_grads: bool = True):
        """dL/dh (N, K, 4, 4) from dlogits = dL/dlogits (N, 1); adds the head's and the text encoder's gradients if
        param_grads (the text needs no gradient, so the text encoder's backward is skipped otherwise)."""
        d = self.get_cond_logits.backward(dlogits.reshape(dlogits.shape[0], 1, 1, 1), param_grads)
        dh, de = split_maps(d, self.code_channels)
        if param_grads:
            self.context.backward(de, input_grad=False)
        return dh

    def __call__(self, x, phi, train: bool | None = None):
        """logits(encode(x), phi): D(x, phi), for evaluation (nothing to backward through in order)."""
        return self.logits(self.encode(x, train), phi, train)


# ---------------------------------------------------------------------------------------------------------------
# builders
# ---------------------------------------------------------------------------------------------------------------
def stage1_generator(t_dim: int = T_DIM, nz: int = NZ, c_dim: int = C_DIM, ngf: int = 128, channels: int = 1,
                     ca_rng=None, normal_init: bool = True) -> StageIGenerator:
    """A stage-I G, initialised as the reference's ``weights_init``."""
    G = StageIGenerator(t_dim, nz, c_dim, ngf, channels, ca_rng)
    if normal_init:
        init.dcgan_normal_(G)
    return G


def stage2_generator(stage1: StageIGenerator, c_dim: int = C_DIM, ngf: int = 32, r_num: int = 2, ca_rng=None,
                     normal_init: bool = True) -> StackGANGenerator:
    """Stage I (as given: trained, to be frozen) followed by a new stage-II G (initialised as the reference's)."""
    G2 = StageIIGenerator(stage1.t_dim, c_dim, ngf, r_num, stage1.channels, ca_rng)
    if normal_init:
        init.dcgan_normal_(G2)
    return StackGANGenerator(stage1, G2)


def stackgan_discriminator(image_size: int, t_dim: int = T_DIM, ef_dim: int = EF_DIM, ndf: int = 32,
                           channels: int = 1, normal_init: bool = True) -> StackGANDiscriminator:
    """D for ``image_size`` (16: stage I, 32: stage II), initialised as the reference's ``weights_init``."""
    D = StackGANDiscriminator(image_size, t_dim, ef_dim, ndf, channels)
    if normal_init:
        init.dcgan_normal_(D)
    return D
