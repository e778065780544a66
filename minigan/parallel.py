"""Threads over the batch, for the NumPy backend.

NumPy runs every elementwise pass and every copy on one core; only its BLAS (OpenBLAS in the wheels) uses more.
A convolution layer is a loop over chunks of the batch (im2col.batch_chunks): copy a chunk's receptive fields,
multiply, scatter back. With OpenBLAS on two threads, the copies and scatters run on one core while the other
waits, and each product of a 10-image chunk is too small to split well. Giving each thread its own chunks instead,
each with a one-thread BLAS, keeps both cores busy on the whole loop (the DCGAN's Conv2d(64 -> 128) forward pass at
batch 64, timed alternately in one process on the 2-core machine: 9-11 ms on two threads of minigan's against
17-23 ms on one, and 11-16 ms serially with OpenBLAS's two threads).

    split(chunks, parts)    contiguous groups of chunks, one per thread (even_slices: the cut)
    run(fn, groups, xp)     fn(group) for every group, on the threads; the results in order
    over_batch(fn, *arrays) fn on blocks of the arrays' first axis, one block per thread (elementwise passes,
                            BatchNorm's sums, optimizer updates); the results in order
    matmul(a, b)            a @ b, blocks of a's rows on the threads (Dense layers)
    column_sums(a)          a.sum(axis=0) as products with a vector of ones, blocks of rows on the threads (biases)
    copy(src, dst)          dst[...] = src, blocks on the threads (changes of memory order)

Each thread works on its own rows of the output, so no two threads write the same memory. Sums over the batch
(weight gradients, BatchNorm's statistics) are made per block and added in block order: the result depends on the
number of threads, never on which thread finishes first.

OpenBLAS is held at one thread (:class:`blas_single_threaded`, through the ``openblas_set_num_threads`` of NumPy's
own library) for the whole of every public layer call (``forward``, ``backward``) on a batch of at least
``MIN_BATCH`` (32) samples, and of every optimizer step, not only while minigan's threads run: after a product on
two threads, OpenBLAS's second thread keeps spinning for a while, on the core minigan's next block of work needs.
minigan's threads run only inside such a call; smaller batches, and everything outside those calls, run as NumPy
alone would, on BLAS's own threads. Where NumPy uses another BLAS, or its OpenBLAS cannot be found, or on CuPy (the
GPU runs the whole batch at once), everything runs on the calling thread.

The number of threads: ``MINIGAN_THREADS`` if set, else as many as OpenBLAS had when minigan first asked (so
``OPENBLAS_NUM_THREADS=1``, one core per process, keeps meaning one core). :func:`set_num_threads` changes it.
"""

from __future__ import annotations

import ctypes
import glob
import os
import threading

import numpy as np

from minigan import backend

_threads: int | None = None  # minigan's threads; None until first asked
_pool = None  # minigan's worker threads (see _Worker), made at the first run()
_pool_pid = None
_blas = None  # (get, set) of NumPy's OpenBLAS, False when there is none to control
_held = 0  # depth of nested blas_single_threaded() blocks
_held_lock = threading.Lock()
_saved_blas_threads = None


# ---------------------------------------------------------------------------------------------------------------
# NumPy's OpenBLAS
# ---------------------------------------------------------------------------------------------------------------
_SYMBOLS = (  # (getter, setter) as the scipy-openblas builds of NumPy's wheels and plain OpenBLAS name them
    ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
    ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
    ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
    ("openblas_get_num_threads", "openblas_set_num_threads"),
)


def _openblas_candidates() -> list[str]:
    """Paths of the OpenBLAS NumPy loaded: the copy its wheel ships, or one a system NumPy mapped (Linux)."""
    root = os.path.dirname(np.__file__)
    paths = []
    for pattern in ("../numpy.libs/*openblas*", ".dylibs/*openblas*"):
        paths += sorted(glob.glob(os.path.join(root, pattern)))
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1]
                if "openblas" in os.path.basename(path) and "scipy.libs" not in path and path not in paths:
                    paths.append(path)
    except OSError:
        pass
    return paths


