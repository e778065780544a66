"""The one place for speed: layers whose samples are independent run on slices of the batch, on minigan's threads.

The layers in ``minigan.nn`` are plain array code: a convolution is one ``im2col``, one GEMM and one ``col2im``
over the whole batch (:mod:`minigan.reference` runs them so). On NumPy that leaves speed behind in two places:

* NumPy runs every copy and every elementwise pass on one core; only its BLAS uses more. In a convolution the
  im2col copy and the col2im scatter then run on one core while the other waits.
* im2col's matrix is kh*kw / (sh*sw) times the size of the input (4x for the DCGAN's 4x4 kernels of stride 2). At
  a large batch it outgrows the caches, so the GEMM reads back from memory what the copy has just written.

Both go away when a layer whose samples do not interact runs on *chunks* of the batch (about ``CHUNK_BYTES`` of
input each, so that each chunk's temporaries stay in cache) and the chunks are shared among threads, each running
the layer's own plain code with a one-thread BLAS. It is data parallelism inside one layer call, as data-parallel
training does it across machines:

* every chunk gets a *replica* of the layer: the same parameter arrays, its own forward cache;
* the replicas of one thread add their parameter gradients into buffers of that thread; after the backward pass
  these are added into the layer's gradients in thread order, so the result depends on the number of threads,
  never on which thread finishes first;
* outputs are written into one array for the whole batch, each chunk's rows by the thread that made them.

Which layers: those that declare ``per_sample = True`` (sample n's output depends only on sample n's input, and the
parameter gradient is a sum over samples): Dense, the convolutions, Flatten, Reshape, ReflectionPad2d, Upsample,
InstanceNorm2d (without running statistics), Embedding, and the activations from
ELEMENTWISE_BYTES of input on (below that a pass over memory gains less than its chunks cost). BatchNorm mixes the
samples through its batch statistics: its passes run over blocks of rows instead (see below). Dropout draws from
one random stream: it runs whole. Dense and the convolutions have kernels of their own here, which fuse their
steps chunk by chunk (see below); the other layers run their own code on replicas.

When: only inside ``with fast.threads(batch):``, which every trainer enters once per iteration and the benchmark
once per step; on NumPy arrays; with more than one thread; on a batch of at least ``MIN_BATCH`` samples (a block
for a smaller batch does nothing). Inside the
block NumPy's BLAS is held at one thread (``threadpoolctl``): two threads of minigan's calling a two-thread BLAS
would ask for four threads on two cores. Everywhere else, and on CuPy (the GPU takes the whole batch at once),
layers run as :mod:`minigan.reference` runs them. A backward or jvp call follows the way its forward ran.

Memory order: an output of rank 4 assembled here is allocated channels-last ((N, H, W, C) memory, handed out as
its NCHW view), the order in which a convolution's GEMM produces its rows (nn/im2col.py). A stack of convolutions,
BatchNorms and activations then passes along arrays that need no reordering copy.

    threads(batch=None)                                the block (re-entrant)
    forward(layer, x, train)                           as minigan.reference.forward
    backward(layer, dy, param_grads, input_grad)       as minigan.reference.backward
    jvp(layer, g, t)                                   as minigan.reference.jvp
    update(rule, p, g, *slots)                         an optimizer's rule(p, g, *slots), in parts on the threads
    num_threads(), set_num_threads(n)                  MINIGAN_THREADS if set, else as many as NumPy's BLAS has

tests/test_fast.py checks every path here against minigan.reference over random shapes, strides and paddings;
benchmarks/fast_policy.py measures the choices made here, and benchmarks/results has what they buy.
"""

from __future__ import annotations

import itertools
import os
import re
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np

from minigan import reference

SMALL_WORK = 1 << 19  # elements (multiply-adds for Dense) below which a kernel's pass runs inline
MIN_BATCH = 64  # smaller batches run whole (BLAS on its own threads): at 32 that was faster (benchmarks/results)
CHUNK_BYTES = 1 << 20  # input bytes per chunk
ELEMENTWISE_BYTES = 4 << 20  # an elementwise layer runs in chunks from this much input on

_threads: int | None = None  # minigan's threads; None until first asked
_pool: ThreadPoolExecutor | None = None  # num_threads() - 1 workers; the calling thread is the first
_blas = None  # threadpoolctl's controller of NumPy's BLAS
_depth = 0  # nesting of threads() blocks
_limiter = None  # threadpoolctl's hold on BLAS while a block is open
_splits: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # layer -> _Split of its last forward in chunks


# ---------------------------------------------------------------------------------------------------------------
# threads
# ---------------------------------------------------------------------------------------------------------------
def _blas_controller():
    global _blas
    if _blas is None:
        from threadpoolctl import ThreadpoolController

        _blas = ThreadpoolController().select(user_api="blas")
    return _blas


