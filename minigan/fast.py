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
parameter gradient is a sum over samples): Dense, the convolutions, the activations, Flatten, Reshape. BatchNorm
mixes the samples through its batch statistics and Dropout draws from one random stream: they run whole.

When: only inside ``with fast.threads():``, which every trainer enters once per iteration and the benchmark once
per step; on NumPy arrays; with more than one thread; on a batch of at least ``MIN_BATCH`` samples. Inside the
block NumPy's BLAS is held at one thread (``threadpoolctl``): two threads of minigan's calling a two-thread BLAS
would ask for four threads on two cores. Everywhere else, and on CuPy (the GPU takes the whole batch at once),
layers run as :mod:`minigan.reference` runs them. A backward or jvp call follows the way its forward ran.

Memory order: an output of rank 4 assembled here is allocated channels-last ((N, H, W, C) memory, handed out as
its NCHW view), the order in which a convolution's GEMM produces its rows (nn/im2col.py). A stack of convolutions,
BatchNorms and activations then passes along arrays that need no reordering copy.

    threads()                                          the block (re-entrant)
    forward(layer, x, train)                           as minigan.reference.forward
    backward(layer, dy, param_grads, input_grad)       as minigan.reference.backward
    jvp(layer, g, t)                                   as minigan.reference.jvp
    num_threads(), set_num_threads(n)                  MINIGAN_THREADS if set, else as many as NumPy's BLAS has

tests/test_fast.py checks every function here against minigan.reference over random shapes, strides and
paddings, and benchmarks/results has what this buys.
"""

from __future__ import annotations

import os
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np

from minigan import reference

MIN_BATCH = 32  # smaller batches run whole: the work is too small to share
CHUNK_BYTES = 1 << 20  # input bytes per chunk

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


def num_threads() -> int:
    """The number of threads minigan shares a layer call among (1: none of its own)."""
    if _threads is None:
        env = os.environ.get("MINIGAN_THREADS")
        if env is not None and env.strip():
            text = env.strip()
            if not text.isdigit() or int(text) < 1:
                raise ValueError(f"MINIGAN_THREADS must be a positive integer, got {env!r}")
            set_num_threads(int(text))
        else:
            set_num_threads(blas_threads() or 1)
    return _threads


def set_num_threads(n: int) -> None:
    """Share layer calls among ``n`` threads from now on (1: every layer runs whole, as minigan.reference)."""
    global _threads, _pool
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"minigan needs a positive integer number of threads, got {n!r}")
    if n > 1 and blas_threads() is None:
        n = 1  # no BLAS that threadpoolctl can hold at one thread: threads of ours would oversubscribe the cores
    _threads = int(n)
    if _pool is not None:
        _pool.shutdown(wait=True)
    _pool = None


def _workers() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=num_threads() - 1, thread_name_prefix="minigan")
    return _pool


def _forget_pool_after_fork():
    global _pool, _depth, _limiter
    _pool, _depth, _limiter = None, 0, None  # a forked child has the pool object but none of its threads


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


@contextmanager
def threads():
    """Inside this block, layer calls on NumPy batches of at least MIN_BATCH run in chunks on minigan's threads,
    with NumPy's BLAS held at one thread; afterwards BLAS has its threads back. Blocks may nest."""
    global _depth, _limiter
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
    except BaseException as exc:  # raised after the workers are done with the arrays
        error = exc
    for future in futures:
        try:
            future.result()
        except BaseException as exc:
            error = error or exc
    if error is not None:
        raise error


# ---------------------------------------------------------------------------------------------------------------
# chunks and replicas
# ---------------------------------------------------------------------------------------------------------------
def even_slices(n: int, parts: int) -> list[slice]:
    """range(n) cut into ``parts`` contiguous slices whose lengths differ by at most one (none empty, parts <= n)."""
    size, extra = divmod(n, parts)
    bounds = [p * size + min(p, extra) for p in range(parts + 1)]
    return [slice(start, stop) for start, stop in zip(bounds[:-1], bounds[1:])]


