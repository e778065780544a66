"""The layers pix2pix, CycleGAN and StackGAN need (issue 17), each held to the layer contract:

    ReflectionPad2d, InstanceNorm2d, Upsample (nearest), SkipConcat (the U-Net skip, cat([x, f(x)], 1)),
    Residual (x + f(x)), Embedding

* gradient checks in float64 (``minigan.gradcheck``, worst relative error < 1e-6), input and every parameter
  (Embedding: its weight; its integer ids have no gradient), each run on the whole batch and through minigan.fast
  on three threads with one sample per chunk;
* the checker can fail: a planted bug per backward (the reflection scatter that overwrites instead of adding,
  InstanceNorm with BatchNorm's axes, ...) scores above 1e-3 where the real layer scores below 1e-6;
* the PyTorch twin (``minigan.export.to_torch``, the one mapping the twin and the export share), float64 and
  float32: outputs, input gradients, parameter gradients (accumulated over steps) and buffers; the containers'
  state dicts also load into hand-written copies of the reference's UnetSkipConnectionBlock / ResnetBlock forward;
  the exported G.py builds the same network;
* errors for bad shapes and arguments, by type and by name; state dict round trips;
* minigan.fast against minigan.reference for the per-sample layers (test_fast.py's fixtures: three threads, tiny
  chunks);
* the gradient penalty through critics holding the piecewise-linear new layers (ReflectionPad2d, Upsample,
  Residual, SkipConcat): central differences and torch's double backpropagation.

Tolerances are those of tests/test_gradients.py and tests/test_torch_twin.py. ``pytest tests/test_new_layers.py -s``
prints the worst gradient-check error per layer and the worst twin difference.
"""

from __future__ import annotations

import copy
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_fast import _agree, one_sample_chunks, three_threads  # noqa: F401 - fixtures, used by name

from minigan import backend, fast, nn
from minigan.errors import LayerInputError
from minigan.export import export_generator, to_torch
from minigan.gradcheck import check_gradients, gradcheck
from minigan.gradient_penalty import PenaltyNotSupported, check_penalty_support, gradient_penalty

TOL = 1e-6  # a correct backward, float64 central differences
BUG = 1e-3  # what a planted bug must score at least
TOL64 = 1e-10  # twin, float64: max |ours - torch| <= TOL64 * max(1, max |torch|)
TOL32 = 1e-4  # twin, float32: max |ours - torch| / max |torch|

SCALE = int(os.environ.get("MINIGAN_HYPOTHESIS_SCALE", "1"))
CHECK = settings(max_examples=10 * SCALE, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
seeds = st.integers(0, 2**31 - 1)
needs_blas = pytest.mark.skipif(fast.blas_threads() is None,
                                reason="threadpoolctl finds no BLAS here: minigan runs no threads of its own")

_WORST: dict[str, float] = {}
_TWIN_WORST: dict[str, float] = {}


@pytest.fixture(scope="module", autouse=True)
def _report_worst():
    yield
    if _WORST:
        print("\n\nworst gradcheck error per layer (this run)")
        for name, err in sorted(_WORST.items()):
            print(f"  {name:<44s} {err:.1e}")
    if _TWIN_WORST:
        print("\nworst difference from the torch twin (float64: |diff| / max(1, |torch|); float32: relative)")
        for name, err in sorted(_TWIN_WORST.items()):
            print(f"  {name:<44s} {err:.1e}")


def _setup(seed: int, dtype=np.float64) -> np.random.Generator:
    backend.set_default_dtype(dtype)
    backend.seed(seed)
    return np.random.default_rng(seed)


def _randomize(module, rng, bk):
    """Standard-normal parameters (InstanceNorm's gamma = 1, beta = 0 would hide a missing factor or term)."""
    for p in module.params.values():
        p[...] = bk.asarray(rng.standard_normal(p.shape))


def _channels_last(x):
    """x (N, C, H, W) as the NCHW view of channels-last memory, as minigan's convolutions hand arrays on."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


def _check(label, module, x, rng, **kwargs):
    result = gradcheck(module, x, seed=int(rng.integers(2**31)), **kwargs)
    assert set(result.errors) == {"input", *module.params}, f"{label}: not every tensor was checked ({result})"
    _WORST[label] = max(_WORST.get(label, 0.0), result.worst_error)
    assert result.worst_error < TOL, f"{label} {module!r}: {result}"
    return result


def _expect_caught(label, module, x, tensor, rng):
    """The planted bug is reported (> BUG) on ``tensor``; the other tensors stay correct (< TOL)."""
    result = gradcheck(module, x, seed=int(rng.integers(2**31)))
    _WORST[f"planted bug: {label}"] = result.worst_error
    assert result.errors[tensor] > BUG, f"{label}: the checker missed the bug ({result})"
    for name, err in result.errors.items():
        if name != tensor:
            assert err < TOL, f"{label}: {name} should be unaffected ({result})"


def _in_data(rng, shape):
    """Per-(sample, channel) offsets and scales, so that normalising changes something."""
    per = shape[:2] + (1, 1)
    return rng.standard_normal(shape) * rng.uniform(0.5, 3.0, per) + rng.uniform(-2, 2, per)


# ---------------------------------------------------------------------------------------------------------------
# small networks in the manner of the references
# ---------------------------------------------------------------------------------------------------------------
def unet(c_in=2, c_out=2, ngf=2, depth=2, dropout=False):
    """pix2pix's U-Net at toy size (UnetSkipConnectionBlock, norm BatchNorm2d, so bias=False on the convolutions):
    (N, c_in, 4 * 2^(depth-1), ...) -> (N, c_out, same). Innermost block: down (LeakyReLU, Conv), up (ReLU,
    ConvT, BN); middle blocks: down (LeakyReLU, Conv, BN), inner, up (ReLU, ConvT, BN); outermost: Conv, inner,
    ReLU, ConvT, Tanh, no skip."""
    def down(ci, co, norm=True):
        return [nn.LeakyReLU(0.2), nn.Conv2d(ci, co, 4, stride=2, padding=1, bias=False)] + (
            [nn.BatchNorm2d(co)] if norm else [])

    def up(ci, co):
        return [nn.ReLU(), nn.ConvTranspose2d(ci, co, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(co)]

    width = ngf * 2 ** (depth - 1)
    block = nn.SkipConcat(nn.Sequential(*down(width, width, norm=False), *up(width, width)))
    for d in range(depth - 1, 0, -1):
        outer = ngf * 2 ** (d - 1)
        block = nn.SkipConcat(nn.Sequential(*down(outer, width), block, *up(2 * width, outer),
                                            *([nn.Dropout(0.5)] if dropout else [])))
        width = outer
    return nn.Sequential(nn.Conv2d(c_in, ngf, 4, stride=2, padding=1, bias=False), block, nn.ReLU(),
                         nn.ConvTranspose2d(2 * ngf, c_out, 4, stride=2, padding=1), nn.Tanh())


def resnet_block(c, bias=True):
    """CycleGAN's ResnetBlock (reflect padding, InstanceNorm, no dropout): x + conv_block(x)."""
    return nn.Residual(nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3, bias=bias), nn.InstanceNorm2d(c),
                                     nn.ReLU(), nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3, bias=bias),
                                     nn.InstanceNorm2d(c)))