def blas_threads() -> int | None:
    """How many threads NumPy's BLAS uses now (None when threadpoolctl finds no BLAS it can control)."""
    counts = [lib["num_threads"] for lib in _blas_controller().info()]
    return max(counts) if counts else None


def threads_from_environment() -> int | None:
    """The thread count ``MINIGAN_THREADS`` asks for, read anew: None when unset or blank, else a positive integer
    written in ASCII digits (surrounding spaces allowed). Anything else ("abc", "0", "-1", "1.5") raises a
    ValueError naming the variable; the ``minigan`` command calls this when it starts, so a bad value is reported
    before any work, not at the first layer call."""
    env = os.environ.get("MINIGAN_THREADS")
    if env is None or not env.strip():
        return None
    text = env.strip()
    if not re.fullmatch(r"[0-9]{1,9}", text) or int(text) < 1:  # up to 999,999,999: no int() of a huge string
        raise ValueError(f"MINIGAN_THREADS must be a positive integer (a thread count such as 4), got {env!r}")
    return int(text)


def num_threads() -> int:
    """The number of threads minigan shares a layer call among (1: none of its own)."""
    if _threads is None:
        n = threads_from_environment()
        set_num_threads(n if n is not None else blas_threads() or 1)
    return _threads


def set_num_threads(n: int) -> None:
    """Share layer calls among ``n`` threads from now on (1: every layer runs whole, as minigan.reference)."""
    global _threads
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"minigan needs a positive integer number of threads, got {n!r}")
    if n > 1 and blas_threads() is None:
        n = 1  # no BLAS that threadpoolctl can hold at one thread: threads of ours would oversubscribe the cores
    _threads = int(n)


def _workers() -> ThreadPoolExecutor:
    """The pool, with at least num_threads() - 1 workers. It is made anew only to grow: fewer threads just use
    fewer of its workers (the benchmark's one-thread rounds would otherwise start a thread every round)."""
    global _pool
    if _pool is None or _pool._max_workers < num_threads() - 1:
        if _pool is not None:
            _pool.shutdown(wait=True)
        _pool = ThreadPoolExecutor(max_workers=num_threads() - 1, thread_name_prefix="minigan")
    return _pool


def _forget_pool_after_fork():
    global _pool, _depth, _limiter
    _pool, _depth, _limiter = None, 0, None  # a forked child has the pool object but none of its threads


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


@contextmanager
def threads(batch: int | None = None):
    """Inside this block, layer calls on NumPy batches of at least MIN_BATCH run in chunks on minigan's threads,
    with NumPy's BLAS held at one thread; afterwards BLAS has its threads back. Blocks may nest.

    ``batch``: the batch size the block's work runs on (a trainer's m). Below MIN_BATCH the block does nothing, so
    that BLAS keeps its own threads for work too small to cut into chunks."""
    global _depth, _limiter
    if batch is not None and batch < MIN_BATCH:
        yield
        return
    if _depth == 0 and num_threads() > 1:
        _limiter = _blas_controller().limit(limits=1)
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and _limiter is not None:
            _limiter.restore_original_limits()
            _limiter = None


def _run(fn, groups: list[list[int]]) -> None:
    """fn(i) for every chunk index i: groups[0] on the calling thread, the others on the workers (serially when
    outside a threads() block). Every worker has finished before this returns or raises."""
    if len(groups) == 1 or _depth == 0 or num_threads() == 1:
        for group in groups:
            for i in group:
                fn(i)
        return

    def each(group):
        for i in group:
            fn(i)

    futures = [_workers().submit(each, group) for group in groups[1:]]
    error = None
    try:
        each(groups[0])
    except BaseException as exc:  # noqa: BLE001 - raised again after the workers are done with the arrays
        error = exc
    for future in futures:
        try:
            future.result()
        except BaseException as exc:  # noqa: BLE001 - the first error is raised below
            error = error or exc
    if error is not None:
        raise error


# ---------------------------------------------------------------------------------------------------------------
# optimizers
# ---------------------------------------------------------------------------------------------------------------
UPDATE_ELEMENTS = 1 << 17  # a parameter of at least this many elements is updated in parts, one per thread


