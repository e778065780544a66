"""Layers that only rearrange: Flatten and Reshape. Their backward undoes the rearrangement.

A reshape moves no values. It is a view when the memory is in the order the new shape reads it, and a copy
otherwise: a convolution's output lives channels-last (im2col.py), so flattening it to PyTorch's (C, H, W) order
per sample copies.
"""

from __future__ import annotations

import math
import numbers

from minigan.nn.module import Module


def _is_int(value) -> bool:
    """True for a Python or NumPy integer (bool excluded)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


class Flatten(Module):
    """x (N, d1, d2, ...) -> y (N, d1*d2*...)."""

    def _expected(self):
        return "of rank >= 2, (N, ...)"

    def _check_shape(self, x):
        return x.ndim >= 2

    per_sample = True

    def _forward(self, x, train):
        self._in_shape = x.shape  # (N, d1, d2, ...)
        return x.reshape(x.shape[0], -1)  # (N, d1*d2*...)

    def _backward(self, dy, param_grads, input_grad):
        """A reshape moves no values: dx is dy put back into the input's shape."""
        return dy.reshape(self._in_shape)

    supports_gradient_penalty = True

    def _jvp(self, g, t):
        """Linear with no parameters: J t is t rearranged as the input was (see gradient_penalty.py)."""
        return t.reshape(t.shape[0], -1)


class Reshape(Module):
    """x (N, ...) -> y (N, *shape); the per-sample size must agree."""

    def __init__(self, *shape: int):
        super().__init__()
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        if not shape or not all(_is_int(s) and s >= 1 for s in shape):
            raise ValueError(f"Reshape needs positive integer sizes (per sample, without N), got {shape!r}")
        self.shape = tuple(int(s) for s in shape)

    def __repr__(self):
        return f"Reshape{self.shape}"

    def _expected(self):
        return f"(N, ...) with {math.prod(self.shape)} values per sample"

    def _check_shape(self, x):
        return x.ndim >= 1 and math.prod(x.shape[1:]) == math.prod(self.shape)

    per_sample = True

    def _forward(self, x, train):
        self._in_shape = x.shape  # (N, ...)
        return x.reshape((x.shape[0],) + self.shape)  # (N, *shape)

    def _backward(self, dy, param_grads, input_grad):
        """A reshape moves no values: dx is dy put back into the input's shape."""
        return dy.reshape(self._in_shape)

    supports_gradient_penalty = True

    def _jvp(self, g, t):
        """Linear with no parameters: J t is t rearranged as the input was (see gradient_penalty.py)."""
        return t.reshape((t.shape[0],) + self.shape)
