"""im2col / col2im: convolution as one matrix product, on channels-last memory.

Shapes and memory. Layers speak NCHW (N, C, H, W), as PyTorch does. The convolutions keep their arrays in
*channels-last memory*: an (N, H, W, C) buffer handed out as the NCHW view ``buf.transpose(0, 3, 1, 2)``. Same
shape, same numbers, only the order in memory differs (``channels_last`` / ``channels_first`` convert, copying only
when the memory is not already so). Elementwise layers and BatchNorm keep whatever order they are given, so a stack
of convolutions, BatchNorms and activations passes channels-last arrays along without copies. Why: with C the
fastest axis, every receptive field row (kw pixels x C channels) is one contiguous run of memory, so the copies
below move long runs instead of 7- or 14-element rows.

For an input x of shape (N, C, H, W), a kernel (kh, kw), stride (sh, sw) and zero padding (ph, pw), the output
has spatial size

    Ho = (H + 2 ph - kh) // sh + 1,    Wo = (W + 2 pw - kw) // sw + 1.

``im2col`` lays every receptive field out as a row:

    cols[(n, p, q), (i, j, c)] = x_padded[n, c, p*sh + i, q*sw + j]       cols: (N*Ho*Wo, kh*kw*C)

It is a strided *view* of the padded input (``as_strided``, no Python loop over pixels or images) copied once
into a contiguous matrix. A convolution with weight W of shape (O, C, kh, kw) is then the GEMM

    Y_rows = cols @ W_m,    W_m[(i, j, c), o] = W[o, c, i, j]                Y_rows: (N*Ho*Wo, O)

and Y_rows is the output in channels-last memory, (N, Ho, Wo, O), with no copy.

``col2im`` is the adjoint (transpose) of ``im2col``: it scatter-adds every entry of cols back to the pixel it came
from. It loops over the kh*kw kernel offsets (16 for a 4x4 kernel), each a strided slice add over all images,
pixels and channels at once. Because <im2col(x), c> = <x, col2im(c)>, col2im is exactly what the input gradient of
a convolution needs, and exactly what a transposed convolution's forward pass is.
"""

from __future__ import annotations

from minigan import backend, parallel


def _as_strided(xp):
    if xp.__name__ == "cupy":
        from cupy.lib.stride_tricks import as_strided
    else:
        from numpy.lib.stride_tricks import as_strided
    return as_strided


def output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """floor((size + 2 padding - kernel) / stride) + 1."""
    return (size + 2 * padding - kernel) // stride + 1


def channels_last(x):
    """NCHW array -> its (N, H, W, C) contiguous memory: a free view when x is channels-last already, else a copy
    (made on minigan's threads, :func:`minigan.parallel.copy`)."""
    x_nhwc = x.transpose(0, 2, 3, 1)
    if x_nhwc.flags.c_contiguous:
        return x_nhwc
    out = backend.array_module(x).empty(x_nhwc.shape, dtype=x.dtype)
    parallel.copy(x_nhwc, out)
    return out


def channels_first(x_nhwc):
    """(N, H, W, C) array -> the NCHW view of the same memory (no copy)."""
    return x_nhwc.transpose(0, 3, 1, 2)


