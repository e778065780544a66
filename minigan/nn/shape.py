"""Layers that only rearrange: Flatten and Reshape. Their backward undoes the rearrangement.

A reshape moves no values, but it is a view only when the memory is in the order the new shape reads it. The
convolutions hand on channels-last memory (im2col.py), which a flattening to PyTorch's (C, H, W) order per sample
must copy: :func:`reshaped` makes that copy on minigan's threads, and Flatten's backward gives dx back in the
memory order its input had, so that the layers before it get the layout they made.
"""

from __future__ import annotations

import math
import numbers

from minigan import backend, parallel
from minigan.nn.im2col import channels_first, channels_last
from minigan.nn.module import Module


def reshaped(x, shape):
    """x.reshape(shape): a view of C-ordered memory, else a C-ordered copy made by minigan's threads."""
    if x.flags.c_contiguous:
        return x.reshape(shape)
    out = backend.array_module(x).empty(shape, dtype=x.dtype)
    parallel.copy(x, out.reshape(x.shape))
    return out


def _is_int(value) -> bool:
    """True for a Python or NumPy integer (bool excluded)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


class Flatten(Module):
    """x (N, d1, d2, ...) -> y (N, d1*d2*...)."""

    def _expected(self):
        return "of rank >= 2, (N, ...)"

    def _check_shape(self, x):
        return x.ndim >= 2

    def _forward(self, x, train):
        self._in_shape = x.shape
        # channels-last memory (a convolution's output), to be given back in that order by backward
        self._channels_last = x.ndim == 4 and not x.flags.c_contiguous and x.transpose(0, 2, 3, 1).flags.c_contiguous
        return reshaped(x, (x.shape[0], math.prod(x.shape[1:])))

    def _backward(self, dy, param_grads):
        """A reshape moves no values: dx is dy put back into the input's shape (and memory order)."""
        dx = reshaped(dy, self._in_shape)
        if self._channels_last:
            return channels_first(channels_last(dx))
        return dx

    supports_gradient_penalty = True

    def _tangent_step(self, g, t):
        """Linear with no parameters: the tangent is rearranged as the input was (see gradient_penalty.py)."""
        return self._forward(t, False)


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

    def _forward(self, x, train):
        self._in_shape = x.shape
        return reshaped(x, (x.shape[0],) + self.shape)

    def _backward(self, dy, param_grads):
        """A reshape moves no values: dx is dy put back into the input's shape."""
        return reshaped(dy, self._in_shape)

    supports_gradient_penalty = True

    def _tangent_step(self, g, t):
        """Linear with no parameters: the tangent is rearranged as the input was (see gradient_penalty.py)."""
        return self._forward(t, False)