def resnet_generator(c_in=2, c_out=2, ngf=2, blocks=2, bias=True):
    """CycleGAN's ResnetGenerator at toy size: ReflectionPad(3), 7x7 conv, IN, ReLU, one downsampling, residual
    blocks, one upsampling, ReflectionPad(3), 7x7 conv, Tanh."""
    return nn.Sequential(
        nn.ReflectionPad2d(3), nn.Conv2d(c_in, ngf, 7, bias=bias), nn.InstanceNorm2d(ngf), nn.ReLU(),
        nn.Conv2d(ngf, 2 * ngf, 3, stride=2, padding=1, bias=bias), nn.InstanceNorm2d(2 * ngf), nn.ReLU(),
        *[resnet_block(2 * ngf, bias) for _ in range(blocks)],
        nn.ConvTranspose2d(2 * ngf, ngf, 3, stride=2, padding=1, output_padding=1, bias=bias),
        nn.InstanceNorm2d(ngf), nn.ReLU(), nn.ReflectionPad2d(3), nn.Conv2d(ngf, c_out, 7), nn.Tanh())


def stackgan_up_block(ci, co):
    """StackGAN's upBlock: Upsample(2, nearest), 3x3 conv (no bias), BatchNorm, ReLU."""
    return nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(ci, co, 3, padding=1, bias=False), nn.BatchNorm2d(co),
                         nn.ReLU())


# ---------------------------------------------------------------------------------------------------------------
# 1. gradient checks (float64)
# ---------------------------------------------------------------------------------------------------------------
@st.composite
def pad_cases(draw):
    h, w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    sides = (draw(st.integers(0, w - 1)), draw(st.integers(0, w - 1)), draw(st.integers(0, h - 1)),
             draw(st.integers(0, h - 1)))
    padding = sides[0] if len(set(sides)) == 1 and draw(st.booleans()) else sides
    return padding, (draw(st.integers(1, 3)), draw(st.integers(1, 3)), h, w), draw(seeds)


@CHECK
@given(case=pad_cases())
def test_gradcheck_reflection_pad2d(bk, threads_mode, case):
    padding, shape, seed = case
    rng = _setup(seed)
    x = rng.standard_normal(shape)
    _check("ReflectionPad2d", nn.ReflectionPad2d(padding), bk.asarray(_channels_last(x) if seed % 2 else x), rng)


@CHECK
@given(n=st.integers(1, 3), c=st.integers(1, 3), h=st.integers(1, 4), w=st.integers(1, 4), affine=st.booleans(),
       eps=st.sampled_from([1e-5, 1e-3, 0.1]), seed=seeds)
def test_gradcheck_instance_norm2d_instance_statistics(bk, threads_mode, n, c, h, w, affine, eps, seed):
    """Training, and evaluation without running statistics (the default): each (n, c) by its own statistics.

    At least 3 values per (n, c), or 2 with a large eps, as tests/test_gradients.py's BatchNorm: over M = 2 values
    x_hat = +-d / sqrt(d^2 + 4 eps) is a smoothed sign whose true gradient (~eps / d^3) sits below the central
    difference's round-off."""
    assume(h * w >= (2 if eps >= 0.1 else 3))
    rng = _setup(seed)
    layer = nn.InstanceNorm2d(c, eps=eps, affine=affine)
    _randomize(layer, rng, bk)
    x = bk.asarray(_in_data(rng, (n, c, h, w)))
    _check(f"InstanceNorm2d (affine={affine})", layer, x, rng)
    layer.eval()
    _check(f"InstanceNorm2d (affine={affine})", layer, x, rng)


@CHECK
@given(n=st.integers(1, 3), c=st.integers(1, 3), h=st.integers(1, 3), w=st.integers(3, 4), steps=st.integers(1, 3),
       affine=st.booleans(), seed=seeds)
def test_gradcheck_instance_norm2d_running_statistics(bk, threads_mode, n, c, h, w, steps, affine, seed):
    """track_running_stats=True: training as above, evaluation with the running statistics (constants)."""
    rng = _setup(seed)
    layer = nn.InstanceNorm2d(c, momentum=0.3, affine=affine, track_running_stats=True)
    _randomize(layer, rng, bk)
    for _ in range(steps):
        layer.forward(bk.asarray(_in_data(rng, (n, c, h, w))))
    x = bk.asarray(_in_data(rng, (n, c, h, w)))
    _check("InstanceNorm2d running stats, train", layer, x, rng)
    layer.eval()
    _check("InstanceNorm2d running stats, eval", layer, x, rng)


@CHECK
@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 4), st.integers(1, 4)),
       scale=st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3))), seed=seeds)
def test_gradcheck_upsample(bk, threads_mode, shape, scale, seed):
    rng = _setup(seed)
    x = rng.standard_normal(shape)
    _check("Upsample", nn.Upsample(scale_factor=scale), bk.asarray(_channels_last(x) if seed % 2 else x), rng)


@CHECK
@given(n=st.integers(1, 3), c=st.integers(1, 3), cf=st.integers(1, 3), seed=seeds)
def test_gradcheck_skip_concat(bk, threads_mode, n, c, cf, seed):
    rng = _setup(seed)
    layer = nn.SkipConcat(nn.Sequential(nn.Conv2d(c, cf, 3, padding=1), nn.LeakyReLU(0.2)))
    _randomize(layer, rng, bk)
    _check("SkipConcat", layer, bk.asarray(rng.standard_normal((n, c, 4, 3))), rng)
    dense = nn.SkipConcat(nn.Dense(c, cf), name="fc")  # any rank >= 2: (N, C) + (N, C_f)
    _randomize(dense, rng, bk)
    _check("SkipConcat", dense, bk.asarray(rng.standard_normal((n, c))), rng)


@CHECK
@given(n=st.integers(1, 3), c=st.integers(1, 3), seed=seeds)
def test_gradcheck_residual(bk, threads_mode, n, c, seed):
    rng = _setup(seed)
    layer = resnet_block(c)
    _randomize(layer, rng, bk)
    _check("Residual (ResnetBlock)", layer, bk.asarray(rng.standard_normal((n, c, 3, 4))), rng)
    dense = nn.Residual(nn.Sequential(nn.Dense(c, 4), nn.Tanh(), nn.Dense(4, c)), name="block")
    _randomize(dense, rng, bk)
    _check("Residual (MLP)", dense, bk.asarray(rng.standard_normal((n, c))), rng)


def _embedding_check(layer, ids, rng):
    """Central differences of L = sum(W[ids] * dy) with respect to W (the ids have no gradient). The padding row,
    which by definition receives no gradient (PyTorch's padding_idx), must have exactly zero; the check covers
    the other rows, perturbed through a separate array of them copied into W before each forward."""
    module = copy.deepcopy(layer).to(dtype=np.float64)
    dy = np.asarray(rng.standard_normal(module.forward(ids).shape))
    dy = backend.to_backend(dy, backend.backend_of(ids))
    module.zero_grad()
    module.forward(ids)
    assert module.backward(dy) is None  # no dx for integer ids
    weight, grad = module.params["weight"], module.grads["weight"].copy()
    keep = [v for v in range(weight.shape[0]) if v != module.padding_idx]
    if module.padding_idx is not None:
        assert not grad[module.padding_idx].any(), "the padding row received a gradient"
    rows = weight[keep].copy()

    def loss():
        weight[keep] = rows
        return float((module.forward(ids) * dy).sum())

    return check_gradients(loss, {"weight": rows}, {"weight": grad[keep]})


@CHECK
@given(n=st.integers(1, 4), length=st.integers(1, 5), v=st.integers(2, 6), d=st.integers(1, 4),
       padding=st.booleans(), seed=seeds)
