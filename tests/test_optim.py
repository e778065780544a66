r"""SGD, Adam, RMSProp and weight clipping against their update equations, against PyTorch, and across a resume.

The model is a tiny ``Sequential(Dense(3, 4), ReLU(), Dense(4, 2))`` whose gradients are set by hand
(``model.grads[name][...] = g``), a fresh seeded random g at every step, so each test sees several different updates.

* Hand references: the update rules of ``minigan/optim.py``'s docstring written out again below (``_Reference*``),
  in float64 NumPy, compared after every step to 1e-12 relative. Adam's bias correction is pinned down by closed
  forms: after the first step theta moves by lr g / (|g| + eps), and with a constant gradient every step does
  the same (m_hat = g, v_hat = g^2 exactly), which an Adam without the t exponent breaks at t = 5 (the planted
  mutant in ``test_adam_without_t_exponent_is_caught`` is off by 60% on some weight there, while both forms agree
  exactly at t = 1).
* PyTorch (skipped without it): torch.optim.SGD(momentum), Adam(betas, eps), RMSprop(alpha, eps) given the same
  gradients for 5 steps: parameters and state slots agree to 1e-6 relative in float32 and 1e-12 in float64
  (relative to each tensor's largest entry, see ``_assert_close``).
* Resume: N steps, model and optimizer state dicts through an .npz file, loaded into a fresh model and a fresh
  optimizer (other initial weights, other hyperparameters), N more steps == 2N straight steps, bit for bit.

Worst relative differences observed (NumPy backend, these tests' data and 20 further seeds): hand references 0
(the same operations, bit for bit); PyTorch 2e-7 (float32) and 6e-16 (float64).
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest

from minigan import backend, nn, optim

STEPS = 5


def _model(dtype=np.float32, seed=0):
    """The tiny model on the active backend, initialised from ``seed``."""
    backend.seed(seed)
    model = nn.Sequential(nn.Dense(3, 4), nn.ReLU(), nn.Dense(4, 2))
    return model.to(dtype=dtype)


def _gradients(model, steps, seed=1):
    """One dict name -> float64 NumPy gradient per step, seeded standard normal."""
    rng = np.random.default_rng(seed)
    return [{name: rng.standard_normal(p.shape) for name, p in model.params.items()} for _ in range(steps)]


def _set_grads(model, g):
    """Write the gradients into the model's own arrays, on their backend and in their dtype."""
    for name, arr in model.grads.items():
        arr[...] = backend.to_backend(g[name], backend.backend_of(arr), arr.dtype)


def _assert_close(actual, desired, rtol, what):
    """max |actual - desired| / max |desired| < rtol, over the whole tensor.

    Relative to the tensor's scale rather than entry by entry: rounding errors are relative to the operands of
    theta - lr u, so an entry that this subtraction brings near 0 (a weight of 3e-3 out of weights of 0.5) carries
    the absolute error of the large ones, which is huge relative to itself in float32.
    """
    actual, desired = np.asarray(actual, np.float64), np.asarray(desired, np.float64)
    err = float(np.max(np.abs(actual - desired))) / float(np.max(np.abs(desired)))
    assert err < rtol, f"{what}: relative difference {err:.2e} (tolerance {rtol:.0e})"
    return err


def _numpy_params(model):
    return {name: backend.to_numpy(p).astype(np.float64) for name, p in model.params.items()}


# ---------------------------------------------------------------------------------------------------------------
# the update equations, written out by hand (float64 NumPy)
# ---------------------------------------------------------------------------------------------------------------
class _ReferenceSGD:
    def __init__(self, lr, momentum=0.0):
        self.lr, self.mu, self.v = lr, momentum, {}

    def step(self, params, grads):
        for k, g in grads.items():
            if self.mu == 0.0:
                params[k] = params[k] - self.lr * g  # theta <- theta - lr g
            else:
                self.v[k] = self.mu * self.v.get(k, 0.0) + g  # v <- mu v + g
                params[k] = params[k] - self.lr * self.v[k]  # theta <- theta - lr v


