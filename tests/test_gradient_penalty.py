"""The WGAN-GP gradient penalty and its hand-derived parameter gradient (minigan/gradient_penalty.py).

P(w) = (lambda / m) sum_n (||u_n|| - 1)^2 with u_n = grad_x f_w(x_hat_n). Its gradient with respect to the critic's
weights differentiates a backward pass; minigan derives it by hand (a backward pass for u, then a forward-mode
tangent sweep through ``_jvp``). Checked here, in float64:

* against central differences of P (``minigan.gradcheck.check_gradients``), for MLP critics (Dense with ReLU or
  LeakyReLU) and convolutional critics (Conv2d with strides and paddings, LeakyReLU, Flatten, Dense), over
  hypothesis-drawn configurations, every parameter at once: worst relative error < 1e-6;
* against PyTorch's double backpropagation (``torch.autograd.grad(..., create_graph=True)``) on a twin holding the
  same weights: the penalty, the per-sample norms and every parameter gradient to 1e-10 (times max(1, scale));
* the value: lambda * mean((||u|| - 1)^2) with u from an independent ``critic.backward(ones, param_grads=False)``;
* biases get exactly zero penalty gradient (they only move the kinks of a piecewise-linear critic);
* critics holding a layer without a derived penalty gradient (BatchNorm, Tanh, Sigmoid, Dropout) are refused with
  :class:`PenaltyNotSupported`, by ``gradient_penalty`` and by the WGANGP constructor;
* the check can fail: planted bugs in ``_jvp`` (a transposed weight, a forgotten weight gradient, a
  LeakyReLU tangent that ignores its mask, a Conv2d tangent with the bias added) score above 1e-3.

Kinks: a central difference across a ReLU kink measures nothing. Each drawn configuration is required (``assume``)
to keep every pre-activation at least 1e-4 away from zero; with perturbations of 1e-6 in the weights no kink is
crossed.

Rounding: a central difference of P carries a rounding error of about eps_machine |P| / h, so a gradient much
smaller than P / 1e10 cannot be resolved with h = 1e-6 (hypothesis found one: a 1-1-1 LeakyReLU(0.01) critic with
||u|| ~ 1e-5, P ~ 0.1 and gradients ~ 1e-6 scored 3.7e-6 at h = 1e-6, 2.8e-7 at 1e-5, 3e-8 at 1e-4; the error
fell with h as rounding does, not as a wrong derivative would). Configurations whose rounding floor is not 100 times
below TOL * max|grad| are therefore skipped (``assume``), like the kinks. Worst errors observed (NumPy, several runs): MLP critics ~1e-9, conv critics ~1e-9; torch twin ~1e-15
relative; the planted bugs scored 0.3 to 1.0.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from minigan import backend, nn, optim
from minigan.gradcheck import check_gradients
from minigan.gradient_penalty import PenaltyNotSupported, gradient_penalty, leaf_layers
from minigan.models import toy_generator
from minigan.train import WGANGP

TOL = 1e-6  # a correct parameter gradient, float64 central differences
BUG = 1e-3  # what a planted bug must score at least
TOL_TORCH = 1e-10  # float64, max |ours - torch| / max(1, max |torch|)

SCALE = int(os.environ.get("MINIGAN_HYPOTHESIS_SCALE", "1"))
CHECK = settings(max_examples=6 * SCALE, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
seeds = st.integers(0, 2**31 - 1)
lams = st.sampled_from([0.1, 1.0, 10.0])


# ---------------------------------------------------------------------------------------------------------------
# critics
# ---------------------------------------------------------------------------------------------------------------
@st.composite
def mlp_configs(draw):
    return {
        "n": draw(st.integers(1, 4)),
        "fin": draw(st.integers(1, 4)),
        "widths": draw(st.lists(st.integers(1, 5), min_size=1, max_size=3)),
        "activation": draw(st.sampled_from(["relu", "leaky"])),
        "slope": draw(st.sampled_from([0.01, 0.2])),
        "bias": draw(st.booleans()),
    }


def mlp_critic(c) -> nn.Sequential:
    """Dense(fin, w1) act ... Dense(wk, 1), act = ReLU or LeakyReLU(slope)."""
    layers, width = [], c["fin"]
    for w in c["widths"]:
        layers += [nn.Dense(width, w, bias=c["bias"]), nn.ReLU() if c["activation"] == "relu" else
                   nn.LeakyReLU(c["slope"])]
        width = w
    return nn.Sequential(*layers, nn.Dense(width, 1, bias=c["bias"]))


@st.composite
def conv_configs(draw):
    c = {
        "n": draw(st.integers(1, 3)),
        "cin": draw(st.integers(1, 2)),
        "h": draw(st.integers(3, 6)),
        "w": draw(st.integers(3, 6)),
        "convs": [],
        "bias": draw(st.booleans()),
    }
    h, w, channels = c["h"], c["w"], c["cin"]
    for _ in range(draw(st.integers(1, 2))):
        k, s, p = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(0, 1))
        assume(h + 2 * p >= k and w + 2 * p >= k)
        out = draw(st.integers(1, 3))
        c["convs"].append((channels, out, k, s, p))
        h, w, channels = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1, out
    c["flat"] = channels * h * w
    return c


def conv_critic(c) -> nn.Sequential:
    """[Conv2d(k, s, p) LeakyReLU(0.2)] x 1..2, Flatten, Dense(-> 1)."""
    layers = []
    for cin, out, k, s, p in c["convs"]:
        layers += [nn.Conv2d(cin, out, k, stride=s, padding=p, bias=c["bias"]), nn.LeakyReLU(0.2)]
    return nn.Sequential(*layers, nn.Flatten(), nn.Dense(c["flat"], 1, bias=c["bias"]))


def _setup(seed: int) -> np.random.Generator:
    backend.set_default_dtype(np.float64)
    backend.seed(seed)
    return np.random.default_rng(seed)


def _randomize(critic, rng, bk):
    """Standard-normal weights and biases: gradient norms well away from 1, biases that really move the kinks."""
    for p in critic.params.values():
        p[...] = bk.asarray(rng.standard_normal(p.shape))


def _kink_margin(critic, x) -> float:
    """The smallest |pre-activation| any ReLU/LeakyReLU of the critic sees at x (inf when it has none)."""
    margin = np.inf
    for layer in leaf_layers(critic):
        if isinstance(layer, (nn.ReLU, nn.LeakyReLU)):
            margin = min(margin, float(np.abs(backend.to_numpy(x)).min()))
        x = layer.forward(x)
    return margin


def _analytic(critic, x_hat, lam):
    """critic.grads after zero_grad + gradient_penalty (copies), and the penalty."""
    critic.zero_grad()
    penalty, norms = gradient_penalty(critic, x_hat, lam)
    return {k: g.copy() for k, g in critic.grads.items()}, float(penalty), norms


def _resolvable(critic, x_hat, lam, h: float = 1e-6) -> bool:
    """Whether central differences with step h can resolve the penalty gradient to TOL: the rounding error of a
    difference quotient, eps_machine * |P| / h, must be 100 times below TOL * max |dP/dw|."""
    analytic, penalty, _ = _analytic(critic, x_hat, lam)
    largest = max(float(np.abs(backend.to_numpy(g)).max()) for g in analytic.values())
    return np.finfo(np.float64).eps * abs(penalty) / h < 1e-2 * TOL * largest


def _gradcheck(critic, x_hat, lam):
    analytic, _, _ = _analytic(critic, x_hat, lam)
    return check_gradients(lambda: float(gradient_penalty(critic, x_hat, lam, param_grads=False)[0]),
                           critic.params, analytic)


def _build_mlp(c, seed, bk):
    rng = _setup(seed)
    critic = mlp_critic(c)
    _randomize(critic, rng, bk)
    x_hat = bk.asarray(rng.standard_normal((c["n"], c["fin"])))
    return critic, x_hat, rng


def _build_conv(c, seed, bk):
    rng = _setup(seed)
    critic = conv_critic(c)
    _randomize(critic, rng, bk)
    x_hat = bk.asarray(rng.standard_normal((c["n"], c["cin"], c["h"], c["w"])))
    return critic, x_hat, rng


# ---------------------------------------------------------------------------------------------------------------
# against central differences
# ---------------------------------------------------------------------------------------------------------------
@CHECK
@given(c=mlp_configs(), lam=lams, seed=seeds)
def test_penalty_gradient_mlp_critic(bk, c, lam, seed):
    critic, x_hat, _ = _build_mlp(c, seed, bk)
    assume(_kink_margin(critic, x_hat) > 1e-4)
    assume(_resolvable(critic, x_hat, lam))
    result = _gradcheck(critic, x_hat, lam)
    assert set(result.errors) == set(critic.params), f"not every parameter was checked ({result})"
    assert result.worst_error < TOL, f"{critic!r}: {result}"


@CHECK
@given(c=conv_configs(), lam=lams, seed=seeds)
def test_penalty_gradient_conv_critic(bk, c, lam, seed):
    critic, x_hat, _ = _build_conv(c, seed, bk)
    assume(_kink_margin(critic, x_hat) > 1e-4)
    assume(_resolvable(critic, x_hat, lam))
    result = _gradcheck(critic, x_hat, lam)
    assert set(result.errors) == set(critic.params), f"not every parameter was checked ({result})"
    assert result.worst_error < TOL, f"{critic!r}: {result}"


def test_penalty_gradient_nested_sequential(bk):
    """Sequential inside Sequential: the leaf layers are swept in forward order, names keep their prefixes."""
    rng = _setup(11)
    critic = nn.Sequential(nn.Sequential(nn.Dense(3, 4), nn.LeakyReLU(0.2)),
                           nn.Sequential(nn.Dense(4, 4), nn.ReLU(), nn.Dense(4, 1)))
    _randomize(critic, rng, bk)
    x_hat = bk.asarray(rng.standard_normal((5, 3)))
    assert _kink_margin(critic, x_hat) > 1e-4
    result = _gradcheck(critic, x_hat, 10.0)
    assert set(result.errors) == {"0.0.weight", "0.0.bias", "1.0.weight", "1.0.bias", "1.2.weight", "1.2.bias"}
    assert result.worst_error < TOL, str(result)


# ---------------------------------------------------------------------------------------------------------------
# the value, the returned norms, the biases, the accumulation contract
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["mlp", "conv"])
def test_penalty_value_from_an_independent_backward(bk, kind):
    """P = lam * mean((||u|| - 1)^2), u = critic.backward(ones, param_grads=False) after a forward at x_hat."""
    if kind == "mlp":
        critic, x_hat, _ = _build_mlp({"n": 6, "fin": 3, "widths": [5, 4], "activation": "leaky", "slope": 0.2,
                                       "bias": True}, 1, bk)
    else:
        critic, x_hat, _ = _build_conv({"n": 4, "cin": 2, "h": 6, "w": 5, "convs": [(2, 3, 3, 2, 1), (3, 2, 2, 1, 0)],
                                        "flat": 2 * 2 * 2, "bias": True}, 2, bk)
    lam = 10.0
    scores = critic.forward(x_hat)
    u = bk.to_numpy(critic.backward(backend.array_module(scores).ones_like(scores), param_grads=False))
    norms = np.sqrt((u.reshape(len(u), -1) ** 2).sum(axis=1))
    assert np.abs(norms - 1).min() > 1e-2, "norms this close to 1 would make the comparison weak"
    expected = lam * np.mean((norms - 1) ** 2)

    critic.zero_grad()
    penalty, got_norms = gradient_penalty(critic, x_hat, lam)
    assert got_norms.shape == (len(u),)
    np.testing.assert_allclose(bk.to_numpy(got_norms), norms, rtol=1e-12, atol=0)
    np.testing.assert_allclose(float(penalty), expected, rtol=1e-12, atol=0)
    # param_grads=False: the same value, and no gradient touched
    critic.zero_grad()
    p2, _ = gradient_penalty(critic, x_hat, lam, param_grads=False)
    assert float(p2) == float(penalty)
    assert all(float(np.abs(bk.to_numpy(g)).max()) == 0.0 for g in critic.grads.values())


@pytest.mark.parametrize("kind", ["mlp", "conv"])
def test_biases_get_zero_penalty_gradient_and_weights_do_not(bk, kind):
    if kind == "mlp":
        critic, x_hat, _ = _build_mlp({"n": 5, "fin": 2, "widths": [4, 4], "activation": "relu", "slope": 0.0,
                                       "bias": True}, 3, bk)
    else:
        critic, x_hat, _ = _build_conv({"n": 3, "cin": 1, "h": 5, "w": 5, "convs": [(1, 2, 3, 1, 1)],
                                        "flat": 2 * 5 * 5, "bias": True}, 4, bk)
    grads, _, _ = _analytic(critic, x_hat, 1.0)
    biases = [k for k in grads if k.endswith("bias")]
    weights = [k for k in grads if k.endswith("weight")]
    assert biases and weights
    for k in biases:
        assert float(np.abs(bk.to_numpy(grads[k])).max()) == 0.0, f"{k} got a penalty gradient"
    for k in weights:
        assert float(np.abs(bk.to_numpy(grads[k])).max()) > 0.0, f"{k} got no penalty gradient"


def test_penalty_gradient_adds_into_grads(bk):
    """Like every backward, the penalty ADDS into critic.grads (WGANGP adds it on top of the Wasserstein terms)."""
    critic, x_hat, _ = _build_mlp({"n": 4, "fin": 2, "widths": [3], "activation": "leaky", "slope": 0.2,
                                   "bias": True}, 5, bk)
    once, _, _ = _analytic(critic, x_hat, 2.0)
    critic.zero_grad()
    for g in critic.grads.values():
        g[...] = 1.0
    gradient_penalty(critic, x_hat, 2.0)
    for k, g in critic.grads.items():
        np.testing.assert_allclose(bk.to_numpy(g), bk.to_numpy(once[k]) + 1.0, rtol=1e-13, atol=1e-13)


def test_penalty_is_zero_with_zero_gradient_when_every_norm_is_one(bk):
    """A linear critic f(x) = w . x with ||w|| = 1 is exactly 1-Lipschitz: P = 0 and dP/dw = 0."""
    _setup(0)
    critic = nn.Sequential(nn.Dense(2, 1))
    critic[0].weight[...] = bk.asarray(np.array([[0.6, 0.8]]))
    x_hat = bk.asarray(np.random.default_rng(0).standard_normal((7, 2)))
    grads, penalty, norms = _analytic(critic, x_hat, 10.0)
    np.testing.assert_allclose(bk.to_numpy(norms), 1.0, rtol=1e-15)
    assert abs(penalty) < 1e-28
    assert float(np.abs(bk.to_numpy(grads["0.weight"])).max()) < 1e-14


# ---------------------------------------------------------------------------------------------------------------
# against PyTorch double backpropagation
# ---------------------------------------------------------------------------------------------------------------
def _torch_twin(critic):
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    layers = []
    for layer in critic:
        if isinstance(layer, nn.Dense):
            layers.append(tnn.Linear(layer.in_features, layer.out_features, bias="bias" in layer.params))
        elif isinstance(layer, nn.Conv2d):
            layers.append(tnn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                                     layer.padding, bias="bias" in layer.params))
        elif isinstance(layer, nn.LeakyReLU):
            layers.append(tnn.LeakyReLU(layer.negative_slope))
        elif isinstance(layer, nn.ReLU):
            layers.append(tnn.ReLU())
        elif isinstance(layer, nn.Flatten):
            layers.append(tnn.Flatten())
        else:  # pragma: no cover - the critics built above hold nothing else
            raise TypeError(layer)
    twin = tnn.Sequential(*layers).to(torch.float64)
    twin.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(backend.to_numpy(v)))
                          for k, v in critic.state_dict().items()})
    return twin


def _torch_penalty(twin, x_hat, lam):
    """P and dP/dw by double backpropagation: u = autograd.grad(sum f, x, create_graph=True), then P.backward()."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(x_hat)).requires_grad_(True)
    (u,) = torch.autograd.grad(twin(x).sum(), x, create_graph=True)
    norms = u.flatten(1).norm(dim=1)
    penalty = lam * ((norms - 1) ** 2).mean()
    twin.zero_grad(set_to_none=False)
    penalty.backward()
    # a parameter P does not depend on (a bias: the masks' derivative is zero) keeps grad None: zero
    grads = {k: np.zeros(tuple(p.shape)) if p.grad is None else p.grad.numpy() for k, p in twin.named_parameters()}
    return float(penalty.detach()), norms.detach().numpy(), grads


