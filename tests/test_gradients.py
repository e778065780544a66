"""Every layer's hand-derived backward pass against central differences, in float64.

Hypothesis draws the configuration (shapes, kernel sizes incl. 1 and non-square ones, strides, paddings,
output paddings, bias on/off, BatchNorm's eps/momentum/affine) and an integer seed; the data comes from NumPy's
seeded generator and moves to the backend under test with ``bk.asarray``. Each check covers the input and every
parameter, and passes when ``minigan.gradcheck`` reports a worst relative error below 1e-6.

The threshold means something: the "checker can fail" tests plant the bugs people actually make (a sign in
LeakyReLU's negative branch, Conv2d's weight gradient doubled or flipped, BatchNorm reducing over the wrong axis,
Dropout forgetting its mask, ...) and each one scores above 1e-3, while the correct layer on the same data stays
below 1e-6. The im2col/col2im convolutions are also compared with slow loop-based references
(``_naive_conv2d`` and ``_naive_conv_transpose2d`` below), forward and backward.

Every test runs twice (fixture ``_threads``): each layer's own code on the whole batch, and through minigan.fast on
three threads with one sample per chunk.

Worst errors observed (NumPy backend, 20 full runs of this file, 15 hypothesis examples per test; CuPy on an
H100 gave the same orders of magnitude):

    layer                      worst relative error
    Dense                      ~4e-10
    Conv2d                     ~7e-10
    ConvTranspose2d            ~6e-10
    BatchNorm1d (N, C)         ~1e-8   (train), ~4e-10 (eval)
    BatchNorm1d (N, C, L)      ~1e-8   (train), ~3e-10 (eval)
    BatchNorm2d                ~1e-8   (train), ~4e-10 (eval)
    ReLU                       ~2e-10
    LeakyReLU                  ~3e-10
    Tanh                       ~2e-10
    Sigmoid                    ~2e-10
    Flatten, Reshape           ~1e-10
    Dropout (train / eval)     ~3e-10
    Sequential tiny DCGAN D    ~7e-8
    Sequential tiny DCGAN G    ~2e-7
    Sequential MLP + Dropout   ~2e-9

(The numbers are refreshed by running ``pytest tests/test_gradients.py -s``, which prints the table for the run.)
The planted bugs scored between 4e-2 and 2.0.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from minigan import backend, fast, nn
from minigan.gradcheck import gradcheck
from minigan.nn.im2col import im2col, rows_to_images

TOL = 1e-6  # the verdict for a correct backward in float64
BUG = 1e-3  # what a planted bug must score at least

# MINIGAN_HYPOTHESIS_SCALE=20 runs 20 times as many examples (a deep run; the default keeps the file fast)
SCALE = int(os.environ.get("MINIGAN_HYPOTHESIS_SCALE", "1"))
CHECK = settings(max_examples=15 * SCALE, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])
seeds = st.integers(0, 2**31 - 1)

# ---------------------------------------------------------------------------------------------------------------
# bookkeeping: worst error per layer, printed at the end of the module (run with -s to see it)
# ---------------------------------------------------------------------------------------------------------------
_WORST: dict[str, float] = {}


@pytest.fixture(autouse=True)
def _threads(threads_mode):
    """Every check runs twice, whole and through minigan.fast on three threads (conftest.threads_mode)."""
    yield


@pytest.fixture(scope="module", autouse=True)
def _report_worst():
    yield
    if _WORST:
        print("\n\nworst gradcheck error per layer (this run)")
        for name, err in sorted(_WORST.items()):
            print(f"  {name:<28s} {err:.1e}")


def _check(label: str, module, x, rng, **kwargs):
    """gradcheck ``module`` at ``x``; every parameter must have been checked, and the worst error be < TOL.

    The upstream gradient dy gets its own seed from ``rng``: had it the data's seed, dy could repeat the data's
    draws (a BatchNorm input x = a dy + b has dL/dx = 0 exactly, which no relative error can judge).
    """
    result = gradcheck(module, x, seed=int(rng.integers(2**31)), **kwargs)
    assert set(result.errors) == {"input", *module.params}, f"{label}: not every tensor was checked ({result})"
    _WORST[label] = max(_WORST.get(label, 0.0), result.worst_error)
    assert result.worst_error < TOL, f"{label} {module!r}: {result}"
    return result


def _setup(seed: int) -> np.random.Generator:
    """float64 layers, a reseeded library generator (initialisation), and a NumPy generator for the data."""
    backend.set_default_dtype(np.float64)
    backend.seed(seed)
    return np.random.default_rng(seed)


def _away_from_zero(a, margin: float = 1e-3):
    """Move entries within ``margin`` of 0 away from it: a kink has no derivative for differences to find."""
    a = a.copy()
    small = np.abs(a) < margin
    a[small] = np.where(a[small] < 0, -10 * margin, 10 * margin)
    return a


def _randomize_params(module, rng, bk):
    """Replace every parameter with standard-normal values (BatchNorm's gamma = 1 would hide a missing factor)."""
    for p in module.params.values():
        p[...] = bk.asarray(rng.standard_normal(p.shape))


def _pair_or_int(a: int, b: int):
    return a if a == b else (a, b)


# ---------------------------------------------------------------------------------------------------------------
# configurations
# ---------------------------------------------------------------------------------------------------------------
@st.composite
def conv2d_configs(draw, max_hw: int = 6):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, kh - 2 * ph), max_hw))
    w = draw(st.integers(max(1, kw - 2 * pw), max_hw))
    return {
        # 8 input channels reach col2im's path for C >= 8 in the input gradient
        "n": draw(st.integers(1, 2)), "cin": draw(st.sampled_from([1, 2, 3, 8])), "cout": draw(st.integers(1, 3)),
        "h": h, "w": w, "kernel": (kh, kw), "stride": (sh, sw), "padding": (ph, pw), "bias": draw(st.booleans()),
        "seed": draw(seeds),
    }