def test_gradcheck_embedding(bk, threads_mode, n, length, v, d, padding, seed):
    """Ids repeat (more positions than rows): rows named several times must receive the sum of their dy."""
    rng = _setup(seed)
    layer = nn.Embedding(v, d, padding_idx=int(rng.integers(v)) if padding else None)
    ids = bk.asarray(rng.integers(0, v, (n, length)))
    result = _embedding_check(layer, ids, rng)
    _WORST["Embedding"] = max(_WORST.get("Embedding", 0.0), result.worst_error)
    assert result.worst_error < TOL, f"{layer!r}: {result}"


@settings(CHECK, max_examples=4 * SCALE)
@given(n=st.integers(2, 3), train=st.booleans(), seed=seeds)
def test_gradcheck_tiny_unet(bk, threads_mode, n, train, seed):
    """pix2pix's U-Net (nested SkipConcats, BatchNorm, ConvTranspose2d) as one Sequential."""
    rng = _setup(seed)
    net = unet(depth=2)
    _randomize(net, rng, bk)
    net.train(train)
    _check("Sequential: tiny U-Net", net, bk.asarray(rng.standard_normal((n, 2, 8, 8))), rng)


@settings(CHECK, max_examples=4 * SCALE)
@given(n=st.integers(1, 2), seed=seeds)
def test_gradcheck_tiny_resnet_generator(bk, threads_mode, n, seed):
    """CycleGAN's ResNet generator (reflection padding, InstanceNorm, residual blocks) as one Sequential."""
    rng = _setup(seed)
    net = resnet_generator(blocks=1)
    _randomize(net, rng, bk)
    _check("Sequential: tiny ResNet generator", net, bk.asarray(rng.standard_normal((n, 2, 4, 4))), rng)


@settings(CHECK, max_examples=4 * SCALE)
@given(n=st.integers(2, 3), seed=seeds)
def test_gradcheck_stackgan_up_block_with_residual(bk, threads_mode, n, seed):
    """StackGAN's stage-II pieces: a residual block (conv, BN, ReLU, conv, BN) then an up-block."""
    rng = _setup(seed)
    block = nn.Residual(nn.Sequential(nn.Conv2d(2, 2, 3, padding=1, bias=False), nn.BatchNorm2d(2), nn.ReLU(),
                                      nn.Conv2d(2, 2, 3, padding=1, bias=False), nn.BatchNorm2d(2)), name="block")
    net = nn.Sequential(block, nn.ReLU(), stackgan_up_block(2, 3))
    _randomize(net, rng, bk)
    _check("Sequential: StackGAN res + up block", net, bk.asarray(rng.standard_normal((n, 2, 3, 3))), rng)


# ---------------------------------------------------------------------------------------------------------------
# 2. the checker can fail: one planted bug per backward
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bug", ["tail assigned, not added", "no scatter (crop only)"])
def test_checker_catches_reflection_pad_scatter_bugs(bk, monkeypatch, bug):
    from minigan.nn import padding as padding_module

    rng = _setup(1)
    layer = nn.ReflectionPad2d((2, 2, 1, 2))
    x = bk.asarray(rng.standard_normal((2, 2, 3, 3)))  # W = 3, pads of 2: a_1 is copied three times per row
    _check("ReflectionPad2d", layer, x, rng)

    def fold_assigning(d, axis, before, after):  # the border gradients overwrite the middle's instead of adding
        size = d.shape[axis] - before - after
        xp = backend.array_module(d)
        at = padding_module._along
        g = d[at(axis, slice(before, before + size))].copy()
        g[at(axis, slice(1, before + 1))] += xp.flip(d[at(axis, slice(0, before))], axis)
        g[at(axis, slice(size - 1 - after, size - 1))] = xp.flip(d[at(axis, slice(before + size, None))], axis)
        return g

    def crop(d, axis, before, after):  # dx = the middle of dy only: the reflected copies forgotten
        return d[padding_module._along(axis, slice(before, d.shape[axis] - after))]

    monkeypatch.setattr(padding_module, "fold", fold_assigning if bug.startswith("tail") else crop)
    _expect_caught(f"ReflectionPad2d {bug}", layer, x, "input", rng)


def test_checker_catches_instance_norm_with_batchnorm_axes(bk, monkeypatch):
    """InstanceNorm2d whose backward takes its means over (N, H, W), BatchNorm's axes, instead of (H, W)."""
    rng = _setup(2)
    layer = nn.InstanceNorm2d(3, affine=True)
    _randomize(layer, rng, bk)
    x = bk.asarray(_in_data(rng, (4, 3, 3, 3)))
    _check("InstanceNorm2d (affine=True)", layer, x, rng)

    def batchnorm_axes(self, dy, param_grads, input_grad=True):
        x_hat = self._normalized()
        if param_grads:
            self._grads["weight"] += (dy * x_hat).sum(axis=(0, 2, 3))
            self._grads["bias"] += dy.sum(axis=(0, 2, 3))
        k = self._inv_std * self._params["weight"].reshape(1, -1, 1, 1)
        axes = (0, 2, 3)  # the bug
        return k * (dy - dy.mean(axis=axes, keepdims=True) - x_hat * (dy * x_hat).mean(axis=axes, keepdims=True))

    monkeypatch.setattr(nn.InstanceNorm2d, "_backward", batchnorm_axes)
    _expect_caught("InstanceNorm2d with BatchNorm's axes", layer, x, "input", rng)


def test_checker_catches_instance_norm_treating_statistics_as_constants(bk, monkeypatch):
    """InstanceNorm2d whose training backward is dy gamma / sigma (as if mu and var did not depend on x)."""
    rng = _setup(3)
    layer = nn.InstanceNorm2d(2)
    x = bk.asarray(_in_data(rng, (2, 2, 3, 2)))
    _check("InstanceNorm2d (affine=False)", layer, x, rng)
    monkeypatch.setattr(nn.InstanceNorm2d, "_backward", lambda self, dy, pg, ig=True: self._inv_std * dy)
    _expect_caught("InstanceNorm2d statistics held constant", layer, x, "input", rng)


def test_checker_catches_upsample_taking_one_copy(bk, monkeypatch):
    """Upsample whose backward reads one copy of each block (dy[::s, ::s]) instead of summing the block."""
    rng = _setup(4)
    layer = nn.Upsample(scale_factor=2)
    x = bk.asarray(rng.standard_normal((2, 2, 3, 2)))
    _check("Upsample", layer, x, rng)
    monkeypatch.setattr(nn.Upsample, "_backward", lambda self, dy, pg, ig=True: dy[:, :, ::2, ::2] * 4)
    _expect_caught("Upsample one copy of the block", layer, x, "input", rng)


def test_checker_catches_skip_concat_dropping_the_skip(bk, monkeypatch):
    """SkipConcat whose dx forgets the skip half (dL/dx = J_f^T dy_f alone)."""
    rng = _setup(5)
    layer = nn.SkipConcat(nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.LeakyReLU(0.2)))
    _randomize(layer, rng, bk)
    x = bk.asarray(rng.standard_normal((2, 2, 3, 3)))
    _check("SkipConcat", layer, x, rng)

    def no_skip(self, dy, param_grads, input_grad=True):
        return self._inner_backward(dy[:, self._channels:], param_grads, input_grad)

    monkeypatch.setattr(nn.SkipConcat, "_backward", no_skip)
    _expect_caught("SkipConcat without the skip gradient", layer, x, "input", rng)


