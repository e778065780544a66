r"""Batch normalisation (Ioffe & Szegedy 2015), per feature (1d) or per channel over N, H, W (2d).

Training mode, over the M = N (x H x W) values of each channel:

    mu = mean(x),  var = mean((x - mu)^2)  (biased),  x_hat = (x - mu) / sqrt(var + eps),  y = gamma x_hat + beta

and the running statistics move as r <- (1 - momentum) r + momentum * stat, with the unbiased variance
var * M / (M - 1) (as PyTorch). Evaluation mode uses the running statistics instead of the batch's.
"""

from __future__ import annotations

from minigan import backend, parallel
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
        self._x = self._mu = None

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
    def _rows(a):
        """a (N, C), (N, C, L) or (N, C, H, W) -> the (M, C) matrix of its values, one row per position.

        A view when the channels are the fastest-moving axis in memory (minigan's convolutions return such arrays),
        a copy otherwise. Every reduction and update below then runs over contiguous rows of C values.
        """
        if a.ndim == 2:
            return a
        return backend.array_module(a).moveaxis(a, 1, -1).reshape(-1, a.shape[1])

    @staticmethod
    def _unrows(rows, like):
        """The inverse of _rows: (M, C) -> an array of ``like``'s shape (a view, channels fastest in memory)."""
        if like.ndim == 2:
            return rows
        shape = (like.shape[0],) + like.shape[2:] + (like.shape[1],)
        return backend.array_module(rows).moveaxis(rows.reshape(shape), -1, 1)

    def _forward(self, x, train):
        """y = x_hat gamma + beta computed as y = x scale + shift, scale = gamma / sigma, shift = beta - mu scale.

        Only x, mu and 1/sigma are kept for backward (x_hat is never stored): x is the caller's array, so the layer
        adds no activation-sized buffer of its own; x must not be changed in place before backward.
        """
        xp = backend.array_module(x)
        X = self._rows(x)
        m = X.shape[0]
        self._train_mode = train
        if train:
            if m < 2:
                raise LayerInputError(
                    f"{self!r} needs more than one value per channel in training mode, got input {tuple(x.shape)}"
                )
            mu = parallel.column_sums(X) / m  # one BLAS pass over X
            Y = xp.empty_like(X)

            def center(X, Y):  # Y = X - mu; returns this block's part of sum (x - mu)^2
                xp.subtract(X, mu, out=Y)
                return xp.einsum("mc,mc->c", Y, Y)

            var = parallel.total(parallel.over_batch(center, X, Y)) / m
            rm, rv = self._buffers["running_mean"], self._buffers["running_var"]
            rm *= 1 - self.momentum
            rm += self.momentum * mu
            rv *= 1 - self.momentum
            rv += self.momentum * var * (m / (m - 1))
            self._buffers["num_batches_tracked"] += 1
        else:
            mu, var = self._buffers["running_mean"], self._buffers["running_var"]
            Y = X - mu
        self._x, self._mu = X, mu
        self._inv_std = 1 / xp.sqrt(var + x.dtype.type(self.eps))
        scale = self._params["weight"] * self._inv_std if self.affine else self._inv_std
        shift = self._params["bias"] if self.affine else None

        def affine(Y):  # Y = (X - mu) scale + shift
            Y *= scale
            if shift is not None:
                Y += shift

        parallel.over_batch(affine, Y)
        return self._unrows(Y, x)

    def _normalized(self):
        """x_hat = (x - mu) / sigma of the last forward, in the input's shape (recomputed; for tests and teaching)."""
        return (self._x - self._mu) * self._inv_std

    def _backward(self, dy, param_grads):
        r"""Let g = dL/dx_hat = dy gamma, and <.> a mean over the M values of a channel.

        dL/dgamma = \sum dy x_hat,   dL/dbeta = \sum dy.
        Training: x_hat depends on x directly and through mu and var. Differentiating
        x_hat_i = (x_i - mu) (var + eps)^{-1/2} with dmu/dx_i = 1/M and dvar/dx_i = 2 (x_i - mu) / M gives

            dL/dx_i = (var + eps)^{-1/2} ( g_i - <g> - x_hat_i <g x_hat> ).

        Evaluation: mu and var are constants, so dL/dx_i = g_i (var + eps)^{-1/2}.

        Computed per channel as an affine map of dy and x, so that no x_hat is ever formed. With k = gamma / sigma,
        S1 = \sum dy and Sx = \sum dy x (two passes), \sum dy x_hat = (Sx - mu S1) / sigma and

            dL/dx_i = k dy_i + b x_i + c,   b = -(k / sigma) <dy x_hat>,   c = -k <dy> - b mu.
        """
        xp = backend.array_module(dy)
        DY, X, mu, inv_std = self._rows(dy), self._x, self._mu, self._inv_std
        m = DY.shape[0]
        k = self._params["weight"] * inv_std if self.affine else inv_std
        if not self._train_mode and not (self.affine and param_grads):
            return self._unrows(DY * k, dy)
        ones = xp.ones(m, dtype=DY.dtype)
        parts = parallel.over_batch(lambda DY, X, ones: (ones @ DY, xp.einsum("mc,mc->c", DY, X)), DY, X, ones)
        sum_dy, sum_dy_x = (parallel.total(list(p)) for p in zip(*parts))
        sum_dy_xhat = (sum_dy_x - mu * sum_dy) * inv_std
        if self.affine and param_grads:
            self._grads["weight"] += sum_dy_xhat
            self._grads["bias"] += sum_dy
        if not self._train_mode:
            return self._unrows(DY * k, dy)
        b = -(k * inv_std) * (sum_dy_xhat / m)
        c = -k * (sum_dy / m) - b * mu
        DX = xp.empty_like(DY)

        def affine(DY, X, DX):  # DX = k DY + b X + c
            xp.multiply(DY, k, out=DX)
            DX += X * b
            DX += c

        parallel.over_batch(affine, DY, X, DX)
        return self._unrows(DX, dy)

    def _clear_cache(self):
        super()._clear_cache()
        self._x = self._mu = None


class BatchNorm1d(_BatchNorm):
    """Batch norm over features: x (N, C) or (N, C, L); statistics per feature C over N (and L)."""

    _ranks = (2, 3)
    _layout = "(N, {C}) or (N, {C}, L)"


class BatchNorm2d(_BatchNorm):
    """Batch norm over channels: x (N, C, H, W); statistics per channel C over N, H and W."""

    _ranks = (4,)
    _layout = "(N, {C}, H, W)"