@st.composite
def conv_transpose2d_configs(draw, max_hw: int = 4):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    oph, opw = draw(st.integers(0, sh - 1)), draw(st.integers(0, sw - 1))
    h, w = draw(st.integers(1, max_hw)), draw(st.integers(1, max_hw))
    assume((h - 1) * sh - 2 * ph + kh + oph >= 1 and (w - 1) * sw - 2 * pw + kw + opw >= 1)
    return {
        # 8 output channels reach col2im's path for C >= 8 in the forward pass
        "n": draw(st.integers(1, 2)), "cin": draw(st.integers(1, 3)), "cout": draw(st.sampled_from([1, 2, 3, 8])),
        "h": h, "w": w, "kernel": (kh, kw), "stride": (sh, sw), "padding": (ph, pw), "output_padding": (oph, opw),
        "bias": draw(st.booleans()), "seed": draw(seeds),
    }


def _conv2d(c):
    return nn.Conv2d(c["cin"], c["cout"], _pair_or_int(*c["kernel"]), stride=_pair_or_int(*c["stride"]),
                     padding=_pair_or_int(*c["padding"]), bias=c["bias"])


def _conv_transpose2d(c):
    return nn.ConvTranspose2d(c["cin"], c["cout"], _pair_or_int(*c["kernel"]), stride=_pair_or_int(*c["stride"]),
                              padding=_pair_or_int(*c["padding"]),
                              output_padding=_pair_or_int(*c["output_padding"]), bias=c["bias"])


shapes_any_rank = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple)


# ---------------------------------------------------------------------------------------------------------------
# layers with parameters
# ---------------------------------------------------------------------------------------------------------------
@CHECK
@given(n=st.integers(1, 4), fin=st.integers(1, 5), fout=st.integers(1, 5), bias=st.booleans(), seed=seeds)
@example(n=3, fin=4, fout=1, bias=True, seed=0)  # one output: dx = dy W is an outer product
@example(n=3, fin=1, fout=4, bias=True, seed=1)  # one input: so is the forward x W^T
@example(n=1, fin=3, fout=4, bias=False, seed=2)  # one sample: so is dW = dy^T x
def test_dense(bk, n, fin, fout, bias, seed):
    rng = _setup(seed)
    layer = nn.Dense(fin, fout, bias=bias)
    _check("Dense", layer, bk.asarray(rng.standard_normal((n, fin))), rng)


@CHECK
@given(c=conv2d_configs())
def test_conv2d(bk, c):
    rng = _setup(c["seed"])
    layer = _conv2d(c)
    _check("Conv2d", layer, bk.asarray(rng.standard_normal((c["n"], c["cin"], c["h"], c["w"]))), rng)


@CHECK
@given(c=conv_transpose2d_configs())
def test_conv_transpose2d(bk, c):
    rng = _setup(c["seed"])
    layer = _conv_transpose2d(c)
    _check("ConvTranspose2d", layer, bk.asarray(rng.standard_normal((c["n"], c["cin"], c["h"], c["w"]))), rng)


@st.composite
def batchnorm_configs(draw, kind: str):
    """Shapes with at least 3 values per channel, or 2 with a large eps. Over M = 2 values, x_hat = +-d / sqrt(d^2
    + 4 eps) (d the difference of the two) is a smoothed sign: its true gradient is ~eps / d^3, so small next to
    the central difference's round-off that no relative error below 1e-6 can be resolved for it."""
    c = draw(st.integers(1, 3))
    eps = draw(st.sampled_from([1e-5, 1e-3, 0.1]))
    min_m = 2 if eps >= 0.1 else 3
    if kind == "1d-NC":
        shape = (draw(st.integers(min_m, 5)), c)
    elif kind == "1d-NCL":
        n, length = draw(st.integers(1, 3)), draw(st.integers(1, 4))
        assume(n * length >= min_m)
        shape = (n, c, length)
    else:
        n, h, w = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
        assume(n * h * w >= min_m)
        shape = (n, c, h, w)
    return {
        "shape": shape, "eps": eps, "momentum": draw(st.sampled_from([0.1, 0.5, 1.0])), "affine": draw(st.booleans()),
        "seed": draw(seeds),
    }


