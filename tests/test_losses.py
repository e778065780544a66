"""Every loss in ``minigan.losses``: gradients, values, numerical stability, and agreement with PyTorch.

* Gradients: central differences through :func:`minigan.gradcheck.check_gradients` in float64, for batches of shape
  (N, 1) and (N,); the verdict is a worst relative error below 1e-6 (a correct gradient scores 3e-9 at worst, the
  planted bugs in ``test_gradcheck_catches_wrong_loss_gradients`` score above 1e-2).
* Values and gradients against the naive formulas (log of a sigmoid, exp of the logits) on moderate logits.
* Stability at logits of +-1e4, where the naive formulas overflow: values and gradients are finite and equal
  their limits (e.g. -log sigma(-1e4) = 1e4 and its gradient is 1/m), with NumPy's overflow/invalid/divide
  warnings turned into errors. In the tails the sigmoid keeps its relative precision (sigma(-700) = e^{-700}).
* PyTorch (skipped without it): ``F.binary_cross_entropy_with_logits``, ``F.logsigmoid``, ``F.cross_entropy`` and
  ``F.mse_loss`` give the same values, and autograd the same gradients, to 1e-10 relative in float64.

Worst relative differences observed (NumPy backend, these tests' data and 20 further seeds): gradcheck 3e-9;
against the naive formulas 4e-16 (values) and 3e-15 (gradients); against PyTorch 1e-15 (values) and 4e-14
(gradients).
"""

from __future__ import annotations

import numpy as np
import pytest

from minigan import backend, losses
from minigan.gradcheck import check_gradients

TOL = 1e-6  # gradcheck verdict in float64
N = 6
SHAPES = [pytest.param((N, 1), id="N1"), pytest.param((N,), id="N")]


def _sig(t):
    """The naive logistic function (overflows for large |t|; only used on moderate logits)."""
    return 1.0 / (1.0 + np.exp(-t))


# name -> (loss taking one array, naive value, naive gradient per sample before the 1/m); every loss of one input
SINGLE = {
    "minimax_real": (losses.minimax_real,
                     lambda r: -np.log(_sig(r)), lambda r: -(1 - _sig(r))),
    "minimax_fake": (losses.minimax_fake,
                     lambda f: -np.log(1 - _sig(f)), lambda f: _sig(f)),
    "generator_saturating": (losses.generator_saturating,
                             lambda f: np.log(1 - _sig(f)), lambda f: -_sig(f)),
    "generator_non_saturating": (losses.generator_non_saturating,
                                 lambda f: -np.log(_sig(f)), lambda f: -(1 - _sig(f))),
    "bce_target_1": (lambda t: losses.binary_cross_entropy_with_logits(t, 1.0),
                     lambda t: -np.log(_sig(t)), lambda t: _sig(t) - 1),
    "bce_target_0": (lambda t: losses.binary_cross_entropy_with_logits(t, 0.0),
                     lambda t: -np.log(1 - _sig(t)), lambda t: _sig(t)),
    "bce_target_0.9": (lambda t: losses.binary_cross_entropy_with_logits(t, 0.9),
                       lambda t: -(0.9 * np.log(_sig(t)) + 0.1 * np.log(1 - _sig(t))), lambda t: _sig(t) - 0.9),
    "wasserstein_real": (losses.wasserstein_real, lambda s: -s, lambda s: -np.ones_like(s)),
    "wasserstein_fake": (losses.wasserstein_fake, lambda s: s, lambda s: np.ones_like(s)),
    "generator_wasserstein": (losses.generator_wasserstein, lambda s: -s, lambda s: -np.ones_like(s)),
    "least_squares_target_1": (lambda s: losses.least_squares(s, 1.0),
                               lambda s: 0.5 * (s - 1) ** 2, lambda s: s - 1),
    "least_squares_target_0": (lambda s: losses.least_squares(s, 0.0), lambda s: 0.5 * s**2, lambda s: s),
    # the per-element means (PatchGAN logits, reconstructions): on (N,) and (N, 1), M = N = m
    "bce_with_logits_mean_target_1": (lambda t: losses.bce_with_logits_mean(t, 1.0),
                                      lambda t: -np.log(_sig(t)), lambda t: _sig(t) - 1),
    "bce_with_logits_mean_target_0": (lambda t: losses.bce_with_logits_mean(t, 0.0),
                                      lambda t: -np.log(1 - _sig(t)), lambda t: _sig(t)),
    "mse_mean_target_1": (lambda s: losses.mse_mean(s, 1.0), lambda s: (s - 1) ** 2, lambda s: 2 * (s - 1)),
    "l1_mean_to_0.3": (lambda x: losses.l1_mean(x, 0.3), lambda x: np.abs(x - 0.3), lambda x: np.sign(x - 0.3)),
}
# name -> (loss taking (real, fake) and returning (value, grad_real, grad_fake), naive value, naive grads)
PAIR = {
    "discriminator_minimax": (losses.discriminator_minimax,
                              lambda r, f: -np.log(_sig(r)) - np.log(1 - _sig(f)),
                              lambda r, f: (-(1 - _sig(r)), _sig(f))),
    "critic_wasserstein": (losses.critic_wasserstein, lambda r, f: f - r,
                           lambda r, f: (-np.ones_like(r), np.ones_like(f))),
}