class _ReferenceAdam:
    def __init__(self, lr, betas=(0.9, 0.999), eps=1e-8):
        self.lr, (self.b1, self.b2), self.eps = lr, betas, eps
        self.m, self.v, self.t = {}, {}, 0

    def step(self, params, grads):
        self.t += 1
        for k, g in grads.items():
            self.m[k] = self.b1 * self.m.get(k, 0.0) + (1 - self.b1) * g
            self.v[k] = self.b2 * self.v.get(k, 0.0) + (1 - self.b2) * g**2
            m_hat = self.m[k] / (1 - self.b1**self.t)
            v_hat = self.v[k] / (1 - self.b2**self.t)
            params[k] = params[k] - self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


class _ReferenceRMSProp:
    def __init__(self, lr, alpha=0.99, eps=1e-8):
        self.lr, self.alpha, self.eps, self.v = lr, alpha, eps, {}

    def step(self, params, grads):
        for k, g in grads.items():
            self.v[k] = self.alpha * self.v.get(k, 0.0) + (1 - self.alpha) * g**2
            params[k] = params[k] - self.lr * g / (np.sqrt(self.v[k]) + self.eps)


# name -> (minigan optimizer, hand reference, PyTorch optimizer, the minigan/PyTorch state slot names)
CONFIGS = {
    "sgd": (lambda m: optim.SGD(m, lr=0.1), lambda: _ReferenceSGD(0.1),
            lambda t, ps: t.optim.SGD(ps, lr=0.1, foreach=False), []),
    "sgd_momentum": (lambda m: optim.SGD(m, lr=0.05, momentum=0.9), lambda: _ReferenceSGD(0.05, 0.9),
                     lambda t, ps: t.optim.SGD(ps, lr=0.05, momentum=0.9, foreach=False), ["momentum_buffer"]),
    "adam": (lambda m: optim.Adam(m, lr=1e-2, betas=(0.9, 0.999), eps=1e-8),
             lambda: _ReferenceAdam(1e-2, (0.9, 0.999), 1e-8),
             lambda t, ps: t.optim.Adam(ps, lr=1e-2, betas=(0.9, 0.999), eps=1e-8, foreach=False),
             ["exp_avg", "exp_avg_sq"]),
    "adam_dcgan": (lambda m: optim.Adam(m, lr=2e-4, betas=(0.5, 0.999), eps=1e-6),
                   lambda: _ReferenceAdam(2e-4, (0.5, 0.999), 1e-6),
                   lambda t, ps: t.optim.Adam(ps, lr=2e-4, betas=(0.5, 0.999), eps=1e-6, foreach=False),
                   ["exp_avg", "exp_avg_sq"]),
    "rmsprop": (lambda m: optim.RMSProp(m, lr=1e-2, alpha=0.9, eps=1e-8), lambda: _ReferenceRMSProp(1e-2, 0.9, 1e-8),
                lambda t, ps: t.optim.RMSprop(ps, lr=1e-2, alpha=0.9, eps=1e-8, foreach=False), ["square_avg"]),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_matches_update_equations(bk, name):
    make, make_reference = CONFIGS[name][:2]
    model = _model(np.float64)
    opt, ref = make(model), make_reference()
    expected = _numpy_params(model)
    for step, g in enumerate(_gradients(model, STEPS)):
        _set_grads(model, g)
        opt.step()
        ref.step(expected, g)
        assert opt.t == step + 1
        for k, p in model.params.items():
            np.testing.assert_allclose(bk.to_numpy(p), expected[k], rtol=1e-12, atol=0, err_msg=f"{k} step {step}")
            np.testing.assert_array_equal(bk.to_numpy(model.grads[k]), g[k])  # step() leaves gradients alone


def test_sgd_momentum_closed_form(bk):
    """Constant g: v_t = g (1 + mu + ... + mu^{t-1}) = g (1 - mu^t) / (1 - mu), so after 4 steps
    theta_4 = theta_0 - lr g sum_{s=1}^{4} (1 - mu^s) / (1 - mu)."""
    model = _model(np.float64)
    theta0 = _numpy_params(model)
    g = _gradients(model, 1)[0]
    lr, mu = 0.1, 0.5
    opt = optim.SGD(model, lr=lr, momentum=mu)
    _set_grads(model, g)
    for _ in range(4):
        opt.step()
    factor = sum((1 - mu**s) / (1 - mu) for s in range(1, 5))  # 1 + 1.5 + 1.75 + 1.875
    for k, p in model.params.items():
        np.testing.assert_allclose(bk.to_numpy(p), theta0[k] - lr * factor * g[k], rtol=1e-12, atol=0)


@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.5, 0.999), (0.0, 0.9)])
def test_adam_bias_correction_closed_form(bk, betas):
    """m_hat = g and v_hat = g^2 exactly for a constant g, at every t: each step moves theta by lr g / (|g| + eps).

    Checked at t = 1 (catches a missing bias correction) and at t = 5 (catches 1 - b instead of 1 - b^t).
    """
    lr, eps = 1e-2, 1e-8
    model = _model(np.float64)
    theta0 = _numpy_params(model)
    g = _gradients(model, 1)[0]
    opt = optim.Adam(model, lr=lr, betas=betas, eps=eps)
    _set_grads(model, g)
    for t in range(1, 6):
        opt.step()
        if t in (1, 5):
            for k, p in model.params.items():
                want = theta0[k] - t * lr * g[k] / (np.abs(g[k]) + eps)
                np.testing.assert_allclose(bk.to_numpy(p), want, rtol=1e-12, atol=0, err_msg=f"{k} at t={t}")


