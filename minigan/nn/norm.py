r"""Batch normalisation (Ioffe & Szegedy 2015), per feature (1d) or per channel over N, H, W (2d); and instance
normalisation (InstanceNorm2d, at the end of this file), per sample and channel over H, W.

BatchNorm in training mode, over the M = N (x H x W) values of each channel:

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


class InstanceNorm2d(Module):
    r"""Instance normalisation (Ulyanov et al. 2016): x (N, C, H, W), statistics per sample AND channel, over H, W.

    Over the M = H W values of each (n, c):

        mu_nc = mean_{h,w} x,  var_nc = mean_{h,w} (x - mu_nc)^2  (biased),
        x_hat = (x - mu_nc) / sqrt(var_nc + eps),   y = gamma_c x_hat + beta_c  (affine)  or  y = x_hat

    PyTorch's defaults, which CycleGAN's generators use: ``affine=False`` (no gamma, beta) and
    ``track_running_stats=False`` (no buffers; evaluation normalises each image by its own statistics, as
    training does). With ``affine=True``, gamma (weight) starts at 1 and beta (bias) at 0. With
    ``track_running_stats=True`` training also moves ``running_mean`` / ``running_var`` toward the batch's average
    of mu_nc and of the unbiased var_nc M / (M - 1), r <- (1 - momentum) r + momentum * mean_n(stat), as PyTorch,
    and evaluation normalises with them (``num_batches_tracked`` is there too and, as in PyTorch, stays 0).

    Each sample's output depends on that sample alone, so ``per_sample`` is True and minigan.fast may run the layer
    on chunks of the batch; not with ``track_running_stats``, whose update averages over the whole batch.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = False,
                 track_running_stats: bool = False):
        super().__init__()
        if num_features < 1:
            raise ValueError("InstanceNorm2d needs num_features >= 1")
        xp, dtype = backend.get_xp(), backend.default_dtype()
        self.num_features, self.eps, self.momentum = num_features, float(eps), float(momentum)
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        if self.affine:
            self._add_param("weight", xp.ones(num_features, dtype=dtype))
            self._add_param("bias", xp.zeros(num_features, dtype=dtype))
        if self.track_running_stats:
            self._add_buffer("running_mean", xp.zeros(num_features, dtype=dtype))
            self._add_buffer("running_var", xp.ones(num_features, dtype=dtype))
            self._add_buffer("num_batches_tracked", xp.zeros((), dtype="int64"))
        self.per_sample = not self.track_running_stats  # the running update averages over the batch
        self._x = self._mu = self._inv_std = None

    _nonnegative_state = ("running_var",)  # load_state_dict refuses a negative variance

    def __repr__(self):
        return (f"InstanceNorm2d({self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats})")

    def _expected(self):
        return f"of shape (N, {self.num_features}, H, W)"

    def _check_shape(self, x):
        return x.ndim == 4 and x.shape[1] == self.num_features

    def _check_input(self, x, check_finite):
        super()._check_input(x, check_finite)
        if self.track_running_stats and x.dtype != self._buffers["running_mean"].dtype:
            self._fail(f"dtype {x.dtype} while its statistics are {self._buffers['running_mean'].dtype}")

    def _per_channel(self, v):
        """A (C,) vector as (1, C, 1, 1), to broadcast against (N, C, H, W)."""
        return v.reshape(1, -1, 1, 1)

    def _forward(self, x, train):
        """y = gamma x_hat + beta, x_hat = (x - mu) / sqrt(var + eps), mu and var per (n, c) over (H, W)."""
        xp = backend.array_module(x)
        h, w = x.shape[2:]
        input_stats = train or not self.track_running_stats
        if input_stats:
            if h * w < 2:
                raise LayerInputError(
                    f"{self!r} needs more than one value per channel (H * W >= 2) to compute instance statistics, "
                    f"got input {tuple(x.shape)}"
                )
            mu = x.mean(axis=(2, 3), keepdims=True)  # (N, C, 1, 1)
            var = ((x - mu) ** 2).mean(axis=(2, 3), keepdims=True)  # (N, C, 1, 1), the biased variance
            if train and self.track_running_stats:
                self._update_running_statistics(mu, var, h * w)
        else:
            mu = self._per_channel(self._buffers["running_mean"])  # (1, C, 1, 1)
            var = self._per_channel(self._buffers["running_var"])
        self._input_stats, self._x, self._mu = input_stats, x, mu  # x_hat is made again by backward, not kept
        self._inv_std = 1 / xp.sqrt(var + x.dtype.type(self.eps))  # (N, C, 1, 1), or (1, C, 1, 1)
        x_hat = self._normalized()  # (N, C, H, W)
        if not self.affine:
            return x_hat
        return x_hat * self._per_channel(self._params["weight"]) + self._per_channel(self._params["bias"])

    def _update_running_statistics(self, mu, var, m):
        """r <- (1 - momentum) r + momentum * mean over the batch of each sample's statistic, the variance unbiased
        (var * m / (m - 1)), as PyTorch. As PyTorch's InstanceNorm (unlike its BatchNorm), num_batches_tracked is
        kept in the state dict but never counts: it stays 0."""
        for name, stat in (("running_mean", mu), ("running_var", var * (m / (m - 1)))):
            self._buffers[name] *= 1 - self.momentum
            self._buffers[name] += self.momentum * stat.mean(axis=(0, 2, 3))

    def _normalized(self):
        """x_hat = (x - mu) / sigma of the last forward, (N, C, H, W), from the cached x, mu and 1 / sigma."""
        return (self._x - self._mu) * self._inv_std

    def _backward(self, dy, param_grads, input_grad):
        r"""BatchNorm's backward (norm.py) with the means taken over the M = H W values of one (n, c) instead of
        the N H W values of one channel. Let g = dL/dx_hat = gamma dy and <.> the mean over (h, w):

            dL/dgamma_c = \sum_{n,h,w} dy x_hat,   dL/dbeta_c = \sum_{n,h,w} dy   (gamma is shared by the samples).

        With input statistics, x_hat_i = (x_i - mu) (var + eps)^{-1/2} depends on x_i directly and through mu and
        var of its own (n, c) only, with dmu/dx_i = 1/M and dvar/dx_i = 2 (x_i - mu) / M, which gives

            dL/dx_i = (var + eps)^{-1/2} ( g_i - <g> - x_hat_i <g x_hat> )
                    = gamma (var + eps)^{-1/2} ( dy_i - <dy> - x_hat_i <dy x_hat> )    (gamma constant over (h, w)).

        With running statistics (evaluation, track_running_stats) mu and var are constants:
        dL/dx_i = gamma (var + eps)^{-1/2} dy_i.
        """
        x_hat = self._normalized()  # (N, C, H, W)
        if self.affine and param_grads:
            self._grads["weight"] += (dy * x_hat).sum(axis=(0, 2, 3))
            self._grads["bias"] += dy.sum(axis=(0, 2, 3))
        if not input_grad:
            return None
        k = self._inv_std * self._per_channel(self._params["weight"]) if self.affine else self._inv_std
        if not self._input_stats:
            return k * dy
        mean_dy = dy.mean(axis=(2, 3), keepdims=True)  # (N, C, 1, 1)
        mean_dy_x_hat = (dy * x_hat).mean(axis=(2, 3), keepdims=True)  # (N, C, 1, 1)
        return k * (dy - mean_dy - x_hat * mean_dy_x_hat)  # (N, C, H, W)

    def _clear_cache(self):
        super()._clear_cache()
        self._x = self._mu = self._inv_std = None