def _logits(shape, seed, scale=2.0):
    """Moderate logits: seeded N(0, scale^2), float64."""
    return np.random.default_rng(seed).normal(0.0, scale, size=shape)


def _classification(n=N, k=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 2.0, size=(n, k)), rng.integers(0, k, size=n)


# ---------------------------------------------------------------------------------------------------------------
# gradients by central differences
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", list(SINGLE))
def test_gradcheck_single_input(bk, name, shape):
    fn = SINGLE[name][0]
    x = bk.asarray(_logits(shape, seed=1), np.float64)
    _, grad = fn(x)
    assert grad.shape == x.shape
    result = check_gradients(lambda: float(fn(x)[0]), {"logits": x}, {"logits": grad})
    assert result.worst_error < TOL, f"{name} {shape}: {result}"


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", list(PAIR))
def test_gradcheck_pair(bk, name, shape):
    fn = PAIR[name][0]
    real = bk.asarray(_logits(shape, seed=2), np.float64)
    fake = bk.asarray(_logits(shape, seed=3), np.float64)
    _, g_real, g_fake = fn(real, fake)
    assert g_real.shape == real.shape and g_fake.shape == fake.shape
    result = check_gradients(lambda: float(fn(real, fake)[0]), {"real": real, "fake": fake},
                             {"real": g_real, "fake": g_fake})
    assert set(result.errors) == {"real", "fake"}
    assert result.worst_error < TOL, f"{name} {shape}: {result}"


def test_gradcheck_softmax_cross_entropy(bk):
    logits, labels = _classification()
    logits = bk.asarray(logits, np.float64)
    labels = bk.asarray(labels)
    _, grad = losses.softmax_cross_entropy(logits, labels)
    result = check_gradients(lambda: float(losses.softmax_cross_entropy(logits, labels)[0]),
                             {"logits": logits}, {"logits": grad})
    assert result.worst_error < TOL, f"softmax_cross_entropy: {result}"


def test_gradcheck_catches_wrong_loss_gradients(bk):
    """The 1e-6 verdict means something: the usual mistakes in a loss gradient score far above it."""
    x = bk.asarray(_logits((N, 1), seed=4), np.float64)
    xp = backend.array_module(x)

    def loss():
        return float(losses.minimax_real(x)[0])

    right = losses.minimax_real(x)[1]
    wrong = {
        "sign": -right,
        "missing 1/m": right * N,
        "sigma(r) for sigma(-r)": -losses.sigmoid(x) / N,
        "p(1-p) instead of the loss's derivative": losses.sigmoid(x) * (1 - losses.sigmoid(x)) / N,
    }
    assert check_gradients(loss, {"x": x}, {"x": right}).worst_error < TOL
    for what, g in wrong.items():
        result = check_gradients(loss, {"x": x}, {"x": xp.asarray(g)})
        assert result.worst_error > 1e-2, f"a gradient with a planted bug ({what}) passed: {result}"


# ---------------------------------------------------------------------------------------------------------------
# values and gradients against the naive formulas
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", list(SINGLE))
def test_single_input_matches_naive_formula(bk, name, shape):
    fn, naive_value, naive_grad = SINGLE[name]
    x_np = _logits(shape, seed=5)
    value, grad = fn(bk.asarray(x_np, np.float64))
    np.testing.assert_allclose(float(value), naive_value(x_np).mean(), rtol=1e-12, atol=0, err_msg=name)
    np.testing.assert_allclose(bk.to_numpy(grad), naive_grad(x_np) / N, rtol=1e-12, atol=0, err_msg=name)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", list(PAIR))