def _find_blas():
    """(get_num_threads, set_num_threads) of NumPy's OpenBLAS, or False."""
    for path in _openblas_candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for get_name, set_name in _SYMBOLS:
            if hasattr(lib, get_name) and hasattr(lib, set_name):
                get, set_ = getattr(lib, get_name), getattr(lib, set_name)
                get.restype, get.argtypes = ctypes.c_int, []
                set_.restype, set_.argtypes = None, [ctypes.c_int]
                return get, set_
    return False


def _blas_control():
    global _blas
    if _blas is None:
        _blas = _find_blas()
    return _blas


def blas_threads() -> int | None:
    """How many threads NumPy's OpenBLAS uses now (None when it cannot be told)."""
    blas = _blas_control()
    return int(blas[0]()) if blas else None


class blas_single_threaded:
    """``with blas_single_threaded():`` OpenBLAS at one thread inside the block, at what it was before after it
    (blocks may nest; nothing changes when minigan itself runs on one thread).

    Two threads of minigan's calling a two-thread BLAS would ask four threads of two cores; and OpenBLAS's own
    workers keep spinning for a while after each product, on the cores minigan's threads need. A class rather than
    a generator: every layer call enters one, and this costs a fraction of a microsecond when there is nothing to do.
    """

    __slots__ = ("_engaged",)

    def __init__(self, array=None):
        """``array``: the data of the call. A CuPy array engages nothing (the GPU has no use for NumPy's BLAS), nor
        does a batch of fewer than ``MIN_BATCH`` samples (its work is too small to share: NumPy runs it as usual)."""
        shape = getattr(array, "shape", None)
        small_batch = bool(shape) and shape[0] < MIN_BATCH
        self._engaged = array is None or not (backend.is_cupy(array) or small_batch)

    def __enter__(self):
        global _held, _saved_blas_threads
        self._engaged = self._engaged and (_threads or num_threads()) > 1 and bool(_blas_control())
        if self._engaged:
            with _held_lock:
                if _held == 0:
                    _saved_blas_threads = _blas[0]()
                    if _saved_blas_threads != 1:
                        _blas[1](1)
                _held += 1
        return self

    def __exit__(self, *exc_info):
        global _held
        if self._engaged:
            with _held_lock:
                _held -= 1
                if _held == 0 and _saved_blas_threads != 1:
                    _blas[1](_saved_blas_threads)
        return False


# ---------------------------------------------------------------------------------------------------------------
# minigan's threads
# ---------------------------------------------------------------------------------------------------------------
def num_threads() -> int:
    """The number of threads minigan splits NumPy work over (1: everything on the calling thread)."""
    global _threads
    if _threads is None:
        env = os.environ.get("MINIGAN_THREADS")
        if env:
            if not env.strip().isdigit() or int(env) < 1:
                raise ValueError(f"MINIGAN_THREADS must be a positive integer, got {env!r}")
            set_num_threads(int(env))
        else:
            _threads = blas_threads() or 1  # no OpenBLAS to hold at one thread: do not add threads to its own
    return _threads


def set_num_threads(n: int) -> None:
    """Split NumPy work over ``n`` threads from now on (``n = 1``: no threads of minigan's own)."""
    global _threads, _pool
    if n < 1:
        raise ValueError(f"minigan needs at least one thread, got {n}")
    if n > 1 and not _blas_control():
        n = 1  # without a way to keep BLAS at one thread, threads of ours would only oversubscribe the cores
    with _region:  # not while a run() is using the workers
        _threads = n
        if _pool is not None and _pool_pid == os.getpid():
            for worker in _pool:
                worker.stop()
        _pool = None  # made again, with n - 1 workers, at the next run()