def chunk_slices(n: int, nbytes: int, threads: int) -> list[slice]:
    """The batch's chunks: about CHUNK_BYTES of input each, at least one per thread, their number a multiple of
    ``threads`` where n allows (so the threads get equal shares)."""
    count = max(threads, -(-nbytes // CHUNK_BYTES))
    return even_slices(n, min(n, -(-count // threads) * threads))


class _Split:
    """How one forward call was cut: the chunks, which thread runs which, and a replica of the layer per chunk."""

    def __init__(self, layer, n: int, slices: list[slice], threads: int, replicas: list):
        self.n, self.slices = n, slices
        self.groups = [list(range(len(slices)))[s] for s in even_slices(len(slices), min(threads, len(slices)))]
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
    """Chunks pay for a per-sample layer on a large enough NumPy batch inside a threads() block; a layer without
    parameters (one pass over memory) needs at least CHUNK_BYTES of input to pay for handing out its chunks."""
    return (_depth > 0 and getattr(layer, "per_sample", False) and type(x) is np.ndarray and x.ndim >= 1
            and x.shape[0] >= MIN_BATCH and num_threads() > 1 and (bool(layer._params) or x.nbytes >= CHUNK_BYTES))


# ---------------------------------------------------------------------------------------------------------------
# the interface (as minigan.reference)
# ---------------------------------------------------------------------------------------------------------------
def forward(layer, x, train: bool):
    """y = f(x), in chunks on the threads when engaged (see the module docstring), else as the reference."""
    if _batchnorm_engaged(layer, x):
        return _batchnorm_forward(layer, x, train)
    if not _engaged(layer, x):
        _splits.pop(layer, None)
        return reference.forward(layer, x, train)
    threads, n = num_threads(), x.shape[0]
    slices = chunk_slices(n, x.nbytes, threads)
    split = _Split(layer, n, slices, threads, _replicas(layer, len(slices)))
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
    if layer not in _splits:
        return reference.backward(layer, dy, param_grads, input_grad)
    return _per_chunk(layer, "backward", dy, None, param_grads, input_grad)


def jvp(layer, g, t):
    """J t at the cached input, and the gradient penalty's weight gradient g (x) t; as its forward ran."""
    if layer not in _splits:
        return reference.jvp(layer, g, t)
    return _per_chunk(layer, "jvp", g, t, True, True)


# ---------------------------------------------------------------------------------------------------------------
# BatchNorm: the one layer that mixes the samples, in passes over blocks of rows
# ---------------------------------------------------------------------------------------------------------------
# Its statistics are sums over the batch, so it cannot run in chunks; but each of its passes can: sums over blocks
# of rows (products with a vector of ones, which BLAS runs several times as fast as NumPy's sum over the first
# axis), added in block order, and elementwise passes block by block. The caches it leaves (x_hat, 1/sigma, the
# mode) are the layer's own, so either path's backward may follow either path's forward.
def _batchnorm_engaged(layer, a) -> bool:
    if _depth == 0 or type(a) is not np.ndarray or a.shape[0] < MIN_BATCH or num_threads() == 1:
        return False
    from minigan.nn.norm import _BatchNorm

    return isinstance(layer, _BatchNorm)


def _row_blocks(m: int) -> list[list[int]]:
    return [[i] for i in range(min(num_threads(), m))]


def _column_sums(rows_of, m: int, blocks, slices):
    """sum over blocks of rows_of(block slice) summed over its rows, added in block order."""
    parts = [None] * len(slices)

    def block(i):
        parts[i] = rows_of(slices[i])

    _run(block, blocks)
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def _batchnorm_forward(layer, x, train: bool):
    X = layer._rows(x)  # (M, C)
    m = X.shape[0]
    if train and m < 2:
        return reference.forward(layer, x, train)  # the layer's own error
    blocks, slices = _row_blocks(m), even_slices(m, min(num_threads(), m))
    x_hat = np.empty_like(X)
    if train:
        mu = _column_sums(lambda s: np.ones(s.stop - s.start, X.dtype) @ X[s], m, blocks, slices) / m

        def center(s):  # x_hat <- X - mu; returns this block's sum of squares
            np.subtract(X[s], mu, out=x_hat[s])
            return np.einsum("mc,mc->c", x_hat[s], x_hat[s])

        var = _column_sums(center, m, blocks, slices) / m
        layer._update_running_statistics(mu, var, m)
    else:
        mu, var = layer._buffers["running_mean"], layer._buffers["running_var"]
        _run(lambda i: np.subtract(X[slices[i]], mu, out=x_hat[slices[i]]), blocks)
    layer._train_mode = train
    layer._inv_std = 1 / np.sqrt(var + x.dtype.type(layer.eps))
    layer._x_hat = x_hat
    Y = np.empty_like(X)

    def affine(i):  # x_hat <- (X - mu) / sigma;  Y <- gamma x_hat + beta
        s = slices[i]
        x_hat[s] *= layer._inv_std
        if layer.affine:
            np.multiply(x_hat[s], layer._params["weight"], out=Y[s])
            Y[s] += layer._params["bias"]
        else:
            Y[s] = x_hat[s]

    _run(affine, blocks)
    return layer._unrows(Y, x)


def _batchnorm_backward(layer, dy, param_grads: bool, input_grad: bool):
    DY, x_hat = layer._rows(dy), layer._x_hat
    m = DY.shape[0]
    blocks, slices = _row_blocks(m), even_slices(m, min(num_threads(), m))
    sums = _column_sums(lambda s: np.stack([np.ones(s.stop - s.start, DY.dtype) @ DY[s],
                                            np.einsum("mc,mc->c", DY[s], x_hat[s])]), m, blocks, slices)
    sum_dy, sum_dy_x_hat = sums[0], sums[1]
    if layer.affine and param_grads:
        layer._grads["weight"] += sum_dy_x_hat
        layer._grads["bias"] += sum_dy
    if not input_grad:
        return None
    k = layer._params["weight"] * layer._inv_std if layer.affine else layer._inv_std
    DX = np.empty_like(DY)
    if layer._train_mode:
        b, c = k * (sum_dy_x_hat / m), k * (sum_dy / m)

        def affine(i):  # DX = k (DY - <dy> - x_hat <dy x_hat>) = k DY - c - b x_hat
            s = slices[i]
            np.multiply(DY[s], k, out=DX[s])
            DX[s] -= c
            DX[s] -= x_hat[s] * b
    else:
        def affine(i):
            np.multiply(DY[slices[i]], k, out=DX[slices[i]])

    _run(affine, blocks)
    return layer._unrows(DX, dy)