class _AdamWithoutTExponent(optim.Adam):
    """The classic mistake: bias correction 1 - b instead of 1 - b^t."""

    def _update(self, name, p, g):
        b1, b2 = self.betas
        m = self._slot("exp_avg", name, p)
        v = self._slot("exp_avg_sq", name, p)
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * (g * g)
        p -= self.lr * (m / (1 - b1)) / (np.sqrt(v / (1 - b2)) + self.eps)


def test_adam_without_t_exponent_is_caught():
    """The references above tell the mutant apart from Adam at t = 5, though not at t = 1 (why both are tested)."""
    model, mutant_model = _model(np.float64), _model(np.float64)
    opt, mutant = optim.Adam(model, lr=1e-2), _AdamWithoutTExponent(mutant_model, lr=1e-2)
    ref = _ReferenceAdam(1e-2)
    expected = _numpy_params(model)
    for t, g in enumerate(_gradients(model, 5), start=1):
        for m in (model, mutant_model):
            _set_grads(m, g)
        opt.step()
        mutant.step()
        ref.step(expected, g)
        worst_mutant = max(float(np.max(np.abs(mutant_model.params[k] - expected[k]) / np.abs(expected[k])))
                           for k in expected)
        if t == 1:
            assert worst_mutant < 1e-12
        if t == 5:
            assert worst_mutant > 1e-3, f"the t=5 check cannot see a missing exponent ({worst_mutant:.1e})"
    for k, p in model.params.items():
        np.testing.assert_allclose(p, expected[k], rtol=1e-12, atol=0)


# ---------------------------------------------------------------------------------------------------------------
# PyTorch
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype, rtol", [pytest.param(np.float32, 1e-6, id="float32"),
                                         pytest.param(np.float64, 1e-12, id="float64")])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_matches_torch(bk, name, dtype, rtol):
    torch = pytest.importorskip("torch")
    make, _, make_torch, slots = CONFIGS[name]
    model = _model(dtype)
    opt = make(model)
    tparams = {k: torch.tensor(bk.to_numpy(p), requires_grad=True) for k, p in model.params.items()}
    topt = make_torch(torch, list(tparams.values()))
    for step, g in enumerate(_gradients(model, STEPS)):
        g = {k: v.astype(dtype) for k, v in g.items()}  # both get the very same gradient
        _set_grads(model, g)
        for k, tp in tparams.items():
            tp.grad = torch.tensor(g[k])
        opt.step()
        topt.step()
        for k, p in model.params.items():
            assert p.dtype == dtype
            _assert_close(bk.to_numpy(p), tparams[k].detach().numpy(), rtol, f"{name} {k} step {step}")
            for slot in slots:
                _assert_close(bk.to_numpy(opt.state[slot][k]), topt.state[tparams[k]][slot].numpy(), rtol,
                              f"{name} {slot} of {k} step {step}")