def test_pair_matches_naive_formula(bk, name, shape):
    fn, naive_value, naive_grads = PAIR[name]
    r_np, f_np = _logits(shape, seed=6), _logits(shape, seed=7)
    value, g_real, g_fake = fn(bk.asarray(r_np, np.float64), bk.asarray(f_np, np.float64))
    np.testing.assert_allclose(float(value), naive_value(r_np, f_np).mean(), rtol=1e-12, atol=0)
    want_real, want_fake = naive_grads(r_np, f_np)
    np.testing.assert_allclose(bk.to_numpy(g_real), want_real / N, rtol=1e-12, atol=0)
    np.testing.assert_allclose(bk.to_numpy(g_fake), want_fake / N, rtol=1e-12, atol=0)


def test_pairs_are_the_sum_of_their_halves(bk):
    r = bk.asarray(_logits((N, 1), seed=8), np.float64)
    f = bk.asarray(_logits((N, 1), seed=9), np.float64)
    for pair, real_half, fake_half in ((losses.discriminator_minimax, losses.minimax_real, losses.minimax_fake),
                                       (losses.critic_wasserstein, losses.wasserstein_real, losses.wasserstein_fake)):
        value, g_real, g_fake = pair(r, f)
        (v_r, want_r), (v_f, want_f) = real_half(r), fake_half(f)
        assert float(value) == float(v_r) + float(v_f)
        np.testing.assert_array_equal(bk.to_numpy(g_real), bk.to_numpy(want_r))
        np.testing.assert_array_equal(bk.to_numpy(g_fake), bk.to_numpy(want_f))


def test_softmax_cross_entropy_matches_naive_formula(bk):
    logits, labels = _classification(seed=10)
    value, grad = losses.softmax_cross_entropy(bk.asarray(logits, np.float64), bk.asarray(labels))
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    rows = np.arange(N)
    np.testing.assert_allclose(float(value), -np.log(p[rows, labels]).mean(), rtol=1e-12, atol=0)
    onehot = np.zeros_like(p)
    onehot[rows, labels] = 1
    np.testing.assert_allclose(bk.to_numpy(grad), (p - onehot) / N, rtol=1e-12, atol=0)
    np.testing.assert_allclose(bk.to_numpy(grad).sum(axis=1), 0.0, atol=1e-16)  # rows of p - onehot sum to 0


def test_sigmoid_and_softplus_match_naive_formulas(bk):
    t = np.linspace(-30, 30, 61)
    np.testing.assert_allclose(bk.to_numpy(losses.sigmoid(bk.asarray(t, np.float64))), _sig(t), rtol=1e-14, atol=0)
    np.testing.assert_allclose(bk.to_numpy(losses.softplus(bk.asarray(t, np.float64))), np.log1p(np.exp(t)),
                               rtol=1e-14, atol=0)