def pad_nhwc(x, padding):
    """Zero-pad the H and W axes of (N, H, W, C) by (ph, pw) on each side."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    xp = backend.array_module(x)
    n, h, w, c = x.shape
    out = xp.zeros((n, h + 2 * ph, w + 2 * pw, c), dtype=x.dtype)
    out[:, ph : ph + h, pw : pw + w, :] = x
    return out


def im2col(x, kernel, stride, padding, out_hw=None):
    """x (N, H, W, C), contiguous -> cols (N*Ho*Wo, kh*kw*C), and (Ho, Wo).

    ``out_hw`` may fix (Ho, Wo) smaller than the formula gives (ConvTranspose2d's backward uses it).
    """
    xp = backend.array_module(x)
    (kh, kw), (sh, sw) = kernel, stride
    n, h, w, c = x.shape
    ho, wo = out_hw or (output_size(h, kh, sh, padding[0]), output_size(w, kw, sw, padding[1]))
    xpad = pad_nhwc(x, padding)
    s_n, s_h, s_w, s_c = xpad.strides
    windows = _as_strided(xp)(
        xpad, shape=(n, ho, wo, kh, kw, c), strides=(s_n, s_h * sh, s_w * sw, s_h, s_w, s_c)
    )
    return windows.reshape(n * ho * wo, kh * kw * c), (ho, wo)


def batch_chunks(n: int, bytes_per_sample: int, budget: int = 2 << 20, parts: int = 1):
    """Slices of the batch, each of at most max(1, budget // bytes_per_sample) samples, their sizes within one of
    each other, and their number a multiple of ``parts`` (the threads that will share them) where n allows.

    A layer whose temporary matrix (cols) would outgrow the caches at a large batch makes it chunk by chunk: the
    result is the same, and at batch 256 the transposed convolution of the canonical DCGAN ran 1.4x faster in
    chunks of 40 images (8 MB) than in one piece (its cols matrix is then 51 MB). On the 2-core machine of
    benchmarks/results (512 KB of L2 per core, 32 MB of L3), 2 MB chunks were as fast or faster than 8 MB ones
    and halve the step's transient memory; the timings there vary by 20% from run to run, so the gain is small.
    """
    if n < 1:
        return []
    most = max(1, budget // max(1, bytes_per_sample))
    count = -(-n // most)  # ceil(n / most)
    return parallel.even_slices(n, min(n, -(-count // parts) * parts))


def col2im(cols, x_shape, kernel, stride, padding, out_hw, out=None):
    """Adjoint of :func:`im2col`: cols (N*Ho*Wo, kh*kw*C) -> x (N, H, W, C), summing overlapping entries.

    ``out``: a zeroed padded buffer (N, H + 2 ph, W + 2 pw, C) to accumulate into (e.g. a batch slice of a larger
    one); by default a new one.

    Each strided add moves runs of C contiguous numbers. When the stride divides the kernel width and the padded
    width, the sw kernel columns j = sw v + b (b < sw) of one kernel row land on sw neighbouring pixels, so they
    are added together as one run of sw*C numbers: kh*kw/sw adds instead of kh*kw, with half the loop overhead for
    the DCGAN's stride 2 (its col2im at batch 64 took 0.34 instead of 0.45 ms per 10-image chunk). With few channels
    the runs are short either way and the plain loop is faster.
    """
    xp = backend.array_module(cols)
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    n, h, w, c = x_shape
    ho, wo = out_hw
    xpad = xp.zeros((n, h + 2 * ph, w + 2 * pw, c), dtype=cols.dtype) if out is None else out
    if c >= 8 and kw % sw == 0 and (w + 2 * pw) % sw == 0 and xpad.flags.c_contiguous:
        # xpad[n, r, sw Q + b, c] viewed as xpad_runs[n, r, Q, (b, c)]; cols[.., (i, j = sw v + b, c)] likewise
        runs = xpad.reshape(n, h + 2 * ph, (w + 2 * pw) // sw, sw * c)
        cols6 = cols.reshape(n, ho, wo, kh, kw // sw, sw * c)
        for i in range(kh):
            for v in range(kw // sw):
                runs[:, i : i + sh * ho : sh, v : v + wo, :] += cols6[:, :, :, i, v, :]
    else:
        cols6 = cols.reshape(n, ho, wo, kh, kw, c)
        for i in range(kh):
            for j in range(kw):
                xpad[:, i : i + sh * ho : sh, j : j + sw * wo : sw, :] += cols6[:, :, :, i, j, :]
    if ph == 0 and pw == 0:
        return xpad
    return xpad[:, ph : ph + h, pw : pw + w, :]
