r"""Exercises that check themselves: a learner writes a layer's backward pass (or its ``_jvp``), a checker says
whether it is right, and, when it is not, which tensor is wrong and by how much.

Used from notebooks/01_layers_and_backprop.ipynb, in the manner of CS231n's assignments:

    class MyLeakyReLU(nn.LeakyReLU):
        def _backward(self, dy, param_grads, input_grad):
            ...                                   # the learner's code

    check_leaky_relu_backward(MyLeakyReLU)        # prints a verdict; AssertionError if the code is wrong

    check_backward(layer_factory, reference_factory, shape)   the general check the others build on
    check_relu_backward(cls)                                  ReLU._backward
    check_leaky_relu_backward(cls, negative_slope=0.2)        LeakyReLU._backward
    check_tanh_backward(cls)                                  Tanh._backward
    check_sigmoid_backward(cls)                               Sigmoid._backward
    check_dense_jvp(cls)                                      Dense._jvp (the WGAN-GP tangent sweep)

What a backward pass is checked against, and why each:

* **central differences** (:func:`minigan.gradcheck.gradcheck`): the definition of a derivative, independent of
  any formula. It runs in float64, where a central difference with a step of 1e-6 is good to about 1e-9
  relative; in float32 its rounding error alone (about 6e-8 / 1e-6) would be some 10% of the derivative.
* **minigan's own layer**, built with the same weights: the learner's arrays should equal the library's to
  rounding (this catches what a gradient check cannot see, e.g. a different convention at a kink).
* **PyTorch** (only where torch is importable; optional): the twin layer's autograd, as a third opinion.

Inputs are drawn away from the kinks of piecewise-linear layers (ReLU, LeakyReLU at 0): a central difference
across a kink averages the two slopes and measures neither.

Errors are *relative*, max_i |a_i - b_i| / max(max_i |a_i|, max_i |b_i|): an absolute error of 1e-6 means nothing
until it is compared with the size of the gradient (1e-6 on gradients of size 1e-6 is 100% wrong).

Each checker prints one line per comparison and a verdict, returns the errors as a dict when everything passes,
and raises :class:`AssertionError` naming every comparison that failed when something is wrong. A stub that
still raises ``NotImplementedError`` lets that error through unchanged (the notebook catches it and prints
"not attempted yet").
"""

from __future__ import annotations

import importlib.util

import numpy as np

from minigan import nn
from minigan.gradcheck import check_gradients, gradcheck
from minigan.gradient_penalty import gradient_penalty

TOL = 1e-6  # a correct backward scores ~1e-9 against central differences (float64), a wrong one above 1e-2
TOL_SAME = 1e-10  # against minigan's own layer or torch: the same formula, so only rounding may differ

__all__ = [
    "check_backward",
    "check_dense_jvp",
    "check_leaky_relu_backward",
    "check_relu_backward",
    "check_sigmoid_backward",
    "check_tanh_backward",
    "relative_error",
]


