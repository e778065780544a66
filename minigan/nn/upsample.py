r"""Nearest-neighbour Upsample by integer factors (StackGAN's generator blocks: Upsample(scale_factor=2), 3x3 conv).

With scale factors (s_h, s_w), x (N, C, H, W) -> y (N, C, s_h H, s_w W):

    y[n, c, i, j] = x[n, c, floor(i / s_h), floor(j / s_w)],

so every input pixel becomes an s_h x s_w block of copies of itself. (PyTorch's "nearest" computes the source
index as floor(i * (1 / s)) in floating point; for the integer factors taken here both give floor(i / s).)
"""

from __future__ import annotations

import numbers

from minigan import backend
from minigan.nn.module import Module


def _factor(value) -> int:
    """An integer scale factor >= 1 from an int or an integral float (PyTorch stores 2 as 2.0); ValueError else."""
    number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if number and not float(value).is_integer():
        raise ValueError(f"Upsample: only integer scale factors are supported (nearest copies whole pixels), got "
                         f"{value!r}")
    if not number or int(value) < 1:
        raise ValueError(f"Upsample: a scale factor must be an integer >= 1, got {value!r}")
    return int(value)


class Upsample(Module):
    """Nearest-neighbour upsampling: x (N, C, H, W) -> y (N, C, s_h H, s_w W); no parameters.

    PyTorch's signature, ``Upsample(size=None, scale_factor=None, mode="nearest")``; minigan takes
    ``scale_factor`` only (an integer, or a pair (s_h, s_w) of integers) and mode "nearest" only.
    """

    per_sample = True

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest"):
        super().__init__()
        if size is not None:
            raise ValueError("Upsample: give scale_factor (an integer or a pair); an output size is not supported")
        if scale_factor is None:
            raise ValueError("Upsample needs scale_factor (an integer or a pair of integers)")
        if mode != "nearest":
            raise ValueError(f"Upsample: only mode='nearest' is supported, got {mode!r}")
        if isinstance(scale_factor, (tuple, list)):
            if len(scale_factor) != 2:
                raise ValueError(f"Upsample: scale_factor must be one factor or a pair (s_h, s_w), got "
                                 f"{scale_factor!r}")
            self.scale_factor = (_factor(scale_factor[0]), _factor(scale_factor[1]))
        else:
            self.scale_factor = (_factor(scale_factor),) * 2
        self.mode = mode

    def __repr__(self):
        sh, sw = self.scale_factor
        return f"Upsample(scale_factor={sh if sh == sw else self.scale_factor}, mode={self.mode!r})"

    def _expected(self):
        return "of shape (N, C, H, W)"

    def _check_shape(self, x):
        return x.ndim == 4

    def _upsample(self, x):
        """x (N, C, H, W) -> (N, C, H, s_h, W, s_w) by broadcasting (no copy) -> (N, C, s_h H, s_w W) (one copy)."""
        n, c, h, w = x.shape
        sh, sw = self.scale_factor
        xp = backend.array_module(x)
        return xp.broadcast_to(x[:, :, :, None, :, None], (n, c, h, sh, w, sw)).reshape(n, c, h * sh, w * sw)

    def _forward(self, x, train):
        """y[n, c, i, j] = x[n, c, floor(i / s_h), floor(j / s_w)]; nothing to cache but the output's shape."""
        return self._upsample(x)

    def _backward(self, dy, param_grads, input_grad):
        r"""Each x[n, c, a, b] is copied to the s_h x s_w block i = s_h a + u, j = s_w b + v (0 <= u < s_h,
        0 <= v < s_w) and nowhere else, so

            dx[n, c, a, b] = \sum_{u, v} dy[n, c, s_h a + u, s_w b + v]:

        dy (N, C, s_h H, s_w W) seen as (N, C, H, s_h, W, s_w), summed over the two block axes.
        """
        n, c, hh, ww = dy.shape
        sh, sw = self.scale_factor
        return dy.reshape(n, c, hh // sh, sh, ww // sw, sw).sum(axis=(3, 5))  # (N, C, H, W)

    supports_gradient_penalty = True

    def _jvp(self, g, t):
        """Linear with no parameters: J t is t upsampled the same way."""
        return self._upsample(t)