# ---------------------------------------------------------------------------------------------------------------
# weight clipping
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c", [0.01, 0.5])
def test_clip_weights(bk, c, dtype):
    model = _model(dtype)
    rng = np.random.default_rng(3)
    for p in model.params.values():  # spread the values well past c on both sides
        p[...] = bk.asarray(rng.uniform(-3 * c, 3 * c, size=p.shape), dtype)
    before = {k: bk.to_numpy(p).copy() for k, p in model.params.items()}
    arrays = {k: p for k, p in model.params.items()}
    optim.clip_weights(model, c)
    n_inside = n_outside = 0
    for k, p in model.params.items():
        assert p is arrays[k], "clip_weights must work in place (the optimizer holds these arrays)"
        after, old = bk.to_numpy(p), before[k]
        assert np.all(np.abs(after) <= c), f"{k}: {after}"
        inside = np.abs(old) <= c
        np.testing.assert_array_equal(after[inside], old[inside])  # untouched, bit for bit
        np.testing.assert_array_equal(after[~inside], np.sign(old[~inside]) * dtype(c))
        n_inside, n_outside = n_inside + inside.sum(), n_outside + (~inside).sum()
    assert n_inside > 0 and n_outside > 0  # both cases really occurred


@pytest.mark.parametrize("c", [0.0, -0.01, math.nan])
def test_clip_weights_bad_c_raises(bk, c):
    model = _model()
    before = _numpy_params(model)
    with pytest.raises(ValueError, match="clip_weights: c must be positive"):
        optim.clip_weights(model, c)
    for k, p in model.params.items():
        np.testing.assert_array_equal(bk.to_numpy(p), before[k])


# ---------------------------------------------------------------------------------------------------------------
# state_dict / load_state_dict
# ---------------------------------------------------------------------------------------------------------------
def _through_npz(state):
    """A state dict as a checkpoint file gives it back."""
    buf = io.BytesIO()
    np.savez(buf, **state)
    buf.seek(0)
    with np.load(buf) as f:
        return {k: f[k] for k in f.files}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_resume_continues_exactly(bk, name):
    make = CONFIGS[name][0]
    n = 3
    grads = _gradients(_model(), 2 * n, seed=5)

    straight = _model(seed=0)
    opt = make(straight)
    for g in grads:
        _set_grads(straight, g)
        opt.step()

    first = _model(seed=0)
    opt_first = make(first)
    for g in grads[:n]:
        _set_grads(first, g)
        opt_first.step()
    model_state, opt_state = first.state_dict(), opt_first.state_dict()
    saved = {k: v.copy() for k, v in opt_state.items()}
    _set_grads(first, grads[n])
    opt_first.step()  # the saved dicts are snapshots: stepping on does not change them
    for k, v in saved.items():
        np.testing.assert_array_equal(opt_state[k], v)

    resumed = _model(seed=123)  # other initial weights
    opt_resumed = type(opt)(resumed)  # default hyperparameters, to be overwritten by the state dict
    resumed.load_state_dict(_through_npz(model_state))
    opt_resumed.load_state_dict(_through_npz(opt_state))
    assert opt_resumed.t == n
    assert opt_resumed.hyperparameters() == opt.hyperparameters()
    for g in grads[n:]:
        _set_grads(resumed, g)
        opt_resumed.step()
    assert opt_resumed.t == opt.t == 2 * n
    for k, p in resumed.params.items():
        np.testing.assert_array_equal(bk.to_numpy(p), bk.to_numpy(straight.params[k]), err_msg=k)
    for kind, slots in opt.state.items():
        for k, v in slots.items():
            np.testing.assert_array_equal(bk.to_numpy(opt_resumed.state[kind][k]), bk.to_numpy(v))


def test_state_dict_contents(bk):
    model = _model(np.float64)
    opt = optim.Adam(model, lr=2e-4, betas=(0.5, 0.999), eps=1e-7)
    _set_grads(model, _gradients(model, 1)[0])
    opt.step()
    state = opt.state_dict()
    names = list(model.params)
    assert set(state) == {"t", "initial_lr", "hp.lr", "hp.betas", "hp.eps"} | {f"{kind}.{k}" for kind in ("exp_avg", "exp_avg_sq")
                                                                 for k in names}
    assert int(state["t"]) == 1 and float(state["hp.lr"]) == 2e-4 and tuple(state["hp.betas"]) == (0.5, 0.999)
    for k in names:
        assert isinstance(state[f"exp_avg.{k}"], np.ndarray)  # NumPy on every backend, ready for np.savez
        np.testing.assert_array_equal(state[f"exp_avg.{k}"], bk.to_numpy(opt.state["exp_avg"][k]))