# ---------------------------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------------------------
def relative_error(a, b) -> float:
    """max_i |a_i - b_i| / max(max_i |a_i|, max_i |b_i|); 0 when both are all zero."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(float(np.abs(a).max(initial=0.0)), float(np.abs(b).max(initial=0.0)))
    return float(np.abs(a - b).max(initial=0.0)) / scale if scale > 0 else 0.0


def _float64(layer):
    """The layer on NumPy in float64 (every check runs there)."""
    return layer.to("numpy", np.float64)


def _inputs_away_from_kinks(rng, shape, kinks, margin: float, low: float = -3.0, high: float = 3.0):
    """Uniform values in [low, high], each moved to at least ``margin`` from every kink (on the side it was on)."""
    x = rng.uniform(low, high, size=shape)
    for k in kinks:
        near = np.abs(x - k) < margin
        x[near] = k + np.where(x[near] >= k, margin, -margin)
    return x


def _set_random_weights(layer, rng) -> None:
    """Seeded weights of order 1 (the default initialisation draws from minigan's own generator)."""
    layer.load_state_dict({k: rng.uniform(-1, 1, np.shape(v)) for k, v in layer.state_dict().items()})


def _torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


class _Report:
    """Collects the comparisons of one check, prints them, and raises one AssertionError naming the failures."""

    def __init__(self, title: str, verbose: bool):
        self.title, self.verbose = title, verbose
        self.errors: dict[str, float] = {}
        self.failures: list[str] = []
        self._lines = 0

    def _print(self, line: str) -> None:
        if self.verbose:
            if not self._lines:
                print(f"{self.title}:")  # only once there is something to say (a stub prints nothing)
            print(line)
            self._lines += 1

    def compare(self, what: str, error: float, tol: float, hint: str = "") -> None:
        """Record ``error`` (a relative error) for ``what``; a failure when it is not below ``tol``."""
        self.errors[what] = error
        ok = error < tol
        self._print(f"  {'ok  ' if ok else 'FAIL'} {what}: relative error {error:.1e} (tolerance {tol:.0e})")
        if not ok:
            self.failures.append(f"{what}: relative error {error:.1e}, tolerance {tol:.0e}" +
                                 (f" ({hint})" if hint else ""))

    def fail(self, what: str) -> None:
        """Record a failure that is not a number (a wrong shape, an input changed in place)."""
        self._print(f"  FAIL {what}")
        self.failures.append(what)

    def finish(self) -> dict:
        if self.failures:
            if self.verbose:
                print(f"{self.title}: WRONG")
            raise AssertionError(f"{self.title} is wrong:\n  - " + "\n  - ".join(self.failures))
        if self.verbose:
            print(f"{self.title}: CORRECT")
        return self.errors


# ---------------------------------------------------------------------------------------------------------------
# backward passes
# ---------------------------------------------------------------------------------------------------------------
def check_backward(layer_factory, reference_factory=None, shape=(4, 6), *, kinks=(), margin: float = 0.1,
                   tol: float = TOL, use_torch: bool | None = None, seed: int = 0, title: str | None = None,
                   verbose: bool = True) -> dict:
    """Check the backward pass of ``layer_factory()`` on a random input of ``shape``.

    ``reference_factory()`` builds the layer the learner's should agree with (minigan's own); its weights are set
    to the learner's. ``kinks``: input values where the layer's slope jumps (0 for ReLU). ``use_torch``: also
    compare with the PyTorch twin of the reference (None: when torch is importable). Everything runs on NumPy in
    float64.

    Checked, in this order:

    1. ``backward(dy)`` runs, returns an array of the input's shape and leaves ``dy`` as it was;
    2. the input's gradient and every parameter's against central differences (``gradcheck``), below ``tol``,
       on an input kept at least ``margin`` away from every kink (a central difference across a kink averages
       the two slopes);
    3. the forward output, the input gradient and the parameter gradients against the reference layer's, to
       rounding, on the same input with a few entries put exactly on the kinks: there the derivative does not
       exist, and the learner's code must follow minigan's (PyTorch's) convention;
    4. the same against torch's autograd on the twin of the reference (optional).

    Returns {comparison: relative error} when all pass; raises AssertionError listing the failures otherwise.
    """
    rng = np.random.default_rng(seed)
    layer = _float64(layer_factory())
    title = title or f"{type(layer).__name__} backward"
    report = _Report(title, verbose)
    _set_random_weights(layer, rng)
    x = _inputs_away_from_kinks(rng, shape, kinks, margin)
    dy = rng.standard_normal(layer.forward(x).shape)

    # 1. it runs, the shape, dy untouched
    if _first_backward(report, layer, x, dy) is None:
        return report.finish()  # nothing more can be compared

    # 2. central differences, away from the kinks
    check = gradcheck(layer, x, dy=dy)
    for name, error in check.errors.items():
        where = check.where[name]
        hint = f"worst at index {list(where)}" + (f", where the input is {x[where]:+.3f}" if name == "input" else "")
        report.compare(f"gradient of {name} vs central differences", error, tol, hint)

    if reference_factory is None:
        return report.finish()

    # 3. minigan's own layer: same weights, same input, some of it exactly on the kinks
    x_kinks = x.copy()
    for i in range(min(x.size, 2 * len(kinks))):
        x_kinks.flat[i] = kinks[i % len(kinks)]
    reference = _float64(reference_factory())
    reference.load_state_dict(layer.state_dict())
    ours = _forward_backward(layer, x_kinks, dy)
    theirs = _forward_backward(reference, x_kinks, dy)
    kind = type(reference)
    who = f"{'minigan' if kind.__module__.startswith('minigan.') else 'the reference'}'s {kind.__name__}"
    _compare_passes(report, ours, theirs, who, x_kinks, kinks)

    # 4. torch's autograd on the twin of the reference
    if use_torch is None:
        use_torch = _torch_available()
    if use_torch:
        try:
            torch_passes = _torch_forward_backward(reference, x_kinks, dy)
        except TypeError as exc:  # torch_twin knows minigan's layers only
            report._print(f"  (torch comparison skipped: {exc})")
            return report.finish()
        disagree = [k for k, v in theirs.items() if relative_error(v, torch_passes[k]) >= TOL_SAME]
        if disagree:  # then torch cannot judge the learner's code
            report.fail(f"minigan's own {type(reference).__name__} disagrees with its torch twin ({', '.join(disagree)})"
                        f": a bug in minigan or in minigan.lab.torch_twin, not in your code")
        else:
            _compare_passes(report, ours, torch_passes, "torch", x_kinks, kinks)
    return report.finish()


def _first_backward(report, layer, x, dy):
    """Run the learner's forward and backward once; dx, or None after recording why it cannot be used.

    NotImplementedError (a stub not yet written) is let through unchanged."""
    layer.forward(x)
    layer.zero_grad()
    dy_given = dy.copy()
    try:
        dx = layer.backward(dy_given)
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - the learner's bug, reported as a failed check
        report.fail(f"backward raised {type(exc).__name__}: {exc}")
        return None
    if not isinstance(dx, np.ndarray) or dx.shape != x.shape:
        got = f"shape {dx.shape}" if isinstance(dx, np.ndarray) else f"a {type(dx).__name__}"
        report.fail(f"backward must return dx = dL/dx, an array of the input's shape {x.shape}; it returned {got}")
        return None
    if not np.array_equal(dy_given, dy):
        report.fail("backward changed dy in place (write dx = dy * f'(x), not dy *= f'(x): dy is the caller's)")
    return dx


def _forward_backward(layer, x, dy) -> dict:
    """{"output": y, "input": dx, parameter name: its gradient} of one forward and backward from zeroed grads."""
    y = layer.forward(x)
    layer.zero_grad()
    dx = layer.backward(dy.copy())
    return {"output": y, "input": dx, **{k: v.copy() for k, v in layer.grads.items()}}


def _torch_forward_backward(reference, x, dy) -> dict:
    """The same from torch's autograd, on the twin of ``reference`` (same weights), L = sum(y * dy)."""
    import torch

    from minigan.lab.torch_twin import torch_twin

    twin = torch_twin(reference, dtype=torch.float64)
    xt = torch.tensor(x, requires_grad=True)
    yt = twin(xt)
    yt.backward(torch.from_numpy(dy))
    out = {"output": yt.detach().numpy(), "input": xt.grad.numpy()}
    out.update({name: p.grad.numpy() for name, p in twin.named_parameters()})
    return out


def _compare_passes(report, ours: dict, theirs: dict, who: str, x, kinks) -> None:
    """Forward output and every gradient, ours against ``who``'s, to rounding (TOL_SAME)."""
    for name, a in ours.items():
        b = theirs[name]
        what = "forward output" if name == "output" else f"gradient of {name}"
        hint = ""
        if a.shape == b.shape and a.size:
            i = tuple(int(k) for k in np.unravel_index(int(np.argmax(np.abs(a - b))), a.shape))
            hint = f"worst at index {list(i)}"
            if a.shape == x.shape:
                hint += f", where the input is {x[i]:+.3f}: yours {a[i]:+.4f}, {who} {b[i]:+.4f}"
                if x[i] in kinks:
                    hint += ("; that input sits exactly on a kink, where f has no derivative: minigan and PyTorch "
                             "take the slope of the side below the kink there")
        error = relative_error(a, b) if a.shape == b.shape else float("inf")
        report.compare(f"{what} vs {who}", error, TOL_SAME, hint)


def check_relu_backward(cls, **kw) -> dict:
    """ReLU: dx = dy [x > 0]. Inputs keep 0.1 away from the kink at 0."""
    return check_backward(cls, nn.ReLU, kinks=(0.0,), title="ReLU backward", **kw)


def check_leaky_relu_backward(cls, negative_slope: float = 0.2, **kw) -> dict:
    """LeakyReLU(a): dx = dy where x > 0, a dy elsewhere. ``cls(negative_slope)`` must build the layer.

    The slope is 0.2, not PyTorch's default 0.01: code that hard-codes 0.01, or puts a on the positive side, then
    shows up as a large error. Inputs keep 0.1 away from the kink at 0."""
    return check_backward(lambda: cls(negative_slope), lambda: nn.LeakyReLU(negative_slope), kinks=(0.0,),
                          title=f"LeakyReLU({negative_slope}) backward", **kw)


def check_tanh_backward(cls, **kw) -> dict:
    """Tanh: dx = dy (1 - y^2), from the cached output y."""
    return check_backward(cls, nn.Tanh, title="Tanh backward", **kw)


def check_sigmoid_backward(cls, **kw) -> dict:
    """Sigmoid: dx = dy y (1 - y), from the cached output y = sigma(x)."""
    return check_backward(cls, nn.Sigmoid, title="Sigmoid backward", **kw)


# ---------------------------------------------------------------------------------------------------------------
# Dense._jvp: the tangent sweep of the WGAN-GP gradient penalty
# ---------------------------------------------------------------------------------------------------------------
def _directional_difference(layer, x, t, h: float = 1.0):
    """(f(x + h t) - f(x - h t)) / (2h): the forward pass's derivative in direction t.

    Dense is affine in x, so this central difference is exact for any step h; h = 1 keeps rounding at ~1e-16
    (a small h would divide the rounding error of f by h)."""
    return (layer.forward(x + h * t) - layer.forward(x - h * t)) / (2 * h)


def check_dense_jvp(cls, in_features: int = 4, out_features: int = 3, batch: int = 5, *, tol: float = TOL,
                    seed: int = 0, verbose: bool = True) -> dict:
    r"""Check ``cls(in_features, out_features)._jvp(g, t)``, the learner's Dense tangent step.

    ``_jvp(g, t)`` (see gradient_penalty.py) must do two things at the cached input x:

    * return J t, the derivative of the forward pass in direction t (t has the input's shape);
    * ADD the penalty's weight gradient into ``self._grads["weight"]``: the gradient with respect to W of
      <g, J t> = sum(g * (J t)), g of the output's shape (upstream signal). The bias gets none.

    Checked, in this order:

    1. J t has the output's shape and equals the directional difference of the forward pass;
    2. the weight gradient against central differences in W of <g, J_W t> (J_W t itself by differences of the
       forward pass, so no formula of the learner's or of minigan's enters); the bias gradient stays zero;
    3. a second call adds to the gradient instead of overwriting it;
    4. J t and the gradients against minigan's own Dense with the same weights;
    5. the whole WGAN-GP penalty gradient of a small critic Dense-LeakyReLU-Dense built from the learner's class,
       against central differences of the penalty (what the jvp is for).
    """
    rng = np.random.default_rng(seed)
    title = "Dense _jvp"
    report = _Report(title, verbose)
    layer = _float64(cls(in_features, out_features))
    _set_random_weights(layer, rng)
    x = rng.standard_normal((batch, in_features))
    t = rng.standard_normal((batch, in_features))  # tangent: the input's shape
    g = rng.standard_normal((batch, out_features))  # upstream signal: the output's shape

    # 1. J t against the forward pass's directional difference
    numeric_jt = _directional_difference(layer, x, t)
    layer.forward(x)  # the cache of the point x itself
    layer.zero_grad()
    try:
        jt = layer._jvp(g, t)
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - the learner's bug, reported as a failed check
        report.fail(f"_jvp raised {type(exc).__name__}: {exc} (shapes: t {t.shape}, g {g.shape}, "
                    f"weight {layer.params['weight'].shape})")
        return report.finish()
    if not isinstance(jt, np.ndarray) or jt.shape != (batch, out_features):
        got = f"shape {jt.shape}" if isinstance(jt, np.ndarray) else f"{type(jt).__name__}"
        report.fail(f"_jvp must return J t of the output's shape {(batch, out_features)}, got {got}")
        return report.finish()
    report.compare("J t vs the forward pass's difference in direction t", relative_error(jt, numeric_jt), tol,
                   "J t is the linear part of the layer applied to t: no bias")
    grads = {k: v.copy() for k, v in layer.grads.items()}

    # 2. the weight gradient: d/dW <g, J_W t>, by central differences in W
    def inner_product():
        return float((g * _directional_difference(layer, x, t)).sum())

    tensors = {k: layer.params[k] for k in grads}  # weight (and bias: the product does not depend on it)
    check = check_gradients(inner_product, tensors, grads)
    report.compare("weight gradient vs central differences of <g, J t> in W", check.errors["weight"], tol,
                   "d<g, J t>/dW = g^T t, of the weight's shape (out, in)")
    if "bias" in grads:
        report.compare("bias gradient vs central differences (zero)", check.errors["bias"], tol,
                       "J t has no bias term, so <g, J t> does not depend on b: leave the bias gradient alone")

    # 3. a second call adds (the penalty's gradient joins the critic loss's in the same grads)
    layer.forward(x)
    layer._jvp(g, t)
    if relative_error(layer.grads["weight"], 2 * grads["weight"]) >= TOL_SAME:
        report.fail("after a second call the weight gradient is not twice the first's: _jvp must ADD its weight "
                    "gradient (+=), as backward does, not overwrite it")

    # 4. minigan's Dense, same weights
    reference = _float64(nn.Dense(in_features, out_features, bias="bias" in layer.params))
    reference.load_state_dict(layer.state_dict())
    reference.forward(x)
    reference.zero_grad()
    report.compare("J t vs minigan's Dense", relative_error(jt, reference._jvp(g, t)), TOL_SAME)
    for name, ref_grad in reference.grads.items():
        report.compare(f"{name} gradient vs minigan's Dense", relative_error(grads[name], ref_grad), TOL_SAME)

    # 5. the gradient penalty of a small critic made of the learner's Dense
    _check_penalty_gradient(report, cls, in_features, rng, tol)
    return report.finish()


def _check_penalty_gradient(report, cls, in_features: int, rng, tol: float) -> None:
    """P = lambda mean((||grad_x f(x_hat)|| - 1)^2) for f = Dense, LeakyReLU(0.2), Dense of the learner's class:
    its hand-derived parameter gradient (gradient_penalty.py, through the learner's _jvp) against central
    differences of P in every parameter."""
    critic = nn.Sequential(cls(in_features, 5), nn.LeakyReLU(0.2), cls(5, 1))  # not square: a swapped shape shows
    critic = _float64(critic)
    _set_random_weights(critic, rng)
    x_hat = rng.standard_normal((3, in_features))
    critic.zero_grad()
    try:
        gradient_penalty(critic, x_hat, lam=1.0)  # backward for u, then the tangent sweep through each _jvp
    except Exception as exc:  # noqa: BLE001 - the learner's bug, reported as a failed check
        report.fail(f"the WGAN-GP penalty of a Dense({in_features}, 5)-LeakyReLU-Dense(5, 1) critic raised "
                    f"{type(exc).__name__}: {exc}")
        return
    analytic = {k: v.copy() for k, v in critic.grads.items()}

    def penalty():  # P alone: a backward pass for u, no _jvp
        value, _ = gradient_penalty(critic, x_hat, lam=1.0, param_grads=False)
        return float(value)

    check = check_gradients(penalty, critic.params, analytic)
    report.compare("WGAN-GP penalty gradient of a Dense-LeakyReLU-Dense critic vs central differences",
                   check.worst_error, tol, f"worst at {check.worst_where}")