def _batchnorm(kind, c, rng, bk):
    cls = nn.BatchNorm2d if kind == "2d" else nn.BatchNorm1d
    layer = cls(c["shape"][1], eps=c["eps"], momentum=c["momentum"], affine=c["affine"])
    _randomize_params(layer, rng, bk)
    return layer


def _bn_data(rng, shape):
    """Per-channel offsets and scales, so that normalising actually changes something."""
    per_channel = (1, shape[1]) + (1,) * (len(shape) - 2)
    return rng.standard_normal(shape) * rng.uniform(0.5, 3.0, per_channel) + rng.uniform(-2, 2, per_channel)


@pytest.mark.parametrize("kind", ["1d-NC", "1d-NCL", "2d"])
@CHECK
@given(data=st.data())
def test_batchnorm_train(bk, kind, data):
    c = data.draw(batchnorm_configs(kind))
    rng = _setup(c["seed"])
    layer = _batchnorm(kind, c, rng, bk)
    _check(f"BatchNorm{kind} train", layer, bk.asarray(_bn_data(rng, c["shape"])), rng)


@pytest.mark.parametrize("kind", ["1d-NC", "1d-NCL", "2d"])
@CHECK
@given(data=st.data(), steps=st.integers(1, 4))
def test_batchnorm_eval_after_training(bk, kind, data, steps):
    c = data.draw(batchnorm_configs(kind))
    rng = _setup(c["seed"])
    layer = _batchnorm(kind, c, rng, bk)
    for _ in range(steps):
        layer.forward(bk.asarray(_bn_data(rng, c["shape"])))
    assert int(layer.num_batches_tracked) == steps
    layer.eval()
    _check(f"BatchNorm{kind} eval", layer, bk.asarray(_bn_data(rng, c["shape"])), rng)


