"""Inverted dropout (Srivastava et al. 2014): zero each unit with probability p in training, scale the rest."""

from __future__ import annotations

from minigan import backend
from minigan.nn.module import Module


class Dropout(Module):
    """Training: y = x * m / (1 - p) with m_i ~ Bernoulli(1 - p); evaluation: y = x.

    The mask comes from ``rng`` (a :class:`minigan.backend.Random`), by default the library-wide generator that
    ``minigan.backend.seed`` reseeds.
    """

    def __init__(self, p: float = 0.5, rng=None):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout probability must be in [0, 1), got {p}")
        self.p = float(p)
        self.rng = rng
        self._mask = None

    def __repr__(self):
        return f"Dropout(p={self.p})"

    def _expected(self):
        return "a non-empty float array (N, ...) of any shape"

    def _forward(self, x, train):
        if not train or self.p == 0.0:
            self._mask = None
            return x
        rng = self.rng or backend.rng()
        keep = rng.random(x.shape, x.dtype) >= self.p
        self._mask = keep * x.dtype.type(1.0 / (1.0 - self.p))
        return x * self._mask

    def _backward(self, dy, param_grads, input_grad):
        r"""y = x \odot s with s = m / (1 - p) fixed by forward, so dx = dy \odot s (identity in evaluation)."""
        return dy if self._mask is None else dy * self._mask

    def _clear_cache(self):
        super()._clear_cache()
        self._mask = None
