"""minigan.fast against minigan.reference: the same layer code on chunks of the batch on threads, or whole.

Hypothesis draws layers (kernel sizes, strides, paddings, output paddings, bias on/off, shapes) and batches; each
is run through both paths in float64 and must agree to rounding: outputs, input gradients, parameter gradients,
with and without ``param_grads`` / ``input_grad``, and the gradient penalty's tangent sweep. The chunked path is
forced down to one or a few samples per chunk and three threads, so every chunking the drawn batch allows is met.
The bookkeeping (BLAS held at one thread inside the block and given back after, thread counts, errors raised in a
worker, memory order of the assembled output) is checked as well.
"""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from minigan import backend, fast, nn, optim, reference
from minigan.gradient_penalty import gradient_penalty
from minigan.models import dcgan_mnist_discriminator, dcgan_mnist_generator

pytestmark = pytest.mark.skipif(fast.blas_threads() is None,
                                reason="threadpoolctl finds no BLAS here: minigan runs no threads of its own")

SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def three_threads(monkeypatch):
    """Three threads, any batch size, chunks of CHUNK_BYTES (set per test); restored afterwards."""
    previous = fast.num_threads()
    monkeypatch.setattr(fast, "MIN_BATCH", 1)
    monkeypatch.setattr(fast, "SMALL_WORK", 0)
    fast.set_num_threads(3)
    yield
    fast.set_num_threads(previous)


@pytest.fixture
def one_sample_chunks(monkeypatch):
    """Every chunk (of input, and of im2col's matrix) down to one sample."""
    monkeypatch.setattr(fast, "CHUNK_BYTES", 1)
    monkeypatch.setattr(fast, "COLS_BYTES", 1)


@pytest.fixture(autouse=True)
def _float64():
    backend.set_default_dtype(np.float64)
    yield
    backend.set_default_dtype(np.float32)


def _randomize(layer, rng):
    for p in layer.params.values():
        p[...] = rng.standard_normal(p.shape)


def _run(layer, x, dy, param_grads=True, input_grad=True, chunked=False):
    """(y, dx, grads) of one forward and backward, through fast (inside a threads() block) or as the reference."""
    layer.zero_grad()
    if chunked:
        with fast.threads():
            y = layer.forward(x)
            dx = layer.backward(dy, param_grads=param_grads, input_grad=input_grad)
    else:
        y = layer.forward(x)
        dx = layer.backward(dy, param_grads=param_grads, input_grad=input_grad)
    return y.copy(), (None if dx is None else dx.copy()), {k: g.copy() for k, g in layer.grads.items()}


def _agree(layer, x, rng, monkeypatch, chunk_bytes):
    monkeypatch.setattr(fast, "CHUNK_BYTES", chunk_bytes)
    monkeypatch.setattr(fast, "COLS_BYTES", chunk_bytes)
    dy = rng.standard_normal(layer.forward(x).shape)
    for param_grads, input_grad in ((True, True), (True, False), (False, True)):
        whole = _run(layer, x, dy, param_grads, input_grad)
        chunks = _run(layer, x, dy, param_grads, input_grad, chunked=True)
        assert any(m in fast._splits or m in fast._calls for _, m in layer.named_modules()), \
            "the chunked path did not run"
        np.testing.assert_allclose(chunks[0], whole[0], rtol=1e-12, atol=1e-12)
        if input_grad:
            np.testing.assert_allclose(chunks[1], whole[1], rtol=1e-12, atol=1e-12)
        else:
            assert chunks[1] is None and whole[1] is None
        for name in whole[2]:
            np.testing.assert_allclose(chunks[2][name], whole[2][name], rtol=1e-11, atol=1e-11, err_msg=name)
        if not param_grads:
            assert all(not g.any() for g in chunks[2].values())


