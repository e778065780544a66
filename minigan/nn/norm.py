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
    _nonnegative_state = ("running_var",)  # load_state_dict refuses a negative variance

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
        """y = gamma x_hat + beta, x_hat = (x - mu) / sqrt(var + eps), per channel over the rows of X."""
        xp, X = backend.array_module(x), self._rows(x)  # X: (M, C)
        if train:
            if X.shape[0] < 2:
                raise LayerInputError(
                    f"{self!r} needs more than one value per channel in training mode, got input {tuple(x.shape)}"
                )
            mu = X.mean(axis=0)  # (C,)
            var = ((X - mu) ** 2).mean(axis=0)  # (C,), the biased variance
            self._update_running_statistics(mu, var, X.shape[0])
        else:
            mu, var = self._buffers["running_mean"], self._buffers["running_var"]
        self._train_mode, self._x, self._mu = train, X, mu  # x_hat is made again by backward, not kept
        self._inv_std = 1 / xp.sqrt(var + x.dtype.type(self.eps))  # (C,)
        x_hat = self._normalized()  # (M, C)
        Y = x_hat * self._params["weight"] + self._params["bias"] if self.affine else x_hat
        return self._unrows(Y, x)

    def _update_running_statistics(self, mu, var, m):
        """r <- (1 - momentum) r + momentum * stat, with the unbiased variance var * m / (m - 1), as PyTorch."""
        for name, stat in (("running_mean", mu), ("running_var", var * (m / (m - 1)))):
            self._buffers[name] *= 1 - self.momentum
            self._buffers[name] += self.momentum * stat
        self._buffers["num_batches_tracked"] += 1

    def _normalized(self):
        """x_hat = (x - mu) / sigma of the last forward, as the (M, C) matrix of its values, made from the cached
        x (the caller's array: it must not change in place before backward), mu and 1 / sigma."""
        return (self._x - self._mu) * self._inv_std

    def _backward(self, dy, param_grads, input_grad):
        r"""Let g = dL/dx_hat = gamma dy, and <.> a mean over the M values of a channel.

        dL/dgamma = \sum dy x_hat,   dL/dbeta = \sum dy.
        Training: x_hat depends on x directly and through mu and var. Differentiating
        x_hat_i = (x_i - mu) (var + eps)^{-1/2} with dmu/dx_i = 1/M and dvar/dx_i = 2 (x_i - mu) / M gives

            dL/dx_i = (var + eps)^{-1/2} ( g_i - <g> - x_hat_i <g x_hat> )
                    = gamma (var + eps)^{-1/2} ( dy_i - <dy> - x_hat_i <dy x_hat> )     (gamma is one per channel)

        and <dy>, <dy x_hat> are the two parameter gradients over M. Evaluation: mu and var are constants, so
        dL/dx_i = gamma (var + eps)^{-1/2} dy_i.
        """
        DY, x_hat = self._rows(dy), self._normalized()  # (M, C) each
        sum_dy, sum_dy_x_hat = DY.sum(axis=0), (DY * x_hat).sum(axis=0)  # (C,) each
        if self.affine and param_grads:
            self._grads["weight"] += sum_dy_x_hat
            self._grads["bias"] += sum_dy
        if not input_grad:
            return None
        k = self._params["weight"] * self._inv_std if self.affine else self._inv_std  # gamma (var + eps)^{-1/2}
        if self._train_mode:
            m = DY.shape[0]
            DX = k * (DY - sum_dy / m - x_hat * (sum_dy_x_hat / m))
        else:
            DX = k * DY
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