def update(rule, p, g, *slots) -> None:
    """rule(p, g, *slots): an optimizer's elementwise update of one parameter in place. Inside a threads() block, a
    NumPy parameter of at least UPDATE_ELEMENTS elements is cut into one contiguous part per thread (the rule runs
    on each part's flat views: elementwise, so the parts do not interact); else the rule runs on the whole arrays."""
    arrays = (p, g, *slots)
    if (_depth == 0 or type(p) is not np.ndarray or p.size < UPDATE_ELEMENTS or num_threads() == 1
            or not all(type(a) is np.ndarray and a.flags.c_contiguous and a.shape == p.shape for a in arrays)):
        rule(p, g, *slots)
        return
    flat = [a.reshape(-1) for a in arrays]
    parts = even_slices(p.size, num_threads())
    _run(lambda i: rule(*(a[parts[i]] for a in flat)), [[i] for i in range(len(parts))])


# ---------------------------------------------------------------------------------------------------------------
# chunks and replicas
# ---------------------------------------------------------------------------------------------------------------
def even_slices(n: int, parts: int) -> list[slice]:
    """range(n) cut into ``parts`` contiguous slices whose lengths differ by at most one (none empty, parts <= n)."""
    size, extra = divmod(n, parts)
    bounds = [p * size + min(p, extra) for p in range(parts + 1)]
    return [slice(start, stop) for start, stop in itertools.pairwise(bounds)]