def _compare_with_torch(critic, x_hat, lam, bk):
    twin = _torch_twin(critic)
    t_penalty, t_norms, t_grads = _torch_penalty(twin, bk.to_numpy(x_hat), lam)
    grads, penalty, norms = _analytic(critic, x_hat, lam)
    assert set(grads) == set(t_grads)
    assert abs(penalty - t_penalty) <= TOL_TORCH * max(1.0, abs(t_penalty)), (penalty, t_penalty)
    np.testing.assert_array_less(np.abs(bk.to_numpy(norms) - t_norms), TOL_TORCH * max(1.0, np.abs(t_norms).max()))
    for k, tg in t_grads.items():
        diff = float(np.abs(bk.to_numpy(grads[k]) - tg).max())
        assert diff <= TOL_TORCH * max(1.0, float(np.abs(tg).max())), f"{k}: max |diff| {diff:.3e}"
    return t_grads


@CHECK
@given(c=mlp_configs(), lam=lams, seed=seeds)
def test_penalty_matches_torch_double_backprop_mlp(bk, c, lam, seed):
    critic, x_hat, _ = _build_mlp(c, seed, bk)
    _compare_with_torch(critic, x_hat, lam, bk)


@CHECK
@given(c=conv_configs(), lam=lams, seed=seeds)
def test_penalty_matches_torch_double_backprop_conv(bk, c, lam, seed):
    critic, x_hat, _ = _build_conv(c, seed, bk)
    _compare_with_torch(critic, x_hat, lam, bk)


