r"""Batch normalisation (Ioffe & Szegedy 2015), per feature (1d) or per channel over N, H, W (2d).

Training mode, over the M = N (x H x W) values of each channel:

    mu = mean(x),  var = mean((x - mu)^2)  (biased),  x_hat = (x - mu) / sqrt(var + eps),  y = gamma x_hat + beta

and the running statistics move as r <- (1 - momentum) r + momentum * stat, with the unbiased variance
var * M / (M - 1) (as PyTorch). Evaluation mode uses the running statistics instead of the batch's.
"""

from __future__ import annotations

from minigan import backend
from minigan.nn.module import LayerInputError, Module


class _BatchNorm(Module):
    _ranks: tuple[int, ...] = ()
    _layout = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True):
        super().__init__()
        if num_features < 1:
            raise ValueError(f"{type(self).__name__} needs num_features >= 1")
        xp, dtype = backend.get_xp(), backend.default_dtype()
        self.num_features, self.eps, self.momentum, self.affine = num_features, float(eps), float(momentum), affine
        if affine:
            self._add_param("weight", xp.ones(num_features, dtype=dtype))
            self._add_param("bias", xp.zeros(num_features, dtype=dtype))
        self._add_buffer("running_mean", xp.zeros(num_features, dtype=dtype))
        self._add_buffer("running_var", xp.ones(num_features, dtype=dtype))
        self._add_buffer("num_batches_tracked", xp.zeros((), dtype="int64"))
        self._x_hat = None

    def __repr__(self):
        return f"{type(self).__name__}({self.num_features}, eps={self.eps}, momentum={self.momentum})"

    def _expected(self):
        return f"of shape {self._layout.format(C=self.num_features)}"

    def _check_shape(self, x):
        return x.ndim in self._ranks and x.shape[1] == self.num_features

    def _check_input(self, x, check_finite):
        super()._check_input(x, check_finite)
        if hasattr(x, "dtype") and x.dtype != self._buffers["running_mean"].dtype:
            self._fail(f"dtype {x.dtype} while its statistics are {self._buffers['running_mean'].dtype}")

    @staticmethod
    def _axes(x):
        return (0,) + tuple(range(2, x.ndim))

    @staticmethod
    def _per_channel(v, ndim):
        """(C,) -> (1, C, 1, ...) so that it broadcasts along axis 1."""
        return v.reshape((1, -1) + (1,) * (ndim - 2))

    def _forward(self, x, train):
        axes, nd = self._axes(x), x.ndim
        m = x.size // x.shape[1]
        self._train_mode = train
        if train:
            if m < 2:
                raise LayerInputError(
                    f"{self!r} needs more than one value per channel in training mode, got input {tuple(x.shape)}"
                )
            mu = x.mean(axis=axes)
            var = x.var(axis=axes)
            rm, rv = self._buffers["running_mean"], self._buffers["running_var"]
            rm *= 1 - self.momentum
            rm += self.momentum * mu
            rv *= 1 - self.momentum
            rv += self.momentum * var * (m / (m - 1))
            self._buffers["num_batches_tracked"] += 1
        else:
            mu, var = self._buffers["running_mean"], self._buffers["running_var"]
        xp = backend.array_module(x)
        self._inv_std = 1 / xp.sqrt(var + x.dtype.type(self.eps))
        self._x_hat = (x - self._per_channel(mu, nd)) * self._per_channel(self._inv_std, nd)
        if not self.affine:
            return self._x_hat.copy()
        return self._x_hat * self._per_channel(self._params["weight"], nd) + self._per_channel(
            self._params["bias"], nd
        )

    def _backward(self, dy, param_grads):
        r"""Let g = dL/dx_hat = dy gamma, and <.> a mean over the M values of a channel.

        dL/dgamma = \sum dy x_hat,   dL/dbeta = \sum dy.
        Training: x_hat depends on x directly and through mu and var. Differentiating
        x_hat_i = (x_i - mu) (var + eps)^{-1/2} with dmu/dx_i = 1/M and dvar/dx_i = 2 (x_i - mu) / M gives

            dL/dx_i = (var + eps)^{-1/2} ( g_i - <g> - x_hat_i <g x_hat> ).

        Evaluation: mu and var are constants, so dL/dx_i = g_i (var + eps)^{-1/2}.
        """
        axes, nd = self._axes(dy), dy.ndim
        x_hat = self._x_hat
        if self.affine:
            if param_grads:
                self._grads["weight"] += (dy * x_hat).sum(axis=axes)
                self._grads["bias"] += dy.sum(axis=axes)
            g = dy * self._per_channel(self._params["weight"], nd)
        else:
            g = dy
        inv_std = self._per_channel(self._inv_std, nd)
        if not self._train_mode:
            return g * inv_std
        g_mean = g.mean(axis=axes, keepdims=True)
        gx_mean = (g * x_hat).mean(axis=axes, keepdims=True)
        return inv_std * (g - g_mean - x_hat * gx_mean)

    def _clear_cache(self):
        super()._clear_cache()
        self._x_hat = None


class BatchNorm1d(_BatchNorm):
    """Batch norm over features: x (N, C) or (N, C, L); statistics per feature C over N (and L)."""

    _ranks = (2, 3)
    _layout = "(N, {C}) or (N, {C}, L)"


class BatchNorm2d(_BatchNorm):
    """Batch norm over channels: x (N, C, H, W); statistics per channel C over N, H and W."""

    _ranks = (4,)
    _layout = "(N, {C}, H, W)"