def test_checker_catches_skip_concat_split_at_the_wrong_channel(bk, monkeypatch):
    """SkipConcat that splits dy as [f(x), x] (f's channels first): f's weights get x's gradient."""
    rng = _setup(6)
    layer = nn.SkipConcat(nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), nn.LeakyReLU(0.2)))
    _randomize(layer, rng, bk)
    x = bk.asarray(rng.standard_normal((2, 2, 3, 3)))
    _check("SkipConcat", layer, x, rng)

    def swapped(self, dy, param_grads, input_grad=True):
        c = dy.shape[1] - self._channels
        dx_inner = self._inner_backward(dy[:, :c], param_grads, input_grad)
        return dy[:, c:] + dx_inner

    monkeypatch.setattr(nn.SkipConcat, "_backward", swapped)
    result = gradcheck(layer, x, seed=int(rng.integers(2**31)))
    _WORST["planted bug: SkipConcat split swapped"] = result.worst_error
    assert result.errors["input"] > BUG and result.errors["model.0.weight"] > BUG, result


def test_checker_catches_residual_dropping_the_identity(bk, monkeypatch):
    """Residual whose dx forgets the identity path (dL/dx = J_f^T dy alone)."""
    rng = _setup(7)
    layer = resnet_block(2)
    _randomize(layer, rng, bk)
    x = bk.asarray(rng.standard_normal((2, 2, 3, 3)))
    _check("Residual (ResnetBlock)", layer, x, rng)
    monkeypatch.setattr(nn.Residual, "_backward", lambda self, dy, pg, ig=True: self._inner_backward(dy, pg, ig))
    _expect_caught("Residual without the identity gradient", layer, x, "input", rng)


def test_checker_catches_embedding_assigning_rows(bk, monkeypatch):
    """Embedding whose backward writes dW[ids] = dy (the last write wins) instead of adding every position's row."""
    rng = _setup(8)
    layer = nn.Embedding(4, 3)
    ids = bk.asarray(np.array([[0, 1, 1, 3], [1, 0, 2, 1]]))  # row 1 named four times
    assert _embedding_check(layer, ids, rng).worst_error < TOL

    def assigning(self, dy, param_grads, input_grad):
        if param_grads:
            self._grads["weight"][self._ids.reshape(-1)] += dy.reshape(-1, dy.shape[-1])  # buffered: one add per row

    monkeypatch.setattr(nn.Embedding, "_backward", assigning)
    result = _embedding_check(layer, ids, rng)
    _WORST["planted bug: Embedding dW[ids] += dy (buffered)"] = result.worst_error
    assert result.errors["weight"] > BUG, result


# ---------------------------------------------------------------------------------------------------------------
# 3. the PyTorch twin
# ---------------------------------------------------------------------------------------------------------------
def _torch():
    return pytest.importorskip("torch")


class Twin:
    """A minigan module and its torch twin (``minigan.export.to_torch``), fed the same numbers."""

    def __init__(self, label, ours, dtype, theirs=None):
        torch = _torch()
        self.label, self.ours, self.dtype = label, ours, np.dtype(dtype)
        self.theirs = to_torch(ours, train=True) if theirs is None else theirs
        self.torch_dtype = torch.float64 if self.dtype == np.float64 else torch.float32
        self.theirs.to(self.torch_dtype)
        assert set(ours.grads) == {k for k, _ in self.theirs.named_parameters()}, "parameter names differ"
        assert list(self.theirs.state_dict()) == list(ours.state_dict()), "state dict names differ"

    def load(self):
        torch = _torch()
        self.theirs.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(backend.to_numpy(v)))
                                     for k, v in self.ours.state_dict().items()})
        return self

    def compare(self, what, ours, theirs, zero_ok=False):
        ours = backend.to_numpy(ours)
        theirs = theirs.detach().cpu().numpy()
        assert ours.shape == theirs.shape, f"{self.label} {what}: shape {ours.shape}, torch {theirs.shape}"
        assert ours.dtype == theirs.dtype, f"{self.label} {what}: dtype {ours.dtype}, torch {theirs.dtype}"
        diff = float(np.abs(ours.astype(np.float64) - theirs.astype(np.float64)).max(initial=0.0))
        scale = float(np.abs(theirs.astype(np.float64)).max(initial=0.0))
        if self.dtype == np.float64:
            err = diff / max(1.0, scale)
            ok = err <= TOL64
        else:
            err = diff / scale if scale > 0 else diff
            ok = err <= TOL32
        key = f"{self.label} ({self.dtype.name})"
        _TWIN_WORST[key] = max(_TWIN_WORST.get(key, 0.0), err)
        assert ok, f"{self.label} {what}: error {err:.3e} (max |diff| {diff:.3e}, torch scale {scale:.3e})"

    def step(self, x, dy, train, when, int_input=False):
        torch = _torch()
        self.ours.train(train)
        self.theirs.train(train)
        xt = torch.from_numpy(np.array(x))
        if not int_input:
            xt.requires_grad_(True)
        y = self.ours.forward(x)
        yt = self.theirs(xt)
        self.compare(f"{when} y", y, yt)
        dx = self.ours.backward(dy)
        yt.backward(torch.from_numpy(np.array(dy)))
        if int_input:
            assert dx is None
        else:
            self.compare(f"{when} dx", dx, xt.grad)
        params = dict(self.theirs.named_parameters())
        for name, g in self.ours.grads.items():
            self.compare(f"{when} d{name}", g, params[name].grad)
        for name, b in self.theirs.named_buffers():
            ours = backend.to_numpy(self.ours.buffers[name])
            if name.endswith("num_batches_tracked"):
                assert int(ours) == int(b), f"{self.label} {name}"
            else:
                self.compare(f"{when} {name}", ours, b)

    def run(self, data, rng, train_steps=2, eval_step=True, int_input=False):
        """Training steps accumulating gradients (no zeroing between them, on both sides), then an evaluation
        step."""
        self.ours.zero_grad()
        self.theirs.zero_grad()
        for i in range(train_steps + eval_step):
            train = i < train_steps
            x = data()
            probe = copy.deepcopy(self.ours).train(train)
            dy = rng.standard_normal(probe.forward(x).shape).astype(self.dtype)
            self.step(x, dy, train, "train" if train else "eval", int_input)


DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])


@DTYPES
@pytest.mark.parametrize("padding", [1, 3, (0, 2, 1, 0), (1, 0, 3, 2)], ids=str)
def test_twin_reflection_pad2d(dtype, padding):
    torch = _torch()
    rng = _setup(10, dtype)
    layer = nn.ReflectionPad2d(padding)
    twin = Twin("ReflectionPad2d", layer, dtype)
    assert repr(twin.theirs) == repr(torch.nn.ReflectionPad2d(padding))
    twin.run(lambda: rng.standard_normal((2, 3, 4, 5)).astype(dtype), rng)


@DTYPES
@pytest.mark.parametrize("affine", [False, True], ids=["affine off", "affine on"])
@pytest.mark.parametrize("track", [False, True], ids=["no running stats", "running stats"])
def test_twin_instance_norm2d(dtype, affine, track):
    torch = _torch()
    rng = _setup(11, dtype)
    layer = nn.InstanceNorm2d(3, eps=1e-3, momentum=0.3, affine=affine, track_running_stats=track)
    _randomize(layer, rng, backend)
    twin = Twin("InstanceNorm2d", layer, dtype).load()
    assert repr(twin.theirs) == repr(torch.nn.InstanceNorm2d(3, 1e-3, 0.3, affine=affine, track_running_stats=track))
    twin.run(lambda: _in_data(rng, (3, 3, 4, 3)).astype(dtype), rng, train_steps=3)
    if track:
        assert int(layer.num_batches_tracked) == 0  # PyTorch's InstanceNorm never counts (its BatchNorm does)