# ---------------------------------------------------------------------------------------------------------------
# numerical stability at extreme logits
# ---------------------------------------------------------------------------------------------------------------
BIG = 1e4
# name -> (loss, (limit of the per-sample value, of the per-sample gradient) at +BIG, the same at -BIG)
EXTREME = {
    "minimax_real": (losses.minimax_real, (0.0, 0.0), (BIG, -1.0)),  # -log sigma(-1e4) = 1e4
    "minimax_fake": (losses.minimax_fake, (BIG, 1.0), (0.0, 0.0)),
    "generator_saturating": (losses.generator_saturating, (-BIG, -1.0), (0.0, 0.0)),
    "generator_non_saturating": (losses.generator_non_saturating, (0.0, 0.0), (BIG, -1.0)),
    "bce_target_1": (lambda t: losses.binary_cross_entropy_with_logits(t, 1.0), (0.0, 0.0), (BIG, -1.0)),
    "bce_target_0": (lambda t: losses.binary_cross_entropy_with_logits(t, 0.0), (BIG, 1.0), (0.0, 0.0)),
    "bce_target_0.25": (lambda t: losses.binary_cross_entropy_with_logits(t, 0.25),
                        (0.75 * BIG, 0.75), (0.25 * BIG, -0.25)),
    "wasserstein_real": (losses.wasserstein_real, (-BIG, -1.0), (BIG, -1.0)),
    "wasserstein_fake": (losses.wasserstein_fake, (BIG, 1.0), (-BIG, 1.0)),
    "generator_wasserstein": (losses.generator_wasserstein, (-BIG, -1.0), (BIG, -1.0)),
    "least_squares_target_1": (lambda s: losses.least_squares(s, 1.0),
                               (0.5 * (BIG - 1) ** 2, BIG - 1), (0.5 * (BIG + 1) ** 2, -BIG - 1)),
}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("sign", [1, -1], ids=["+1e4", "-1e4"])
@pytest.mark.parametrize("name", list(EXTREME))
def test_extreme_logits_give_the_limits(bk, name, sign, shape):
    fn, at_plus, at_minus = EXTREME[name]
    want_value, want_grad = at_plus if sign > 0 else at_minus
    x = bk.asarray(np.full(shape, sign * BIG), np.float64)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        value, grad = fn(x)
    value, grad = float(value), bk.to_numpy(grad)
    assert np.isfinite(value) and np.isfinite(grad).all(), f"{name} at {sign * BIG}: {value}, {grad}"
    np.testing.assert_allclose(value, want_value, rtol=1e-15, atol=0, err_msg=name)
    np.testing.assert_allclose(grad, np.full(shape, want_grad / N), rtol=1e-15, atol=0, err_msg=name)


@pytest.mark.parametrize("name", list(PAIR))
def test_extreme_logits_pair(bk, name):
    fn = PAIR[name][0]
    real = bk.asarray(np.array([[BIG], [-BIG]]), np.float64)
    fake = bk.asarray(np.array([[BIG], [-BIG]]), np.float64)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        value, g_real, g_fake = fn(real, fake)
    if name == "discriminator_minimax":  # per sample: softplus(-r) + softplus(f); grads -sigma(-r), sigma(f)
        want = ((0 + BIG) + (BIG + 0)) / 2, np.array([[0.0], [-0.5]]), np.array([[0.5], [0.0]])
    else:  # mean f - mean r
        want = 0.0, np.full((2, 1), -0.5), np.full((2, 1), 0.5)
    assert float(value) == want[0]
    np.testing.assert_array_equal(bk.to_numpy(g_real), want[1])
    np.testing.assert_array_equal(bk.to_numpy(g_fake), want[2])


@pytest.mark.parametrize("label, want_value, want_row", [(0, 0.0, [0.0, 0.0, 0.0]),
                                                         (1, 2 * BIG, [1.0, -1.0, 0.0]),
                                                         (2, BIG, [1.0, 0.0, -1.0])])
def test_softmax_cross_entropy_extreme_logits(bk, label, want_value, want_row):
    logits = bk.asarray(np.array([[BIG, -BIG, 0.0], [BIG, -BIG, 0.0]]), np.float64)
    labels = bk.asarray(np.array([label, label]))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        value, grad = losses.softmax_cross_entropy(logits, labels)
    assert np.isfinite(float(value)) and np.isfinite(bk.to_numpy(grad)).all()
    assert float(value) == want_value
    np.testing.assert_array_equal(bk.to_numpy(grad), np.array([want_row, want_row]) / 2)


def test_tails_keep_relative_precision(bk):
    """Far in the tails the sigmoid (hence the saturating generator's vanishing gradient) stays exact relatively:
    sigma(t) = e^t (1 + O(e^t)) for t << 0, where a tanh-based sigmoid cancels to 0."""
    t = np.array([-700.0, -100.0, -40.0, -20.0])
    want = np.exp(t) / (1 + np.exp(t))  # exact to an ulp or two for t < 0
    np.testing.assert_allclose(bk.to_numpy(losses.sigmoid(bk.asarray(t, np.float64))), want, rtol=1e-14, atol=0)
    np.testing.assert_allclose(bk.to_numpy(losses.sigmoid(bk.asarray(-t, np.float64))), 1 - want, rtol=1e-15)
    _, grad = losses.generator_saturating(bk.asarray(t, np.float64))
    np.testing.assert_allclose(bk.to_numpy(grad), -want / t.size, rtol=1e-14, atol=0)
    value, _ = losses.minimax_fake(bk.asarray(t, np.float64))  # mean log(1 + e^t), each term ~e^t
    np.testing.assert_allclose(float(value), np.log1p(np.exp(t)).mean(), rtol=1e-14, atol=0)


