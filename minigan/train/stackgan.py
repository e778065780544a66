r"""Zhang et al. 2017, StackGAN: text -> image in two stages, each a conditional GAN with a matching-aware
discriminator and conditioning augmentation. As the reference code trains it (hanzhanggit/StackGAN-Pytorch,
``code/trainer.py`` GANTrainer.train; ``code/miscc/utils.py`` KL_loss, compute_discriminator_loss,
compute_generator_loss), with phi a text embedding and lambda = cfg.TRAIN.COEFF.KL = 2:

    stage I:  train G0, D0 at the low resolution (real images downsampled to it)
    stage II: G0 frozen (its output detached); train G, D at the high resolution

    for each minibatch {(x_i, phi_i)} of real images and their texts, with texts phi~_i that do not match x_i:
        z_i ~ N(0, I)
        (mu_i, sigma_i) = CA(phi_i),  c_i = mu_i + sigma_i * eps_i,  eps_i ~ N(0, I)   conditioning augmentation
        stage I:  fake_i = G0(z_i, c_i)
        stage II: fake_i = G(G0(z_i, c0_i), c_i)                      c0_i from G0's own CA
        update D by descending                                        (matching-aware: real/right, real/wrong, fake)
            L_D = BCE(D(x, phi), 1) + 1/2 [ BCE(D(x, phi~), 0) + BCE(D(fake, phi), 0) ]
        update G by descending  (through D just updated, on the same fake_i: one G forward per iteration)
            L_G = BCE(D(fake, phi), 1) + lambda KL(N(mu, diag sigma^2) || N(0, I))
    Adam(2e-4, betas (0.5, 0.999)) for both (cfg.TRAIN.GENERATOR_LR, DISCRIMINATOR_LR).

BCE(s, y) = -(1/m) sum_i [y log sigma(s_i) + (1 - y) log(1 - sigma(s_i))] on D's logits
(:func:`minigan.losses.binary_cross_entropy_with_logits`); KL as :mod:`minigan.nn.conditioning` (mean over batch
and dimensions, as KL_loss). The generator term is the non-saturating loss of the paper's eq. (3) / (5), as the
reference's ``criterion(fake_logits, real_labels)``.

Gradients, each backward right after the forward whose cache it needs (every minigan module caches its last call):
D encodes x once and scores it with phi (real) and phi~ (wrong), adding the two image-code gradients before the
encoder's backward, then encodes the fake batch and scores it with phi. The G step encodes fake again with the
updated D, backpropagates through D without touching D's gradients, and into G from the caches of the G forward at
the start of the iteration (G ran only that once); the conditioning augmentation adds lambda dKL/d(mu, log sigma)
to the gradient from c (its ``kl_weight``). D's parameters get no gradient from the G step; its BatchNorm running
statistics are updated by every D forward, as in the reference (D in training mode throughout).

Data: ``sample_data(m)`` returns ``(x, phi, phi_wrong)``: x (m, channels, 32, 32) in [-1, 1] (stage I downsamples
it to 16x16 by 2x2 means; 16x16 batches are taken as they are), phi (m, t_dim) the text embeddings of x's
captions, phi_wrong (m, t_dim) embeddings of captions that differ from them. :meth:`StackGAN.sampler` builds it
from a stream of (images, caption ids) (``CaptionedDigits.batches(m).sample``): phi = text_scale x
:func:`bag_of_words` of the ids, phi~ likewise of :func:`mismatched` ids drawn with the trainer's ``caption_rng``.

Why text_scale (default 10): with c = mu + sigma eps, sigma kept near 1 by the KL term, G can only read the text
once |mu| is of order one. Adam moves each weight by about lr per step, so mu = W phi + b grows by at most
lr (sum_j |phi_j| + 1) per step: the unit-norm bag of words (five entries 1/sqrt(5), l1 norm 2.2) makes that
thousands of steps at lr 2e-4 from the reference's N(0, 0.02) start, where the reference's dense 1024-dimensional
embedding has a far larger l1 norm. Scaling phi restores the speed (D's text encoder sees the same phi).

Departures from the reference: the text embedding is a fixed bag of words, scaled by text_scale (the paper's is a
fixed pretrained char-CNN-RNN embedding); the wrong texts are drawn per sample as :func:`mismatched` says
(``wrong_captions``: "sample", a random different caption of the batch, or "class", the same attributes with
another digit) and always differ from the right one, where the port pairs real[:-1] with the conditions of real[1:]
(which may be equal) and the TF original pairs the right text with a random other image; D reads the text through
its own encoder (see minigan/models/stackgan.py); no unconditional logits in stage II; stage I's real images are
2x2 means of the stage-II ones (the reference loads them at the lower size with PIL); no learning-rate halving
every LR_DECAY_EPOCH (a schedule callback can add it).
"""

