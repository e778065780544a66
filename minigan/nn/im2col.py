r"""im2col / col2im: a convolution as one matrix product.

For an input x of shape (N, C, H, W), a kernel (kh, kw), stride (sh, sw) and zero padding (ph, pw), the output
has spatial size

    Ho = (H + 2 ph - kh) // sh + 1,    Wo = (W + 2 pw - kw) // sw + 1.

``im2col`` lays every receptive field out as a row of a matrix:

    cols[(n, p, q), (i, j, c)] = x_pad[n, c, p sh + i, q sw + j]          cols: (N*Ho*Wo, kh*kw*C)

A convolution with weight W (O, C, kh, kw) is then one GEMM with the weight as a matrix,

    Y_rows = cols W_m,    W_m[(i, j, c), o] = W[o, c, i, j]                 W_m: (kh*kw*C, O),  Y_rows: (N*Ho*Wo, O)

and Y_rows, read as (N, Ho, Wo, O), is the output with its channels last (:func:`rows_to_images`).

``col2im`` is the adjoint (transpose) of ``im2col``: it adds every entry of a cols matrix back onto the pixel it
came from (pixels shared by overlapping fields get the sum). Because <im2col(x), c> = <x, col2im(c)> for every x
and c, col2im is exactly what the input gradient of a convolution needs, and exactly a transposed convolution's
forward pass.

Memory order. The arrays keep NCHW shapes, as PyTorch's, but a convolution's output *lives* channels-last: the
rows of Y_rows are pixels, so (N, Ho, Wo, O) is its memory and the NCHW array is a transposed view of it, made
without a copy. im2col pads into a channels-last buffer too: each row of a receptive field (kw pixels of C
channels) is then one contiguous run of memory, and the copy that forms cols moves long runs. None of this
changes a number; it only decides what is a view and what is a copy.
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


def images_to_rows(x):
    """x (N, C, H, W) -> rows (N*H*W, C): one row per pixel. A view when x lives channels-last, else a copy."""
    n, c, h, w = x.shape
    return x.transpose(0, 2, 3, 1).reshape(n * h * w, c)


def rows_to_images(rows, n: int, h: int, w: int):
    """rows (N*H*W, C) -> y (N, C, H, W), a view (y lives channels-last): the inverse of :func:`images_to_rows`."""
    return rows.reshape(n, h, w, -1).transpose(0, 3, 1, 2)


def im2col(x, kernel, stride, padding, out_hw=None):
    """x (N, C, H, W) -> cols (N*Ho*Wo, kh*kw*C), and (Ho, Wo).

    ``out_hw`` may fix (Ho, Wo) smaller than the formula gives (ConvTranspose2d's backward uses it).
    """
    xp = backend.array_module(x)
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    n, c, h, w = x.shape
    ho, wo = out_hw or (output_size(h, kh, sh, ph), output_size(w, kw, sw, pw))
    x_pad = xp.zeros((n, h + 2 * ph, w + 2 * pw, c), dtype=x.dtype)  # (N, H + 2ph, W + 2pw, C)
    x_pad[:, ph : ph + h, pw : pw + w, :] = x.transpose(0, 2, 3, 1)
    s_n, s_h, s_w, s_c = x_pad.strides
    fields = _as_strided(xp)(  # fields[n, p, q, i, j, c] = x_pad[n, p sh + i, q sw + j, c]: a view
        x_pad, shape=(n, ho, wo, kh, kw, c), strides=(s_n, s_h * sh, s_w * sw, s_h, s_w, s_c)
    )
    return fields.reshape(n * ho * wo, kh * kw * c), (ho, wo)  # the one copy


def col2im(cols, x_shape, kernel, stride, padding, out_hw):
    """Adjoint of :func:`im2col`: cols (N*Ho*Wo, kh*kw*C) -> x (N, C, H, W), overlapping entries summed.

    One strided add per kernel offset (i, j), each over all images, pixels and channels at once.
    """
    xp = backend.array_module(cols)
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    n, c, h, w = x_shape
    ho, wo = out_hw
    x_pad = xp.zeros((n, h + 2 * ph, w + 2 * pw, c), dtype=cols.dtype)  # (N, H + 2ph, W + 2pw, C)
    fields = cols.reshape(n, ho, wo, kh, kw, c)
    for i in range(kh):
        for j in range(kw):
            x_pad[:, i : i + sh * ho : sh, j : j + sw * wo : sw, :] += fields[:, :, :, i, j, :]
    return x_pad[:, ph : ph + h, pw : pw + w, :].transpose(0, 3, 1, 2)  # the window, as NCHW