# ---------------------------------------------------------------------------------------------------------------
# activations, shape layers, dropout
# ---------------------------------------------------------------------------------------------------------------
ACTIVATIONS = {
    "ReLU": nn.ReLU,
    "Tanh": nn.Tanh,
    "Sigmoid": nn.Sigmoid,
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@CHECK
@given(shape=shapes_any_rank, scale=st.sampled_from([0.5, 1.0, 2.0]), seed=seeds)
def test_activation(bk, name, shape, scale, seed):
    """Inputs within |x| <= 4: further out tanh' < 1.3e-3 (sigmoid' < 1.8e-2 at 4, ~1e-7 at 16), and where every
    entry saturates the central difference's own round-off (~1e-10) is not small next to the derivative it is
    meant to measure. Saturation itself is compared with PyTorch in test_torch_twin.py."""
    rng = _setup(seed)
    x = _away_from_zero(np.clip(scale * rng.standard_normal(shape), -4, 4))
    _check(name, ACTIVATIONS[name](), bk.asarray(x), rng)


@CHECK
@given(shape=shapes_any_rank, slope=st.sampled_from([0.0, 0.01, 0.2, 0.5, 1.0, 1.7, -0.3]), seed=seeds)
def test_leaky_relu(bk, shape, slope, seed):
    rng = _setup(seed)
    x = _away_from_zero(rng.standard_normal(shape))
    _check("LeakyReLU", nn.LeakyReLU(slope), bk.asarray(x), rng)


@CHECK
@given(shape=st.lists(st.integers(1, 3), min_size=2, max_size=5).map(tuple), seed=seeds)
def test_flatten(bk, shape, seed):
    rng = _setup(seed)
    _check("Flatten", nn.Flatten(), bk.asarray(rng.standard_normal(shape)), rng)


@CHECK
@given(n=st.integers(1, 3), a=st.integers(1, 4), b=st.integers(1, 4), c=st.integers(1, 3),
       target=st.sampled_from(["flat", "swap", "split"]), seed=seeds)
def test_reshape(bk, n, a, b, c, target, seed):
    rng = _setup(seed)
    shape = {"flat": (a * b * c,), "swap": (c, b, a), "split": (a, b * c, 1)}[target]
    _check("Reshape", nn.Reshape(*shape), bk.asarray(rng.standard_normal((n, a, b, c))), rng)


@CHECK
@given(shape=shapes_any_rank, p=st.sampled_from([0.0, 0.2, 0.5, 0.9]), train=st.booleans(), seed=seeds)
def test_dropout(bk, shape, p, train, seed):
    rng = _setup(seed)
    layer = nn.Dropout(p).train(train)

    def same_mask(module):
        module.rng = backend.Random(seed)

    _check("Dropout", layer, bk.asarray(rng.standard_normal(shape)), rng, before_forward=same_mask)


# ---------------------------------------------------------------------------------------------------------------
# Sequential: tiny versions of the canonical DCGAN (docs/design.md), and an MLP with dropout
# ---------------------------------------------------------------------------------------------------------------
def tiny_dcgan_discriminator(ch: int = 3):
    """Canonical D's layers at 8x8 with few channels: (N, 1, 8, 8) -> (N, 1)."""
    return nn.Sequential(
        nn.Conv2d(1, ch, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(ch, 2 * ch, 4, stride=2, padding=1), nn.BatchNorm2d(2 * ch), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Dense(2 * ch * 2 * 2, 1),
    )


def tiny_dcgan_generator(nz: int = 5, ch: int = 2):
    """Canonical G's layers at 8x8 with few channels: (N, nz) -> (N, 1, 8, 8)."""
    return nn.Sequential(
        nn.Dense(nz, 2 * ch * 2 * 2), nn.BatchNorm1d(2 * ch * 2 * 2), nn.ReLU(), nn.Reshape(2 * ch, 2, 2),
        nn.ConvTranspose2d(2 * ch, ch, 4, stride=2, padding=1), nn.BatchNorm2d(ch), nn.ReLU(),
        nn.ConvTranspose2d(ch, 1, 4, stride=2, padding=1), nn.Tanh(),
    )


@settings(CHECK, max_examples=5 * SCALE)
@given(n=st.integers(2, 3), train=st.booleans(), seed=seeds)
def test_sequential_tiny_dcgan_discriminator(bk, n, train, seed):
    rng = _setup(seed)
    d = tiny_dcgan_discriminator()
    if not train:  # eval mode after a few training forwards, so the running statistics are not the defaults
        for _ in range(3):
            d.forward(bk.asarray(rng.uniform(-1, 1, (n, 1, 8, 8))))
        d.eval()
    _check("Sequential DCGAN-D", d, bk.asarray(rng.uniform(-1, 1, (n, 1, 8, 8))), rng)


@settings(CHECK, max_examples=5 * SCALE)
@given(n=st.integers(3, 4), train=st.booleans(), seed=seeds)
def test_sequential_tiny_dcgan_generator(bk, n, train, seed):
    rng = _setup(seed)
    g = tiny_dcgan_generator()
    if not train:
        for _ in range(3):
            g.forward(bk.asarray(rng.standard_normal((n, 5))))
        g.eval()
    _check("Sequential DCGAN-G", g, bk.asarray(rng.standard_normal((n, 5))), rng)


@settings(CHECK, max_examples=8 * SCALE)
@given(n=st.integers(1, 3), p=st.sampled_from([0.25, 0.5]), seed=seeds)
def test_sequential_mlp_with_dropout(bk, n, p, seed):
    rng = _setup(seed)
    mlp = nn.Sequential(nn.Dense(4, 6), nn.LeakyReLU(0.1), nn.Dropout(p), nn.Dense(6, 3), nn.Sigmoid())

    def same_mask(module):
        module[2].rng = backend.Random(seed)

    _check("Sequential MLP+Dropout", mlp, bk.asarray(rng.standard_normal((n, 4))), rng, before_forward=same_mask)


# ---------------------------------------------------------------------------------------------------------------
# the backward contract: param_grads=False skips parameter gradients; gradients accumulate until zero_grad
# ---------------------------------------------------------------------------------------------------------------
def test_param_grads_false_and_accumulation(bk):
    rng = _setup(7)
    d = tiny_dcgan_discriminator()
    x, dy = bk.asarray(rng.uniform(-1, 1, (3, 1, 8, 8))), bk.asarray(rng.standard_normal((3, 1)))
    d.zero_grad()
    d.forward(x)
    dx_only = bk.to_numpy(d.backward(dy, param_grads=False))
    assert all(float(abs(g).max()) == 0.0 for g in d.grads.values())
    d.forward(x)
    dx = bk.to_numpy(d.backward(dy))
    np.testing.assert_array_equal(dx_only, dx)
    once = {k: bk.to_numpy(g).copy() for k, g in d.grads.items()}
    assert max(float(np.abs(g).max()) for g in once.values()) > 0
    d.forward(x)
    d.backward(dy)
    for k, g in d.grads.items():
        np.testing.assert_allclose(bk.to_numpy(g), 2 * once[k], rtol=1e-12, atol=1e-15, err_msg=k)


# ---------------------------------------------------------------------------------------------------------------
# the checker can fail: planted bugs must score far above the threshold
# ---------------------------------------------------------------------------------------------------------------
def _expect_caught(label, module, x, tensor, rng, **kwargs):
    """The planted bug is reported (> BUG) on ``tensor``; the other tensors stay correct (< TOL)."""
    result = gradcheck(module, x, seed=int(rng.integers(2**31)), **kwargs)
    _WORST[f"planted bug: {label}"] = result.worst_error
    assert result.errors[tensor] > BUG, f"{label}: the checker missed the bug ({result})"
    assert result.worst_where.startswith(tensor), f"{label}: blamed the wrong tensor ({result})"
    for name, err in result.errors.items():
        if name != tensor:
            assert err < TOL, f"{label}: {name} should be unaffected ({result})"


def test_checker_catches_leaky_relu_sign_flip(bk, monkeypatch):
    monkeypatch.setattr(fast, "_kernels", lambda layer: None)  # the bug is in the layer's own code
    rng = _setup(1)
    x = bk.asarray(_away_from_zero(rng.standard_normal((4, 5))))
    layer = nn.LeakyReLU(0.2)
    _check("LeakyReLU", layer, x, rng)  # the real one passes on the same data

    def flipped(self, dy, param_grads, input_grad=True):
        xp = backend.array_module(dy)
        return xp.where(self._cache == 1, dy, -self.negative_slope * dy)  # _cache: f'(x), 1 or a

    monkeypatch.setattr(nn.LeakyReLU, "_backward", flipped)
    _expect_caught("LeakyReLU slope sign", layer, x, "input", rng)


@pytest.mark.parametrize("bug", ["doubled", "flipped kernel", "transposed kernel"])
def test_checker_catches_conv2d_weight_grad(bk, monkeypatch, bug):
    monkeypatch.setattr(fast, "_kernels", lambda layer: None)  # the bug is in the layer's own code
    rng = _setup(2)
    layer = nn.Conv2d(2, 3, 3, stride=1, padding=1)
    x = bk.asarray(rng.standard_normal((2, 2, 5, 5)))
    _check("Conv2d", layer, x, rng)
    real = nn.Conv2d._backward

    def wrong(self, dy, param_grads, input_grad=True):
        dx = real(self, dy, param_grads, input_grad)
        g = self._grads["weight"]
        if bug == "doubled":
            g *= 2
        elif bug == "flipped kernel":  # the convolution-vs-correlation mix-up
            g[...] = g[:, :, ::-1, ::-1].copy()
        else:
            g[...] = g.transpose(0, 1, 3, 2).copy()
        return dx

    monkeypatch.setattr(nn.Conv2d, "_backward", wrong)
    _expect_caught(f"Conv2d dW {bug}", layer, x, "weight", rng)


def test_checker_catches_conv_transpose2d_rotated_kernel(bk, monkeypatch):
    """ConvTranspose2d whose input gradient uses the kernel rotated by 180 degrees (a true convolution where the
    adjoint of the scatter is a correlation)."""
    monkeypatch.setattr(fast, "_kernels", lambda layer: None)  # the bug is in the layer's own code
    rng = _setup(3)
    layer = nn.ConvTranspose2d(2, 2, 3, stride=2, padding=1, output_padding=1)
    x = bk.asarray(rng.standard_normal((2, 2, 3, 3)))
    _check("ConvTranspose2d", layer, x, rng)
    real = nn.ConvTranspose2d._backward

    def rotated(self, dy, param_grads, input_grad=True):
        real(self, dy, param_grads, False)  # dW and db as they should be: only dx is wrong
        if not input_grad:
            return None
        n, _, h, w = self._x.shape
        dcols, _ = im2col(dy, self.kernel_size, self.stride, self.padding, out_hw=(h, w))
        rotated_w = self._params["weight"][:, :, ::-1, ::-1]  # (C_in, C_out, kh, kw), turned by 180 degrees
        c_in, c_out, kh, kw = rotated_w.shape
        return rows_to_images(dcols @ rotated_w.transpose(2, 3, 1, 0).reshape(kh * kw * c_out, c_in), n, h, w)

    monkeypatch.setattr(nn.ConvTranspose2d, "_backward", rotated)
    _expect_caught("ConvTranspose2d dx rotated kernel", layer, x, "input", rng)


def test_checker_catches_batchnorm_wrong_axis(bk, monkeypatch):
    """BatchNorm2d whose backward averages over N only (per pixel), not per channel over N, H, W."""
    monkeypatch.setattr(fast, "_batchnorm_engaged", lambda layer, a: False)  # the bug is in the layer's own code
    rng = _setup(4)
    layer = nn.BatchNorm2d(3)
    _randomize_params(layer, rng, bk)
    x = bk.asarray(_bn_data(rng, (4, 3, 3, 3)))
    _check("BatchNorm2d train", layer, x, rng)

    def wrong_axis(self, dy, param_grads, input_grad=True):
        axes = (0, 2, 3)
        x_hat = self._unrows(self._normalized(), dy)
        if param_grads:
            self._grads["weight"] += (dy * x_hat).sum(axis=axes)
            self._grads["bias"] += dy.sum(axis=axes)
        g = dy * self.weight.reshape(1, -1, 1, 1)
        wrong = (0,)  # the bug
        return self._inv_std.reshape(1, -1, 1, 1) * (
            g - g.mean(axis=wrong, keepdims=True) - x_hat * (g * x_hat).mean(axis=wrong, keepdims=True)
        )

    monkeypatch.setattr(nn.BatchNorm2d, "_backward", wrong_axis)
    _expect_caught("BatchNorm2d reduce axis", layer, x, "input", rng)


def test_checker_catches_batchnorm_missing_gamma(bk, monkeypatch):
    """BatchNorm1d whose input gradient forgets to multiply by gamma (invisible while gamma == 1)."""
    monkeypatch.setattr(fast, "_batchnorm_engaged", lambda layer, a: False)  # the bug is in the layer's own code
    rng = _setup(5)
    layer = nn.BatchNorm1d(4)
    _randomize_params(layer, rng, bk)
    x = bk.asarray(_bn_data(rng, (5, 4)))
    _check("BatchNorm1d-NC train", layer, x, rng)
    real = nn.BatchNorm1d._backward

    def no_gamma(self, dy, param_grads, input_grad=True):
        saved = self._params["weight"].copy()
        self._params["weight"][...] = 1
        try:
            dx = real(self, dy, False, True)
        finally:
            self._params["weight"][...] = saved
        if param_grads:
            self._grads["weight"] += (dy * self._normalized()).sum(axis=0)
            self._grads["bias"] += dy.sum(axis=0)
        return dx

    monkeypatch.setattr(nn.BatchNorm1d, "_backward", no_gamma)
    _expect_caught("BatchNorm1d missing gamma", layer, x, "input", rng)


def test_checker_catches_dense_bias_mean(bk, monkeypatch):
    """Dense whose bias gradient averages over the batch instead of summing. (On chunks of one sample a mean is the
    sum: with three threads the six samples go in chunks of two here.)"""
    monkeypatch.setattr(fast, "CHUNK_BYTES", 1 << 30)
    monkeypatch.setattr(fast, "_kernels", lambda layer: None)  # the bug is in the layer's own code
    rng = _setup(6)
    layer = nn.Dense(3, 4)
    x = bk.asarray(rng.standard_normal((6, 3)))
    _check("Dense", layer, x, rng)
    real = nn.Dense._backward

    def mean_bias(self, dy, param_grads, input_grad=True):
        dx = real(self, dy, param_grads, input_grad)
        if param_grads:
            self._grads["bias"] /= dy.shape[0]
        return dx

    monkeypatch.setattr(nn.Dense, "_backward", mean_bias)
    _expect_caught("Dense db mean", layer, x, "bias", rng)


def test_checker_catches_dropout_forgetting_its_mask(bk, monkeypatch):
    rng = _setup(8)
    x = bk.asarray(rng.standard_normal((4, 6)))

    def same_mask(module):
        module.rng = backend.Random(8)

    _check("Dropout", nn.Dropout(0.5), x, rng, before_forward=same_mask)
    monkeypatch.setattr(nn.Dropout, "_backward", lambda self, dy, param_grads, input_grad=True: dy)
    _expect_caught("Dropout without mask", nn.Dropout(0.5), x, "input", rng, before_forward=same_mask)


def test_checker_catches_tanh_derivative_of_wrong_variable(bk, monkeypatch):
    """Tanh whose backward evaluates 1 - x^2 (the input) instead of 1 - y^2 (the output)."""
    rng = _setup(9)
    x = bk.asarray(rng.standard_normal((3, 4)))
    _check("Tanh", nn.Tanh(), x, rng)

    def wrong(self, dy, param_grads, input_grad=True):
        xp = backend.array_module(dy)
        x_back = xp.arctanh(self._cache)
        return dy * (1 - x_back * x_back)

    monkeypatch.setattr(nn.Tanh, "_backward", wrong)
    _expect_caught("Tanh 1-x^2", nn.Tanh(), x, "input", rng)


def test_checker_localises_a_bug_inside_sequential(bk, monkeypatch):
    """A sign flip in LeakyReLU's negative branch inside the tiny DCGAN D: every tensor upstream of the last
    LeakyReLU is reported wrong, while the final Dense, downstream of it, stays correct."""
    rng = _setup(10)
    d = tiny_dcgan_discriminator()
    x = bk.asarray(rng.uniform(-1, 1, (3, 1, 8, 8)))
    _check("Sequential DCGAN-D", d, x, rng)

    def flipped(self, dy, param_grads, input_grad=True):
        xp = backend.array_module(dy)
        return xp.where(self._cache == 1, dy, -self.negative_slope * dy)  # _cache: f'(x), 1 or a

    monkeypatch.setattr(nn.LeakyReLU, "_backward", flipped)
    kernels = fast._kernels  # the bug is in the layer's own code: LeakyReLU runs it, the other layers as before
    monkeypatch.setattr(fast, "_kernels", lambda layer: None if isinstance(layer, nn.LeakyReLU) else kernels(layer))
    result = gradcheck(d, x, seed=int(rng.integers(2**31)))
    _WORST["planted bug: LeakyReLU sign in DCGAN-D"] = result.worst_error
    for name in ("input", "0.weight", "2.weight", "3.weight", "3.bias"):
        assert result.errors[name] > BUG, f"{name} should be reported wrong ({result})"
    for name in ("6.weight", "6.bias"):
        assert result.errors[name] < TOL, f"{name} is downstream of the bug and should pass ({result})"


# ---------------------------------------------------------------------------------------------------------------
# the fast convolutions against slow, obviously correct loops
# ---------------------------------------------------------------------------------------------------------------
def _naive_conv2d(x, w, b, stride, padding):
    """y[n, o, p, q] = b[o] + sum_{c,i,j} w[o, c, i, j] x_pad[n, c, p sh + i, q sw + j], one output at a time."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    (sh, sw), (ph, pw) = stride, padding
    xpad = np.zeros((n, c, h + 2 * ph, wd + 2 * pw))
    xpad[:, :, ph:ph + h, pw:pw + wd] = x
    ho, wo = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    y = np.zeros((n, o, ho, wo))
    for b_ in range(n):
        for o_ in range(o):
            for p in range(ho):
                for q in range(wo):
                    acc = 0.0 if b is None else b[o_]
                    for c_ in range(c):
                        for i in range(kh):
                            for j in range(kw):
                                acc += w[o_, c_, i, j] * xpad[b_, c_, p * sh + i, q * sw + j]
                    y[b_, o_, p, q] = acc
    return y


def _naive_conv2d_backward(x, w, dy, stride, padding):
    """(dx, dw, db) of L = sum(y * dy) for the y of :func:`_naive_conv2d`, by the same loops."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    (sh, sw), (ph, pw) = stride, padding
    xpad = np.zeros((n, c, h + 2 * ph, wd + 2 * pw))
    xpad[:, :, ph:ph + h, pw:pw + wd] = x
    dxpad, dw, db = np.zeros_like(xpad), np.zeros_like(w), np.zeros(o)
    _, _, ho, wo = dy.shape
    for b_ in range(n):
        for o_ in range(o):
            for p in range(ho):
                for q in range(wo):
                    g = dy[b_, o_, p, q]
                    db[o_] += g
                    for c_ in range(c):
                        for i in range(kh):
                            for j in range(kw):
                                dw[o_, c_, i, j] += g * xpad[b_, c_, p * sh + i, q * sw + j]
                                dxpad[b_, c_, p * sh + i, q * sw + j] += g * w[o_, c_, i, j]
    return dxpad[:, :, ph:ph + h, pw:pw + wd], dw, db


def _naive_conv_transpose2d(x, w, b, stride, padding, output_padding):
    """Scatter form: every input pixel x[n, c, i, j] adds w[c, o, :, :] x[n, c, i, j] at rows i sh + (0..kh-1),
    columns j sw + (0..kw-1) of a full-size output, which is then cropped by the padding on each side."""
    n, cin, h, wd = x.shape
    _, cout, kh, kw = w.shape
    (sh, sw), (ph, pw), (oph, opw) = stride, padding, output_padding
    full = np.zeros((n, cout, (h - 1) * sh + kh + oph, (wd - 1) * sw + kw + opw))
    for b_ in range(n):
        for c in range(cin):
            for i in range(h):
                for j in range(wd):
                    for o in range(cout):
                        for u in range(kh):
                            for v in range(kw):
                                full[b_, o, i * sh + u, j * sw + v] += w[c, o, u, v] * x[b_, c, i, j]
    ho, wo = full.shape[2] - 2 * ph, full.shape[3] - 2 * pw
    y = full[:, :, ph:ph + ho, pw:pw + wo].copy()
    if b is not None:
        for o in range(cout):
            y[:, o] += b[o]
    return y


def _naive_conv_transpose2d_backward(x, w, dy, stride, padding, output_padding):
    """(dx, dw, db) of L = sum(y * dy) for the y of :func:`_naive_conv_transpose2d`, by the same loops."""
    n, cin, h, wd = x.shape
    _, cout, kh, kw = w.shape
    (sh, sw), (ph, pw), (oph, opw) = stride, padding, output_padding
    dfull = np.zeros((n, cout, (h - 1) * sh + kh + oph, (wd - 1) * sw + kw + opw))
    dfull[:, :, ph:ph + dy.shape[2], pw:pw + dy.shape[3]] = dy
    dx, dw = np.zeros_like(x), np.zeros_like(w)
    for b_ in range(n):
        for c in range(cin):
            for i in range(h):
                for j in range(wd):
                    for o in range(cout):
                        for u in range(kh):
                            for v in range(kw):
                                g = dfull[b_, o, i * sh + u, j * sw + v]
                                dx[b_, c, i, j] += g * w[c, o, u, v]
                                dw[c, o, u, v] += g * x[b_, c, i, j]
    db = np.array([dy[:, o].sum() for o in range(cout)])
    return dx, dw, db


def _assert_close(label, ours, reference):
    ours = np.asarray(ours)
    assert ours.shape == reference.shape, f"{label}: shape {ours.shape}, reference {reference.shape}"
    scale = max(1.0, float(np.abs(reference).max(initial=0.0)))
    diff = float(np.abs(ours - reference).max(initial=0.0))
    assert diff <= 1e-12 * scale, f"{label}: max abs diff {diff:.3e} (scale {scale:.3e})"


def _run_layer(layer, x, dy, bk):
    layer.zero_grad()
    y = layer.forward(bk.asarray(x))
    dx = layer.backward(bk.asarray(dy))
    grads = {k: bk.to_numpy(g) for k, g in layer.grads.items()}
    return bk.to_numpy(y), bk.to_numpy(dx), grads


@CHECK
@given(c=conv2d_configs(max_hw=7))
def test_conv2d_matches_naive_loops(bk, c):
    rng = _setup(c["seed"])
    layer = _conv2d(c)
    _randomize_params(layer, rng, bk)
    w = bk.to_numpy(layer.weight)
    b = bk.to_numpy(layer.bias) if c["bias"] else None
    x = rng.standard_normal((c["n"], c["cin"], c["h"], c["w"]))
    y_ref = _naive_conv2d(x, w, b, c["stride"], c["padding"])
    dy = rng.standard_normal(y_ref.shape)
    y, dx, grads = _run_layer(layer, x, dy, bk)
    dx_ref, dw_ref, db_ref = _naive_conv2d_backward(x, w, dy, c["stride"], c["padding"])
    _assert_close("y", y, y_ref)
    _assert_close("dx", dx, dx_ref)
    _assert_close("dW", grads["weight"], dw_ref)
    if c["bias"]:
        _assert_close("db", grads["bias"], db_ref)


@CHECK
@given(c=conv_transpose2d_configs(max_hw=4))
def test_conv_transpose2d_matches_naive_loops(bk, c):
    rng = _setup(c["seed"])
    layer = _conv_transpose2d(c)
    _randomize_params(layer, rng, bk)
    w = bk.to_numpy(layer.weight)
    b = bk.to_numpy(layer.bias) if c["bias"] else None
    x = rng.standard_normal((c["n"], c["cin"], c["h"], c["w"]))
    y_ref = _naive_conv_transpose2d(x, w, b, c["stride"], c["padding"], c["output_padding"])
    dy = rng.standard_normal(y_ref.shape)
    y, dx, grads = _run_layer(layer, x, dy, bk)
    dx_ref, dw_ref, db_ref = _naive_conv_transpose2d_backward(x, w, dy, c["stride"], c["padding"],
                                                              c["output_padding"])
    _assert_close("y", y, y_ref)
    _assert_close("dx", dx, dx_ref)
    _assert_close("dW", grads["weight"], dw_ref)
    if c["bias"]:
        _assert_close("db", grads["bias"], db_ref)


@CHECK
@given(c=conv2d_configs(max_hw=7))
def test_conv_transpose2d_is_the_adjoint_of_conv2d(bk, c):
    """<conv(x), u> = <x, conv_transpose(u)> for the same weight and no bias: the transposed convolution is the
    adjoint of the convolution whose output size it inverts (output_padding picks that input size back)."""
    rng = _setup(c["seed"])
    conv = _conv2d({**c, "bias": False})
    x = rng.standard_normal((c["n"], c["cin"], c["h"], c["w"]))
    y = bk.to_numpy(conv.forward(bk.asarray(x)))
    (kh, kw), (sh, sw), (ph, pw) = c["kernel"], c["stride"], c["padding"]
    op = tuple((size + 2 * p - k) % s for size, p, k, s in zip((c["h"], c["w"]), (ph, pw), (kh, kw), (sh, sw)))
    tconv = nn.ConvTranspose2d(c["cout"], c["cin"], (kh, kw), stride=(sh, sw), padding=(ph, pw),
                               output_padding=op, bias=False)
    tconv.weight[...] = conv.weight
    u = rng.standard_normal(y.shape)
    xt = bk.to_numpy(tconv.forward(bk.asarray(u)))
    assert xt.shape == x.shape
    lhs, rhs = float((y * u).sum()), float((x * xt).sum())
    assert abs(lhs - rhs) <= 1e-12 * max(1.0, float(np.abs(y * u).sum())), (lhs, rhs)


@CHECK
@given(n=st.integers(1, 2), c=st.sampled_from([1, 3, 8, 9]), kh=st.integers(1, 4), kw=st.integers(1, 4),
       sh=st.integers(1, 3), sw=st.integers(1, 3), ph=st.integers(0, 2), pw=st.integers(0, 2),
       h=st.integers(1, 7), w=st.integers(1, 8), seed=seeds)
def test_col2im_matches_a_naive_scatter_add(bk, n, c, kh, kw, sh, sw, ph, pw, h, w, seed):
    """col2im adds every entry of cols back to the pixel it came from (one strided add per kernel offset)."""
    from minigan.nn.im2col import col2im, output_size

    assume(h + 2 * ph >= kh and w + 2 * pw >= kw)
    ho, wo = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
    cols = np.random.default_rng(seed).standard_normal((n * ho * wo, kh * kw * c))
    expected = np.zeros((n, h + 2 * ph, w + 2 * pw, c))
    for row, (i_n, p, q) in enumerate(np.ndindex(n, ho, wo)):
        for col, (i, j) in enumerate(np.ndindex(kh, kw)):
            expected[i_n, p * sh + i, q * sw + j, :] += cols[row, col * c : (col + 1) * c]
    got = bk.to_numpy(col2im(bk.asarray(cols), (n, c, h, w), (kh, kw), (sh, sw), (ph, pw), (ho, wo)))
    np.testing.assert_allclose(got.transpose(0, 2, 3, 1), expected[:, ph : ph + h, pw : pw + w, :], rtol=1e-12, atol=1e-12)
