"""minigan.parallel: threads over the batch on NumPy.

The layers' results must not depend on how many threads share the work: gradient checks with the work split over
three threads down to single rows (``MIN_BLOCK = 1``), and whole training steps with 1 and 3 threads compared.
The helpers' bookkeeping (chunks, groups, blocks) is checked on every size hypothesis draws.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minigan import backend, bench, nn, parallel
from minigan.gradcheck import gradcheck
from minigan.nn.im2col import batch_chunks
from minigan.nn.module import Module

needs_blas_control = pytest.mark.skipif(
    parallel.blas_threads() is None, reason="NumPy's BLAS here is not an OpenBLAS minigan can hold at one thread"
)


@pytest.fixture
def threads():
    """Run with the given number of threads of minigan's, blocks down to one row and batches down to one sample;
    restore after."""
    previous, min_block, min_batch = parallel.num_threads(), parallel.MIN_BLOCK, parallel.MIN_BATCH
    previous_backend = backend.name()
    backend.use("numpy")  # threads of minigan's are NumPy's (also when the suite runs with MINIGAN_BACKEND=cupy)

    def use(n: int):
        parallel.set_num_threads(n)
        parallel.MIN_BLOCK = parallel.MIN_BATCH = 1
        return parallel.num_threads()

    yield use
    parallel.set_num_threads(previous)
    parallel.MIN_BLOCK, parallel.MIN_BATCH = min_block, min_batch
    backend.use(previous_backend)


# ---------------------------------------------------------------------------------------------------------------
# bookkeeping
# ---------------------------------------------------------------------------------------------------------------
@given(n=st.integers(0, 300), bytes_per_sample=st.integers(1, 10**7), budget=st.integers(1, 10**7),
       parts=st.integers(1, 5))
def test_batch_chunks_tile_the_batch_evenly(n, bytes_per_sample, budget, parts):
    chunks = batch_chunks(n, bytes_per_sample, budget, parts=parts)
    assert [i for c in chunks for i in range(c.start, c.stop)] == list(range(n))  # in order, each sample once
    sizes = [c.stop - c.start for c in chunks]
    most = max(1, budget // bytes_per_sample)
    assert all(1 <= s <= most for s in sizes)
    assert not sizes or max(sizes) - min(sizes) <= 1
    assert len(chunks) % parts == 0 or len(chunks) == n  # a multiple of the threads, unless one sample each


@given(items=st.lists(st.integers(), min_size=1, max_size=50), parts=st.integers(1, 8))
def test_split_gives_contiguous_groups_of_near_equal_length(items, parts):
    groups = parallel.split(items, parts)
    assert [x for g in groups for x in g] == items
    assert len(groups) == min(parts, len(items))
    assert all(groups) and max(map(len, groups)) - min(map(len, groups)) <= 1


@needs_blas_control
@settings(deadline=None, max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 40), width=st.integers(1, 5), n_threads=st.integers(1, 4))
def test_over_batch_covers_every_row_once_in_order(threads, n, width, n_threads):
    threads(n_threads)  # the fixture only restores the setting after the test; each example sets its own
    a = np.arange(n * width, dtype=np.float64).reshape(n, width)
    out = np.zeros_like(a)
    seen = []

    def fn(a, out):
        out += a + 1  # a second visit of a row would show as a + 2
        seen.append(threading.get_ident())
        return a[:, 0].copy()

    with parallel.blas_single_threaded():  # minigan's threads run inside a held block (a layer call) only
        results = parallel.over_batch(fn, a, out)
    np.testing.assert_array_equal(out, a + 1)
    np.testing.assert_array_equal(np.concatenate(results), a[:, 0])  # the blocks' results in block order
    assert len(results) == min(n_threads, n)
    assert len(set(seen)) == len(results)  # every block on a thread of its own


@settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 40), k=st.integers(1, 3), m=st.integers(1, 7), n_threads=st.integers(1, 3))
def test_matmul_and_column_sums_are_the_plain_ones(threads, n, k, m, n_threads):
    """parallel.matmul (an outer product when the inner size is 1) and column_sums (products with ones), on one
    thread and split over three down to single rows, against NumPy's @ and sum in float64."""
    threads(n_threads)
    rng = np.random.default_rng(n * 100 + k * 10 + m)
    a, b = rng.standard_normal((n, k)), rng.standard_normal((k, m))
    with parallel.blas_single_threaded():
        product, sums = parallel.matmul(a, b), parallel.column_sums(a @ b)
    np.testing.assert_allclose(product, a @ b, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(sums, (a @ b).sum(axis=0), rtol=1e-12, atol=1e-12)


@needs_blas_control
def test_blas_is_held_at_one_thread_inside_a_layer_and_restored_after(threads):
    threads(2)
    before = parallel.blas_threads()
    seen = {}

    class Probe(Module):
        def _forward(self, x, train):
            seen["forward"] = parallel.blas_threads()
            return x

        def _backward(self, dy, param_grads):
            seen["backward"] = parallel.blas_threads()
            return dy

    probe = Probe()
    probe.backward(probe.forward(np.ones((2, 3))))
    assert seen == {"forward": 1, "backward": 1}
    assert parallel.blas_threads() == before


@needs_blas_control
def test_an_error_in_a_thread_reaches_the_caller_and_blas_is_restored(threads):
    threads(3)
    before = parallel.blas_threads()

    def fn(a):
        if a[0, 0] > 0:  # only the blocks after the first, which run on the pool's threads
            raise ValueError("planted")

    with pytest.raises(ValueError, match="planted"), parallel.blas_single_threaded():
        parallel.over_batch(fn, np.arange(6.0).reshape(6, 1))
    assert parallel.blas_threads() == before


def test_one_thread_runs_everything_on_the_caller(threads):
    threads(1)
    with parallel.blas_single_threaded():
        idents = parallel.over_batch(lambda a: threading.get_ident(), np.zeros((10, 3)))
    assert idents == [threading.get_ident()]


@needs_blas_control
def test_small_batches_and_work_outside_layer_calls_stay_on_the_calling_thread(threads):
    """Below MIN_BATCH a layer call leaves BLAS alone and uses no threads of minigan's; neither does work outside
    a layer call or optimizer step (no BLAS held at one thread there)."""
    threads(3)
    parallel.MIN_BATCH = 8
    before, seen = parallel.blas_threads(), {}

    class Probe(Module):
        def _forward(self, x, train):
            seen[len(x)] = (parallel.blas_threads(), parallel.over_batch(lambda a: threading.get_ident(), x))
            return x

        def _backward(self, dy, param_grads):
            return dy

    probe = Probe()
    probe.forward(np.ones((4, 2)))
    probe.forward(np.ones((8, 2)))
    me = threading.get_ident()
    assert seen[4] == (before, [me])  # small batch: BLAS as it was, one block on this thread
    assert seen[8][0] == 1 and len(set(seen[8][1])) == 3  # a batch of 8: BLAS held, three threads
    assert parallel.over_batch(lambda a: threading.get_ident(), np.ones((9, 2))) == [me]  # outside any layer call


def test_set_num_threads_rejects_zero():
    with pytest.raises(ValueError, match="at least one thread"):
        parallel.set_num_threads(0)


@pytest.mark.parametrize("value", ["0", "two", "-1", "1.5"])
def test_a_bad_minigan_threads_variable_is_named_in_the_error(monkeypatch, value):
    monkeypatch.setenv("MINIGAN_THREADS", value)
    monkeypatch.setattr(parallel, "_threads", None)  # as in a fresh process; monkeypatch puts the old value back
    with pytest.raises(ValueError, match="MINIGAN_THREADS must be a positive integer"):
        parallel.num_threads()


def test_the_minigan_threads_variable_sets_the_count(monkeypatch):
    monkeypatch.setenv("MINIGAN_THREADS", "1")
    monkeypatch.setattr(parallel, "_threads", None)
    assert parallel.num_threads() == 1


# ---------------------------------------------------------------------------------------------------------------
# the layers on many threads: gradient checks and whole steps
# ---------------------------------------------------------------------------------------------------------------
def _layers():
    return {
        "Dense": (lambda: nn.Dense(4, 5), (7, 4)),
        "Conv2d": (lambda: nn.Conv2d(3, 8, 4, stride=2, padding=1), (5, 3, 6, 6)),
        "ConvTranspose2d": (lambda: nn.ConvTranspose2d(4, 8, 4, stride=2, padding=1), (5, 4, 3, 3)),
        "BatchNorm1d": (lambda: nn.BatchNorm1d(6), (7, 6)),
        "BatchNorm2d": (lambda: nn.BatchNorm2d(3), (5, 3, 4, 4)),
        "ReLU": (nn.ReLU, (7, 3, 2, 2)),
        "LeakyReLU": (lambda: nn.LeakyReLU(0.2), (7, 3, 2, 2)),
    }


@needs_blas_control
@pytest.mark.parametrize("name", list(_layers()))
def test_gradients_hold_with_the_work_split_over_threads(threads, name):
    assert threads(3) == 3
    backend.set_default_dtype(np.float64)
    try:
        backend.seed(1)
        make, shape = _layers()[name]
        layer = make()
        rng = np.random.default_rng(2)
        for p in layer.params.values():
            p[...] = rng.standard_normal(p.shape)
        x = rng.standard_normal(shape)
        x[np.abs(x) < 1e-3] = 1e-2  # away from the activations' kinks
        result = gradcheck(layer, x, seed=3)
        assert set(result.errors) == {"input", *layer.params}
        assert result.worst_error < 1e-6, result
    finally:
        backend.set_default_dtype(np.float32)


def _gradients_of_one_pass(n_threads: int, batch: int = 12):
    """G's and D's parameter gradients from one forward and backward of the canonical DCGAN, fixed inputs."""
    parallel.set_num_threads(n_threads)
    trainer, data = bench.minigan_trainer(batch, seed=4)
    G, D = trainer.G, trainer.D
    z = np.random.default_rng(5).standard_normal((batch, bench.NZ)).astype(np.float32)
    G.zero_grad()
    D.zero_grad()
    fake = G(z)
    D.backward(np.ones_like(D(data(batch))))
    G.backward(D.backward(np.ones_like(D(fake))))
    return {f"{net}.{k}": v.copy() for net, model in (("G", G), ("D", D)) for k, v in model.grads.items()}


def _parameters_after_steps(n_threads: int, batch: int = 12, steps: int = 2):
    parallel.set_num_threads(n_threads)
    trainer, data = bench.minigan_trainer(batch, seed=4)
    for _ in range(steps):
        trainer.iteration(data)
    return {f"{net}.{k}": v.copy() for net, model in (("G", trainer.G), ("D", trainer.D))
            for k, v in model.params.items()}


@needs_blas_control
def test_gradients_agree_on_one_and_three_threads(threads):
    threads(1)
    serial = _gradients_of_one_pass(1)
    threads(3)
    split = _gradients_of_one_pass(3)
    scale = max(float(np.abs(g).max()) for g in serial.values())
    for name in serial:
        # the same numbers summed in another order: float32 rounding, nothing more (the bias of G's Dense layer,
        # which BatchNorm follows, has a gradient of exactly 0 in exact arithmetic: rounding is all there is)
        np.testing.assert_allclose(split[name], serial[name], rtol=1e-4, atol=1e-5 * scale, err_msg=name)


def _adam_step_bound(t: int, b1: float = 0.5, b2: float = 0.999) -> float:
    """The largest |m_hat| / sqrt(v_hat) of Adam's step t, over all gradient histories g_1..g_t: m_hat = u.g and
    v_hat = sum w_i g_i^2 with u_i = (1 - b1) b1^(t-i) / (1 - b1^t), w_i = (1 - b2) b2^(t-i) / (1 - b2^t), so by
    Cauchy-Schwarz the bound is sqrt(sum u_i^2 / w_i): 1 at t = 1, 1.054 at t = 2 for the DCGAN's betas. A
    parameter moves by at most lr times this in step t."""
    i = np.arange(1, t + 1)
    u = (1 - b1) * b1 ** (t - i) / (1 - b1**t)
    w = (1 - b2) * b2 ** (t - i) / (1 - b2**t)
    return float(np.sqrt(np.sum(u**2 / w)))


@needs_blas_control
def test_training_steps_agree_on_one_and_three_threads_and_repeat_exactly(threads):
    threads(1)
    serial = _parameters_after_steps(1)
    threads(3)
    split_a, split_b = _parameters_after_steps(3), _parameters_after_steps(3)
    lr, steps = 2e-4, 2
    for name in serial:
        # Adam's first steps move every parameter by about lr times the sign of its gradient, whatever the size of
        # the gradient. Where a gradient is within float32 rounding of zero (the biases that a BatchNorm follows
        # have nothing but rounding noise: their gradient is exactly 0 in exact arithmetic), the other summation
        # order of three threads can flip that sign: such a parameter then differs by up to 2 lr per step. Every
        # other parameter agrees to a fraction of lr. A real error (a block dropped, a partial sum counted twice)
        # moves most of a tensor, not a few values in ten thousand.
        difference = np.abs(split_a[name] - serial[name])
        assert difference.max() <= 2 * lr * sum(_adam_step_bound(t) for t in range(1, steps + 1)) * 1.01, name
        assert np.mean(difference > lr / 4) <= 1e-4 or name in {"G.0.bias", "G.4.bias", "D.2.bias"}, name
        # the partial sums are added in block order, so a rerun on as many threads is bit for bit the same
        np.testing.assert_array_equal(split_a[name], split_b[name], err_msg=name)


def test_flatten_gives_dx_back_in_its_inputs_memory_order(threads):
    """A convolution's output is channels-last memory; Flatten's backward hands dx back in that order (the values
    are those of a plain reshape), so the layers before it read their own layout. Made on three threads."""
    threads(3)
    rng = np.random.default_rng(0)
    conv, flat = nn.Conv2d(2, 3, 3, padding=1), nn.Flatten()
    y = conv.forward(rng.standard_normal((4, 2, 5, 5)).astype(np.float32))
    assert y.transpose(0, 2, 3, 1).flags.c_contiguous and not y.flags.c_contiguous  # channels-last memory
    f = flat.forward(y)
    np.testing.assert_array_equal(f, np.ascontiguousarray(y).reshape(4, -1))
    dy = rng.standard_normal(f.shape).astype(np.float32)
    dx = flat.backward(dy)
    assert dx.transpose(0, 2, 3, 1).flags.c_contiguous
    np.testing.assert_array_equal(dx, dy.reshape(y.shape))


@needs_blas_control
def test_by_default_minigan_takes_as_many_threads_as_openblas_has(monkeypatch):
    """So that OPENBLAS_NUM_THREADS=1 (one core per process) keeps meaning one core."""
    monkeypatch.delenv("MINIGAN_THREADS", raising=False)
    monkeypatch.setattr(parallel, "_threads", None)
    assert parallel.num_threads() == parallel.blas_threads()