def test_torch_also_gives_biases_zero_penalty_gradient(bk):
    """The zero bias gradient is not a convention of ours: autograd's double backward finds it too."""
    critic, x_hat, _ = _build_mlp({"n": 5, "fin": 2, "widths": [4, 3], "activation": "leaky", "slope": 0.2,
                                   "bias": True}, 6, bk)
    t_grads = _compare_with_torch(critic, x_hat, 10.0, bk)
    for k, g in t_grads.items():
        if k.endswith("bias"):
            assert np.abs(g).max() == 0.0, k


# ---------------------------------------------------------------------------------------------------------------
# critics the hand derivation does not cover
# ---------------------------------------------------------------------------------------------------------------
UNSUPPORTED = {
    "BatchNorm1d": lambda: nn.Sequential(nn.Dense(2, 4), nn.BatchNorm1d(4), nn.LeakyReLU(0.2), nn.Dense(4, 1)),
    "BatchNorm2d": lambda: nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.LeakyReLU(0.2),
                                         nn.Flatten(), nn.Dense(2 * 4 * 4, 1)),
    "Tanh": lambda: nn.Sequential(nn.Dense(2, 4), nn.Tanh(), nn.Dense(4, 1)),
    "Sigmoid": lambda: nn.Sequential(nn.Dense(2, 4), nn.LeakyReLU(0.2), nn.Dense(4, 1), nn.Sigmoid()),
    "Dropout": lambda: nn.Sequential(nn.Dense(2, 4), nn.ReLU(), nn.Dropout(0.5), nn.Dense(4, 1)),
}