def test_twin_instance_norm2d_defaults_are_torchs():
    torch = _torch()
    layer = nn.InstanceNorm2d(4)
    assert (layer.eps, layer.momentum, layer.affine, layer.track_running_stats) == (1e-5, 0.1, False, False)
    assert layer.params == {} and layer.buffers == {} and layer.per_sample
    assert repr(to_torch(layer)) == repr(torch.nn.InstanceNorm2d(4))


@DTYPES
@pytest.mark.parametrize("scale", [1, 2, 3, (2, 1), (1, 3)], ids=str)
def test_twin_upsample(dtype, scale):
    torch = _torch()
    rng = _setup(12, dtype)
    layer = nn.Upsample(scale_factor=scale)
    twin = Twin("Upsample", layer, dtype)
    assert repr(twin.theirs) == repr(torch.nn.Upsample(scale_factor=scale, mode="nearest"))
    twin.run(lambda: rng.standard_normal((2, 2, 3, 4)).astype(dtype), rng)


@DTYPES
@pytest.mark.parametrize("padding_idx", [None, 2, -1], ids=["no padding", "padding 2", "padding -1"])
def test_twin_embedding(dtype, padding_idx):
    torch = _torch()
    rng = _setup(13, dtype)
    layer = nn.Embedding(6, 4, padding_idx=padding_idx)
    twin = Twin("Embedding", layer, dtype).load()
    assert repr(twin.theirs) == repr(torch.nn.Embedding(6, 4, padding_idx=padding_idx))
    twin.run(lambda: rng.integers(0, 6, (5, 7)), rng, int_input=True)
    if padding_idx is not None:
        assert not layer.grads["weight"][padding_idx].any()


class HandWrittenUnetBlock:
    """pix2pix's UnetSkipConnectionBlock (not outermost), written by hand from the reference: the layers in
    ``self.model`` (an nn.Sequential), forward ``torch.cat([x, self.model(x)], 1)``. Independent of minigan's
    TORCH_CLASSES, so the names are checked against the reference's own layout."""

    @staticmethod
    def make(model):
        torch = _torch()

        class UnetSkipConnectionBlock(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.model = model

            def forward(self, x):
                return torch.cat([x, self.model(x)], 1)

        return UnetSkipConnectionBlock()


def _hand_written_resnet_block(conv_block):
    torch = _torch()

    class ResnetBlock(torch.nn.Module):  # pytorch-CycleGAN-and-pix2pix's, by hand
        def __init__(self):
            super().__init__()
            self.conv_block = conv_block

        def forward(self, x):
            return x + self.conv_block(x)

    return ResnetBlock()


@DTYPES
def test_twin_skip_concat(dtype):
    torch = _torch()
    tnn = torch.nn
    rng = _setup(14, dtype)
    inner = nn.Sequential(nn.LeakyReLU(0.2), nn.Conv2d(3, 4, 4, stride=2, padding=1, bias=False), nn.ReLU(),
                          nn.ConvTranspose2d(4, 2, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(2))
    layer = nn.SkipConcat(inner)
    _randomize(layer, rng, backend)
    assert list(layer.params) == ["model.1.weight", "model.3.weight", "model.4.weight", "model.4.bias"]
    data = lambda: rng.standard_normal((3, 3, 4, 6)).astype(dtype)
    Twin("SkipConcat", layer, dtype).load().run(data, rng)
    by_hand = HandWrittenUnetBlock.make(tnn.Sequential(
        tnn.LeakyReLU(0.2), tnn.Conv2d(3, 4, 4, stride=2, padding=1, bias=False), tnn.ReLU(),
        tnn.ConvTranspose2d(4, 2, 4, stride=2, padding=1, bias=False), tnn.BatchNorm2d(2)))
    Twin("SkipConcat vs UnetSkipConnectionBlock", layer, dtype, theirs=by_hand).load().run(data, rng)


@DTYPES
def test_twin_residual(dtype):
    torch = _torch()
    tnn = torch.nn
    rng = _setup(15, dtype)
    bias = dtype == np.float64  # float32: a bias before InstanceNorm has an exactly-zero gradient, round-off only
    layer = resnet_block(3, bias=bias)
    _randomize(layer, rng, backend)
    assert next(iter(layer.params)) == "conv_block.1.weight"
    data = lambda: rng.standard_normal((2, 3, 4, 5)).astype(dtype)
    Twin("Residual", layer, dtype).load().run(data, rng)
    by_hand = _hand_written_resnet_block(tnn.Sequential(
        tnn.ReflectionPad2d(1), tnn.Conv2d(3, 3, 3, bias=bias), tnn.InstanceNorm2d(3), tnn.ReLU(),
        tnn.ReflectionPad2d(1), tnn.Conv2d(3, 3, 3, bias=bias), tnn.InstanceNorm2d(3)))
    Twin("Residual vs ResnetBlock", layer, dtype, theirs=by_hand).load().run(data, rng)


@DTYPES
def test_twin_unet_and_resnet_generators(dtype):
    rng = _setup(16, dtype)
    g = unet(depth=3, dropout=False)
    _randomize(g, rng, backend)
    assert "1.model.3.model.1.weight" in g.params  # nested blocks: model.<i>.model.<j>..., as the reference
    Twin("U-Net generator", g, dtype).load().run(lambda: rng.standard_normal((2, 2, 16, 16)).astype(dtype), rng)
    r = resnet_generator(blocks=2, bias=dtype == np.float64)
    _randomize(r, rng, backend)
    Twin("ResNet generator", r, dtype).load().run(lambda: rng.standard_normal((2, 2, 8, 8)).astype(dtype), rng)


def test_twin_named_containers_and_loading_from_torch():
    """name= changes the prefix on both sides; torch's own initialisation loads into minigan by name."""
    torch = _torch()
    rng = _setup(17)
    net = nn.Sequential(nn.Residual(nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), nn.ReLU()), name="block"),
                        nn.SkipConcat(nn.Conv2d(2, 1, 1), name="branch"), nn.InstanceNorm2d(3, affine=True))
    twin = to_torch(net, load=False)
    assert list(twin.state_dict()) == ["0.block.0.weight", "0.block.0.bias", "1.branch.weight", "1.branch.bias",
                                       "2.weight", "2.bias"] == list(net.state_dict())
    net.load_state_dict(twin.state_dict())
    x = rng.standard_normal((2, 2, 3, 3))
    with torch.no_grad():
        np.testing.assert_allclose(net.forward(x), twin(torch.from_numpy(x)).numpy(), rtol=1e-12, atol=1e-12)