def chunk_slices(n: int, nbytes: int, threads: int, budget: int | None = None) -> list[slice]:
    """The batch's chunks: about ``budget`` (default CHUNK_BYTES) of ``nbytes`` each, at least one per thread, their
    number a multiple of ``threads`` where n allows (so the threads get equal shares)."""
    count = max(threads, -(-nbytes // (budget or CHUNK_BYTES)))
    return even_slices(n, min(n, -(-count // threads) * threads))


def thread_groups(count: int, threads: int) -> list[list[int]]:
    """Chunk indices 0..count-1 in contiguous groups, one per thread (fewer when there are fewer chunks)."""
    return [list(range(count))[s] for s in even_slices(count, min(threads, count))]


class _Split:
    """How one forward call was cut: the chunks, which thread runs which, and a replica of the layer per chunk."""

    def __init__(self, n: int, slices: list[slice], threads: int, replicas: list):
        self.n, self.slices = n, slices
        self.groups = thread_groups(len(slices), threads)
        self.replicas = replicas

    def give_gradient_buffers(self, layer):
        """The first thread's replicas add into the layer's own gradients, the others' into zeroed buffers of
        their thread; returns those buffers, one dict per further thread."""
        extra = []
        for g, group in enumerate(self.groups):
            grads = layer._grads
            if g > 0:
                grads = {k: np.zeros_like(v) for k, v in layer._grads.items()}
                extra.append(grads)
            for i in group:
                self.replicas[i]._grads = grads
        return extra


def _replicas(layer, count: int) -> list:
    """``count`` replicas of the layer, each a plain copy of its attributes as they are now (the parameter dict
    itself is shared, not copied); kept between calls so that only their attributes are refreshed."""
    split = _splits.get(layer)
    replicas = split.replicas if split is not None else []
    while len(replicas) < count:
        replicas.append(object.__new__(type(layer)))
    for replica in replicas[:count]:
        replica.__dict__.clear()
        replica.__dict__.update(layer.__dict__)
    return replicas[:count]


class _Output:
    """The output of a call in chunks, allocated when the first chunk arrives (its shape tells the rest)."""

    def __init__(self, n: int):
        self.n, self.array, self._lock = n, None, threading.Lock()

    def put(self, rows: slice, y) -> None:
        with self._lock:
            if self.array is None:
                shape = (self.n,) + tuple(y.shape[1:])
                if len(shape) == 4:  # channels-last memory, the NCHW view of it
                    n, c, h, w = shape
                    self.array = np.empty((n, h, w, c), dtype=y.dtype).transpose(0, 3, 1, 2)
                else:
                    self.array = np.empty(shape, dtype=y.dtype)
        self.array[rows] = y


def _engaged(layer, x) -> bool:
    """Chunks pay for a per-sample layer on a batch of at least MIN_BATCH NumPy samples inside a threads() block;
    for an elementwise one (a single pass over memory, plus a copy of each chunk) only from ELEMENTWISE_BYTES of
    input (benchmarks/results/fast_policy.md)."""
    if not (_depth > 0 and getattr(layer, "per_sample", False) and type(x) is np.ndarray and x.ndim >= 1
            and x.shape[0] >= MIN_BATCH and num_threads() > 1):
        return False
    if getattr(layer, "elementwise", False):
        return x.nbytes >= ELEMENTWISE_BYTES or _kernels(layer) is not None
    return bool(layer._params) or not x.flags.c_contiguous  # Flatten, Reshape: of C-ordered memory, a free view


# ---------------------------------------------------------------------------------------------------------------
# the interface (as minigan.reference)
# ---------------------------------------------------------------------------------------------------------------
def forward(layer, x, train: bool):
    """y = f(x), in chunks on the threads when engaged (see the module docstring), else as the reference."""
    _calls.pop(layer, None)
    if _batchnorm_engaged(layer, x):
        return _batchnorm_forward(layer, x, train)
    if not _engaged(layer, x):
        _splits.pop(layer, None)
        return reference.forward(layer, x, train)
    kernels = _kernels(layer)
    if kernels is not None:
        _splits.pop(layer, None)
        return kernels[0](layer, x)
    threads, n = num_threads(), x.shape[0]
    slices = chunk_slices(n, x.nbytes, threads)
    split = _Split(n, slices, threads, _replicas(layer, len(slices)))
    _splits[layer] = split
    layer._clear_cache()  # the layer's own cache would be stale: the replicas hold this call's
    out = _Output(n)
    _run(lambda i: out.put(slices[i], split.replicas[i]._forward(x[slices[i]], train)), split.groups)
    return out.array


def _per_chunk(layer, method: str, a, b, param_grads: bool, want_output: bool):
    """Call ``method`` of every replica on its chunk of a and b; gradient buffers added in thread order."""
    split = _splits[layer]
    out = _Output(split.n) if want_output else None
    extra = split.give_gradient_buffers(layer) if param_grads else []

    def chunk(i):
        rows, replica = split.slices[i], split.replicas[i]
        if method == "backward":
            y = replica._backward(a[rows], param_grads, want_output)
        else:
            y = replica._jvp(a[rows], b[rows])
        if want_output:
            out.put(rows, y)

    _run(chunk, split.groups)
    for grads in extra:
        for name, g in grads.items():
            layer._grads[name] += g
    return out.array if want_output else None


def backward(layer, dy, param_grads: bool, input_grad: bool):
    """dx = J^T dy, and dL/dtheta added into the layer's gradients; as its forward ran (chunks or whole)."""
    if _batchnorm_engaged(layer, dy):
        return _batchnorm_backward(layer, dy, param_grads, input_grad)
    if layer in _calls:
        return _kernels(layer)[1](layer, dy, param_grads, input_grad)
    if layer not in _splits:
        return reference.backward(layer, dy, param_grads, input_grad)
    return _per_chunk(layer, "backward", dy, None, param_grads, input_grad)


def jvp(layer, g, t):
    """J t at the cached input, and the gradient penalty's weight gradient g (x) t; as its forward ran."""
    kernels = _kernels(layer) if layer in _calls else None
    if kernels is not None and kernels[2] is not None:
        return kernels[2](layer, g, t)
    if layer not in _splits:
        return reference.jvp(layer, g, t)
    return _per_chunk(layer, "jvp", g, t, True, True)


# ---------------------------------------------------------------------------------------------------------------
# BatchNorm: the one layer that mixes the samples, in passes over blocks of rows
# ---------------------------------------------------------------------------------------------------------------
# Its statistics are sums over the batch, so it cannot run in chunks; but each of its passes can: sums over blocks
# of rows (products with a vector of ones, which BLAS runs several times as fast as NumPy's sum over the first
# axis), added in block order, and elementwise passes block by block. The caches it leaves (x, mu, 1/sigma, the
# mode) are the layer's own, so either path's backward may follow either path's forward.
def _batchnorm_engaged(layer, a) -> bool:
    if _depth == 0 or type(a) is not np.ndarray or a.shape[0] < MIN_BATCH or num_threads() == 1:
        return False
    from minigan.nn.norm import _BatchNorm

    return isinstance(layer, _BatchNorm)


def _row_blocks(X) -> tuple[list[list[int]], list[slice]]:
    """One block of rows per thread, or one block on the calling thread below SMALL_WORK elements (handing a pass
    to another thread costs more than it saves there)."""
    m = X.shape[0]
    parts = min(num_threads(), m) if X.size >= SMALL_WORK else 1
    return [[i] for i in range(parts)], even_slices(m, parts)


def _column_sums(rows_of, blocks, slices):
    """sum over blocks of rows_of(block slice) summed over its rows, added in block order."""
    parts = [None] * len(slices)

    def block(i):
        parts[i] = rows_of(slices[i])

    _run(block, blocks)
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def _ones_times(A, blocks, slices):
    """1^T A: A's column sums, as products with a vector of ones over its blocks of rows."""
    return _column_sums(lambda s: np.ones(s.stop - s.start, A.dtype) @ A[s], blocks, slices)


def _batchnorm_forward(layer, x, train: bool):
    """y = x scale + shift, scale = gamma / sigma, shift = beta - mu scale: x_hat is never formed."""
    X = layer._rows(x)  # (M, C)
    m = X.shape[0]
    if train and m < 2:
        return reference.forward(layer, x, train)  # the layer's own error
    blocks, slices = _row_blocks(X)
    Y = np.empty_like(X)
    if train:
        mu = _ones_times(X, blocks, slices) / m

        def center(s):  # Y <- X - mu; returns this block's sum of squares
            np.subtract(X[s], mu, out=Y[s])
            return np.einsum("mc,mc->c", Y[s], Y[s])

        var = _column_sums(center, blocks, slices) / m
        layer._update_running_statistics(mu, var, m)
    else:
        mu, var = layer._buffers["running_mean"], layer._buffers["running_var"]
        _run(lambda i: np.subtract(X[slices[i]], mu, out=Y[slices[i]]), blocks)
    layer._train_mode, layer._x, layer._mu = train, X, mu  # the layer's own caches
    layer._inv_std = 1 / np.sqrt(var + x.dtype.type(layer.eps))
    scale = layer._params["weight"] * layer._inv_std if layer.affine else layer._inv_std

    def affine(i):  # Y <- (X - mu) scale + beta
        Y[slices[i]] *= scale
        if layer.affine:
            Y[slices[i]] += layer._params["bias"]

    _run(affine, blocks)
    return layer._unrows(Y, x)


def _batchnorm_backward(layer, dy, param_grads: bool, input_grad: bool):
    """The layer's backward as an affine map of dy and x per channel, so that no x_hat is formed: with
    k = gamma / sigma, sum dy x_hat = (sum dy x - mu sum dy) / sigma and dL/dx = k dy + b x + c,
    b = -(k / sigma) <dy x_hat>, c = -k <dy> - b mu."""
    DY, X, mu, inv_std = layer._rows(dy), layer._x, layer._mu, layer._inv_std
    m = DY.shape[0]
    blocks, slices = _row_blocks(DY)
    sums = _column_sums(lambda s: np.stack([np.ones(s.stop - s.start, DY.dtype) @ DY[s],
                                            np.einsum("mc,mc->c", DY[s], X[s])]), blocks, slices)
    sum_dy, sum_dy_x_hat = sums[0], (sums[1] - mu * sums[0]) * inv_std
    if layer.affine and param_grads:
        layer._grads["weight"] += sum_dy_x_hat
        layer._grads["bias"] += sum_dy
    if not input_grad:
        return None
    k = layer._params["weight"] * inv_std if layer.affine else inv_std
    DX = np.empty_like(DY)
    if layer._train_mode:
        b = -(k * inv_std) * (sum_dy_x_hat / m)
        c = -k * (sum_dy / m) - b * mu

        def affine(i):  # DX = k DY + b X + c
            s = slices[i]
            np.multiply(DY[s], k, out=DX[s])
            DX[s] += X[s] * b
            DX[s] += c
    else:
        def affine(i):
            np.multiply(DY[slices[i]], k, out=DX[slices[i]])

    _run(affine, blocks)
    return layer._unrows(DX, dy)


# ---------------------------------------------------------------------------------------------------------------
# The convolutions: im2col, GEMM and col2im fused chunk by chunk
# ---------------------------------------------------------------------------------------------------------------
# The layers' own code (nn/conv.py) makes one im2col matrix, one GEMM and one col2im over its whole input. Here the
# three run chunk by chunk of the batch, each chunk's cols made, multiplied and dropped while it is in cache, each
# chunk's GEMM writing straight into its rows of the output (no copy), the weight matrix made once per call and
# kept for the backward pass, col2im adding sw kernel columns at once where the stride allows. The caches left on
# the layer (its input x) are those of its own forward. tests/test_fast.py holds these against nn/conv.py.
COLS_BYTES = 2 << 20  # bytes of im2col's matrix per chunk
_calls: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # layer -> _KernelCall of its last forward here


class _KernelCall:
    """One call of a kernel here: its chunks, which thread runs each, and the weight matrix W_m it used."""

    def __init__(self, n: int, nbytes: int, budget: int, w_m=None, work: int | None = None):
        """``work``: elements (or multiply-adds) of the call; below SMALL_WORK it runs as one chunk, inline."""
        threads = num_threads() if work is None or work >= SMALL_WORK else 1
        self.slices = chunk_slices(n, nbytes, threads, budget) if threads > 1 else [slice(0, n)]
        self.groups = thread_groups(len(self.slices), threads)
        self.group_of = {i: g for g, group in enumerate(self.groups) for i in group}
        self.w_m = w_m

    def run_summing(self, fn, shape, dtype, summing: bool):
        """fn(i, acc) for every chunk, acc a zeroed (shape) array of the chunk's thread when ``summing`` (else None);
        returns the threads' sums added in thread order (None when not summing)."""
        accs = [np.zeros(shape, dtype) if summing else None for _ in self.groups]
        _run(lambda i: fn(i, accs[self.group_of[i]]), self.groups)
        if not summing:
            return None
        total = accs[0]
        for acc in accs[1:]:
            total += acc
        return total


def _kernels(layer):
    from minigan.nn.activations import LeakyReLU, ReLU
    from minigan.nn.conv import Conv2d, ConvTranspose2d
    from minigan.nn.dense import Dense

    kind = type(layer)
    if kind is ReLU:
        return _relu_forward, _times_cache, _times_cache_jvp
    if kind is LeakyReLU:
        return _leaky_relu_forward, _times_cache, _times_cache_jvp
    if kind is Dense:
        return _dense_forward, _dense_backward, _dense_jvp
    if kind is Conv2d:
        return _conv2d_forward, _conv2d_backward, _conv2d_jvp
    if kind is ConvTranspose2d:
        return _conv_transpose2d_forward, _conv_transpose2d_backward, None
    return None


def _channels_last(x):
    """x (N, C, H, W) as the NCHW view of channels-last memory: x itself when it is so, else a copy on the threads."""
    if x.transpose(0, 2, 3, 1).flags.c_contiguous:
        return x
    n, c, h, w = x.shape
    out = np.empty((n, h, w, c), dtype=x.dtype).transpose(0, 3, 1, 2)
    blocks = even_slices(n, min(n, num_threads()))
    _run(lambda i: out.__setitem__(blocks[i], x[blocks[i]]), [[i] for i in range(len(blocks))])
    return out


def _col2im(cols, x_shape, kernel, stride, padding, out_hw):
    """nn.im2col.col2im, adding the sw kernel columns j = sw v + b (b < sw) of a kernel row at once when the stride
    divides the kernel width and the padded width: they land on sw neighbouring pixels, one run of sw*C numbers,
    so kh*kw/sw strided adds instead of kh*kw. Only worth it with several channels."""
    from minigan.nn.im2col import col2im

    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    n, c, h, w = x_shape
    if c < 8 or kw % sw or (w + 2 * pw) % sw:
        return col2im(cols, x_shape, kernel, stride, padding, out_hw)
    ho, wo = out_hw
    x_pad = np.zeros((n, h + 2 * ph, (w + 2 * pw) // sw, sw * c), dtype=cols.dtype)  # pixels in runs of sw
    fields = cols.reshape(n, ho, wo, kh, kw // sw, sw * c)
    for i in range(kh):
        for v in range(kw // sw):
            x_pad[:, i : i + sh * ho : sh, v : v + wo, :] += fields[:, :, :, i, v, :]
    x_pad = x_pad.reshape(n, h + 2 * ph, w + 2 * pw, c)
    return x_pad[:, ph : ph + h, pw : pw + w, :].transpose(0, 3, 1, 2)


def _bias_grad(layer, dy_rows):
    """dL/db += 1^T dY_rows, over blocks of rows on the threads."""
    if "bias" in layer._grads:
        layer._grads["bias"] += _ones_times(dy_rows, *_row_blocks(dy_rows))


def _conv2d_forward(layer, x):
    from minigan.nn.im2col import im2col, output_size, rows_to_images

    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = layer.kernel_size, layer.stride, layer.padding
    ho, wo = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
    x = _channels_last(x)
    call = _KernelCall(n, n * ho * wo * kh * kw * c * x.itemsize, COLS_BYTES, layer._weight_matrix())
    layer._x, _calls[layer] = x, call
    y_rows = np.empty((n * ho * wo, layer.out_channels), dtype=x.dtype)
    bias = layer._params.get("bias")

    def chunk(i, _):  # Y_rows = im2col(x) W_m + 1 b^T, this chunk's rows
        b = call.slices[i]
        rows = slice(b.start * ho * wo, b.stop * ho * wo)
        cols, _ = im2col(x[b], layer.kernel_size, layer.stride, layer.padding)
        np.matmul(cols, call.w_m, out=y_rows[rows])
        if bias is not None:
            y_rows[rows] += bias

    call.run_summing(chunk, None, None, False)
    return rows_to_images(y_rows, n, ho, wo)


def _conv2d_backward(layer, dy, param_grads: bool, input_grad: bool):
    from minigan.nn.im2col import im2col, images_to_rows

    x, call = layer._x, _calls[layer]
    n, c, h, w = x.shape
    ho, wo = dy.shape[2:]
    dy_rows = images_to_rows(_channels_last(dy))  # (N*Ho*Wo, O), a view
    dx = np.empty((n, h, w, c), dtype=dy.dtype).transpose(0, 3, 1, 2) if input_grad else None

    def chunk(i, dw_m_t):  # dL/dW_m^T += dY^T C and dx = col2im(dY W_m^T), this chunk's samples
        b = call.slices[i]
        rows = slice(b.start * ho * wo, b.stop * ho * wo)
        if param_grads:
            cols, _ = im2col(x[b], layer.kernel_size, layer.stride, layer.padding)
            dw_m_t += dy_rows[rows].T @ cols
        if input_grad:
            dx[b] = _col2im(dy_rows[rows] @ call.w_m.T, (b.stop - b.start, c, h, w), layer.kernel_size,
                            layer.stride, layer.padding, (ho, wo))

    dw_m_t = call.run_summing(chunk, call.w_m.T.shape, dy.dtype, param_grads)
    if param_grads:
        layer._add_weight_grad(dw_m_t)
        _bias_grad(layer, dy_rows)
    return dx


def _conv2d_jvp(layer, g, t):
    from minigan.nn.im2col import im2col, images_to_rows, rows_to_images

    call = _calls[layer]
    n = t.shape[0]
    g_rows = images_to_rows(_channels_last(g))
    ho, wo = g.shape[2:]
    out_rows = np.empty((n * ho * wo, layer.out_channels), dtype=t.dtype)

    def chunk(i, dw_m_t):  # dP/dW_m^T += G^T im2col(t);  J t = im2col(t) W_m
        b = call.slices[i]
        rows = slice(b.start * ho * wo, b.stop * ho * wo)
        cols_t, _ = im2col(t[b], layer.kernel_size, layer.stride, layer.padding)
        dw_m_t += g_rows[rows].T @ cols_t
        np.matmul(cols_t, call.w_m, out=out_rows[rows])

    layer._add_weight_grad(call.run_summing(chunk, call.w_m.T.shape, t.dtype, True))
    return rows_to_images(out_rows, n, ho, wo)


def _conv_transpose2d_forward(layer, x):
    from minigan.nn.im2col import images_to_rows

    n, _, h, w = x.shape
    ho, wo = layer.output_hw(h, w)
    x = _channels_last(x)
    w_m = layer._weight_matrix()  # (kh*kw*C_out, C_in)
    call = _KernelCall(n, n * h * w * w_m.shape[0] * x.itemsize, COLS_BYTES, w_m)
    layer._x, _calls[layer] = x, call
    x_rows, w_t = images_to_rows(x), w_m.T  # (N*H*W, C_in), (C_in, kh*kw*C_out)
    y = np.empty((n, ho, wo, layer.out_channels), dtype=x.dtype).transpose(0, 3, 1, 2)
    bias = layer._params.get("bias")

    def chunk(i, _):  # Y = col2im(X_rows W_m^T) + b, this chunk's images
        b = call.slices[i]
        cols = x_rows[b.start * h * w : b.stop * h * w] @ w_t
        window = _col2im(cols, (b.stop - b.start, layer.out_channels, ho, wo), layer.kernel_size, layer.stride,
                         layer.padding, (h, w))
        if bias is not None:
            np.add(window, bias[:, None, None], out=y[b])
        else:
            y[b] = window

    call.run_summing(chunk, None, None, False)
    return y


def _conv_transpose2d_backward(layer, dy, param_grads: bool, input_grad: bool):
    from minigan.nn.im2col import im2col, images_to_rows

    x, call = layer._x, _calls[layer]
    n, c_in, h, w = x.shape
    dy = _channels_last(dy)
    x_rows = images_to_rows(x)
    dx_rows = np.empty((n * h * w, c_in), dtype=dy.dtype) if input_grad else None

    def chunk(i, dw_m_t):  # dL/dW_m^T += X_rows^T im2col(dY);  dL/dX_rows = im2col(dY) W_m
        b = call.slices[i]
        rows = slice(b.start * h * w, b.stop * h * w)
        dcols, _ = im2col(dy[b], layer.kernel_size, layer.stride, layer.padding, out_hw=(h, w))
        if param_grads:
            dw_m_t += x_rows[rows].T @ dcols
        if input_grad:
            np.matmul(dcols, call.w_m, out=dx_rows[rows])

    dw_m_t = call.run_summing(chunk, call.w_m.T.shape, dy.dtype, param_grads)
    if param_grads:
        layer._add_weight_grad(dw_m_t)
        _bias_grad(layer, images_to_rows(dy))
    if not input_grad:
        return None
    return dx_rows.reshape(n, h, w, c_in).transpose(0, 3, 1, 2)


# Dense: rows of the batch on the threads, each writing its rows of the output; with one output, dx = dy W is an
# outer product, made by broadcasting (OpenBLAS's GEMM with an inner size of 1 is many times slower,
# benchmarks/results/fast_policy.md).
def _dense_forward(layer, x):
    n = x.shape[0]
    call = _KernelCall(n, x.nbytes, CHUNK_BYTES, work=x.size * layer.out_features)
    layer._x, _calls[layer] = x, call
    w, bias = layer._params["weight"], layer._params.get("bias")
    y = np.empty((n, layer.out_features), dtype=x.dtype)

    def chunk(i, _):  # y = x W^T + b, this chunk's rows
        b = call.slices[i]
        np.matmul(x[b], w.T, out=y[b])
        if bias is not None:
            y[b] += bias

    call.run_summing(chunk, None, None, False)
    return y


def _dense_backward(layer, dy, param_grads: bool, input_grad: bool):
    x, call, w = layer._x, _calls[layer], layer._params["weight"]
    if param_grads:  # dW += dy^T x, a block of W's rows (output features) per thread: no buffers to add up
        out_rows = even_slices(w.shape[0], min(w.shape[0], num_threads()))
        grad = layer._grads["weight"]
        _run(lambda i: grad.__setitem__(out_rows[i], grad[out_rows[i]] + dy[:, out_rows[i]].T @ x),
             [[i] for i in range(len(out_rows))])
        if "bias" in layer._grads:
            layer._grads["bias"] += dy.sum(axis=0)
    if not input_grad:
        return None
    dx = np.empty_like(x, dtype=dy.dtype)

    def chunk(i, _):  # dx = dy W, this chunk's rows
        b = call.slices[i]
        if w.shape[0] == 1:
            np.multiply(dy[b], w, out=dx[b])
        else:
            np.matmul(dy[b], w, out=dx[b])

    call.run_summing(chunk, None, None, False)
    return dx


def _dense_jvp(layer, g, t):
    call, w = _calls[layer], layer._params["weight"]
    out = np.empty((t.shape[0], w.shape[0]), dtype=t.dtype)

    def chunk(i, dw):  # dP/dW += g^T t;  J t = t W^T
        b = call.slices[i]
        dw += g[b].T @ t[b]
        np.matmul(t[b], w.T, out=out[b])

    layer._grads["weight"] += call.run_summing(chunk, w.shape, t.dtype, True)
    return out


# ---------------------------------------------------------------------------------------------------------------
# ReLU and LeakyReLU: their passes written in place, block by block
# ---------------------------------------------------------------------------------------------------------------
# The layers' own code allocates its output and its cache; run on replicas, each chunk's output would then be
# copied into the batch's output, a further pass over memory. Here the same ufuncs write into the batch's arrays
# directly, one block of samples per thread (inline below SMALL_WORK elements). The cache left on the layer is the
# layer's own (ReLU: [x > 0] as booleans; LeakyReLU: f'(x)), so either path's backward may follow either forward.
class _Blocks:
    """One call of an elementwise kernel: its blocks of samples (one per thread, or one inline)."""

    def __init__(self, a):
        self.groups, self.slices = _row_blocks(a)

    def run(self, fn):
        _run(lambda i: fn(self.slices[i]), self.groups)


def _relu_forward(layer, x):
    """y = max(x, 0), cache [x > 0]."""
    y, positive = np.empty_like(x), np.empty_like(x, dtype=bool)
    blocks = _calls[layer] = _Blocks(x)

    def block(s):
        np.greater(x[s], 0, out=positive[s])
        np.maximum(x[s], 0, out=y[s])

    blocks.run(block)
    layer._cache = positive
    return y


def _leaky_relu_forward(layer, x):
    """y = f'(x) x, cache f'(x) = a + (1 - a) [x > 0]."""
    a = layer.negative_slope
    y, fprime = np.empty_like(x), np.empty_like(x)
    blocks = _calls[layer] = _Blocks(x)

    def block(s):
        np.greater(x[s], 0, out=fprime[s])
        fprime[s] *= 1 - a
        fprime[s] += a
        np.multiply(x[s], fprime[s], out=y[s])

    blocks.run(block)
    layer._cache = fprime
    return y


def _times_cache(layer, dy, param_grads: bool, input_grad: bool):
    """dx = dy f'(x), f'(x) the cache (both layers' backward)."""
    dx = np.empty_like(dy)
    _calls[layer].run(lambda s: np.multiply(dy[s], layer._cache[s], out=dx[s]))
    return dx


def _times_cache_jvp(layer, g, t):
    """J t = t f'(x) (both layers are piecewise linear)."""
    return _times_cache(layer, t, False, True)