from __future__ import annotations

import numbers
from typing import ClassVar

import numpy as np

from minigan import backend, losses
from minigan.data.captions import MODES, N_CAPTIONS, bag_of_words, mismatched
from minigan.models.stackgan import StackGANGenerator, StageIGenerator
from minigan.train.trainer import Count, OneOf, Real, Trainer


class Flag:
    """True or False (a NumPy bool too). ``fixed``: it must equal the trainer's own value (the run was built so)."""

    def __init__(self, fixed: bool = False):
        self.fixed = fixed

    def check(self, value, current):
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError("must be True or False")  # noqa: TRY004 - the rules report a refused value so
        if self.fixed and bool(value) != current:
            raise ValueError(f"this trainer was built with {current!r}; a state cannot change it")
        return bool(value)


def downsample2(x):
    r"""2x2 mean pooling: x (N, C, 2H, 2W) -> y (N, C, H, W), y[n, c, i, j] = (1/4) \sum_{u, v in {0, 1}}
    x[n, c, 2i + u, 2j + v] (stage I's real images from the stage-II ones)."""
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))


def text_embedding(caption_ids, dtype=None, scale: float = 1.0):
    """``scale`` x :func:`minigan.data.bag_of_words` of caption ids, (N, 21), on the active backend in ``dtype``
    (default: the backend's)."""
    phi = bag_of_words(caption_ids)
    if scale != 1.0:
        phi *= scale
    return backend.to_backend(phi, dtype=dtype or backend.default_dtype())


