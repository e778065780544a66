r"""Embedding: a lookup table of learned vectors, one row per token id (StackGAN's captions, word by word).

Weight W (V, D), V = num_embeddings, D = embedding_dim. Integer ids of any shape (N, ...) -> y (N, ..., D):

    y[n, ..., :] = W[ids[n, ...], :].

As PyTorch: W starts from N(0, 1); ``padding_idx`` (if given) names a row that starts at zero and never receives a
gradient (a padding token then embeds to zero for good, unless the row is set by hand).

The ids are integers, not the layer's floating dtype: forward takes an integer array (any signed or unsigned
integer type, not booleans) with every id in 0..V-1, and there is no gradient with respect to them: backward
returns None whatever ``input_grad`` says.
"""

from __future__ import annotations

import numbers

import numpy as np

from minigan import backend
from minigan.nn.module import Module, _is_array


class Embedding(Module):
    """ids (N, ...) of integers in 0..V-1 -> y (N, ..., D), y = W[ids]. weight (V, D)."""

    per_sample = True

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None):
        super().__init__()
        for what, value in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"Embedding needs {what} to be an integer >= 1, got {value!r}")
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        if padding_idx is not None:
            if isinstance(padding_idx, bool) or not isinstance(padding_idx, numbers.Integral) or not (
                    -num_embeddings <= padding_idx < num_embeddings):
                raise ValueError(f"Embedding: padding_idx must be an integer in [-{num_embeddings}, "
                                 f"{num_embeddings - 1}], got {padding_idx!r}")
            padding_idx = int(padding_idx) % num_embeddings  # a negative index counts from the end, as PyTorch
        self.padding_idx = padding_idx
        weight = backend.rng().standard_normal((num_embeddings, embedding_dim), backend.default_dtype())  # N(0, 1)
        if padding_idx is not None:
            weight[padding_idx] = 0
        self._add_param("weight", weight)
        self._ids = None

    def __repr__(self):
        extra = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"Embedding({self.num_embeddings}, {self.embedding_dim}{extra})"

    def _expected(self):
        return f"integer ids in 0..{self.num_embeddings - 1}, of shape (N, ...)"

    def _check_input(self, x, check_finite: bool) -> None:
        """The ids must be a non-empty integer array (N, ...) on the weight's backend, every id in 0..V-1: the base
        rule's floating dtype (and finiteness) does not apply to them, the rest of it does."""
        if not _is_array(x):
            self._fail(f"an object of type {type(x).__name__} (not a NumPy or CuPy array)")
        if x.ndim == 0:
            self._fail("a 0-d array (a single id; a layer takes a batch, (N, ...))")
        if x.shape[0] == 0:
            self._fail(f"an empty batch, shape {tuple(x.shape)} (N = 0)")
        if x.size == 0:
            self._fail(f"shape {tuple(x.shape)}, which holds no values")
        if x.dtype.kind not in "iu":
            self._fail(f"dtype {x.dtype} (ids are integers: cast them with ids.astype('int64'))")
        weight = self._params["weight"]
        if backend.backend_of(x) != backend.backend_of(weight):
            self._fail(f"a {backend.backend_of(x)} array while its parameters live on {backend.backend_of(weight)} "
                       f"(move one with Module.to() or minigan.backend.to_backend())")
        low, high = int(x.min()), int(x.max())
        if low < 0 or high >= self.num_embeddings:
            self._fail(f"ids from {low} to {high}, outside 0..{self.num_embeddings - 1}")

    def _forward(self, x, train):
        """y = W[ids]: (N, ...) -> (N, ..., D), a gather of rows. Keeps the ids for backward."""
        self._ids = x
        return self._params["weight"][x]

    def backward(self, dy, param_grads: bool = True, input_grad: bool = True):
        """Adds dL/dW into ``grads`` (unless param_grads is False) and returns None: integer ids have no gradient,
        so ``input_grad`` is ignored (no dx is made, in chunks or whole)."""
        super().backward(dy, param_grads, input_grad=False)

    def _backward(self, dy, param_grads, input_grad):
        r"""y[m, :] = W[id_m, :] for every position m of the batch (M = N x ... of them), so

            dL/dW[v, :] = \sum_{m: id_m = v} dy[m, :]:

        a scatter-add of dy's rows into the rows of dW that their ids name, rows named by several positions
        receiving the sum (a plain assignment dW[ids] = dy would keep only one of them). Written without a loop
        as one bincount over dW's flat memory: dy[m, j] lands in slot id_m D + j, and bincount adds up the weights
        that land in each slot (in float64). The padding row gets none. There is no dx (see :meth:`backward`).
        """
        if not param_grads:
            return
        xp = backend.array_module(dy)
        v, d = self._params["weight"].shape
        ids = self._ids.reshape(-1)  # (M,)
        dy_rows = dy.reshape(-1, d)  # (M, D)
        slots = ids[:, None].astype(np.int64) * d + xp.arange(d)  # (M, D): where dy[m, j] goes in dW's (V*D,)
        dw = xp.bincount(slots.reshape(-1), weights=dy_rows.reshape(-1), minlength=v * d).reshape(v, d)
        if self.padding_idx is not None:
            dw[self.padding_idx] = 0
        self._grads["weight"] += dw.astype(dy.dtype, copy=False)

    def _clear_cache(self):
        super()._clear_cache()
        self._ids = None