class _Worker:
    """One thread of minigan's, waiting for a job: a function and a list of groups, run one after the other.

    Two plain locks hand the job over and back (a ThreadPoolExecutor's futures and conditions took about 70 us a
    round trip here against about 20 us with this, and some passes this pays for last 100 us).
    """

    def __init__(self, index: int):
        self._go, self._done = threading.Lock(), threading.Lock()
        self._go.acquire()
        self._done.acquire()
        self._job = self._outcome = None
        threading.Thread(target=self._loop, name=f"minigan-{index}", daemon=True).start()

    def _loop(self):
        _local.inside = True  # a run() called from a job runs serially, on this thread
        while True:
            self._go.acquire()
            if self._job is None:  # stop(): this worker's pool was replaced
                return
            fn, groups = self._job
            try:
                self._outcome = (True, [fn(group) for group in groups])
            except BaseException as exc:  # handed to the caller of run()
                self._outcome = (False, exc)
            self._done.release()

    def start(self, fn, groups):
        self._job = (fn, groups)
        self._go.release()

    def stop(self):
        self._job = None
        self._go.release()

    def finish(self):
        """Wait for the job; (True, results) or (False, the exception it raised)."""
        self._done.acquire()
        outcome, self._job, self._outcome = self._outcome, None, None
        return outcome


_local = threading.local()
_region = threading.Lock()  # one run() at a time uses the workers; another caller meanwhile runs serially


def _after_fork_in_child():
    """A forked child has none of the parent's threads: forget the workers and free the locks they may hold."""
    global _pool, _held, _held_lock, _region
    _pool, _held = None, 0
    _held_lock, _region = threading.Lock(), threading.Lock()
    _local.inside = False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _workers() -> list[_Worker]:
    global _pool, _pool_pid
    if _pool is None or _pool_pid != os.getpid():  # a forked child has the list but not the threads
        _pool = [_Worker(i) for i in range(num_threads() - 1)]
        _pool_pid = os.getpid()
    return _pool


def threads_for(xp) -> int:
    """Threads to use now for arrays of the module ``xp``: :func:`num_threads` on NumPy inside a
    :class:`blas_single_threaded` block that engaged (a layer call on a batch of at least ``MIN_BATCH``, an
    optimizer step), else 1: minigan's threads never run beside a many-threaded BLAS."""
    return num_threads() if xp is np and _held > 0 else 1


def even_slices(n: int, parts: int) -> list[slice]:
    """range(n) cut into ``parts`` contiguous slices whose lengths differ by at most one (none empty, parts <= n)."""
    size, extra = divmod(n, parts)
    bounds = [p * size + min(p, extra) for p in range(parts + 1)]
    return [slice(start, stop) for start, stop in zip(bounds[:-1], bounds[1:])]


def split(items: list, parts: int) -> list[list]:
    """``items`` in ``parts`` contiguous groups whose lengths differ by at most one (no empty groups)."""
    return [items[s] for s in even_slices(len(items), max(1, min(parts, len(items))))]


# below this many elements per thread, handing work to another thread costs more than it saves
MIN_BLOCK = 1 << 16
# below this batch size a layer call runs as NumPy alone would (OpenBLAS on its own threads, none of minigan's): on
# the 2-core machine the DCGAN step on two threads of minigan's took 1.4x as long as without them at batch 8,
# 1.18x at 16, and 0.94x at 32 (minigan bench, one-thread step timed in the same rounds)
MIN_BATCH = 32