def test_exported_file_builds_the_network_with_the_new_layers(tmp_path):
    """export_generator writes the two container classes into G.py (the same source the twin runs) and the file
    rebuilds the network: same repr, same state dict names, same output."""
    torch = _torch()
    import importlib.util

    rng = _setup(18)
    net = nn.Sequential(nn.Dense(4, 2 * 4 * 4), nn.Reshape(2, 4, 4), resnet_block(2),
                        nn.SkipConcat(nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(2, 2, 3), nn.LeakyReLU(0.2))),
                        nn.Upsample(scale_factor=2), nn.Conv2d(4, 1, 3, padding=1), nn.Tanh())
    _randomize(net, rng, backend)
    weights, source = export_generator(net, tmp_path / "G.pt", nz=4)
    text = source.read_text()
    assert "class SkipConcat(nn.Module)" in text and "class Residual(nn.Module)" in text
    spec = importlib.util.spec_from_file_location("exported_new_layers", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    G = module.build()
    assert repr(G) == repr(to_torch(net))
    G.load_state_dict(torch.load(weights, weights_only=True))
    G.eval()
    z = rng.standard_normal((3, 4))
    with torch.no_grad():
        np.testing.assert_allclose(G(torch.from_numpy(z)).numpy(), net.forward(z, train=False), rtol=1e-12,
                                   atol=1e-12)
    assert module.OUTPUT_SHAPE == (1, 8, 8)


def test_a_file_without_the_containers_does_not_define_them(tmp_path):
    _torch()
    _setup(19)
    _, source = export_generator(nn.Sequential(nn.Dense(2, 3), nn.Tanh()), tmp_path / "G.pt", nz=2)
    text = source.read_text()
    assert "class " not in text and '# the state dict written beside this file\n\n\ndef build()' in text


# ---------------------------------------------------------------------------------------------------------------
# 4. errors: bad shapes and bad arguments
# ---------------------------------------------------------------------------------------------------------------
def _refused(layer, x, *texts, train=True):
    if isinstance(x, np.ndarray) and x.dtype == np.float64:
        x = x.astype(np.float32)  # the layers are float32
    with pytest.raises(LayerInputError) as info:
        layer.forward(x, train=train)
    message = str(info.value)
    for text in texts:
        assert text in message, message
    return message


def test_reflection_pad2d_errors():
    layer = nn.ReflectionPad2d((1, 3, 2, 0))
    _refused(layer, np.zeros((2, 1, 5, 3)), "ReflectionPad2d((1, 3, 2, 0))", "W > 3", "shape (2, 1, 5, 3)")
    _refused(layer, np.zeros((2, 1, 2, 5)), "H > 2", "shape (2, 1, 2, 5)")
    _refused(layer, np.zeros((2, 5, 5)), "(N, C, H, W)")
    _refused(layer, np.zeros((2, 1, 5, 5), dtype=np.int64), "dtype int64")
    assert layer.forward(np.zeros((2, 1, 3, 4))).shape == (2, 1, 5, 8)
    for bad in (-1, (1, 2, 3), (1, 2, 3, -1), 1.5, (1, 2, 3, 4.0), True, "1"):
        with pytest.raises(ValueError, match="ReflectionPad2d: padding"):
            nn.ReflectionPad2d(bad)


def test_instance_norm2d_errors():
    layer = nn.InstanceNorm2d(3)
    _refused(layer, np.zeros((2, 4, 3, 3)), "InstanceNorm2d(3", "(N, 3, H, W)", "shape (2, 4, 3, 3)")
    _refused(layer, np.zeros((2, 3, 9)), "shape (2, 3, 9)")
    for train in (True, False):  # instance statistics of a single value: refused (as PyTorch), train or not
        _refused(layer, np.zeros((2, 3, 1, 1)), "more than one value", train=train)
    tracked = nn.InstanceNorm2d(3, track_running_stats=True)
    before = {k: v.copy() for k, v in tracked.state_dict().items()}
    _refused(tracked, np.zeros((2, 3, 1, 1)), "more than one value")
    assert all(np.array_equal(before[k], v) for k, v in tracked.state_dict().items())  # nothing moved
    assert tracked.forward(np.ones((2, 3, 1, 1), np.float32), train=False).shape == (2, 3, 1, 1)  # running stats
    with pytest.raises(LayerInputError, match="dtype float64 while its parameters"):
        nn.InstanceNorm2d(3, affine=True).forward(np.zeros((2, 3, 2, 2)))
    with pytest.raises(LayerInputError, match="dtype float64 while its statistics"):
        tracked.forward(np.zeros((2, 3, 2, 2)))
    with pytest.raises(ValueError):
        nn.InstanceNorm2d(0)
    assert not tracked.per_sample  # its running update averages over the batch


def test_upsample_errors():
    layer = nn.Upsample(scale_factor=2)
    _refused(layer, np.zeros((2, 3, 4)), "Upsample(scale_factor=2, mode='nearest')", "(N, C, H, W)")
    for kwargs, text in (({}, "needs scale_factor"), ({"scale_factor": 1.5}, "integer scale factors"),
                         ({"scale_factor": 0}, ">= 1"), ({"scale_factor": (2, 2, 2)}, "pair"),
                         ({"scale_factor": 2, "mode": "bilinear"}, "nearest"), ({"size": 8}, "size"),
                         ({"scale_factor": True}, "integer")):
        with pytest.raises(ValueError, match=text):
            nn.Upsample(**kwargs)
    assert nn.Upsample(scale_factor=2.0).scale_factor == (2, 2)


def test_skip_concat_and_residual_errors():
    grow = nn.SkipConcat(nn.Conv2d(2, 3, 3))  # no padding: f(x) is smaller than x
    message = _refused(grow, np.zeros((2, 2, 5, 5)), "SkipConcat", "(2, 3, 3, 3)", "(2, 2, 5, 5)")
    assert "channels" in message
    _refused(nn.Residual(nn.Conv2d(2, 3, 3, padding=1)), np.zeros((2, 2, 4, 4)), "Residual", "(2, 3, 4, 4)",
             "x's shape (2, 2, 4, 4)")
    inner_error = _refused(nn.SkipConcat(nn.Sequential(nn.Conv2d(2, 3, 3))), np.zeros((2, 5, 4, 4)))
    assert inner_error.startswith("SkipConcat (model): Sequential layer 0: Conv2d(2, 3"), inner_error
    nested = _refused(nn.Residual(nn.Sequential(nn.ReLU(), nn.Dense(4, 4)), name="block"), np.zeros((2, 3)))
    assert nested.startswith("Residual (block): Sequential layer 1: Dense(4, 4"), nested
    with pytest.raises(TypeError, match="not a minigan layer"):
        nn.Residual(lambda x: x)
    for bad in ("0.weight", "a.b", "", 3):
        with pytest.raises(ValueError, match="identifier"):
            nn.SkipConcat(nn.ReLU(), name=bad)
    layer = nn.Residual(nn.Dense(3, 3))
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.zeros((2, 3), np.float32))
    layer.forward(np.zeros((2, 3), np.float32))
    with pytest.raises(LayerInputError, match=r"dy of shape \(2, 4\)"):
        layer.backward(np.zeros((2, 4), np.float32))


def test_embedding_errors():
    layer = nn.Embedding(5, 3)
    _refused(layer, np.zeros((2, 4), np.float32), "Embedding(5, 3)", "integer ids in 0..4", "dtype float32")
    _refused(layer, np.zeros((2, 4), bool), "dtype bool")
    _refused(layer, np.array([[0, 5]]), "ids from 0 to 5, outside 0..4")
    _refused(layer, np.array([[-1, 2]]), "ids from -1 to 2")
    _refused(layer, np.asarray(3), "0-d array")
    _refused(layer, np.zeros((0, 3), np.int64), "empty batch")
    _refused(layer, np.zeros((2, 0), np.int64), "holds no values")
    _refused(layer, [[0, 1]], "not a NumPy or CuPy array")
    y = layer.forward(np.array([[0, 4, 4]], np.uint8))
    assert y.shape == (1, 3, 3) and y.dtype == np.float32
    with pytest.raises(LayerInputError, match="dtype float64"):
        layer.backward(np.zeros((1, 3, 3)))
    assert layer.backward(np.ones((1, 3, 3), np.float32)) is None
    assert layer.backward(np.ones((1, 3, 3), np.float32), input_grad=False) is None
    np.testing.assert_array_equal(layer.grads["weight"][4], 4.0)  # two positions, two calls
    for args in ((0, 3), (5, 0), (5, 3, 5), (5, 3, -6), (2.0, 3), (5, 3, True)):
        with pytest.raises(ValueError):
            nn.Embedding(*args)
    assert nn.Embedding(5, 3, padding_idx=-2).padding_idx == 3