@pytest.mark.parametrize("name", list(UNSUPPORTED))
def test_unsupported_layer_is_refused(bk, name):
    _setup(0)
    critic = UNSUPPORTED[name]()
    x_hat = bk.asarray(np.random.default_rng(0).standard_normal((4, 1, 4, 4) if name == "BatchNorm2d" else (4, 2)))
    critic.zero_grad()
    with pytest.raises(PenaltyNotSupported) as info:
        gradient_penalty(critic, x_hat, 10.0)
    msg = str(info.value)
    assert name in msg, msg  # names the layer
    assert "\n" not in msg
    if name.startswith("BatchNorm"):
        assert "Gulrajani" in msg and "batch normalisation" in msg, msg  # the paper's rule
    else:
        assert "Gulrajani" not in msg, msg
    assert all(float(np.abs(bk.to_numpy(g)).max()) == 0.0 for g in critic.grads.values()), "grads were touched"
    assert isinstance(info.value, TypeError)


@pytest.mark.parametrize("name", ["BatchNorm1d", "Tanh", "Dropout"])
def test_wgangp_constructor_refuses_unsupported_critic(bk, name):
    _setup(0)
    G, D = toy_generator(nz=2, hidden=4, depth=1), UNSUPPORTED[name]()
    with pytest.raises(PenaltyNotSupported, match=name):
        WGANGP(G, D, optim.Adam(G, 1e-4, (0.0, 0.9)), optim.Adam(D, 1e-4, (0.0, 0.9)), nz=2, m=8)


