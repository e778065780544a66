r"""Conv2d and ConvTranspose2d: one machinery (im2col + GEMM, col2im), two layers.

Conv2d, weight W (O, C, kh, kw), stride s, padding p:

    y[n, o, p, q] = b_o + \sum_{c, i, j} W[o, c, i, j] x_pad[n, c, p s_h + i, q s_w + j]

which with cols = im2col(x) and W_m = W.reshape(O, C kh kw) is the GEMM  Y_rows = W_m cols + b 1^T.

ConvTranspose2d is the adjoint of that map with respect to x: its forward pass is Conv2d's input-gradient pass
(col2im of W_m^T x_rows), and its input gradient is a Conv2d forward pass. PyTorch stores its weight as
(in_channels, out_channels, kh, kw) — exactly the (O, C, kh, kw) of the Conv2d it is the adjoint of — so the same
reshape W_m serves both layers.
"""

from __future__ import annotations

from minigan import init
from minigan.nn.im2col import col2im, from_rows, im2col, output_size, to_rows
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
        w = self._params["weight"]
        return w.reshape(w.shape[0], -1)


class Conv2d(_ConvBase):
    """2D convolution (cross-correlation, as PyTorch), zero padding.

    Shapes: x (N, C_in, H, W) -> y (N, C_out, Ho, Wo), Ho = (H + 2 p_h - k_h) // s_h + 1;
    weight (C_out, C_in, k_h, k_w); bias (C_out,).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        kh, kw = _pair(kernel_size, "kernel_size", 1)
        super().__init__(in_channels, out_channels, (kh, kw), stride, padding, bias,
                         (out_channels, in_channels, kh, kw))
        self._cols = None

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
        n = x.shape[0]
        cols, (ho, wo) = im2col(x, self.kernel_size, self.stride, self.padding)
        self._cols, self._x_shape, self._out_hw = cols, x.shape, (ho, wo)
        y_rows = self._weight_matrix() @ cols
        if "bias" in self._params:
            y_rows += self._params["bias"][:, None]
        return from_rows(y_rows, n, ho, wo)

    def _backward(self, dy, param_grads):
        r"""In GEMM form Y = W_m C + b 1^T, with C = im2col(x) cached by forward:

        dL/dW_m = dY C^T,    dL/db = dY 1,    dL/dC = W_m^T dY,    dL/dx = col2im(dL/dC)

        the last because x -> C is linear and col2im is its adjoint.
        """
        dy_rows = to_rows(dy)
        if param_grads:
            w = self._params["weight"]
            self._grads["weight"] += (dy_rows @ self._cols.T).reshape(w.shape)
            if "bias" in self._grads:
                self._grads["bias"] += dy_rows.sum(axis=1)
        dcols = self._weight_matrix().T @ dy_rows
        return col2im(dcols, self._x_shape, self.kernel_size, self.stride, self.padding, self._out_hw)

    def _clear_cache(self):
        super()._clear_cache()
        self._cols = None

    supports_gradient_penalty = True

    def _tangent_step(self, g, t):
        r"""Gradient-penalty sweep (gradient_penalty.py): dP/dW_m += G_rows im2col(t)^T, the weight gradient of input
        t and upstream signal g; the bias gets none. Returns the tangent J t = W_m im2col(t) (no bias)."""
        cols_t, (ho, wo) = im2col(t, self.kernel_size, self.stride, self.padding)
        w = self._params["weight"]
        self._grads["weight"] += (to_rows(g) @ cols_t.T).reshape(w.shape)
        return from_rows(self._weight_matrix() @ cols_t, t.shape[0], ho, wo)


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
        self._x_rows, self._in_hw = to_rows(x), (h, w)
        cols = self._weight_matrix().T @ self._x_rows
        # sanity: the Conv2d this is the adjoint of maps (ho, wo) back to exactly (h, w)
        assert output_size(ho, self.kernel_size[0], self.stride[0], self.padding[0]) == h
        y = col2im(cols, (n, self.out_channels, ho, wo), self.kernel_size, self.stride, self.padding, (h, w))
        if "bias" in self._params:
            y += self._params["bias"][None, :, None, None]
        return y

    def _backward(self, dy, param_grads):
        r"""Forward is Y = col2im(W_m^T X_rows) + b, with col2im the adjoint of im2col, so

        dL/dX_rows = W_m im2col(dY)          (a Conv2d forward pass of dY)
        dL/dW_m    = X_rows im2col(dY)^T     (X_rows cached by forward)
        dL/db      = dY summed over N, H, W
        """
        dcols, _ = im2col(dy, self.kernel_size, self.stride, self.padding, out_hw=self._in_hw)
        if param_grads:
            w = self._params["weight"]
            self._grads["weight"] += (self._x_rows @ dcols.T).reshape(w.shape)
            if "bias" in self._grads:
                self._grads["bias"] += dy.sum(axis=(0, 2, 3))
        return from_rows(self._weight_matrix() @ dcols, dy.shape[0], *self._in_hw)

    def _clear_cache(self):
        super()._clear_cache()
        self._x_rows = None
