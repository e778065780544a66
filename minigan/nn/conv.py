r"""Conv2d and ConvTranspose2d: one machinery (im2col + GEMM, col2im), two layers.

Conv2d, weight W (O, C, kh, kw), stride s, padding p:

    y[n, o, p, q] = b_o + \sum_{c, i, j} W[o, c, i, j] x_pad[n, c, p s_h + i, q s_w + j]

which with cols = im2col(x) (one row per output pixel, one column per (i, j, c)) and the weight as a matrix
W_m[(i, j, c), o] = W[o, c, i, j] is the GEMM  Y_rows = cols W_m + 1 b^T  (see im2col.py: Y_rows, one row per
output pixel, is the output in channels-last memory, with no copy).

ConvTranspose2d is the adjoint of that map with respect to x: its forward pass is Conv2d's input-gradient pass
(col2im of X_rows W_m^T), and its input gradient is a Conv2d forward pass. PyTorch stores its weight as
(in_channels, out_channels, kh, kw) — exactly the (O, C, kh, kw) of the Conv2d it is the adjoint of — so the same
W_m serves both layers.
"""

from __future__ import annotations

from minigan import backend, init
from minigan.nn.im2col import col2im, im2col, images_to_rows, rows_to_images
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

    per_sample = True

    def _weight_matrix(self):
        """W (O, C, kh, kw) -> W_m (kh*kw*C, O), W_m[(i, j, c), o] = W[o, c, i, j].

        Made as W_m^T (O, kh*kw*C), a copy that reorders within each of the O rows, and handed out as its
        transposed view (a GEMM reads either order); reordering to (kh, kw, C, O) moves every number across the
        whole array and took several times as long (benchmarks/results/fast_policy.md).
        """
        o, c, kh, kw = self._params["weight"].shape
        xp = backend.array_module(self._params["weight"])
        return xp.ascontiguousarray(self._params["weight"].transpose(0, 2, 3, 1)).reshape(o, kh * kw * c).T

    def _add_weight_grad(self, dw_m_t):
        """Add dL/dW_m^T (O, kh*kw*C) into dL/dW (O, C, kh, kw), the inverse of :meth:`_weight_matrix`'s reorder.
        The layers compute the transpose dL/dW_m^T = (C^T dY)^T = dY^T C: its rows are W's rows."""
        o, c, kh, kw = self._params["weight"].shape
        self._grads["weight"] += dw_m_t.reshape(o, kh, kw, c).transpose(0, 3, 1, 2)

    def _add_bias_grad(self, dy_rows):
        """dL/db = 1^T dY_rows: dy summed over every output pixel of every sample (dy_rows: (N*Ho*Wo, O))."""
        if "bias" in self._grads:
            self._grads["bias"] += dy_rows.sum(axis=0)

    def _clear_cache(self):
        super()._clear_cache()
        self._x = None
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
        """Y_rows = im2col(x) W_m + 1 b^T. Only x is kept for backward, not cols (kh*kw / (sh*sw) times larger)."""
        self._x = x  # (N, C, H, W)
        cols, (ho, wo) = im2col(x, self.kernel_size, self.stride, self.padding)  # (N*Ho*Wo, kh*kw*C)
        y_rows = cols @ self._weight_matrix()  # (N*Ho*Wo, O)
        if "bias" in self._params:
            y_rows += self._params["bias"]
        return rows_to_images(y_rows, x.shape[0], ho, wo)  # (N, O, Ho, Wo)

    def _backward(self, dy, param_grads, input_grad):
        r"""In GEMM form Y_rows = C W_m + 1 b^T, with C = im2col(x):

        dL/dW_m = C^T dY_rows,    dL/db = 1^T dY_rows,    dL/dC = dY_rows W_m^T,    dL/dx = col2im(dL/dC)

        the last because x -> C is linear and col2im is its adjoint. C is made again from the cached x, and
        dL/dW_m is computed as its transpose dY_rows^T C (see :meth:`_add_weight_grad`).
        """
        dy_rows = images_to_rows(dy)  # (N*Ho*Wo, O)
        if param_grads:
            cols, _ = im2col(self._x, self.kernel_size, self.stride, self.padding)  # (N*Ho*Wo, kh*kw*C)
            self._add_weight_grad(dy_rows.T @ cols)  # dL/dW_m^T: (O, kh*kw*C)
            self._add_bias_grad(dy_rows)
        if not input_grad:
            return None
        dcols = dy_rows @ self._weight_matrix().T  # (N*Ho*Wo, kh*kw*C)
        return col2im(dcols, self._x.shape, self.kernel_size, self.stride, self.padding, dy.shape[2:])

    supports_gradient_penalty = True

    def _jvp(self, g, t):
        r"""J t = im2col(t) W_m (the linear map without its bias). Penalty sweep (gradient_penalty.py): the weight
        gradient of input t and upstream signal g, dP/dW_m += im2col(t)^T G_rows; the bias gets none."""
        cols_t, (ho, wo) = im2col(t, self.kernel_size, self.stride, self.padding)  # (N*Ho*Wo, kh*kw*C)
        self._add_weight_grad(images_to_rows(g).T @ cols_t)  # (O, kh*kw*C)
        return rows_to_images(cols_t @ self._weight_matrix(), t.shape[0], ho, wo)  # (N, O, Ho, Wo)


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
        self._x = None

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
        """Y = col2im(X_rows W_m^T) + b: the input gradient of the Conv2d whose weight W_m is (kh*kw*C_out, C_in)."""
        self._x = x  # (N, C_in, H, W)
        n, _, h, w = x.shape
        cols = images_to_rows(x) @ self._weight_matrix().T  # (N*H*W, kh*kw*C_out)
        y_shape = (n, self.out_channels) + self.output_hw(h, w)
        y = col2im(cols, y_shape, self.kernel_size, self.stride, self.padding, (h, w))  # (N, C_out, Ho, Wo)
        if "bias" in self._params:
            y += self._params["bias"][:, None, None]
        return y

    def _backward(self, dy, param_grads, input_grad):
        r"""Forward is Y = col2im(X_rows W_m^T) + b, with col2im the adjoint of im2col, so

        dL/dX_rows = im2col(dY) W_m          (a Conv2d forward pass of dY)
        dL/dW_m    = im2col(dY)^T X_rows        (computed as its transpose, X_rows^T im2col(dY))
        dL/db      = dY summed over N, Ho, Wo
        """
        n, _, h, w = self._x.shape
        dcols, _ = im2col(dy, self.kernel_size, self.stride, self.padding, out_hw=(h, w))  # (N*H*W, kh*kw*C_out)
        if param_grads:
            self._add_weight_grad(images_to_rows(self._x).T @ dcols)  # dL/dW_m^T: (C_in, kh*kw*C_out)
            self._add_bias_grad(images_to_rows(dy))
        if not input_grad:
            return None
        return rows_to_images(dcols @ self._weight_matrix(), n, h, w)  # (N, C_in, H, W)