def test_unsupported_layer_nested_is_found(bk):
    _setup(0)
    critic = nn.Sequential(nn.Dense(2, 3), nn.Sequential(nn.LeakyReLU(0.2), nn.BatchNorm1d(3)), nn.Dense(3, 1))
    with pytest.raises(PenaltyNotSupported, match="BatchNorm1d"):
        gradient_penalty(critic, bk.asarray(np.zeros((4, 2))), 1.0)


# ---------------------------------------------------------------------------------------------------------------
# the check can fail
# ---------------------------------------------------------------------------------------------------------------
def _square_mlp(bk, seed):
    """Dense(3, 3) LeakyReLU Dense(3, 3) LeakyReLU Dense(3, 1): non-symmetric square weights, so t W and t W^T
    have the same shape and differ in value."""
    rng = _setup(seed)
    critic = nn.Sequential(nn.Dense(3, 3), nn.LeakyReLU(0.2), nn.Dense(3, 3), nn.LeakyReLU(0.2), nn.Dense(3, 1))
    _randomize(critic, rng, bk)
    return critic, bk.asarray(rng.standard_normal((5, 3)))


def _conv_critic_fixed(bk, seed):
    c = {"n": 3, "cin": 2, "h": 5, "w": 5, "convs": [(2, 3, 3, 2, 1), (3, 2, 2, 1, 0)], "flat": 2 * 2 * 2, "bias": True}
    critic, x_hat, _ = _build_conv(c, seed, bk)
    return critic, x_hat