@st.composite
def conv_cases(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    h, w = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    n, cin, cout = draw(st.integers(1, 7)), draw(st.integers(1, 9)), draw(st.integers(1, 5))
    transpose, bias = draw(st.booleans()), draw(st.booleans())
    if transpose:
        op = (draw(st.integers(0, sh - 1)), draw(st.integers(0, sw - 1)))
        assume(all((s - 1) * st_ - 2 * p + k + o >= 1
                   for s, st_, p, k, o in zip((h, w), (sh, sw), (ph, pw), (kh, kw), op)))
        layer = nn.ConvTranspose2d(cin, cout, (kh, kw), (sh, sw), (ph, pw), op, bias=bias)
    else:
        assume(h + 2 * ph >= kh and w + 2 * pw >= kw)
        layer = nn.Conv2d(cin, cout, (kh, kw), (sh, sw), (ph, pw), bias=bias)
    return layer, (n, cin, h, w), draw(st.sampled_from([1, 200, 1 << 20])), draw(st.integers(0, 2**31 - 1))


@SETTINGS
@given(case=conv_cases())
def test_convolutions_in_chunks_equal_the_whole_batch(three_threads, monkeypatch, case):
    layer, shape, chunk_bytes, seed = case
    rng = np.random.default_rng(seed)
    _randomize(layer, rng)
    x = rng.standard_normal(shape)
    if seed % 2:  # the input in channels-last memory, as a convolution hands it on
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    _agree(layer, x, rng, monkeypatch, chunk_bytes)


@SETTINGS
@given(n=st.integers(1, 9), kind=st.sampled_from(["dense", "dense to one", "flatten", "reshape", "relu", "leaky",
                                                  "tanh", "sigmoid"]),
       chunk_bytes=st.sampled_from([1, 16]), seed=st.integers(0, 2**31 - 1))
def test_other_per_sample_layers_in_chunks_equal_the_whole_batch(three_threads, monkeypatch, n, kind,
                                                                 chunk_bytes, seed):
    monkeypatch.setattr(fast, "ELEMENTWISE_BYTES", 1)
    rng = np.random.default_rng(seed)
    layer, shape = {
        "relu": (nn.ReLU(), (n, 2, 3, 4)), "leaky": (nn.LeakyReLU(0.2), (n, 7)), "tanh": (nn.Tanh(), (n, 3, 2)),
        "sigmoid": (nn.Sigmoid(), (n, 4)),
        "dense": (nn.Dense(5, 3), (n, 5)), "dense to one": (nn.Dense(5, 1), (n, 5)), "flatten": (nn.Flatten(), (n, 2, 3, 2)), "reshape": (nn.Reshape(3, 4), (n, 12)),
    }[kind]
    _randomize(layer, rng)
    x = rng.standard_normal(shape)
    if kind in ("flatten", "reshape"):  # of C-ordered memory these are free views and run whole: give them a copy
        x = rng.standard_normal(shape + (2,))[..., 0]  # every other number: never contiguous
    _agree(layer, x, rng, monkeypatch, chunk_bytes)


@SETTINGS
@given(n=st.integers(2, 9), c=st.integers(1, 6), spatial=st.sampled_from([(), (3,), (2, 3)]), affine=st.booleans(),
       train=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_batchnorm_in_row_blocks_equals_the_whole_batch(three_threads, n, c, spatial, affine, train, seed):
    """BatchNorm's passes over blocks of rows on the threads (fast._batchnorm_*) against the layer's own code: the
    output, dx, dgamma, dbeta, the running statistics, and the caches either backward reads."""
    rng = np.random.default_rng(seed)
    layer = (nn.BatchNorm1d if len(spatial) < 2 else nn.BatchNorm2d)(c, affine=affine)
    _randomize(layer, rng)
    x = rng.standard_normal((n, c) + spatial)
    dy = rng.standard_normal(x.shape)
    results = []
    for fast_path in (False, True):
        layer.load_state_dict({**layer.state_dict(), "running_mean": np.zeros(c), "running_var": np.ones(c)})
        layer.train(train)
        if fast_path:
            with fast.threads():
                assert fast._batchnorm_engaged(layer, x)
                results.append(_run(layer, x, dy) + (layer.buffers["running_var"].copy(), layer._normalized().copy()))
        else:
            results.append(_run(layer, x, dy) + (layer.buffers["running_var"].copy(), layer._normalized().copy()))
    (y0, dx0, g0, rv0, xh0), (y1, dx1, g1, rv1, xh1) = results
    for got, want in ((y1, y0), (dx1, dx0), (rv1, rv0), (xh1, xh0)):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11)
    for name in g0:
        np.testing.assert_allclose(g1[name], g0[name], rtol=1e-11, atol=1e-11, err_msg=name)


def test_the_canonical_dcgan_in_chunks_equals_the_whole_batch(three_threads, monkeypatch):
    """Both nets of the canonical DCGAN, BatchNorm (run whole) between chunked layers, at the default chunk size."""
    rng = np.random.default_rng(0)
    for net, shape in ((dcgan_mnist_generator(), (40, 100)), (dcgan_mnist_discriminator(), (40, 1, 28, 28))):
        _agree(net, rng.standard_normal(shape), rng, monkeypatch, fast.CHUNK_BYTES)


@pytest.mark.parametrize("make", [lambda m: optim.Adam(m, lr=1e-2, betas=(0.5, 0.999)),
                                  lambda m: optim.SGD(m, lr=1e-2, momentum=0.9), lambda m: optim.SGD(m, lr=1e-2),
                                  lambda m: optim.RMSProp(m, lr=1e-2)], ids=["adam", "sgd-momentum", "sgd", "rmsprop"])
def test_optimizer_updates_in_parts_equal_the_whole(three_threads, monkeypatch, make):
    """Three steps of an optimizer with every parameter cut into one part per thread, against the same steps whole;
    a spy on the rule shows that the parts were parts, and that workers ran some."""
    monkeypatch.setattr(fast, "UPDATE_ELEMENTS", 1)
    rng = np.random.default_rng(1)
    nets = [nn.Sequential(nn.Dense(7, 5), nn.Conv2d(2, 3, 3)) for _ in range(2)]
    for p, q in zip(nets[0].params.values(), nets[1].params.values(), strict=True):
        p[...] = q[...] = rng.standard_normal(p.shape)
    opts = [make(net) for net in nets]
    seen = []
    real = type(opts[1])._rule

    def spy(self, p, g, *slots):
        seen.append((p.size, threading.get_ident()))
        return real(self, p, g, *slots)

    for _ in range(3):
        grads = [rng.standard_normal(g.shape) for g in nets[0].grads.values()]
        for net in nets:
            for g, new in zip(net.grads.values(), grads, strict=True):
                g[...] = new
        opts[0].step()
        monkeypatch.setattr(type(opts[1]), "_rule", spy)
        with fast.threads():
            opts[1].step()
        monkeypatch.setattr(type(opts[1]), "_rule", real)
    for k, p in nets[0].params.items():
        np.testing.assert_array_equal(nets[1].params[k], p, err_msg=k)  # elementwise: equal to the last bit
    sizes = {p.size for p in nets[1].params.values()}
    assert max(size for size, _ in seen) < max(sizes)  # parts, not whole parameters
    assert len({thread for _, thread in seen}) >= 2


def test_chunks_really_split_the_batch_and_run_on_the_threads(three_threads, one_sample_chunks, monkeypatch):
    """The chunked path is not a relabelled whole-batch call: replicas see slices, and more than one thread works."""
    seen = []
    real = nn.Reshape._forward

    def spy(self, x, train):
        seen.append((x.shape[0], threading.get_ident()))
        return real(self, x, train)

    monkeypatch.setattr(nn.Reshape, "_forward", spy)
    layer = nn.Reshape(2, 2)
    with fast.threads():
        layer.forward(np.ones((6, 4), order="F"))
    assert sorted(size for size, _ in seen) == [1] * 6
    assert len({thread for _, thread in seen}) >= 2  # the calling thread and at least one worker
    seen.clear()
    layer.forward(np.ones((6, 4), order="F"))  # outside a threads() block: the reference, once, on the whole batch
    assert [size for size, _ in seen] == [6]


def test_backward_follows_the_way_forward_ran(three_threads, one_sample_chunks, monkeypatch):
    """A forward in chunks is followed by a backward in the same chunks even after the block closed, and a whole
    forward by a whole backward even inside a block."""
    rng = np.random.default_rng(1)
    layer = nn.Conv2d(2, 3, 3, padding=1)
    x, dy = rng.standard_normal((5, 2, 4, 4)), rng.standard_normal((5, 3, 4, 4))
    expected = _run(layer, x, dy)
    layer.zero_grad()
    with fast.threads():
        y = layer.forward(x)
    dx = layer.backward(dy)
    np.testing.assert_allclose(y, expected[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, expected[1], rtol=1e-12, atol=1e-12)
    layer.zero_grad()
    y = layer.forward(x)
    assert layer not in fast._splits
    with fast.threads():
        dx = layer.backward(dy)
    np.testing.assert_allclose(dx, expected[1], rtol=1e-12, atol=1e-12)


def test_gradient_penalty_in_chunks_equals_the_whole_batch(three_threads, one_sample_chunks, monkeypatch):
    """The tangent sweep (fast.jvp) runs on the replicas of the critic's forward, with their own masks."""
    rng = np.random.default_rng(2)
    critic = nn.Sequential(nn.Conv2d(1, 4, 3, 2, 1), nn.LeakyReLU(0.2), nn.Flatten(), nn.Dense(4 * 3 * 3, 5),
                           nn.ReLU(), nn.Dense(5, 1))
    _randomize(critic, rng)
    x_hat = rng.standard_normal((7, 1, 6, 6))
    results = []
    for chunked in (False, True):
        critic.zero_grad()
        if chunked:
            with fast.threads():
                penalty, norms = gradient_penalty(critic, x_hat, 10.0)
            assert all(layer in fast._splits or layer in fast._calls for layer in critic if layer._params)
        else:
            penalty, norms = gradient_penalty(critic, x_hat, 10.0)
        results.append((float(penalty), norms.copy(), {k: g.copy() for k, g in critic.grads.items()}))
    (p0, n0, g0), (p1, n1, g1) = results
    assert p1 == pytest.approx(p0, rel=1e-12)
    np.testing.assert_allclose(n1, n0, rtol=1e-12)
    for name in g0:
        np.testing.assert_allclose(g1[name], g0[name], rtol=1e-11, atol=1e-12, err_msg=name)


def test_the_result_depends_on_the_thread_count_not_on_the_scheduling(three_threads, one_sample_chunks,
                                                                      monkeypatch):
    """Gradient buffers are added in thread order: ten runs give bit-identical gradients."""
    backend.set_default_dtype(np.float32)
    rng = np.random.default_rng(3)
    layer = nn.Conv2d(3, 8, 4, 2, 1)
    x = rng.standard_normal((12, 3, 8, 8)).astype(np.float32)
    dy = rng.standard_normal((12, 8, 4, 4)).astype(np.float32)
    first = _run(layer, x, dy, chunked=True)
    for _ in range(10):
        again = _run(layer, x, dy, chunked=True)
        for name in first[2]:
            np.testing.assert_array_equal(again[2][name], first[2][name])


def test_four_dimensional_outputs_are_assembled_channels_last(three_threads, one_sample_chunks, monkeypatch):
    with fast.threads():
        y = nn.Reshape(3, 5, 6).forward(np.random.default_rng(4).standard_normal((4, 180))[:, ::2])
    assert y.shape == (4, 3, 5, 6) and y.transpose(0, 2, 3, 1).flags.c_contiguous


def test_an_error_in_a_worker_reaches_the_caller_after_every_worker_finished(three_threads, one_sample_chunks,
                                                                             monkeypatch):
    finished = []
    real = nn.Flatten._forward

    def fails_on_one_chunk(self, x, train):
        if x[0, 0, 0] == 3:
            raise ValueError("planted")
        y = real(self, x, train)
        finished.append(1)
        return y

    monkeypatch.setattr(nn.Flatten, "_forward", fails_on_one_chunk)
    x = np.asfortranarray(np.arange(6.0).reshape(6, 1, 1) + np.zeros((6, 1, 2)))
    with pytest.raises(ValueError, match="planted"), fast.threads():
        nn.Flatten().forward(x)
    assert len(finished) == 5


def test_blas_is_held_at_one_thread_inside_the_block_and_given_back(three_threads):
    before = fast.blas_threads()
    with fast.threads():
        assert fast.blas_threads() == 1
        with fast.threads():  # nested: still held, and not given back by the inner block
            pass
        assert fast.blas_threads() == 1
    assert fast.blas_threads() == before
    with pytest.raises(RuntimeError), fast.threads():
        raise RuntimeError("an error inside the block")
    assert fast.blas_threads() == before


def test_one_thread_runs_everything_as_the_reference(monkeypatch):
    """set_num_threads(1): no chunks, and BLAS keeps its own threads inside the block."""
    previous = fast.num_threads()
    monkeypatch.setattr(fast, "MIN_BATCH", 1)
    fast.set_num_threads(1)
    try:
        before = fast.blas_threads()
        layer = nn.Dense(3, 2)
        with fast.threads():
            assert fast.blas_threads() == before
            layer.forward(np.ones((64, 3)))
        assert layer not in fast._splits
    finally:
        fast.set_num_threads(previous)


@pytest.mark.parametrize("layer", [nn.ReLU(), nn.LeakyReLU(0.2)], ids=repr)
def test_relu_and_leaky_relu_run_their_kernels_at_every_size(three_threads, monkeypatch, layer):
    """Their kernels write in place (no chunk outputs to copy), so they are used below ELEMENTWISE_BYTES too; the
    cache they leave is the layer's own, so the layer's backward may follow."""
    monkeypatch.setattr(fast, "ELEMENTWISE_BYTES", 1 << 40)
    x = np.random.default_rng(0).standard_normal((6, 5))
    with fast.threads():
        y = layer.forward(x)
        assert layer in fast._calls and layer not in fast._splits
        assert len(fast._calls[layer].slices) == 3  # one block per thread
    reference_layer = type(layer)(*([layer.negative_slope] if isinstance(layer, nn.LeakyReLU) else []))
    np.testing.assert_array_equal(y, reference_layer.forward(x))
    np.testing.assert_array_equal(layer._cache, reference_layer._cache)
    dy = np.random.default_rng(1).standard_normal(x.shape)
    np.testing.assert_array_equal(reference.backward(layer, dy, True, True), reference_layer.backward(dy))


@pytest.mark.parametrize("layer", [nn.Tanh(), nn.Sigmoid(), nn.BatchNorm1d(8), nn.Dropout(0.5)], ids=repr)
def test_elementwise_and_sample_mixing_layers_never_run_in_chunks(three_threads, monkeypatch, layer):
    """Activations below ELEMENTWISE_BYTES are one pass over memory (threads make it no faster); BatchNorm mixes
    samples; Dropout draws from one random stream."""
    monkeypatch.setattr(fast, "CHUNK_BYTES", 1)
    monkeypatch.setattr(fast, "COLS_BYTES", 1)
    monkeypatch.setattr(fast, "ELEMENTWISE_BYTES", 4096)
    with fast.threads():
        layer.forward(np.ones((64, 8), np.float32))  # 2 KiB
        assert layer not in fast._splits
        layer.forward(np.ones((128, 8), np.float32))  # 4 KiB: activations from here on in chunks
        assert (layer in fast._splits) == layer.elementwise


def test_a_threads_block_for_a_small_batch_holds_nothing(three_threads, monkeypatch):
    """fast.threads(batch) below MIN_BATCH leaves BLAS its threads and runs every layer whole."""
    monkeypatch.setattr(fast, "MIN_BATCH", 64)
    before, layer = fast.blas_threads(), nn.Dense(3, 2)
    with fast.threads(32):
        assert fast.blas_threads() == before
        layer.forward(np.ones((32, 3)))
    assert layer not in fast._calls and layer not in fast._splits
    with fast.threads(64):
        assert fast.blas_threads() == 1


def test_a_reshape_of_c_ordered_memory_runs_whole_as_a_view(three_threads):
    x = np.random.default_rng(6).standard_normal((8, 12))
    layer = nn.Reshape(3, 4)
    with fast.threads():
        y = layer.forward(x)
    assert layer not in fast._splits and np.shares_memory(x, y)


def test_small_batches_run_whole():
    layer = nn.Dense(3, 2)
    with fast.threads():
        layer.forward(np.ones((fast.MIN_BATCH - 1, 3)))
    assert layer not in fast._splits


def test_trainers_run_their_iterations_inside_a_threads_block(monkeypatch):
    """Trainer.train enters fast.threads() for every iteration: a layer called there sees BLAS at one thread."""
    from minigan.train import GAN

    if fast.num_threads() < 2:
        pytest.skip("one thread: nothing to hold")
    backend.set_default_dtype(np.float32)
    seen = []
    real = nn.Tanh._forward

    def spy(self, x, train):
        seen.append(fast.blas_threads())
        return real(self, x, train)

    monkeypatch.setattr(nn.Tanh, "_forward", spy)
    G, D = nn.Sequential(nn.Dense(2, 4), nn.Tanh()), nn.Sequential(nn.Dense(4, 1))
    from minigan import optim

    trainer = GAN(G, D, optim.Adam(G, 1e-3), optim.Adam(D, 1e-3), nz=2, m=fast.MIN_BATCH)
    trainer.train(lambda m: np.ones((m, 4), np.float32), 1, progress=False)
    assert seen and set(seen) == {1}


@pytest.mark.parametrize("value", ["abc", "0", "-1", "1.5"])
def test_minigan_threads_must_be_a_positive_integer(monkeypatch, value):
    monkeypatch.setenv("MINIGAN_THREADS", value)
    monkeypatch.setattr(fast, "_threads", None)
    with pytest.raises(ValueError, match="MINIGAN_THREADS"):
        fast.num_threads()


def test_minigan_threads_sets_the_count(monkeypatch):
    monkeypatch.setenv("MINIGAN_THREADS", "2")
    previous = fast.num_threads()
    monkeypatch.setattr(fast, "_threads", None)
    try:
        assert fast.num_threads() == 2
    finally:
        fast.set_num_threads(previous)


@pytest.mark.parametrize("n", [0, -2, 1.5, True])
def test_set_num_threads_refuses_what_is_not_a_positive_integer(n):
    with pytest.raises(ValueError):
        fast.set_num_threads(n)


@given(n=st.integers(1, 300), nbytes=st.integers(0, 10**8), threads=st.integers(1, 5))
def test_chunk_slices_cover_the_batch_evenly(n, nbytes, threads):
    slices = fast.chunk_slices(n, nbytes, threads)
    sizes = [s.stop - s.start for s in slices]
    assert slices[0].start == 0 and slices[-1].stop == n
    assert all(a.stop == b.start for a, b in itertools.pairwise(slices))
    assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1
    if n >= threads:
        assert len(slices) % threads == 0 or len(slices) == n
    assert len(slices) >= min(n, -(-nbytes // fast.CHUNK_BYTES))


def test_reference_is_the_layers_own_code():
    layer, x = nn.Dense(3, 2), np.random.default_rng(5).standard_normal((4, 3))
    np.testing.assert_array_equal(reference.forward(layer, x, True), x @ layer.weight.T + layer.bias)