class StackGAN(Trainer):
    """StackGAN's stage I or stage II (module docstring): one D step then one G step per iteration.

    G: a :class:`minigan.models.stackgan.StageIGenerator` (stage I) or a
    :class:`minigan.models.stackgan.StackGANGenerator` (stage II: stage I frozen, then stage II); D: a
    :class:`minigan.models.stackgan.StackGANDiscriminator` of G's image size. ``opt_G`` holds G in stage I and
    ``G.stage2`` only in stage II (the reference's optimizer over the parameters that require gradients).

    kl_coeff:  lambda, the weight of the KL term in G's loss (cfg.TRAIN.COEFF.KL = 2).
    conditioning_augmentation: False is the paper's ablation: the trained stage's CA gives c = mu, no KL term
               (a stage-II run leaves its frozen stage I's CA as it was built).
    wrong_captions: how the wrong texts of the matching-aware D are drawn (:func:`minigan.data.mismatched`'s mode).
    text_scale: phi = text_scale x the unit-norm bag of words (:meth:`embed`), in ``sampler`` and ``sample``.
    seed:      the noise generator's (as every trainer's); the wrong-caption draws use ``caption_rng``, seeded with
               seed + 1. The CA's eps come from each CA's own generator.
    """

    HYPERPARAMETERS = Trainer.HYPERPARAMETERS + ("stage", "kl_coeff", "conditioning_augmentation", "wrong_captions",
                                                 "text_scale")
    HYPERPARAMETER_RULES: ClassVar[dict] = {**Trainer.HYPERPARAMETER_RULES, "stage": Count(1, fixed=True),
                                            "kl_coeff": Real(0.0), "conditioning_augmentation": Flag(fixed=True),
                                            "wrong_captions": OneOf(MODES), "text_scale": Real(0.0, strict=True)}

    # L_D = REAL BCE(D(x, phi), 1) + WRONG BCE(D(x, phi~), 0) + FAKE BCE(D(fake, phi), 0)
    REAL_WEIGHT, WRONG_WEIGHT, FAKE_WEIGHT = 1.0, 0.5, 0.5

    def __init__(self, G, D, opt_G, opt_D, m: int = 64, seed: int | None = 0, *, kl_coeff: float = 2.0,
                 conditioning_augmentation: bool = True, wrong_captions: str = "sample", text_scale: float = 10.0,
                 stage: int | None = None):
        inferred = 1 if isinstance(G, StageIGenerator) else 2 if isinstance(G, StackGANGenerator) else None
        if inferred is None:
            raise TypeError(f"StackGAN: G must be a StageIGenerator (stage I) or a StackGANGenerator (stage II), got "
                            f"{type(G).__name__}")
        if stage is not None and stage != inferred:
            raise ValueError(f"StackGAN: stage={stage!r}, but G is a {type(G).__name__} (stage {inferred})")
        if getattr(D, "image_size", None) != G.image_size or not hasattr(D, "logits_backward"):
            raise ValueError(f"StackGAN: D must be a StackGANDiscriminator for {G.image_size}x{G.image_size} images")
        trained = G if inferred == 1 else G.stage2
        if opt_G.model is not trained:
            raise ValueError("StackGAN: opt_G must hold " + ("G" if inferred == 1 else "G.stage2 (stage I is frozen)"))
        if opt_D.model is not D:
            raise ValueError("StackGAN: opt_D must hold D")
        if not (isinstance(kl_coeff, numbers.Real) and np.isfinite(kl_coeff) and kl_coeff >= 0):
            raise ValueError(f"StackGAN: kl_coeff must be a finite number >= 0, got {kl_coeff!r}")
        if not (isinstance(text_scale, numbers.Real) and np.isfinite(text_scale) and text_scale > 0):
            raise ValueError(f"StackGAN: text_scale must be a finite number > 0, got {text_scale!r}")
        if wrong_captions not in MODES:
            raise ValueError(f"StackGAN: wrong_captions must be one of {MODES}, got {wrong_captions!r}")
        super().__init__(G, D, opt_G, opt_D, G.nz, m, seed)
        self.stage = inferred
        self.kl_coeff = float(kl_coeff)
        self.conditioning_augmentation = bool(conditioning_augmentation)
        G.conditioning.augment = self.conditioning_augmentation
        self.wrong_captions = wrong_captions
        self.text_scale = float(text_scale)
        self.caption_rng = backend.Random(None if seed is None else seed + 1)

    def generators(self) -> dict:
        """Every generator of the base (noise, and each CA's eps generator inside G: ``"G/ca_net."``,
        ``"G/stage1.ca_net."``, ...) and ``"wrong_captions"``, the trainer's ``caption_rng``."""
        return {**super().generators(), "wrong_captions": self.caption_rng}

    # -- data --------------------------------------------------------------------------------------------------------
    def embed(self, caption_ids, dtype=None):
        """The text embeddings this run feeds G and D: text_scale x bag of words, (N, 21), in G's dtype."""
        return text_embedding(backend.to_numpy(caption_ids), dtype or self._dtype(), self.text_scale)

    def sampler(self, sample):
        """``sample_data(m) -> (x, phi, phi_wrong)`` from ``sample(m) -> (x, caption ids)`` (e.g.
        ``CaptionedDigits.batches(m).sample``): x as given, phi = bag of words of the ids, phi_wrong of
        :func:`minigan.data.mismatched` ids (mode ``wrong_captions``, seeded by a draw from ``caption_rng``), both
        through :meth:`embed`."""

        def sample_data(m):
            x, ids = sample(m)
            ids = backend.to_numpy(ids)
            seed = int(self.caption_rng.integers(0, 2**31 - 1, ()))
            wrong = mismatched(ids, seed, self.wrong_captions)
            return x, self.embed(ids, x.dtype), self.embed(wrong, x.dtype)

        return sample_data

    def _batch(self, batch):
        if not (isinstance(batch, tuple) and len(batch) == 3):
            raise TypeError(f"StackGAN: sample_data(m) must return a tuple (x, phi, phi_wrong), got "
                            f"{type(batch).__name__}")
        x, phi, phi_wrong = batch
        size = self.G.image_size
        if x.ndim == 4 and x.shape[-2:] == (2 * size, 2 * size):
            x = downsample2(x)
        if x.ndim != 4 or x.shape[-2:] != (size, size):
            raise ValueError(f"StackGAN stage {self.stage}: real images must be (m, C, {size}, {size}) or "
                             f"(m, C, {2 * size}, {2 * size}), got {tuple(x.shape)}")
        return x, phi, phi_wrong

    # -- the algorithm -------------------------------------------------------------------------------------------
    def iteration(self, sample_data) -> dict:
        x, phi, phi_wrong = self._batch(sample_data(self.m))
        z = self.noise(self.m)
        fake = self.G.generate(phi, z)  # one G forward; its caches serve the G step below
        record = self.discriminator_step(x, phi, phi_wrong, fake)
        record.update(self.generator_step(phi, fake))
        return record

    def _score(self, h, phi, target: float, weight: float):
        """D's logits for image codes h and texts phi, weight * BCE(logits, target), and its backward: returns
        (logits, BCE value, dL/dh); the head's and text encoder's gradients are added."""
        logits = self.D.logits(h, phi)
        value, grad = losses.binary_cross_entropy_with_logits(logits, target)
        return logits, value, self.D.logits_backward(weight * grad)

    def discriminator_step(self, x, phi, phi_wrong, fake) -> dict:
        """One descent step of D on L_D = BCE(D(x, phi), 1) + 1/2 [BCE(D(x, phi~), 0) + BCE(D(fake, phi), 0)]."""
        D = self.D
        D.zero_grad()
        h_real = D.encode(x)
        real_logits, loss_real, dh_real = self._score(h_real, phi, 1.0, self.REAL_WEIGHT)
        wrong_logits, loss_wrong, dh_wrong = self._score(h_real, phi_wrong, 0.0, self.WRONG_WEIGHT)
        D.encode_backward(dh_real + dh_wrong)  # x reaches L_D twice: the two gradients add
        fake_logits, loss_fake, dh_fake = self._score(D.encode(fake), phi, 0.0, self.FAKE_WEIGHT)  # fake: detached
        D.encode_backward(dh_fake)
        self.opt_D.step()
        loss_D = self.REAL_WEIGHT * loss_real + self.WRONG_WEIGHT * loss_wrong + self.FAKE_WEIGHT * loss_fake
        return {"loss_D": loss_D, "loss_D_real": loss_real, "loss_D_wrong": loss_wrong, "loss_D_fake": loss_fake,
                "D(x)": losses.sigmoid(real_logits).mean(), "D(x, wrong)": losses.sigmoid(wrong_logits).mean(),
                "D(G(z))": losses.sigmoid(fake_logits).mean()}

    def generator_step(self, phi, fake) -> dict:
        """One descent step of G on BCE(D(fake, phi), 1) + kl_coeff KL, fake from this iteration's G forward.

        ``loss_G`` is the BCE term (the reference's errG), ``kl`` the KL term (0 without augmentation)."""
        G, D = self.G, self.D
        G.zero_grad()
        logits = D.logits(D.encode(fake), phi)
        loss_G, d_logits = losses.binary_cross_entropy_with_logits(logits, 1.0)
        d_fake = D.encode_backward(D.logits_backward(d_logits, param_grads=False), param_grads=False,
                                   input_grad=True)  # dL/dfake; D is not updated in this step
        G.conditioning.kl_weight = self.kl_coeff
        G.backward_image(d_fake)
        self.opt_G.step()
        return {"loss_G": loss_G, "kl": G.conditioning.kl}

    # -- pictures and metrics ------------------------------------------------------------------------------------
    def generate(self, phi, z=None, train: bool = False, rng=None, stage: int | None = None):
        """Images for text embeddings phi (N, t_dim) as :meth:`embed` makes them (scaled by text_scale), in
        evaluation mode by default: (N, C, 16, 16) in stage I, (N, C, 32, 32) in stage II (``stage=1`` there: its
        stage-I images from the same z and eps).

        z (N, nz) defaults to draws from the trainer's noise generator; eps comes from ``rng`` if given (a Random,
        e.g. a picture callback's own, so that drawing does not move the run), else each CA's own generator."""
        dtype = self._dtype()
        phi = backend.to_backend(phi, dtype=dtype)
        if phi.ndim != 2:
            raise ValueError(f"StackGAN.generate: phi must be text embeddings (N, t_dim), got shape {phi.shape}")
        z = self.noise(phi.shape[0]) if z is None else backend.to_backend(z, dtype=dtype)
        if stage not in (None, 1, self.stage):
            raise ValueError(f"StackGAN.generate: stage must be 1 or {self.stage}, got {stage!r}")
        if stage == 1 and self.stage == 2:
            return self.G.stage1.generate(phi, z, train, rng)
        return self.G.generate(phi, z, train, rng)

    def sample(self, n: int, captions=None, train: bool = False, rng=None):
        """n images for caption ids ``captions`` (n ids, or one for all; default 0, 1, .., 89, 0, ..: id
        9 digit + 3 thickness + slant, see :mod:`minigan.data.captions`), in evaluation mode by default."""
        if captions is None:
            captions = np.arange(n) % N_CAPTIONS
        elif isinstance(captions, numbers.Integral):
            captions = np.full(n, int(captions))
        captions = np.asarray(backend.to_numpy(captions))
        if captions.shape != (n,):
            raise ValueError(f"StackGAN.sample: expected {n} caption ids, got shape {captions.shape}")
        return self.generate(self.embed(captions), train=train, rng=rng)