# ---------------------------------------------------------------------------------------------------------------
# PyTorch
# ---------------------------------------------------------------------------------------------------------------
def _torch_value_and_grads(fn, *arrays):
    """Value and autograd gradients of ``fn(*tensors)`` for float64 NumPy inputs."""
    torch = pytest.importorskip("torch")
    tensors = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    value = fn(*tensors)
    value.backward()
    return float(value.detach()), [t.grad.numpy() for t in tensors]


def _torch_single():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional

    def bce(target):
        return lambda t: F.binary_cross_entropy_with_logits(t, torch.full_like(t, target))

    return {
        # each minigan loss with its PyTorch forms (several where PyTorch has several)
        "minimax_real": [bce(1.0), lambda r: -F.logsigmoid(r).mean()],
        "minimax_fake": [bce(0.0), lambda f: -F.logsigmoid(-f).mean()],
        "generator_saturating": [lambda f: -bce(0.0)(f), lambda f: F.logsigmoid(-f).mean()],
        "generator_non_saturating": [bce(1.0), lambda f: -F.logsigmoid(f).mean()],
        "bce_target_1": [bce(1.0)],
        "bce_target_0": [bce(0.0)],
        "bce_target_0.9": [bce(0.9), lambda t: -(0.9 * F.logsigmoid(t) + 0.1 * F.logsigmoid(-t)).mean()],
        "wasserstein_real": [lambda s: -s.mean()],
        "wasserstein_fake": [lambda s: s.mean()],
        "generator_wasserstein": [lambda s: -s.mean()],
        "least_squares_target_1": [lambda s: 0.5 * F.mse_loss(s, torch.ones_like(s))],
        "least_squares_target_0": [lambda s: 0.5 * F.mse_loss(s, torch.zeros_like(s))],
        "bce_with_logits_mean_target_1": [bce(1.0)],
        "bce_with_logits_mean_target_0": [bce(0.0)],
        "mse_mean_target_1": [lambda s: F.mse_loss(s, torch.ones_like(s))],
        "l1_mean_to_0.3": [lambda x: F.l1_loss(x, torch.full_like(x, 0.3))],
    }


@pytest.mark.parametrize("name, form", [
    ("bce_with_logits_mean", lambda F, torch, t: F.binary_cross_entropy_with_logits(t, torch.ones_like(t))),
    ("mse_mean", lambda F, torch, t: F.mse_loss(t, torch.ones_like(t))),
    ("l1_mean", lambda F, torch, t: F.l1_loss(t, torch.ones_like(t))),
])
def test_per_element_means_average_over_patches_as_torch_does(bk, name, form):
    """On PatchGAN logits (N, 1, H', W') these average over all N H' W' elements, as PyTorch's losses do (the
    batch-mean losses above would divide by N only)."""
    torch = pytest.importorskip("torch")
    x_np = _logits((3, 1, 4, 5), seed=12)
    value, grad = getattr(losses, name)(bk.asarray(x_np, np.float64), 1.0)
    want_value, (want_grad,) = _torch_value_and_grads(lambda t: form(torch.nn.functional, torch, t), x_np)
    np.testing.assert_allclose(float(value), want_value, rtol=1e-10, atol=0)
    np.testing.assert_allclose(bk.to_numpy(grad), want_grad, rtol=1e-10, atol=0)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", list(SINGLE))
def test_single_input_matches_torch(bk, name, shape):
    forms = _torch_single()[name]
    x_np = _logits(shape, seed=11)
    value, grad = SINGLE[name][0](bk.asarray(x_np, np.float64))
    for i, form in enumerate(forms):
        want_value, (want_grad,) = _torch_value_and_grads(form, x_np)
        np.testing.assert_allclose(float(value), want_value, rtol=1e-10, atol=0, err_msg=f"{name} form {i}")
        np.testing.assert_allclose(bk.to_numpy(grad), want_grad, rtol=1e-10, atol=0, err_msg=f"{name} form {i}")


