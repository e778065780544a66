r"""Mirza & Osindero 2014, conditional GAN: Goodfellow et al.'s Algorithm 1 with a class label y given to G and D.

    for number of training iterations do
        for k steps do
            sample minibatch of m noise samples {z_1..z_m} from p_g(z) and m labels {y~_1..y~_m} ~ U{0, .., K-1}
            sample minibatch of m labelled examples {(x_1, y_1)..(x_m, y_m)} from p_data(x, y)
            update the discriminator by ascending its stochastic gradient
                grad_{theta_d} (1/m) \sum_i [ log D(x_i | y_i) + log(1 - D(G(z_i | y~_i) | y~_i)) ]
        end for
        sample minibatch of m noise samples {z_i} from p_g(z) and m labels {y~_i} ~ U{0, .., K-1}
        update the generator by descending its stochastic gradient
                grad_{theta_g} (1/m) \sum_i log(1 - D(G(z_i | y~_i) | y~_i))            ("saturating")
            or ascending (1/m) \sum_i log D(G(z_i | y~_i) | y~_i)                     ("non-saturating")
    end for

The label enters by one-hot concatenation (why: see minigan/models/conditional.py). With c = onehot(y):

    G(z | y) = G([z, c])                                        G's input (N, nz + K)
    D(x | y) = D([flatten(x), c])        d_labels="vector"      D's input (N, prod(x.shape[1:]) + K)
    D(x | y) = D([x, c as H x W maps])   d_labels="maps"        D's input (N, C + K, H, W)

The networks are plain Sequentials; joining happens here. Joining is linear in x with c constant, so its backward
is a slice: D.backward returns dL/d[x, c], and dL/dx is the block that belongs to x (the label part is dropped —
labels are not trained). That block is what the generator step sends into G.backward.
"""

from __future__ import annotations

import numbers
from typing import ClassVar

import numpy as np

from minigan import backend, losses
from minigan.train.gan import GAN
from minigan.train.trainer import Count, OneOf

D_LABELS = ("vector", "maps")


def check_labels(y, n_classes: int, n: int | None = None, where: str = "labels"):
    """y as an integer array of shape (n,) on the active backend, every entry in [0, n_classes); else ValueError.

    Accepts a list, a NumPy or CuPy array, or (with ``n`` given) one int meaning "all n samples of this class".
    """
    xp = backend.get_xp()
    if isinstance(y, numbers.Integral) and not isinstance(y, bool) and n is not None:
        y = [int(y)] * n
    y = xp.asarray(y)
    if y.dtype == bool or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{where}: class labels must be integers, got dtype {y.dtype}")
    expected = "(N,)" if n is None else f"({n},)"
    if y.ndim != 1 or (n is not None and y.shape[0] != n):
        raise ValueError(f"{where}: expected one class label per sample, shape {expected}, got {tuple(y.shape)}")
    if y.size:
        low, high = int(y.min()), int(y.max())
        if low < 0 or high >= n_classes:
            bad = low if low < 0 else high
            raise ValueError(f"{where}: label {bad} is out of range; the classes are 0 .. {n_classes - 1}")
    return y


def one_hot(y, n_classes: int, dtype=None):
    """y (N,) integer labels -> (N, n_classes) array of the active backend, row n holding a 1 in column y_n.

    ``dtype`` defaults to the backend's default float dtype. Labels are checked (integers in [0, n_classes)): a
    negative label would otherwise index from the end and silently pick the wrong class.
    """
    xp = backend.get_xp()
    y = check_labels(y, n_classes, where="one_hot")
    out = xp.zeros((y.shape[0], n_classes), dtype=dtype or backend.default_dtype())
    out[xp.arange(y.shape[0]), y] = 1
    return out


def join_labels(x, c, how: str):
    """D's input [x, c] from samples x (N, ...) and one-hot labels c (N, K).

    "vector": (N, prod(x.shape[1:]) + K), flatten(x) then c.  "maps": x (N, C, H, W) -> (N, C + K, H, W), channel
    C + k constant, equal to c[:, k].
    """
    xp = backend.array_module(x)
    n = x.shape[0]
    if how == "vector":
        return xp.concatenate([x.reshape(n, -1), c.astype(x.dtype, copy=False)], axis=1)
    if x.ndim != 4:
        raise ValueError(f"join_labels: 'maps' conditioning needs images (N, C, H, W), got shape {tuple(x.shape)}")
    maps = xp.broadcast_to(c.astype(x.dtype, copy=False)[:, :, None, None], (n, c.shape[1]) + x.shape[2:])
    return xp.concatenate([x, maps], axis=1)


def split_labels(d_joined, x_shape, how: str):
    r"""dL/dx from dL/d[x, c]: [x, c] is x copied next to a constant, so dL/dx is x's block, put back in x's shape.

    "vector": the first prod(x_shape[1:]) columns, reshaped to x_shape; "maps": the first C channels.
    """
    if how == "vector":
        return d_joined[:, : int(np.prod(x_shape[1:]))].reshape(x_shape)
    return d_joined[:, : x_shape[1]]


def _first_layer(module):
    while hasattr(module, "layers") and module.layers:
        module = module.layers[0]
    return module


