r"""Conditioning augmentation (Zhang et al. 2017, StackGAN, section 3.1): a text embedding becomes a Gaussian, and
the generator is conditioned on a sample of it.

The reference code has two versions: the TensorFlow original (hanzhanggit/StackGAN, ``generate_condition``:
a fully connected layer to 2 C values, a leaky ReLU of slope 0.2, mean and **log sigma**) and the PyTorch port
(hanzhanggit/StackGAN-Pytorch, ``CA_NET``: Linear then ReLU, mean and **log variance**). This module is the
TensorFlow original's. With phi (N, T) the text embedding, W (2C, T) and b (2C,) the layer ``fc``:

    a     = phi W^T + b                                        (N, 2C)
    h     = lrelu(a),  lrelu(a) = a if a > 0 else 0.2 a        (N, 2C)
    mu    = h[:, :C],  s = h[:, C:]   (s = log sigma)          (N, C) each
    sigma = exp(s)
    c     = mu + sigma * eps,   eps ~ N(0, I) from ``rng``     (N, C)   the output
    KL    = (1 / (N C)) sum_{n,k} [ -s_nk + (sigma_nk^2 + mu_nk^2 - 1) / 2 ]

KL is KL(N(mu, diag sigma^2) || N(0, I)) averaged over the batch and the C dimensions: per dimension,
log(1 / sigma) + (sigma^2 + mu^2) / 2 - 1/2. The reference's ``KL_loss`` (TF: ``reduce_mean(-log_sigma +
.5 * (-1 + exp(2 log_sigma) + mu^2))``; PyTorch: ``-0.5 mean(1 + logvar - mu^2 - exp(logvar))``, the same with
logvar = 2 s) also takes the mean over both axes, not the sum over the C dimensions.

Backward. The loss this module is part of is L = L_c(c) + w KL, with w = ``kl_weight`` (StackGAN's generator:
w = lambda = cfg.TRAIN.COEFF.KL = 2); ``backward(dc)`` takes dc = dL_c/dc and returns dL/dphi. Elementwise, with
eps fixed by the forward pass:

    dc/dmu = 1                           ->  dL_c/dmu = dc
    dc/ds  = d(mu + e^s eps)/ds = sigma eps   ->  dL_c/ds  = dc * sigma * eps
    dKL/dmu_nk = mu_nk / (N C)
    dKL/ds_nk  = (-1 + d(e^{2s}/2)/ds) / (N C) = (sigma_nk^2 - 1) / (N C)

so  dL/dmu = dc + w mu / (N C),   dL/ds = dc sigma eps + w (sigma^2 - 1) / (N C),

dL/dh = [dL/dmu, dL/ds] (the split of h is a slice: its gradient is the concatenation), dL/da = dL/dh * lrelu'(a)
with lrelu'(a) = 1 if a > 0 else 0.2, and ``fc``'s backward gives dL/dW, dL/db and dL/dphi (Dense: dW = da^T phi,
db = sum_n da, dphi = da W).

Off (``augment=False``, the paper's ablation "without CA"; the TF original's ``COND_AUGMENTATION: False``):
c = mu, no draw and no KL (reported as 0): dL/dmu = dc, dL/ds = 0.

eps is drawn in training and in evaluation mode alike (the reference's sampler samples c too: the randomness of
c is part of the generator's output). It comes from ``rng``, a :class:`minigan.backend.Random` the module owns
(as Dropout's ``rng``), found by :meth:`minigan.train.Trainer.generators` so that checkpoints resume bit for bit;
:meth:`ConditioningAugmentation.drawing_from` lends another generator for a while (pictures drawn during training
must not move the run's stream). The TF original draws eps from a truncated normal; the PyTorch port, and this
module, from N(0, I).
"""

from __future__ import annotations

from contextlib import contextmanager

from minigan import backend
from minigan.nn.dense import Dense
from minigan.nn.module import Module

NEGATIVE_SLOPE = 0.2  # the TF original's leaky_rectify(leakiness=0.2)


def _own_random(rng):
    """``rng`` as a :class:`minigan.backend.Random`: itself, a new one seeded with an int, or (None) one seeded from
    the library-wide generator (so ``minigan.backend.seed`` before building makes it reproducible)."""
    if isinstance(rng, backend.Random):
        return rng
    if rng is None:
        rng = int(backend.rng().integers(0, 2**31 - 1, ()))
    if isinstance(rng, bool) or not isinstance(rng, int):
        raise TypeError(f"ConditioningAugmentation: rng must be a minigan.backend.Random, an int seed or None, got "
                        f"{type(rng).__name__}")
    return backend.Random(rng)