@pytest.mark.parametrize("shape", SHAPES)
def test_discriminator_minimax_matches_torch(bk, shape):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    r_np, f_np = _logits(shape, seed=12), _logits(shape, seed=13)
    value, g_real, g_fake = losses.discriminator_minimax(bk.asarray(r_np, np.float64), bk.asarray(f_np, np.float64))
    forms = [lambda r, f: F.binary_cross_entropy_with_logits(r, torch.ones_like(r))
             + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f)),
             lambda r, f: -(F.logsigmoid(r) + F.logsigmoid(-f)).mean()]
    for form in forms:
        want_value, (want_real, want_fake) = _torch_value_and_grads(form, r_np, f_np)
        np.testing.assert_allclose(float(value), want_value, rtol=1e-10, atol=0)
        np.testing.assert_allclose(bk.to_numpy(g_real), want_real, rtol=1e-10, atol=0)
        np.testing.assert_allclose(bk.to_numpy(g_fake), want_fake, rtol=1e-10, atol=0)


@pytest.mark.parametrize("shape", SHAPES)
def test_critic_wasserstein_matches_torch(bk, shape):
    pytest.importorskip("torch")
    r_np, f_np = _logits(shape, seed=14), _logits(shape, seed=15)
    value, g_real, g_fake = losses.critic_wasserstein(bk.asarray(r_np, np.float64), bk.asarray(f_np, np.float64))
    want_value, (want_real, want_fake) = _torch_value_and_grads(lambda r, f: f.mean() - r.mean(), r_np, f_np)
    np.testing.assert_allclose(float(value), want_value, rtol=1e-10, atol=0)
    np.testing.assert_allclose(bk.to_numpy(g_real), want_real, rtol=1e-10, atol=0)
    np.testing.assert_allclose(bk.to_numpy(g_fake), want_fake, rtol=1e-10, atol=0)


@pytest.mark.parametrize("k", [2, 5, 10])
def test_softmax_cross_entropy_matches_torch(bk, k):
    torch = pytest.importorskip("torch")
    logits, labels = _classification(n=8, k=k, seed=16 + k)
    value, grad = losses.softmax_cross_entropy(bk.asarray(logits, np.float64), bk.asarray(labels))
    want_value, (want_grad,) = _torch_value_and_grads(
        lambda t: torch.nn.functional.cross_entropy(t, torch.as_tensor(labels)), logits)
    np.testing.assert_allclose(float(value), want_value, rtol=1e-10, atol=0)
    np.testing.assert_allclose(bk.to_numpy(grad), want_grad, rtol=1e-10, atol=0)


# ---------------------------------------------------------------------------------------------------------------
# shapes, dtypes, backends, errors
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(SINGLE))
def test_shapes_n1_and_n_agree(bk, name):
    fn = SINGLE[name][0]
    x_np = _logits((N,), seed=20)
    v_flat, g_flat = fn(bk.asarray(x_np, np.float64))
    v_col, g_col = fn(bk.asarray(x_np[:, None], np.float64))
    assert g_flat.shape == (N,) and g_col.shape == (N, 1)
    assert np.ndim(v_flat) == 0 and np.ndim(v_col) == 0
    assert float(v_flat) == float(v_col)
    np.testing.assert_array_equal(bk.to_numpy(g_col)[:, 0], bk.to_numpy(g_flat))


@pytest.mark.parametrize("name", list(SINGLE))
def test_dtype_and_backend_are_kept(bk, name):
    fn = SINGLE[name][0]
    x = bk.asarray(_logits((N, 1), seed=21), np.float32)
    value, grad = fn(x)
    assert grad.dtype == np.float32, f"{name}: gradient came back as {grad.dtype}"
    assert backend.backend_of(grad) == bk.name and backend.backend_of(value) == bk.name
    want = fn(bk.asarray(bk.to_numpy(x), np.float64))[1]
    np.testing.assert_allclose(bk.to_numpy(grad), bk.to_numpy(want), rtol=1e-6, atol=0)


@pytest.mark.parametrize("bad_shape", [(N, 1), (N + 1,), (N - 1,), (N, 2), ()])
def test_softmax_cross_entropy_wrong_label_shape_raises(bk, bad_shape):
    logits, _ = _classification()
    labels = bk.asarray(np.zeros(bad_shape, dtype=np.int64))
    with pytest.raises(ValueError, match=r"softmax_cross_entropy: labels must have shape \(6,\)"):
        losses.softmax_cross_entropy(bk.asarray(logits, np.float64), labels)
