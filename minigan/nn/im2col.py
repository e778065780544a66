"""im2col / col2im: convolution as one matrix product.

For an input x of shape (N, C, H, W), a kernel (kh, kw), stride (sh, sw) and zero padding (ph, pw), the output
has spatial size

    Ho = (H + 2 ph - kh) // sh + 1,    Wo = (W + 2 pw - kw) // sw + 1.

``im2col`` lays every receptive field out as a column:

    cols[(c, i, j), (n, p, q)] = x_padded[n, c, p*sh + i, q*sw + j]       cols: (C*kh*kw, N*Ho*Wo)

It is a strided *view* of the padded input (``as_strided``, no Python loop over pixels or images) copied once
into a contiguous matrix. A convolution with weight W of shape (O, C, kh, kw) is then the GEMM

    Y_rows = W.reshape(O, C*kh*kw) @ cols                                  Y_rows: (O, N*Ho*Wo)

``col2im`` is the adjoint (transpose) of ``im2col``: it scatter-adds every column entry back to the pixel it
came from. It loops over the kh*kw kernel offsets (16 for a 4x4 kernel), each a strided slice add over all
images and pixels at once. Because <im2col(x), c> = <x, col2im(c)>, col2im is exactly what the input gradient of a
convolution needs, and exactly what a transposed convolution's forward pass is.

"Rows" form: a (N, C, H, W) array regrouped as (C, N*H*W), channel-major, so that channels are GEMM rows.
"""

from __future__ import annotations

from minigan import backend


def _as_strided(xp):
    if xp.__name__ == "cupy":
        from cupy.lib.stride_tricks import as_strided
    else:
        from numpy.lib.stride_tricks import as_strided
    return as_strided


def output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """floor((size + 2 padding - kernel) / stride) + 1."""
    return (size + 2 * padding - kernel) // stride + 1


def pad2d(x, padding):
    """Zero-pad the last two axes of (N, C, H, W) by (ph, pw) on each side."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    xp = backend.array_module(x)
    n, c, h, w = x.shape
    out = xp.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    out[:, :, ph : ph + h, pw : pw + w] = x
    return out


def im2col(x, kernel, stride, padding, out_hw=None):
    """x (N, C, H, W) -> cols (C*kh*kw, N*Ho*Wo), and (Ho, Wo).

    ``out_hw`` may fix (Ho, Wo) smaller than the formula gives (ConvTranspose2d's backward uses it).
    """
    xp = backend.array_module(x)
    (kh, kw), (sh, sw) = kernel, stride
    n, c, h, w = x.shape
    ho, wo = out_hw or (output_size(h, kh, sh, padding[0]), output_size(w, kw, sw, padding[1]))
    xpad = pad2d(x, padding)
    s_n, s_c, s_h, s_w = xpad.strides
    windows = _as_strided(xp)(
        xpad, shape=(c, kh, kw, n, ho, wo), strides=(s_c, s_h, s_w, s_n, s_h * sh, s_w * sw)
    )
    return windows.reshape(c * kh * kw, n * ho * wo), (ho, wo)


def col2im(cols, x_shape, kernel, stride, padding, out_hw):
    """Adjoint of :func:`im2col`: cols (C*kh*kw, N*Ho*Wo) -> x (N, C, H, W), summing overlapping entries."""
    xp = backend.array_module(cols)
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    n, c, h, w = x_shape
    ho, wo = out_hw
    cols6 = cols.reshape(c, kh, kw, n, ho, wo)
    xpad = xp.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            xpad[:, :, i : i + sh * ho : sh, j : j + sw * wo : sw] += cols6[:, i, j].transpose(1, 0, 2, 3)
    return xpad[:, :, ph : ph + h, pw : pw + w]


def to_rows(a):
    """(N, C, H, W) -> (C, N*H*W)."""
    n, c, h, w = a.shape
    return a.transpose(1, 0, 2, 3).reshape(c, n * h * w)


def from_rows(rows, n: int, h: int, w: int):
    """(C, N*H*W) -> (N, C, H, W) (a transposed view, no copy)."""
    return rows.reshape(rows.shape[0], n, h, w).transpose(1, 0, 2, 3)
