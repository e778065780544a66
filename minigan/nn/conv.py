r"""Conv2d and ConvTranspose2d: one machinery (im2col + GEMM, col2im), two layers.

Conv2d, weight W (O, C, kh, kw), stride s, padding p:

    y[n, o, p, q] = b_o + \sum_{c, i, j} W[o, c, i, j] x_pad[n, c, p s_h + i, q s_w + j]

which with cols = im2col(x) (one row per output pixel, one column per (i, j, c)) and the weight as a matrix
W_m[(i, j, c), o] = W[o, c, i, j] is the GEMM  Y_rows = cols W_m + 1 b^T  (see im2col.py; the arrays live in
channels-last memory, so Y_rows *is* the output, with no copy).

ConvTranspose2d is the adjoint of that map with respect to x: its forward pass is Conv2d's input-gradient pass
(col2im of X_rows W_m^T), and its input gradient is a Conv2d forward pass. PyTorch stores its weight as
(in_channels, out_channels, kh, kw) — exactly the (O, C, kh, kw) of the Conv2d it is the adjoint of — so the same
W_m serves both layers.
"""

from __future__ import annotations

from minigan import backend, init, parallel
from minigan.nn.im2col import batch_chunks, channels_first, channels_last, col2im, im2col, output_size
from minigan.nn.module import Module


def _pair(value, name: str, minimum: int) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or any((not isinstance(v, int)) or v < minimum for v in pair):
        raise ValueError(f"{name} must be an int >= {minimum} or a pair of them, got {value!r}")
    return pair


class _ConvBase(Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, bias, weight_shape):
        super().__init__()
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"{type(self).__name__} needs positive channel counts")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _pair(kernel_size, "kernel_size", 1)
        self.stride = _pair(stride, "stride", 1)
        self.padding = _pair(padding, "padding", 0)
        fan_in, _ = init.fan_in_and_out(weight_shape)
        self._add_param("weight", init.uniform_fan_in(weight_shape, fan_in))
        if bias:
            self._add_param("bias", init.uniform_fan_in((out_channels,), fan_in))

    def _expected(self):
        return f"of shape (N, {self.in_channels}, H, W)"

    def _weight_matrix(self):
        """W (O, C, kh, kw) -> W_m (kh*kw*C, O), W_m[(i, j, c), o] = W[o, c, i, j].

        Built as W_m^T (O, kh*kw*C), a copy that only reorders within each of the O rows, and returned as its
        transposed view (BLAS reads either order). Reordering the whole array to (kh, kw, C, O) instead moves every
        number across the array and took 2.4x as long (0.68 against 0.29 ms for the DCGAN's 64x128x4x4 weight),
        which added up over ten calls a step. Forward caches it for backward (:meth:`_cache_weight_matrix`).
        """
        w = self._params["weight"]
        o, c, kh, kw = w.shape
        xp = backend.array_module(w)
        return xp.ascontiguousarray(w.reshape(o, c, kh * kw).transpose(0, 2, 1)).reshape(o, kh * kw * c).T

    def _cache_weight_matrix(self):
        """W_m for this forward pass and its backward (the weight cannot change in between without making the
        gradient wrong, so one copy serves both)."""
        self._w_m = self._weight_matrix()
        return self._w_m

    def _add_weight_grad(self, dw_m_t):
        """Add dL/dW_m^T (O, kh*kw*C) into dL/dW (O, C, kh, kw): the inverse of :meth:`_weight_matrix`'s reorder.

        The layers compute the transpose dW_m^T = (C^T dY)^T = dY^T C directly: its rows are W's rows, so the
        reorder stays within each row, as in :meth:`_weight_matrix`.
        """
        o, c, kh, kw = self._params["weight"].shape
        self._grads["weight"] += dw_m_t.reshape(o, kh, kw, c).transpose(0, 3, 1, 2)

    def _clear_cache(self):
        super()._clear_cache()
        self._w_m = None