def test_load_state_dict_rejects_what_does_not_fit(bk):
    model = _model()
    opt = optim.SGD(model, lr=0.1, momentum=0.9)
    _set_grads(model, _gradients(model, 1)[0])
    opt.step()
    state = opt.state_dict()
    other = optim.SGD(_model(), lr=0.1, momentum=0.9)
    with pytest.raises(KeyError, match="no parameter named '9.weight'"):
        other.load_state_dict({**state, "momentum_buffer.9.weight": np.zeros((2, 4))})
    with pytest.raises(ValueError, match=r"momentum_buffer.0.weight has shape \(4, 4\), expected \(4, 3\)"):
        other.load_state_dict({**state, "momentum_buffer.0.weight": np.zeros((4, 4))})


# ---------------------------------------------------------------------------------------------------------------
# hyperparameters
# ---------------------------------------------------------------------------------------------------------------
BAD = [
    ("SGD", {"lr": -0.1}), ("SGD", {"lr": 0.0}), ("SGD", {"lr": math.nan}),
    ("SGD", {"lr": 0.1, "momentum": 1.0}), ("SGD", {"lr": 0.1, "momentum": 1.5}),
    ("SGD", {"lr": 0.1, "momentum": -0.1}),
    ("Adam", {"lr": -1e-3}), ("Adam", {"betas": (1.0, 0.999)}), ("Adam", {"betas": (0.9, 1.0)}),
    ("Adam", {"betas": (-0.1, 0.999)}), ("Adam", {"betas": (0.9, 1.5)}), ("Adam", {"betas": (math.nan, 0.9)}),
    ("Adam", {"eps": -1e-8}),
    ("RMSProp", {"lr": -1e-2}), ("RMSProp", {"alpha": 1.0}), ("RMSProp", {"alpha": -0.5}),
    ("RMSProp", {"eps": -1e-8}),
]


@pytest.mark.parametrize("cls, kwargs", BAD, ids=[f"{c}-{k}" for c, k in BAD])
def test_bad_hyperparameters_raise(cls, kwargs):
    with pytest.raises(ValueError, match=cls):
        getattr(optim, cls)(_model(), **kwargs)


@pytest.mark.parametrize("cls, kwargs", [("SGD", {"lr": 1e-3, "momentum": 0.0}),
                                         ("SGD", {"lr": 1e-3, "momentum": 0.99}),
                                         ("Adam", {"betas": (0.0, 0.0), "eps": 0.0}),
                                         ("RMSProp", {"alpha": 0.0, "eps": 0.0})])
def test_edge_hyperparameters_accepted(cls, kwargs):
    opt = getattr(optim, cls)(_model(), **kwargs)
    assert all(opt.hyperparameters()[k] == v for k, v in kwargs.items())


# ---------------------------------------------------------------------------------------------------------------
# the optimizer follows its model
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(CONFIGS))
def test_state_follows_model_to_float64(bk, name):
    """3 steps in float32, ``model.to(dtype=np.float64)``, 3 more: the slots become float64, keep their values, and
    the updates are the float64 equations continued from where float32 left off."""
    make, make_reference = CONFIGS[name][:2]
    model = _model(np.float32)
    opt = make(model)
    grads = _gradients(model, 6, seed=7)
    for g in grads[:3]:
        _set_grads(model, g)
        opt.step()
    model.to(dtype=np.float64)

    ref = make_reference()  # the reference takes over float32's state, exactly, in float64
    expected = _numpy_params(model)
    ref_slots = {"momentum_buffer": "v", "exp_avg": "m", "exp_avg_sq": "v", "square_avg": "v"}
    for kind, slots in opt.state.items():
        getattr(ref, ref_slots[kind]).update({k: backend.to_numpy(v).astype(np.float64) for k, v in slots.items()})
    if hasattr(ref, "t"):
        ref.t = opt.t
    for g in grads[3:]:
        _set_grads(model, g)
        opt.step()
        ref.step(expected, g)
    for kind, slots in opt.state.items():
        for k, v in slots.items():
            assert v.dtype == np.float64, f"{kind}.{k} stayed {v.dtype} after model.to(float64)"
            assert backend.backend_of(v) == bk.name
    for k, p in model.params.items():
        assert p.dtype == np.float64
        np.testing.assert_allclose(bk.to_numpy(p), expected[k], rtol=1e-12, atol=0, err_msg=k)