class CGAN(GAN):
    """Algorithm 1 of Goodfellow et al. with labels (Mirza & Osindero 2014), k D steps per G step.

    ``sample_data(m)`` returns ``(x, y)``: m samples and their m integer labels in [0, n_classes). G takes
    (N, nz + n_classes); D takes [x, onehot(y)] joined as ``d_labels`` says ("vector" or "maps"; "auto" picks
    "vector" when D's first layer is Dense and "maps" when it is Conv2d). Fake labels are uniform over the classes,
    drawn with the trainer's generator (:meth:`fake_labels`).
    """

    HYPERPARAMETERS = GAN.HYPERPARAMETERS + ("n_classes", "d_labels")  # saved in checkpoints
    HYPERPARAMETER_RULES: ClassVar[dict] = {**GAN.HYPERPARAMETER_RULES, "n_classes": Count(2, fixed=True),
                                            "d_labels": OneOf(D_LABELS, fixed=True)}  # fixed by G and D

    def __init__(self, G, D, opt_G, opt_D, nz: int, m: int = 64, k: int = 1,
                 generator_loss: str = "non-saturating", seed: int | None = 0, *, n_classes: int,
                 d_labels: str = "auto"):
        super().__init__(G, D, opt_G, opt_D, nz, m, k, generator_loss, seed)
        if not isinstance(n_classes, numbers.Integral) or n_classes < 2:
            raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}")
        self.n_classes = int(n_classes)
        first_g = _first_layer(G)
        if hasattr(first_g, "in_features") and first_g.in_features != nz + n_classes:
            raise ValueError(
                f"CGAN: G's first layer {first_g!r} takes {first_g.in_features} inputs, but G is fed [z, onehot(y)] "
                f"of nz + n_classes = {nz} + {n_classes} = {nz + n_classes}"
            )
        if d_labels == "auto":
            first_d = type(_first_layer(D)).__name__
            d_labels = {"Dense": "vector", "Conv2d": "maps"}.get(first_d)
            if d_labels is None:
                raise ValueError(f"CGAN: cannot tell how D takes labels from its first layer ({first_d}); pass "
                                 f"d_labels='vector' or 'maps'")
        if d_labels not in D_LABELS:
            raise ValueError(f"d_labels must be 'auto' or one of {D_LABELS}, got {d_labels!r}")
        self.d_labels = d_labels

    # -- labels and joining ------------------------------------------------------------------------------------------
    def fake_labels(self, m: int):
        """m labels y~ ~ U{0, .., n_classes - 1}, from the trainer's generator."""
        return self.rng.integers(0, self.n_classes, (m,))

    def _onehot(self, y):
        return one_hot(y, self.n_classes, self._dtype())

    def g_input(self, z, c):
        """[z, c]: (N, nz + K)."""
        return backend.array_module(z).concatenate([z, c], axis=1)

    def _real_batch(self, sample_data, m):
        batch = sample_data(m)
        if not (isinstance(batch, tuple) and len(batch) == 2):
            raise TypeError(f"CGAN: sample_data(m) must return a tuple (x, labels), got {type(batch).__name__}")
        x, y = batch
        return x, check_labels(y, self.n_classes, x.shape[0], where="CGAN: labels from sample_data")

    # -- Algorithm 1 with labels -------------------------------------------------------------------------------------
    def discriminator_step(self, sample_data) -> dict:
        """One ascent step of D on (1/m) sum [log D(x | y) + log(1 - D(G(z | y~) | y~))]."""
        m, G, D, how = self.m, self.G, self.D, self.d_labels
        z, c_fake = self.noise(m), self._onehot(self.fake_labels(m))
        x, y = self._real_batch(sample_data, m)
        D.zero_grad()
        real_logits = D(join_labels(x, self._onehot(y), how))
        loss_real, d_real = losses.minimax_real(real_logits)
        D.backward(d_real, input_grad=False)  # the data needs no gradient: D's first layer skips dx
        fake_logits = D(join_labels(G(self.g_input(z, c_fake)), c_fake, how))
        loss_fake, d_fake = losses.minimax_fake(fake_logits)
        D.backward(d_fake, input_grad=False)
        self.opt_D.step()
        return {"loss_D": loss_real + loss_fake, "D(x)": losses.sigmoid(real_logits).mean(),
                "D(G(z))": losses.sigmoid(fake_logits).mean()}

    def generator_step(self, loss_fn) -> dict:
        """Descend loss_fn(D(G(z | y~) | y~)) in G's parameters, through D without touching D's gradients."""
        m, G, D, how = self.m, self.G, self.D, self.d_labels
        z, c_fake = self.noise(m), self._onehot(self.fake_labels(m))
        G.zero_grad()
        x_fake = G(self.g_input(z, c_fake))
        loss_G, d_scores = loss_fn(D(join_labels(x_fake, c_fake, how)))
        d_joined = D.backward(d_scores, param_grads=False)  # dL/d[G(z), c]; D is not updated in this step
        G.backward(split_labels(d_joined, x_fake.shape, how), input_grad=False)  # [z, c] needs no gradient
        self.opt_G.step()
        return {"loss_G": loss_G}

    def sample(self, n: int, labels=None, train: bool = False):
        """n samples G(z | y), in evaluation mode by default.

        ``labels``: n integer class labels (a list or array), or one int for all n; by default 0, 1, .., K-1, 0, 1,
        .. (so a grid K wide shows one class per column). Out-of-range or non-integer labels raise ValueError.
        """
        if labels is None:
            labels = np.arange(n) % self.n_classes
        y = check_labels(labels, self.n_classes, n, where="CGAN.sample")
        return self.G.forward(self.g_input(self.noise(n), self._onehot(y)), train=train)