def _wrong_dense_transposed(self, g, t):
    """t W where it must be t W^T (on the square layers; elsewhere the shapes would not even fit)."""
    w = self._params["weight"]
    self._grads["weight"] += g.T @ t
    return t @ (w if w.shape[0] == w.shape[1] else w.T)


def _wrong_dense_no_weight_grad(self, g, t):
    """The tangent is propagated, but the penalty's weight gradient is never added."""
    return t @ self._params["weight"].T


def _wrong_dense_grad_transposed_operands(self, g, t):
    """dW += t^T g (the outer product the other way round): same shape on square layers, wrong values."""
    w = self._params["weight"]
    self._grads["weight"] += (t.T @ g) if w.shape[0] == w.shape[1] else (g.T @ t)
    return t @ w.T


def _wrong_leaky_no_mask(self, g, t):
    """The tangent passes the activation as if it were the identity (its slope on the negative side forgotten)."""
    return t


PLANTED = {
    "Dense tangent t W": (nn.Dense, _wrong_dense_transposed),
    "Dense forgets dW": (nn.Dense, _wrong_dense_no_weight_grad),
    "Dense dW = t^T g": (nn.Dense, _wrong_dense_grad_transposed_operands),
    "LeakyReLU tangent without mask": (nn.LeakyReLU, _wrong_leaky_no_mask),
}


@pytest.mark.parametrize("bug", list(PLANTED))
def test_checker_catches_planted_tangent_bug(bk, monkeypatch, bug):
    critic, x_hat = _square_mlp(bk, 7)
    assert _kink_margin(critic, x_hat) > 1e-4
    good = _gradcheck(critic, x_hat, 10.0)
    assert good.worst_error < TOL, str(good)  # the real one passes on the same critic and data
    cls, wrong = PLANTED[bug]
    monkeypatch.setattr(cls, "_jvp", wrong)
    bad = _gradcheck(critic, x_hat, 10.0)
    assert bad.worst_error > BUG, f"{bug} went unnoticed: {bad}"


def test_checker_catches_conv_tangent_with_bias(bk, monkeypatch):
    """A Conv2d tangent that adds the bias (J t must be the linear part only)."""
    critic, x_hat = _conv_critic_fixed(bk, 8)
    assert _kink_margin(critic, x_hat) > 1e-4
    good = _gradcheck(critic, x_hat, 10.0)
    assert good.worst_error < TOL, str(good)
    real = nn.Conv2d._jvp

    def with_bias(self, g, t):
        return real(self, g, t) + self._params["bias"].reshape(1, -1, 1, 1)

    monkeypatch.setattr(nn.Conv2d, "_jvp", with_bias)
    bad = _gradcheck(critic, x_hat, 10.0)
    assert bad.worst_error > BUG, f"conv tangent with bias went unnoticed: {bad}"


def test_checker_catches_missing_factor_in_penalty_gradient(bk, monkeypatch):
    """Half the weight gradient (the 2 of d/du (||u|| - 1)^2 forgotten), planted in every Dense's tangent step."""
    critic, x_hat = _square_mlp(bk, 9)

    def halved(self, g, t):
        self._grads["weight"] += 0.5 * (g.T @ t)
        return t @ self._params["weight"].T

    assert _gradcheck(critic, x_hat, 10.0).worst_error < TOL
    monkeypatch.setattr(nn.Dense, "_jvp", halved)
    bad = _gradcheck(critic, x_hat, 10.0)
    assert bad.worst_error > BUG, str(bad)