@pytest.mark.skipif(not backend.cupy_available(), reason="needs CuPy and a GPU")
@pytest.mark.parametrize("name", list(CONFIGS))
def test_state_follows_model_to_cupy(name):
    """3 steps on NumPy, ``model.to("cupy")``, 3 more: the same as 6 steps on NumPy (the momenta are not lost)."""
    make = CONFIGS[name][0]
    grads = _gradients(_model(), 6, seed=9)
    straight, moved = _model(np.float64), _model(np.float64)
    opt_straight, opt_moved = make(straight), make(moved)
    for i, g in enumerate(grads):
        if i == 3:
            moved.to("cupy")
        for m in (straight, moved):
            _set_grads(m, g)
        opt_straight.step()
        opt_moved.step()
    for slots in opt_moved.state.values():
        assert all(backend.backend_of(v) == "cupy" for v in slots.values())
    for k, p in moved.params.items():
        assert backend.backend_of(p) == "cupy"
        np.testing.assert_allclose(backend.to_numpy(p), straight.params[k], rtol=1e-12, atol=0, err_msg=k)


# --------------------------------------------------------------------------------------------------------------
# LinearDecay: lr_t = lr_0 (1 - t / T), a trainer callback that survives a resume
# --------------------------------------------------------------------------------------------------------------
def _toy_wgan_gp(seed=0):
    from minigan.models import toy_discriminator, toy_generator
    from minigan.train import WGANGP

    backend.seed(seed)
    G, D = toy_generator(hidden=8), toy_discriminator(hidden=8)
    opt_G, opt_D = optim.Adam(G, 1e-3, (0.0, 0.9)), optim.Adam(D, 2e-3, (0.0, 0.9))
    return WGANGP(G, D, opt_G, opt_D, nz=2, m=16, n_critic=2, lam=0.1, seed=seed)


def _ring_sampler():
    from minigan.data import ring

    return ring().sampler(backend.Random(7))


def test_linear_decay_rates_per_iteration():
    T = 5
    trainer = _toy_wgan_gp()
    used = []

    def record_rates(tr, _):  # runs before the schedule: the rates iteration t has just used
        used.append((tr.opt_G.lr, tr.opt_D.lr))

    trainer.train(_ring_sampler(), T, callbacks=[record_rates, optim.LinearDecay([trainer.opt_G, trainer.opt_D], T)],
                  progress=False)
    for t, (lr_g, lr_d) in enumerate(used, start=1):
        assert lr_g == pytest.approx(1e-3 * (1 - (t - 1) / T)) and lr_d == pytest.approx(2e-3 * (1 - (t - 1) / T))
    assert trainer.opt_G.lr == 0 and trainer.opt_D.lr == 0  # after the last iteration


def test_linear_decay_resumes_exactly(tmp_path):
    """T/2 iterations, a checkpoint file, a fresh trainer built with the same rates, T/2 more: the same weights bit
    for bit as T iterations in one go, and the decayed rate is restored from the checkpoint."""
    from minigan import io

    T = 6
    straight = _toy_wgan_gp()
    straight.train(_ring_sampler(), T, callbacks=[optim.LinearDecay([straight.opt_G, straight.opt_D], T)],
                   progress=False)

    first = _toy_wgan_gp()
    data = _ring_sampler()
    first.train(data, T // 2, callbacks=[optim.LinearDecay([first.opt_G, first.opt_D], T)], progress=False)
    io.save_checkpoint(tmp_path / "half.npz", first)
    resumed = _toy_wgan_gp(seed=3)
    io.load_checkpoint(tmp_path / "half.npz", resumed)
    assert resumed.opt_G.lr == pytest.approx(1e-3 * (1 - (T // 2) / T))
    resumed.train(data, T - T // 2, callbacks=[optim.LinearDecay([resumed.opt_G, resumed.opt_D], T)],
                  progress=False)
    for net in ("G", "D"):
        for k, p in getattr(resumed, net).params.items():
            np.testing.assert_array_equal(p, getattr(straight, net).params[k], err_msg=f"{net}.{k}")


def test_linear_decay_rejects_bad_length():
    with pytest.raises(ValueError, match="iterations"):
        optim.LinearDecay([], 0)