def _blocks(n: int, work: int, first) -> list[slice] | None:
    """Contiguous slices of range(n), one per thread, or None when the job is too small to share (or on CuPy)."""
    if _held == 0 or backend.is_cupy(first):
        return None
    parts = min(_threads or num_threads(), n, work // MIN_BLOCK)
    return even_slices(n, parts) if parts > 1 else None


def over_batch(fn, *arrays, work: int | None = None) -> list:
    """[fn(*blocks)] where blocks are the arrays' rows (first axis) [s] for contiguous slices s, one per thread.

    The arrays must share their first axis; fn works on its block alone (an elementwise pass writing into an output
    block, or a partial sum it returns). ``work``: the job's size in elements of one elementwise pass (default: the
    first array's size); below ``MIN_BLOCK`` per thread, one call of fn on the whole arrays, on the calling thread.
    """
    blocks = _blocks(arrays[0].shape[0], arrays[0].size if work is None else work, arrays[0])
    if blocks is None:
        return [fn(*arrays)]
    return run(lambda s: fn(*(a[s] for a in arrays)), blocks)


def copy(src, dst) -> None:
    """dst[...] = src for arrays of one shape, blocks of the first axis on the threads: a change of memory order
    (channels-first to channels-last, or back), which NumPy would make on one core."""
    xp = backend.array_module(src, dst)
    over_batch(lambda s, d: xp.copyto(d, s), src, dst)


def matmul(a, b):
    """a @ b for 2-D arrays, the rows of a in one block per thread (each block one single-threaded BLAS call).

    An inner dimension of 1 (the input gradient of a Dense layer with one output, dy W) is an outer product, one
    multiplication per element: NumPy's broadcasting does it, OpenBLAS's GEMM takes 14x as long (128 x 1 by
    1 x 6272: 1.2 ms against 0.08 ms on the 2-core machine).
    """
    if a.shape[1] == 1 and a.ndim == b.ndim == 2:
        return a * b
    blocks = _blocks(a.shape[0], a.shape[0] * a.shape[1] * b.shape[1] // 16, a)
    if blocks is None:
        return a @ b
    out = np.empty((a.shape[0], b.shape[1]), dtype=np.result_type(a, b))
    run(lambda s: np.matmul(a[s], b, out=out[s]), blocks)
    return out


def column_sums(a):
    """a.sum(axis=0) of a 2-D array, as ones^T a: one matrix-vector product per block of rows, on the threads, the
    blocks' sums added in order. NumPy's sum over the first axis adds the rows one after another on one core; the
    products were 2.4x faster on tall arrays (25088 x 64 float32, a bias gradient of the DCGAN at batch 128, on the
    2-core machine: 0.33 ms against 0.81 ms) and slower on wide, short ones (128 x 6272: 0.11 against 0.09 ms), so
    Dense keeps NumPy's sum. The products accumulate in the array's precision, as BLAS does."""
    xp = backend.array_module(a)
    ones = xp.ones(a.shape[0], dtype=a.dtype)
    return total(over_batch(lambda a, ones: ones @ a, a, ones))


def total(parts: list):
    """The sum of per-group partial results, added in group order into the first (None when the parts are None)."""
    if parts[0] is None:
        return None
    result = parts[0]
    for part in parts[1:]:
        result += part
    return result


def run(fn, groups: list, xp=np) -> list:
    """[fn(group) for group in groups], the groups shared among minigan's threads (the first on the calling one),
    inside a :class:`blas_single_threaded` block that engaged (:func:`threads_for`), so OpenBLAS is at one thread.

    On CuPy, with one thread or one group, from inside another run(), or while another thread is in one: a plain
    loop on the calling thread.
    """
    if threads_for(xp) == 1 or len(groups) == 1 or getattr(_local, "inside", False) or not _region.acquire(False):
        return [fn(group) for group in groups]
    try:
        workers = _workers()
        shares = split(list(range(len(groups))), len(workers) + 1)  # indices of groups, per thread
        for worker, share in zip(workers, shares[1:]):
            worker.start(fn, [groups[i] for i in share])
        _local.inside = True
        try:
            results = [fn(groups[i]) for i in shares[0]]
            first_error = None
        except BaseException as exc:
            first_error = exc
        finally:
            _local.inside = False
            # never leave a thread writing into arrays after an error here has unwound the caller
            outcomes = [worker.finish() for worker, _ in zip(workers, shares[1:])]
        if first_error is not None:
            raise first_error
        for ok, value in outcomes:
            if not ok:
                raise value
            results.extend(value)
        return results
    finally:
        _region.release()
