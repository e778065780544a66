"""Elementwise nonlinearities. Each backward is dx = dy * f'(x), with f' written from what forward cached.

The piecewise-linear ones keep f'(x) and write every pass as a product: NumPy's three-argument ``where`` is many
times slower on channels-last arrays (benchmarks/results/elementwise.md).
"""

from __future__ import annotations

from minigan import backend
from minigan.nn.module import Module


class _Elementwise(Module):
    """Any shape (N, ...) in, the same shape out; no parameters; each output value from the input value in place."""

    per_sample = True
    elementwise = True

    def _expected(self):
        return "a non-empty float array (N, ...) of any shape"

    def _clear_cache(self):
        super()._clear_cache()
        self._cache = None


class ReLU(_Elementwise):
    """y = max(x, 0)."""

    def _forward(self, x, train):
        self._cache = x > 0  # f'(x) = [x > 0], as booleans
        return backend.array_module(x).maximum(x, 0)

    def _backward(self, dy, param_grads, input_grad):
        r"""f'(x) = 1 if x > 0 else 0 (0 at x = 0, as PyTorch): dx = dy \odot [x > 0]."""
        return dy * self._cache

    supports_gradient_penalty = True

    def _jvp(self, g, t):
        """Piecewise linear: on the current piece J = diag([x > 0]), so J t = t [x > 0]; no parameters."""
        return t * self._cache


class LeakyReLU(_Elementwise):
    """y = x if x > 0 else a x, with a = negative_slope."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def __repr__(self):
        return f"LeakyReLU(negative_slope={self.negative_slope})"

    def _forward(self, x, train):
        """y = f'(x) x, with f'(x) = a + (1 - a) [x > 0]: 1 where x > 0, a elsewhere."""
        a = self.negative_slope
        fprime = (x > 0).astype(x.dtype)  # [x > 0]
        fprime *= 1 - a
        fprime += a  # f'(x) = a + (1 - a) [x > 0]
        self._cache = fprime
        return x * fprime

    def _backward(self, dy, param_grads, input_grad):
        r"""f'(x) = 1 if x > 0 else a:  dx = dy \odot f'(x)."""
        return dy * self._cache

    supports_gradient_penalty = True

    def _jvp(self, g, t):
        """Piecewise linear: on the current piece J = diag(f'(x)) (1 or a), so J t = t f'(x); no parameters."""
        return t * self._cache


class Tanh(_Elementwise):
    """y = tanh(x)."""

    def _forward(self, x, train):
        self._cache = backend.array_module(x).tanh(x)
        return self._cache

    def _backward(self, dy, param_grads, input_grad):
        r"""tanh'(x) = 1 - tanh(x)^2 = 1 - y^2:  dx = dy \odot (1 - y^2)."""
        y = self._cache
        return dy * (1 - y * y)


class Sigmoid(_Elementwise):
    """y = 1 / (1 + e^{-x}), computed as (1 + tanh(x/2)) / 2, which never overflows."""

    def _forward(self, x, train):
        xp = backend.array_module(x)
        self._cache = 0.5 * (1 + xp.tanh(0.5 * x))
        return self._cache

    def _backward(self, dy, param_grads, input_grad):
        r"""sigma'(x) = sigma(x)(1 - sigma(x)) = y(1 - y):  dx = dy \odot y(1 - y)."""
        y = self._cache
        return dy * y * (1 - y)