class ConditioningAugmentation(Module):
    """phi (N, t_dim) -> c (N, c_dim), c = mu + sigma * eps; see the module docstring.

    ``fc``: the Dense(t_dim, 2 c_dim) (parameters ``fc.weight`` (2 c_dim, t_dim), ``fc.bias`` (2 c_dim,)).
    ``rng``: the generator of eps (a Random, an int seed, or None for one seeded from the library-wide generator).
    ``augment``: False gives c = mu and no KL (the ablation). ``kl_weight``: w in L = L_c + w KL, the weight the
    KL's gradient enters ``backward`` with (the trainer sets it to its KL coefficient).

    After a forward: ``mu``, ``log_sigma``, ``eps`` (None when not augmenting) and ``kl`` (a 0-d array) of that call.
    """

    per_sample = False  # eps comes from one stream (as Dropout's mask): it runs whole; its ``fc`` may run in chunks

    def __init__(self, t_dim: int, c_dim: int, rng=None, augment: bool = True, kl_weight: float = 1.0):
        super().__init__()
        if t_dim < 1 or c_dim < 1:
            raise ValueError(f"ConditioningAugmentation needs positive sizes, got t_dim={t_dim}, c_dim={c_dim}")
        self.t_dim, self.c_dim = int(t_dim), int(c_dim)
        self._children["fc"] = Dense(t_dim, 2 * c_dim)
        self.rng = _own_random(rng)
        self.augment = bool(augment)
        self.kl_weight = float(kl_weight)
        self._clear_cache()

    def __repr__(self):
        return (f"ConditioningAugmentation({self.t_dim}, {self.c_dim}, augment={self.augment}, "
                f"negative_slope={NEGATIVE_SLOPE})")

    def _short_repr(self):
        return repr(self)

    @property
    def fc(self) -> Dense:
        return self._children["fc"]

    def _expected(self):
        return f"of shape (N, {self.t_dim})"

    def _check_shape(self, x):
        return x.ndim == 2 and x.shape[1] == self.t_dim

    def _check_input(self, x, check_finite):
        super()._check_input(x, check_finite)
        first = self.fc.params["weight"]
        if x.dtype != first.dtype or backend.backend_of(x) != backend.backend_of(first):
            self._fail(f"a {backend.backend_of(x)} {x.dtype} array while its parameters are "
                       f"{backend.backend_of(first)} {first.dtype}")

    @contextmanager
    def drawing_from(self, rng):
        """Draw eps from ``rng`` (a Random) inside the block, from the module's own ``rng`` again after it; None
        changes nothing."""
        if rng is None:
            yield
            return
        own, self.rng = self.rng, rng
        try:
            yield
        finally:
            self.rng = own

    def _draw(self, shape, like):
        eps = self.rng.standard_normal(shape, like.dtype)
        if self.rng.backend != backend.backend_of(like):
            eps = backend.to_backend(eps, backend.backend_of(like))
        return eps

    def _forward(self, x, train):
        """c = mu + sigma * eps (c = mu when not augmenting); caches lrelu'(a), mu, s, sigma, eps and the KL."""
        xp = backend.array_module(x)
        C = self.c_dim
        a = self.fc._run_forward(x, train, check_finite=False)  # (N, 2C)
        slope = (a > 0).astype(a.dtype)
        slope *= 1 - NEGATIVE_SLOPE
        slope += NEGATIVE_SLOPE  # lrelu'(a): 1 where a > 0, 0.2 elsewhere
        h = a * slope  # lrelu(a)
        self._slope = slope
        self.mu, self.log_sigma = h[:, :C], h[:, C:]  # (N, C) each
        if not self.augment:
            self.eps = self._sigma = None
            self.kl = xp.zeros((), dtype=x.dtype)
            return self.mu.copy()
        self._sigma = xp.exp(self.log_sigma)
        self.eps = self._draw(self.mu.shape, x)
        s, sigma, mu = self.log_sigma, self._sigma, self.mu
        self.kl = (-s + 0.5 * (sigma * sigma + mu * mu - 1)).mean()
        return mu + sigma * self.eps

    def kl_gradients(self):
        r"""(dKL/dmu, dKL/ds) at the last forward, (N, C) each: mu / (N C) and (sigma^2 - 1) / (N C)."""
        n = self.mu.size
        return self.mu / n, (self._sigma * self._sigma - 1) / n

    def _backward(self, dy, param_grads, input_grad):
        r"""dL/dmu = dc + w mu / (N C), dL/ds = dc sigma eps + w (sigma^2 - 1) / (N C) (module docstring); then
        dL/da = [dL/dmu, dL/ds] * lrelu'(a) and fc's backward."""
        xp = backend.array_module(dy)
        if self.augment:
            d_mu_kl, d_s_kl = self.kl_gradients()
            w = dy.dtype.type(self.kl_weight)
            d_mu = dy + w * d_mu_kl
            d_s = dy * self._sigma * self.eps + w * d_s_kl
        else:
            d_mu, d_s = dy, xp.zeros_like(dy)
        da = xp.concatenate([d_mu, d_s], axis=1) * self._slope  # (N, 2C)
        return self.fc.backward(da, param_grads, input_grad=input_grad)

    def _clear_cache(self):
        super()._clear_cache()
        self._slope = self._sigma = None
        self.mu = self.log_sigma = self.eps = self.kl = None