class Conv2d(_ConvBase):
    """2D convolution (cross-correlation, as PyTorch), zero padding.

    Shapes: x (N, C_in, H, W) -> y (N, C_out, Ho, Wo), Ho = (H + 2 p_h - k_h) // s_h + 1;
    weight (C_out, C_in, k_h, k_w); bias (C_out,).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        kh, kw = _pair(kernel_size, "kernel_size", 1)
        super().__init__(in_channels, out_channels, (kh, kw), stride, padding, bias,
                         (out_channels, in_channels, kh, kw))
        self._x = None

    def __repr__(self):
        return (f"Conv2d({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={'bias' in self._params})")

    def _check_shape(self, x):
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            return False
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        return x.shape[2] + 2 * ph >= kh and x.shape[3] + 2 * pw >= kw

    def _expected(self):
        kh, kw = self.kernel_size
        ph, pw = self.padding
        return f"of shape (N, {self.in_channels}, H, W) with H + {2 * ph} >= {kh} and W + {2 * pw} >= {kw}"

    def _forward(self, x, train):
        """Y_rows = cols W_m + 1 b^T, built chunk by chunk of the batch (:func:`batch_chunks`): each chunk's cols
        is made, multiplied and dropped while it is still in cache. Only x (channels-last) is kept for backward,
        not cols, which is kh*kw / (sh*sw) times larger (4x for DCGAN's 4x4 kernels of stride 2). On NumPy the
        chunks are shared among minigan's threads (:mod:`minigan.parallel`), each writing its own rows of Y."""
        xp, x = backend.array_module(x), channels_last(x)
        n, h, w, _ = x.shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        ho, wo = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
        self._x, self._out_hw = x, (ho, wo)
        w_m = self._cache_weight_matrix()
        y_rows = xp.empty((n * ho * wo, self.out_channels), dtype=x.dtype)
        bias = self._params.get("bias")

        def forward_chunks(chunks):
            for b, rows in chunks:
                cols, _ = im2col(x[b], self.kernel_size, self.stride, self.padding)
                xp.matmul(cols, w_m, out=y_rows[rows])
                if bias is not None:
                    y_rows[rows] += bias

        parallel.run(forward_chunks, self._chunk_groups(xp, n, w_m.shape[0] * x.itemsize), xp)
        return channels_first(y_rows.reshape(n, ho, wo, -1))

    def _chunk_groups(self, xp, n, bytes_per_row):
        """The chunks of the batch as (batch slice, slice of the matching rows of cols / Y_rows), in one
        contiguous group per thread (:func:`minigan.parallel.split`)."""
        ho, wo = self._out_hw
        threads = parallel.threads_for(xp)
        chunks = [(b, slice(b.start * ho * wo, b.stop * ho * wo))
                  for b in batch_chunks(n, ho * wo * bytes_per_row, parts=threads)]
        return parallel.split(chunks, threads)

    def _backward(self, dy, param_grads):
        r"""In GEMM form Y = C W_m + 1 b^T, with C = im2col(x):

        dL/dW_m = C^T dY,    dL/db = 1^T dY,    dL/dC = dY W_m^T,    dL/dx = col2im(dL/dC)

        the last because x -> C is linear and col2im is its adjoint. Chunk by chunk of the batch, C remade from the
        cached x: dL/dW_m^T = sum over chunks of dY_chunk^T C_chunk (the transpose, see :meth:`_add_weight_grad`).
        """
        return channels_first(self._backward_chunks(dy, param_grads, input_grad=True))

    def _backward_without_input_grad(self, dy, param_grads):
        if param_grads:
            self._backward_chunks(dy, param_grads, input_grad=False)

    def _backward_chunks(self, dy, param_grads, input_grad):
        xp = backend.array_module(dy)
        dy_rows = channels_last(dy).reshape(-1, self.out_channels)
        x = self._x
        n, h, w, c = x.shape
        w_m = self._w_m
        dx = xp.empty((n, h, w, c), dtype=dy.dtype) if input_grad else None

        def backward_chunks(chunks):  # one thread's chunks; returns its part of dL/dW_m^T
            dw_m_t = xp.zeros_like(w_m.T) if param_grads else None
            for b, rows in chunks:
                if param_grads:
                    cols, _ = im2col(x[b], self.kernel_size, self.stride, self.padding)
                    dw_m_t += dy_rows[rows].T @ cols
                if input_grad:  # col2im into a padded buffer of the chunk's own, its window copied out
                    dx[b] = col2im(dy_rows[rows] @ w_m.T, (b.stop - b.start, h, w, c), self.kernel_size,
                                   self.stride, self.padding, self._out_hw)
            return dw_m_t

        dw_parts = parallel.run(backward_chunks, self._chunk_groups(xp, n, w_m.shape[0] * dy.itemsize), xp)
        if param_grads:
            self._add_weight_grad(parallel.total(dw_parts))
            if "bias" in self._grads:
                self._grads["bias"] += parallel.column_sums(dy_rows)
        return dx

    def _clear_cache(self):
        super()._clear_cache()
        self._x = None

    supports_gradient_penalty = True

    def _tangent_step(self, g, t):
        r"""Gradient-penalty sweep (gradient_penalty.py): dP/dW_m += im2col(t)^T G_rows, the weight gradient of input
        t and upstream signal g; the bias gets none. Returns the tangent J t = im2col(t) W_m (no bias)."""
        cols_t, (ho, wo) = im2col(channels_last(t), self.kernel_size, self.stride, self.padding)
        self._add_weight_grad(channels_last(g).reshape(-1, self.out_channels).T @ cols_t)
        return channels_first((cols_t @ self._weight_matrix()).reshape(t.shape[0], ho, wo, -1))


class ConvTranspose2d(_ConvBase):
    """Transposed convolution: the adjoint (input gradient) of a Conv2d with the same weight, plus a bias.

    Shapes: x (N, C_in, H, W) -> y (N, C_out, Ho, Wo), Ho = (H - 1) s_h - 2 p_h + k_h + output_padding_h;
    weight (C_in, C_out, k_h, k_w); bias (C_out,). ``output_padding`` (< stride) adds rows/columns at the bottom
    and right that only the bias reaches, to pick among the input sizes a strided Conv2d maps to the same size.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, bias=True):
        kh, kw = _pair(kernel_size, "kernel_size", 1)
        super().__init__(in_channels, out_channels, (kh, kw), stride, padding, bias,
                         (in_channels, out_channels, kh, kw))
        self.output_padding = _pair(output_padding, "output_padding", 0)
        if any(op >= s for op, s in zip(self.output_padding, self.stride)):
            raise ValueError(
                f"ConvTranspose2d: output_padding {self.output_padding} must be smaller than stride {self.stride}"
            )
        self._x_rows = None

    def __repr__(self):
        return (f"ConvTranspose2d({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, output_padding={self.output_padding}, "
                f"bias={'bias' in self._params})")

    def output_hw(self, h: int, w: int) -> tuple[int, int]:
        """(Ho, Wo) for an (h, w) input."""
        return tuple(
            (size - 1) * s - 2 * p + k + op
            for size, s, p, k, op in zip((h, w), self.stride, self.padding, self.kernel_size, self.output_padding)
        )

    def _check_shape(self, x):
        return x.ndim == 4 and x.shape[1] == self.in_channels and min(self.output_hw(*x.shape[2:])) >= 1

    def _expected(self):
        return f"of shape (N, {self.in_channels}, H, W) with a positive output size"

    def _forward(self, x, train):
        n, _, h, w = x.shape
        ho, wo = self.output_hw(h, w)
        self._x_rows, self._in_hw = channels_last(x).reshape(n * h * w, self.in_channels), (h, w)
        # sanity: the Conv2d this is the adjoint of maps (ho, wo) back to exactly (h, w)
        assert output_size(ho, self.kernel_size[0], self.stride[0], self.padding[0]) == h
        xp, w_t = backend.array_module(x), self._cache_weight_matrix().T
        y = xp.empty((n, ho, wo, self.out_channels), dtype=x.dtype)
        bias = self._params.get("bias")

        def forward_chunks(chunks):  # cols = X_rows W_m^T, chunk by chunk, each scattered into its own images
            for b in chunks:
                cols = self._x_rows[b.start * h * w : b.stop * h * w] @ w_t
                window = col2im(cols, (b.stop - b.start, ho, wo, self.out_channels), self.kernel_size, self.stride,
                                self.padding, (h, w))
                # col2im returns a window of its padded buffer: the output is written as contiguous channels-last
                # memory (what the BatchNorm and activation after this layer read fastest), with the bias, while
                # the chunk is in cache
                if bias is not None:
                    xp.add(window, bias, out=y[b])
                else:
                    y[b] = window

        parallel.run(forward_chunks, self._chunk_groups(xp, n, h * w * w_t.shape[1] * x.itemsize), xp)
        return channels_first(y)

    @staticmethod
    def _chunk_groups(xp, n, bytes_per_sample):
        """Chunks of the batch (slices), in one contiguous group per thread (:func:`minigan.parallel.split`)."""
        threads = parallel.threads_for(xp)
        return parallel.split(batch_chunks(n, bytes_per_sample, parts=threads), threads)

    def _backward(self, dy, param_grads):
        r"""Forward is Y = col2im(X_rows W_m^T) + b, with col2im the adjoint of im2col, so

        dL/dX_rows = im2col(dY) W_m          (a Conv2d forward pass of dY)
        dL/dW_m    = im2col(dY)^T X_rows     (X_rows cached by forward; computed as its transpose X_rows^T im2col(dY))
        dL/db      = dY summed over N, H, W
        """
        xp, n, (h, w) = backend.array_module(dy), dy.shape[0], self._in_hw
        dy, w_m = channels_last(dy), self._w_m
        dx_rows = xp.empty((n * h * w, self.in_channels), dtype=dy.dtype)

        def backward_chunks(chunks):  # im2col(dY), chunk by chunk; returns this thread's part of dL/dW_m^T
            dw_m_t = xp.zeros_like(w_m.T) if param_grads else None
            for b in chunks:
                dcols, _ = im2col(dy[b], self.kernel_size, self.stride, self.padding, out_hw=self._in_hw)
                rows = slice(b.start * h * w, b.stop * h * w)
                if param_grads:
                    dw_m_t += self._x_rows[rows].T @ dcols
                xp.matmul(dcols, w_m, out=dx_rows[rows])
            return dw_m_t

        dw_parts = parallel.run(backward_chunks, self._chunk_groups(xp, n, h * w * w_m.shape[0] * dy.itemsize), xp)
        if param_grads:
            self._add_weight_grad(parallel.total(dw_parts))
            if "bias" in self._grads:
                self._grads["bias"] += parallel.column_sums(dy.reshape(-1, self.out_channels))
        return channels_first(dx_rows.reshape(n, h, w, self.in_channels))

    def _clear_cache(self):
        super()._clear_cache()
        self._x_rows = None
