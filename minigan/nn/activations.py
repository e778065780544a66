"""Elementwise nonlinearities. Each backward is dx = dy * f'(x), with f' written from what forward cached.

ReLU and LeakyReLU run on blocks of the batch, one per thread of minigan's (:func:`minigan.parallel.over_batch`):
NumPy itself runs every elementwise pass on one core.
"""

from __future__ import annotations

from minigan import backend, parallel
from minigan.nn.module import Module


class _Elementwise(Module):
    """Any shape in, the same shape out; no parameters."""

    def _expected(self):
        return "a float array of any shape"

    def _clear_cache(self):
        super()._clear_cache()
        self._cache = None


def _times_cache(dy, fprime):
    """dy * f', on blocks of the batch (see the module docstring)."""
    xp = backend.array_module(dy)
    dx = xp.empty_like(dy)
    parallel.over_batch(xp.multiply, dy, fprime, dx)
    return dx


class ReLU(_Elementwise):
    """y = max(x, 0)."""

    def _forward(self, x, train):
        xp = backend.array_module(x)
        y, self._cache = xp.empty_like(x), xp.empty_like(x, dtype=bool)

        def relu(x, y, positive):
            xp.greater(x, 0, out=positive)
            xp.multiply(x, positive, out=y)

        parallel.over_batch(relu, x, y, self._cache)
        return y

    def _backward(self, dy, param_grads):
        r"""f'(x) = 1 if x > 0 else 0 (0 at x = 0, as PyTorch): dx = dy \odot [x > 0]."""
        return _times_cache(dy, self._cache)

    supports_gradient_penalty = True

    def _tangent_step(self, g, t):
        """Piecewise linear: on the current piece J = diag([x > 0]), so J t = t [x > 0]; no parameters."""
        return self._backward(t, False)


class LeakyReLU(_Elementwise):
    """y = x if x > 0 else a x, with a = negative_slope."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def __repr__(self):
        return f"LeakyReLU(negative_slope={self.negative_slope})"

    def _forward(self, x, train):
        xp = backend.array_module(x)
        a = x.dtype.type(self.negative_slope)
        y, self._cache = xp.empty_like(x), xp.empty_like(x)

        def leaky_relu(x, y, slope):
            positive = x > 0
            xp.multiply(positive, 1 - a, out=slope)
            slope += a  # f'(x) = a + (1 - a)[x > 0], kept for backward
            if 0 <= a <= 1:  # then y = max(x, a x): one pass, no branch (much faster than where on NumPy)
                xp.maximum(x, xp.multiply(x, a, out=y), out=y)
            else:
                y[...] = xp.where(positive, x, x * a)

        parallel.over_batch(leaky_relu, x, y, self._cache)
        return y

    def _backward(self, dy, param_grads):
        r"""f'(x) = 1 if x > 0 else a:  dx = dy \odot (a + (1 - a)[x > 0]), the factor computed by forward."""
        return _times_cache(dy, self._cache)

    supports_gradient_penalty = True

    def _tangent_step(self, g, t):
        """Piecewise linear: on the current piece J = diag(1 or a), symmetric, so J t is the backward of t."""
        return self._backward(t, False)


class Tanh(_Elementwise):
    """y = tanh(x)."""

    def _forward(self, x, train):
        self._cache = backend.array_module(x).tanh(x)
        return self._cache

    def _backward(self, dy, param_grads):
        r"""tanh'(x) = 1 - tanh(x)^2 = 1 - y^2:  dx = dy \odot (1 - y^2)."""
        y = self._cache
        return dy * (1 - y * y)


class Sigmoid(_Elementwise):
    """y = 1 / (1 + e^{-x}), computed as (1 + tanh(x/2)) / 2, which never overflows."""

    def _forward(self, x, train):
        xp = backend.array_module(x)
        self._cache = 0.5 * (1 + xp.tanh(0.5 * x))
        return self._cache

    def _backward(self, dy, param_grads):
        r"""sigma'(x) = sigma(x)(1 - sigma(x)) = y(1 - y):  dx = dy \odot y(1 - y)."""
        y = self._cache
        return dy * y * (1 - y)