# ---------------------------------------------------------------------------------------------------------------
# 5. state dicts
# ---------------------------------------------------------------------------------------------------------------
STATE_CASES = {
    "ReflectionPad2d": (lambda: nn.ReflectionPad2d(2), (2, 2, 3, 3), []),
    "Upsample": (lambda: nn.Upsample(scale_factor=3), (2, 2, 3, 3), []),
    "InstanceNorm2d": (lambda: nn.InstanceNorm2d(2), (2, 2, 3, 3), []),
    "InstanceNorm2d affine": (lambda: nn.InstanceNorm2d(2, affine=True), (2, 2, 3, 3), ["weight", "bias"]),
    "InstanceNorm2d tracked": (lambda: nn.InstanceNorm2d(2, affine=True, track_running_stats=True), (2, 2, 3, 3),
                               ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]),
    "SkipConcat": (lambda: nn.SkipConcat(nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3))),
                   (2, 2, 3, 3), ["model.0.weight", "model.0.bias", "model.1.weight", "model.1.bias",
                                  "model.1.running_mean", "model.1.running_var", "model.1.num_batches_tracked"]),
    "Residual": (lambda: resnet_block(2), (2, 2, 3, 3),
                 ["conv_block.1.weight", "conv_block.1.bias", "conv_block.5.weight", "conv_block.5.bias"]),
    "Embedding": (lambda: nn.Embedding(7, 3, padding_idx=0), (2, 4), ["weight"]),
}


@pytest.mark.parametrize("name", list(STATE_CASES))
def test_state_dict_round_trip(bk, name):
    make, shape, keys = STATE_CASES[name]
    rng = _setup(20, np.float32)
    source, target = make(), make()
    _randomize(source, rng, bk)
    assert list(source.state_dict()) == keys
    x = bk.asarray(rng.integers(0, 7, shape)) if name == "Embedding" else bk.asarray(_in_data(rng, shape), np.float32)
    for _ in range(2):
        source.forward(x)  # running statistics away from (0, 1)
    target.load_state_dict(source.state_dict())
    for k, v in source.state_dict().items():
        np.testing.assert_array_equal(bk.to_numpy(target.state_dict()[k]), bk.to_numpy(v), err_msg=k)
    source.eval()
    target.eval()
    np.testing.assert_array_equal(bk.to_numpy(target.forward(x)), bk.to_numpy(source.forward(x)))
    if keys:
        with pytest.raises(KeyError, match="missing"):
            target.load_state_dict({})


def test_a_negative_running_variance_is_refused():
    layer = nn.InstanceNorm2d(2, track_running_stats=True)
    state = layer.state_dict()
    state["running_var"] = np.array([1.0, -0.5], np.float32)
    with pytest.raises(ValueError, match="running_var"):
        layer.load_state_dict(state)
    np.testing.assert_array_equal(layer.running_var, 1.0)


def test_to_float64_moves_the_new_layers():
    """(A Sequential cannot start with an Embedding: Sequential's own input check takes floating arrays only.)"""
    embed, net = nn.Embedding(5, 4), nn.Sequential(nn.Residual(nn.Dense(4, 4)), nn.SkipConcat(nn.Dense(4, 2)))
    for module in (embed, net):
        module.to(dtype=np.float64)
        assert all(v.dtype == np.float64 for v in module.params.values())
    assert net.forward(embed.forward(np.array([1, 2, 3]))).shape == (3, 6)
    norm = nn.InstanceNorm2d(2, affine=True, track_running_stats=True).to(dtype=np.float64)
    assert {v.dtype for v in norm.state_dict().values()} == {np.dtype(np.float64), np.dtype(np.int64)}


# ---------------------------------------------------------------------------------------------------------------
# 6. minigan.fast against minigan.reference (test_fast.py's fixtures: three threads, tiny chunks)
# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture
def _float64():
    backend.set_default_dtype(np.float64)
    yield
    backend.set_default_dtype(np.float32)


@needs_blas
@settings(CHECK, max_examples=12 * SCALE)
@given(n=st.integers(1, 7), kind=st.sampled_from(["pad", "upsample", "instance norm", "instance norm affine",
                                                  "residual", "skip", "resnet generator"]),
       chunk_bytes=st.sampled_from([1, 200, 1 << 20]), seed=seeds)
@pytest.mark.usefixtures("three_threads", "_float64")
def test_new_layers_in_chunks_equal_the_whole_batch(monkeypatch, n, kind, chunk_bytes, seed):
    rng = np.random.default_rng(seed)
    layer, shape = {
        "pad": (nn.ReflectionPad2d((1, 2, 2, 0)), (n, 3, 4, 3)),
        "upsample": (nn.Upsample(scale_factor=(2, 3)), (n, 2, 3, 2)),
        "instance norm": (nn.InstanceNorm2d(3), (n, 3, 3, 2)),
        "instance norm affine": (nn.InstanceNorm2d(3, affine=True), (n, 3, 3, 2)),
        "residual": (resnet_block(3), (n, 3, 4, 4)),
        "skip": (nn.SkipConcat(nn.Sequential(nn.Conv2d(2, 3, 4, 2, 1), nn.InstanceNorm2d(3, affine=True),
                                             nn.LeakyReLU(0.2), nn.Upsample(scale_factor=2))), (n, 2, 4, 6)),
        "resnet generator": (resnet_generator(blocks=1), (n, 2, 4, 4)),
    }[kind]
    for p in layer.params.values():
        p[...] = rng.standard_normal(p.shape)
    x = _channels_last(rng.standard_normal(shape))  # parameterless layers run in chunks from such memory only
    _agree(layer, x, rng, monkeypatch, chunk_bytes)


@needs_blas
@pytest.mark.parametrize("padding_idx", [None, 1])
@pytest.mark.usefixtures("three_threads", "one_sample_chunks", "_float64")
def test_embedding_in_chunks_equals_the_whole_batch(padding_idx):
    rng = np.random.default_rng(3)
    layer = nn.Embedding(5, 3, padding_idx=padding_idx)
    ids = rng.integers(0, 5, (7, 4))
    dy = rng.standard_normal((7, 4, 3))
    results = []
    for chunked in (False, True):
        layer.zero_grad()
        if chunked:
            with fast.threads():
                y = layer.forward(ids)
                assert layer in fast._splits
                assert layer.backward(dy) is None
        else:
            y = layer.forward(ids)
            assert layer.backward(dy) is None
        results.append((y.copy(), layer.grads["weight"].copy()))
    np.testing.assert_array_equal(results[1][0], results[0][0])
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-12, atol=1e-12)


@needs_blas
@pytest.mark.usefixtures("three_threads", "one_sample_chunks", "_float64")
def test_instance_norm_with_running_statistics_runs_whole():
    """Its running update averages over the batch: never on replicas, and the same numbers as outside a block."""
    rng = np.random.default_rng(4)
    layers = [nn.InstanceNorm2d(2, affine=True, track_running_stats=True) for _ in range(2)]
    x = _channels_last(_in_data(rng, (6, 2, 3, 3)))
    dy = rng.standard_normal(x.shape)
    outs = []
    for layer, chunked in zip(layers, (False, True)):
        if chunked:
            with fast.threads():
                y = layer.forward(x)
                assert layer not in fast._splits
                dx = layer.backward(dy)
        else:
            y, dx = layer.forward(x), layer.backward(dy)
        outs.append((y, dx, layer.state_dict(), layer.grads))
    np.testing.assert_array_equal(outs[1][0], outs[0][0])
    np.testing.assert_array_equal(outs[1][1], outs[0][1])
    for k in outs[0][2]:
        np.testing.assert_array_equal(outs[1][2][k], outs[0][2][k], err_msg=k)


# ---------------------------------------------------------------------------------------------------------------
# 7. the gradient penalty through the piecewise-linear new layers (_jvp)
# ---------------------------------------------------------------------------------------------------------------
def penalty_critic():
    """A critic holding every piecewise-linear new layer: (N, 1, 4, 4) -> (N, 1)."""
    return nn.Sequential(
        nn.ReflectionPad2d(1), nn.Conv2d(1, 2, 3), nn.LeakyReLU(0.2),
        nn.Residual(nn.Sequential(nn.ReflectionPad2d((1, 0, 1, 1)), nn.Conv2d(2, 2, (3, 2)), nn.LeakyReLU(0.2))),
        nn.SkipConcat(nn.Sequential(nn.Conv2d(2, 2, 4, 2, 1), nn.LeakyReLU(0.2), nn.Upsample(scale_factor=2))),
        nn.Conv2d(4, 2, 4, 2, 1), nn.LeakyReLU(0.2), nn.Flatten(), nn.Dense(8, 1))


def _kink_margin(critic, x, monkeypatch):
    """The smallest |pre-activation| any LeakyReLU of the critic sees at x."""
    seen = []
    real = nn.LeakyReLU._forward

    def spy(self, a, train):
        seen.append(float(np.abs(a).min()))
        return real(self, a, train)

    with monkeypatch.context() as m:  # outside a threads() block every layer runs its own _forward
        m.setattr(nn.LeakyReLU, "_forward", spy)
        critic.forward(x)
    return min(seen)


def _penalty_case(seed, monkeypatch):
    rng = _setup(seed)
    critic = penalty_critic()
    _randomize(critic, rng, backend)
    x_hat = rng.standard_normal((3, 1, 4, 4))
    assert _kink_margin(critic, x_hat, monkeypatch) > 1e-4  # central differences cross no kink
    return critic, x_hat


def _analytic_penalty(critic, x_hat, lam):
    critic.zero_grad()
    penalty, norms = gradient_penalty(critic, x_hat, lam)
    return {k: g.copy() for k, g in critic.grads.items()}, float(penalty), norms.copy()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_penalty_gradient_through_the_new_layers(seed, monkeypatch):
    critic, x_hat = _penalty_case(seed, monkeypatch)
    assert len(check_penalty_support(critic)) == 9
    analytic, _, _ = _analytic_penalty(critic, x_hat, 10.0)
    result = check_gradients(lambda: float(gradient_penalty(critic, x_hat, 10.0, param_grads=False)[0]),
                             critic.params, analytic)
    assert set(result.errors) == set(critic.params)
    _WORST["gradient penalty through the new layers"] = max(_WORST.get("gradient penalty through the new layers",
                                                                       0.0), result.worst_error)
    assert result.worst_error < TOL, result


@pytest.mark.parametrize("seed", [0, 3])
def test_penalty_matches_torch_double_backprop(seed, monkeypatch):
    torch = _torch()
    critic, x_hat = _penalty_case(seed, monkeypatch)
    grads, penalty, norms = _analytic_penalty(critic, x_hat, 10.0)
    twin = to_torch(critic, train=True)
    x = torch.from_numpy(x_hat.copy()).requires_grad_(True)
    (u,) = torch.autograd.grad(twin(x).sum(), x, create_graph=True)
    t_norms = u.flatten(1).norm(dim=1)
    t_penalty = 10.0 * ((t_norms - 1) ** 2).mean()
    t_penalty.backward()
    t_value = t_penalty.item()
    assert abs(penalty - t_value) <= TOL64 * max(1.0, abs(t_value))
    np.testing.assert_allclose(norms, t_norms.detach().numpy(), rtol=TOL64, atol=TOL64)
    for k, p in twin.named_parameters():
        tg = np.zeros(tuple(p.shape)) if p.grad is None else p.grad.numpy()
        diff = float(np.abs(grads[k] - tg).max())
        assert diff <= TOL64 * max(1.0, float(np.abs(tg).max())), f"{k}: {diff:.3e}"


@needs_blas
@pytest.mark.usefixtures("three_threads", "one_sample_chunks")
def test_penalty_through_the_new_layers_in_chunks_equals_the_whole_batch(monkeypatch):
    critic, x_hat = _penalty_case(0, monkeypatch)
    results = []
    for chunked in (False, True):
        if chunked:
            with fast.threads():
                results.append(_analytic_penalty(critic, x_hat, 10.0))
        else:
            results.append(_analytic_penalty(critic, x_hat, 10.0))
    (g0, p0, n0), (g1, p1, n1) = results
    assert p1 == pytest.approx(p0, rel=1e-12)
    np.testing.assert_allclose(n1, n0, rtol=1e-12)
    for k in g0:
        np.testing.assert_allclose(g1[k], g0[k], rtol=1e-11, atol=1e-12, err_msg=k)


def test_penalty_check_fails_on_a_planted_residual_tangent_bug(monkeypatch):
    """Residual whose tangent forgets the identity path (J t = J_f t): the penalty's gradient check catches it."""
    from minigan.nn.blocks import tangent_sweep

    critic, x_hat = _penalty_case(0, monkeypatch)
    _analytic_penalty(critic, x_hat, 10.0)  # the real sweep runs first, as a critic would have
    monkeypatch.setattr(nn.Residual, "_jvp", lambda self, g, t: tangent_sweep(self.inner, g, t))
    analytic, _, _ = _analytic_penalty(critic, x_hat, 10.0)
    result = check_gradients(lambda: float(gradient_penalty(critic, x_hat, 10.0, param_grads=False)[0]),
                             critic.params, analytic)
    _WORST["planted bug: Residual tangent without identity"] = result.worst_error
    assert result.worst_error > BUG, result


def test_critics_with_instance_norm_or_embedding_are_refused():
    critic = nn.Sequential(nn.Conv2d(1, 2, 3), resnet_block(2), nn.Flatten(), nn.Dense(8, 1))
    assert not critic[1].supports_gradient_penalty
    with pytest.raises(PenaltyNotSupported, match="Residual"):
        gradient_penalty(critic, np.zeros((2, 1, 4, 4), np.float32))
    assert nn.SkipConcat(nn.Sequential(nn.Conv2d(1, 1, 1), nn.ReLU())).supports_gradient_penalty
    assert not nn.SkipConcat(nn.Sequential(nn.Conv2d(1, 1, 1), nn.Tanh())).supports_gradient_penalty


def test_a_sequential_may_start_with_an_embedding():
    """The stack accepts what its first layer accepts: integer ids for an Embedding (a caption encoder), and the
    Embedding's own refusals come through with the layer's place."""
    from minigan.nn.module import LayerInputError

    encoder = nn.Sequential(nn.Embedding(10, 4), nn.Flatten(), nn.Dense(12, 2))
    y = encoder.forward(np.array([[1, 2, 3], [0, 9, 4]]))
    assert y.shape == (2, 2)
    with pytest.raises(LayerInputError, match="Sequential layer 0"):
        encoder.forward(np.array([[1, 2, 30]]))  # id out of range
    with pytest.raises(LayerInputError):
        nn.Sequential(nn.Dense(3, 2)).forward(np.array([[1, 2, 3]]))  # a float stack still refuses integers
