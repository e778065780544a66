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
    check_reflection_pad_backward(cls)                        ReflectionPad2d._backward (notebook 10)
    check_instance_norm_backward(cls)                         InstanceNorm2d._backward (notebook 10)
    check_kl_to_standard_normal(fn)                           StackGAN's KL term and its gradient (notebook 11)
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
    "check_instance_norm_backward",
    "check_kl_to_standard_normal",
    "check_leaky_relu_backward",
    "check_reflection_pad_backward",
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


def check_reflection_pad_backward(cls, padding=(2, 1, 1, 2), **kw) -> dict:
    """ReflectionPad2d: dx = P^T dy, every border gradient added onto the value it was copied from.
    ``cls(padding)`` must build the layer; the sides differ (left 2, right 1, top 1, bottom 2) so that code
    which mixes them up shows. Input (2, 2, 4, 5)."""
    return check_backward(lambda: cls(padding), lambda: nn.ReflectionPad2d(padding), shape=(2, 2, 4, 5),
                          title=f"ReflectionPad2d{tuple(padding)} backward", **kw)


def check_instance_norm_backward(cls, num_features: int = 3, **kw) -> dict:
    """InstanceNorm2d (affine off, instance statistics): dx = (var + eps)^{-1/2} (dy - <dy> - x_hat <dy x_hat>),
    the means <.> over (H, W) of each sample and channel. ``cls(num_features)`` must build the layer. Input
    (3, 3, 4, 5)."""
    return check_backward(lambda: cls(num_features), lambda: nn.InstanceNorm2d(num_features),
                          shape=(3, num_features, 4, 5), title="InstanceNorm2d backward", **kw)


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


# ---------------------------------------------------------------------------------------------------------------
# the exercises of notebooks 03-08: a loss and its gradient, a shape formula, an in-place update, the plumbing of
# labels, a metric
#
#     check_generator_loss(fn)                  03: fn(fake_logits) -> (value, grad), L_G = -mean log sigma(f)
#     check_conv_transpose_output_size(fn)      04: fn(h_in, kernel, stride, padding, output_padding) -> h_out
#     check_clip_weights(fn, c=0.05)            05: fn(model, c) clips every parameter of model in place
#     check_one_hot(fn)                         06: fn(y, n_classes) -> (N, n_classes)
#     check_split_labels(fn)                    06: fn(d_joined, x_shape) -> dL/dx, the backward of joining labels
#     check_frechet_1d(fn)                      08: fn(mu1, var1, mu2, var2) -> squared Frechet distance
#
# Each prints one line per comparison and a verdict, returns {comparison: error} when everything passes and raises
# AssertionError naming what is wrong otherwise; NotImplementedError (a stub) comes through unchanged.
# ---------------------------------------------------------------------------------------------------------------
def _call(report, what: str, fn, *args):
    """(True, fn(*args)) with floating-point warnings silenced, or (False, None) after recording the exception
    fn raised (the learner's bug). NotImplementedError, a stub not yet written, is let through unchanged."""
    try:
        with np.errstate(all="ignore"):
            return True, fn(*args)
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - the learner's bug, reported as a failed check
        report.fail(f"{what} raised {type(exc).__name__}: {exc}")
        return False, None


def _ok(report, line: str) -> None:
    report._print(f"  ok   {line}")


class _private_random_stream:
    """``with _private_random_stream():`` builds layers with minigan's random generator seeded, then puts the
    caller's generator back: a check run in the middle of a notebook leaves the notebook's random stream (and so its
    training runs) as it was."""

    def __enter__(self):
        from minigan import backend

        self._saved = backend._rng
        backend.seed(0)

    def __exit__(self, *exc):
        from minigan import backend

        backend._rng = self._saved
        return False


def _scalar(value):
    """float(value) for a Python number, a NumPy scalar or an array of one element; None for anything else."""
    try:
        if np.size(value) != 1:
            return None
        return float(np.asarray(value, dtype=np.float64).reshape(()))
    except (TypeError, ValueError):
        return None


def _close(a, b, tol: float) -> bool:
    return relative_error(a, b) < tol


# ---------------------------------------------------------------------------------------------------------------
# 03: the non-saturating generator loss and its gradient
# ---------------------------------------------------------------------------------------------------------------
EXTREME_LOGITS = (-800.0, -50.0, 0.0, 50.0, 800.0)  # exp(800) overflows float64; sigma(-800) underflows to 0


def check_generator_loss(fn, batch: int = 8, *, tol: float = TOL, seed: int = 0, verbose: bool = True) -> dict:
    r"""Check ``fn(fake_logits) -> (value, grad)``, the non-saturating generator loss of Goodfellow et al.,

        L_G = -(1/m) \sum_i log sigma(f_i),        dL_G/df_i = -sigma(-f_i) / m,

    on logits f of shape (m, 1) (float64), as ``minigan.losses.generator_non_saturating`` computes it.

    Checked, in this order:

    1. ``fn`` runs, returns a pair (a scalar, an array of the logits' shape) and leaves the logits as they were;
    2. the value and the gradient against minigan's ``generator_non_saturating``, to rounding;
    3. the gradient against central differences of the learner's own value (the two must belong together);
    4. value and gradient on the logits (-800, -50, 0, 50, 800): finite, and equal to minigan's. A loss written as
       ``-log(sigmoid(f))`` takes log 0 at f = -800, where D rejects a fake with certainty; the stable form is
       softplus(-f) = max(-f, 0) + log1p(exp(-|f|)).
    """
    from minigan import losses

    rng = np.random.default_rng(seed)
    report = _Report("non-saturating generator loss", verbose)
    f = rng.uniform(-4.0, 4.0, (batch, 1))

    # 1. it runs, returns (scalar, array of f's shape), f untouched
    parsed = _loss_and_grad(report, fn, f)
    if parsed is None:
        return report.finish()
    value, grad = parsed

    # 2. minigan's loss
    ref_value, ref_grad = losses.generator_non_saturating(f)
    ref_value, ref_grad = float(ref_value), np.asarray(ref_grad)
    report.compare("value vs minigan's generator_non_saturating", relative_error(value, ref_value), TOL_SAME,
                   _loss_value_hint(value, ref_value, f))
    report.compare("gradient vs minigan's generator_non_saturating", relative_error(grad, ref_grad), TOL_SAME,
                   _loss_grad_hint(grad, ref_grad, f))

    # 3. the gradient against central differences of the learner's own value
    def own_value():
        with np.errstate(all="ignore"):
            out = _scalar(fn(f)[0])
        return np.nan if out is None else out

    check = check_gradients(own_value, {"fake_logits": f}, {"fake_logits": grad})
    report.compare("gradient vs central differences of your value", check.errors["fake_logits"], tol,
                   "your value and your gradient do not belong together: differentiate your own formula")

    # 4. extreme logits
    f_ext = np.array(EXTREME_LOGITS).reshape(-1, 1)
    parsed = _loss_and_grad(report, fn, f_ext, where=f" on the logits {list(EXTREME_LOGITS)}")
    if parsed is not None:
        value_ext, grad_ext = parsed
        ref_value_ext, ref_grad_ext = losses.generator_non_saturating(f_ext)
        stable = ("the stable forms: -log sigma(f) = softplus(-f) = max(-f, 0) + log1p(exp(-|f|)) "
                  "(np.logaddexp(0, -f)), and sigma(-f) = exp(-softplus(f))")
        if not np.isfinite(value_ext) or not np.isfinite(grad_ext).all():
            report.fail(f"on the logits {list(EXTREME_LOGITS)} your value is {value_ext} and your gradient "
                        f"{grad_ext.ravel().tolist()}: log(sigmoid(-800)) is log(0) = -inf in float64, and exp(800) "
                        f"overflows; use {stable}")
        else:
            ref_value_ext, ref_grad_ext = float(ref_value_ext), np.asarray(ref_grad_ext)
            report.compare(f"value vs minigan's on the logits {list(EXTREME_LOGITS)}",
                           relative_error(value_ext, ref_value_ext), TOL_SAME,
                           _loss_value_hint(value_ext, ref_value_ext, f_ext, fallback=stable))
            report.compare(f"gradient vs minigan's on the logits {list(EXTREME_LOGITS)}",
                           relative_error(grad_ext, ref_grad_ext), TOL_SAME,
                           _loss_grad_hint(grad_ext, ref_grad_ext, f_ext, fallback=stable))
    return report.finish()


def _loss_and_grad(report, fn, f, where: str = ""):
    """(value as float, grad as float64 array) from fn(f), or None after recording what is wrong with it."""
    f_given = f.copy()
    ok, out = _call(report, f"your loss{where}", fn, f_given)
    if not ok:
        return None
    if not isinstance(out, tuple) or len(out) != 2:
        report.fail(f"your loss{where} must return a pair (value, grad), like minigan.losses; it returned "
                    f"{type(out).__name__}")
        return None
    value, grad = _scalar(out[0]), out[1]
    if value is None:
        report.fail(f"the value{where} must be one number, the mean over the batch; it has shape "
                    f"{np.shape(out[0])} (average the per-sample losses)")
        return None
    if not isinstance(grad, np.ndarray) or grad.shape != f.shape:
        got = f"shape {grad.shape}" if isinstance(grad, np.ndarray) else f"a {type(grad).__name__}"
        report.fail(f"the gradient{where} must be dL/df, an array of the logits' shape {f.shape}; it is {got}")
        return None
    if not np.array_equal(f_given, f):
        report.fail(f"your loss{where} changed fake_logits in place (they are D's output, the caller's array)")
    return value, grad.astype(np.float64)


def _loss_value_hint(value, ref, f, fallback: str = "") -> str:
    from minigan import losses

    m = f.shape[0]
    if _close(value, -ref, 1e-8):
        return "the sign is flipped: L_G = -(1/m) sum log sigma(f_i) is positive"
    if _close(value, m * ref, 1e-8):
        return f"this is the sum over the batch; L_G is the mean (divide by m = {m})"
    if _close(value, float(losses.generator_saturating(f)[0]), 1e-8):
        return "this is the saturating loss (1/m) sum log(1 - sigma(f_i)); the exercise asks for -(1/m) sum log sigma(f_i)"
    return fallback or "L_G = -(1/m) sum_i log sigma(f_i), with sigma(t) = 1 / (1 + exp(-t))"


def _loss_grad_hint(grad, ref, f, fallback: str = "") -> str:
    from minigan import losses

    m = f.shape[0]
    if _close(grad, -ref, 1e-8):
        return "the sign is flipped: raising f lowers L_G, so dL_G/df < 0"
    if _close(grad, m * ref, 1e-8):
        return f"the 1/m of the mean is missing from the gradient (m = {m})"
    if _close(grad, np.asarray(losses.generator_saturating(f)[1]), 1e-8):
        return "this is the saturating loss's gradient -sigma(f)/m"
    return fallback or "d/df [-log sigma(f)] = -(1 - sigma(f)) = -sigma(-f), then the 1/m of the mean"


# ---------------------------------------------------------------------------------------------------------------
# 04: the output size of a transposed convolution
# ---------------------------------------------------------------------------------------------------------------
def _conv_transpose_cases():
    """(h_in, kernel, stride, padding, output_padding, h_out) for kernels 1-5, strides 1-3, padding < kernel, every
    output_padding < stride and inputs of 1, 2, 3 and 7 rows, with h_out from the shape of minigan's
    ConvTranspose2d's forward pass (cases with an output under 1 row are left out)."""
    cases = []
    with _private_random_stream():
        for k in range(1, 6):
            for s in (1, 2, 3):
                for p in range(k):
                    for op in range(s):
                        layer = _float64(nn.ConvTranspose2d(1, 1, k, stride=s, padding=p, output_padding=op,
                                                            bias=False))
                        for h in (1, 2, 3, 7):
                            if min(layer.output_hw(h, h)) < 1:
                                continue
                            h_out = int(layer.forward(np.zeros((1, 1, h, h)), train=False).shape[2])
                            cases.append((h, k, s, p, op, h_out))
    return cases


def check_conv_transpose_output_size(fn, *, verbose: bool = True) -> dict:
    r"""Check ``fn(h_in, kernel, stride, padding, output_padding) -> h_out``, the number of rows (or columns) of the
    output of ``nn.ConvTranspose2d(C_in, C_out, kernel, stride, padding, output_padding)`` on an input of h_in rows.

    The expected sizes are the shapes of minigan's ConvTranspose2d's forward pass, on every kernel 1-5, stride 1-3,
    padding below the kernel, output_padding below the stride, and inputs of 1, 2, 3 and 7 rows (a few hundred
    cases). The answer must be an int (it shapes arrays). The failure lists a few wrong cases and, when the
    answers follow a recognisable wrong formula (Conv2d's, output_padding left out, ...), says which.
    """
    report = _Report("ConvTranspose2d output size", verbose)
    cases = _conv_transpose_cases()
    wrong, not_int = [], []
    answers = {}
    for h, k, s, p, op, h_out in cases:
        ok, got = _call(report, f"your function (h_in={h}, kernel={k}, stride={s}, padding={p}, "
                                f"output_padding={op})", fn, h, k, s, p, op)
        if not ok:
            return report.finish()
        answers[h, k, s, p, op] = got
        if isinstance(got, bool) or not isinstance(got, (int, np.integer)):
            not_int.append(got)
        elif got != h_out:
            wrong.append((h, k, s, p, op, h_out, got))
    if not_int:
        report.fail(f"the size must be an int (it shapes arrays), got {type(not_int[0]).__name__} "
                    f"{not_int[0]!r}" + (" (use // for integer division, or no division at all)"
                                         if isinstance(not_int[0], float) else ""))
    if wrong:
        examples = "; ".join(f"H_in={h}, k={k}, s={s}, p={p}, output_padding={op}: ConvTranspose2d gives {h_out}, "
                             f"yours {got}" for h, k, s, p, op, h_out, got in wrong[:3])
        report.fail(f"wrong in {len(wrong)} of {len(cases)} cases, e.g. {examples}"
                    f"{_conv_transpose_hint(answers, cases)}")
    else:
        _ok(report, f"all {len(cases)} cases (kernel 1-5, stride 1-3, padding < kernel, output_padding < stride, "
                    f"H_in 1, 2, 3, 7) agree with the shape of ConvTranspose2d's output")
    report.errors[f"cases wrong (of {len(cases)})"] = float(len(wrong) + len(not_int))
    return report.finish()


def _conv_transpose_hint(answers: dict, cases) -> str:
    """A pointer when every answer follows one known wrong formula."""
    known = {
        "your answers are Conv2d's output size floor((H + 2p - k) / s) + 1: a transposed convolution goes the other "
        "way, from the small map to the large one (its output has the size of the matching Conv2d's input)":
            lambda h, k, s, p, op: (h + 2 * p - k) // s + 1,
        "output_padding is missing: it adds its rows at the bottom (and its columns at the right)":
            lambda h, k, s, p, op: (h - 1) * s - 2 * p + k,
        "the padding is added, not removed: in a transposed convolution it crops p rows from each side":
            lambda h, k, s, p, op: (h - 1) * s + 2 * p + k + op,
        "padding is removed from one side only: it crops p rows from the top AND p from the bottom":
            lambda h, k, s, p, op: (h - 1) * s - p + k + op,
        "each of the H_in input rows places a kernel at stride s, so the last one starts (H_in - 1) s rows after "
        "the first (not H_in s)":
            lambda h, k, s, p, op: h * s - 2 * p + k + op,
    }
    for hint, formula in known.items():
        if all(answers[c[:5]] == formula(*c[:5]) for c in cases):
            return f". Hint: {hint}"
    return ""


# ---------------------------------------------------------------------------------------------------------------
# 05: WGAN's weight clipping
# ---------------------------------------------------------------------------------------------------------------
def _small_critic():
    """A float64 critic with every kind of parameter a WGAN critic has: conv and dense weights and biases."""
    with _private_random_stream():
        return _float64(nn.Sequential(nn.Conv2d(1, 2, 3, stride=2, padding=1), nn.LeakyReLU(0.2), nn.Flatten(),
                                      nn.Dense(2 * 3 * 3, 4), nn.LeakyReLU(0.2), nn.Dense(4, 1)))


def check_clip_weights(fn, c: float = 0.05, *, seed: int = 0, verbose: bool = True) -> dict:
    r"""Check ``fn(model, c)``: WGAN's clipping, w <- clip(w, -c, c) for EVERY parameter of ``model`` (weights and
    biases, as Arjovsky et al.'s Algorithm 1 clips all of w), IN PLACE, as ``minigan.optim.clip_weights`` does.

    A small critic Conv2d-LeakyReLU-Flatten-Dense-LeakyReLU-Dense gets weights uniform in [-1, 1] (most of them
    outside [-c, c], some inside, a few exactly at +-c), then ``fn(critic, c)`` runs. Checked:

    1. the parameters are the same arrays as before, changed in place (minigan, like PyTorch's ``p.data.clamp_``,
       never rebinds a parameter: whatever holds the array, a variable ``W = layer.params["weight"]``, a torch
       twin, must see the clipped values), and they did change;
    2. every parameter equals minigan's ``clip_weights`` on a copy, to rounding: entries outside [-c, c] set to
       +-c, entries inside left as they were (clipping is not rescaling), biases clipped too.

    ``c`` is not 0.01, so a hard-coded constant shows.
    """
    from minigan import optim

    rng = np.random.default_rng(seed)
    report = _Report(f"clip_weights (c = {c})", verbose)
    critic = _small_critic()
    _set_random_weights(critic, rng)
    first = next(iter(critic.params.values()))
    first.flat[:2] = (c, -c)  # on the edge of the box: they must stay
    before = critic.state_dict()
    arrays = critic.params  # the arrays an optimizer built on this critic would hold

    ok, _ = _call(report, "your clip_weights", fn, critic, c)
    if not ok:
        return report.finish()

    reference = _small_critic()
    reference.load_state_dict(before)
    optim.clip_weights(reference, c)
    expected = reference.params

    after = critic.params
    replaced = [name for name in arrays if after[name] is not arrays[name]]
    if replaced:
        report.fail(f"the model's parameters {replaced} are new arrays: change the existing ones in place "
                    f"(p[...] = ..., or np.clip(p, -c, c, out=p)), as minigan does with every parameter update, so "
                    f"that whatever holds the old arrays (a variable W = layer.params['weight'], say) sees the "
                    f"clipped values")
        return report.finish()
    if all(np.array_equal(after[name], before[name]) for name in after):
        report.fail("the model's parameters did not change: np.clip(p, -c, c) returns a NEW array and "
                    "`p = np.clip(...)` only rebinds the local name p; write the result into p itself "
                    "(p[...] = np.clip(p, -c, c), or np.clip(p, -c, c, out=p))")
        return report.finish()
    _ok(report, "the parameters are the model's own arrays, changed in place")

    other_c = max(float(np.abs(v).max()) for v in after.values())
    if not np.isclose(other_c, c, rtol=1e-9, atol=0) and all(
            np.allclose(after[name], np.clip(before[name], -other_c, other_c), rtol=1e-12, atol=0) for name in after):
        report.fail(f"every parameter was clipped to [-{other_c:g}, {other_c:g}]; the check asked for c = {c:g}: "
                    f"use the argument c (0.01 is the paper's value, not a constant of the method)")
        return report.finish()
    for name in after:
        got, want, old = after[name], expected[name], before[name]
        hint = ""
        if np.abs(got).max() > c * (1 + 1e-12):
            hint = (f"entries outside [-c, c] remain (largest |w| {np.abs(got).max():.3g})" +
                    ("; the paper clips every parameter, biases included" if np.array_equal(got, old) else ""))
        elif not np.array_equal(got[np.abs(old) <= c], old[np.abs(old) <= c]):
            hint = "entries already inside [-c, c] changed: clipping leaves them as they are (it is not rescaling)"
        elif not np.array_equal(np.sign(got), np.sign(want)):
            hint = "entries below -c must become -c (the box is [-c, c], not [0, c])"
        elif not np.allclose(np.abs(got[np.abs(old) > c]), c, rtol=1e-12, atol=0):
            hint = f"entries outside the box must land on its edge, +-c = +-{c}"
        report.compare(f"{name} vs minigan's clip_weights", relative_error(got, want), TOL_SAME, hint)
    return report.finish()


# ---------------------------------------------------------------------------------------------------------------
# 06: one-hot labels, and the backward of joining them to an input
# ---------------------------------------------------------------------------------------------------------------
def check_one_hot(fn, *, verbose: bool = True) -> dict:
    """Check ``fn(y, n_classes) -> (N, n_classes)`` float array, row n all zeros but a 1 in column y[n], as
    ``minigan.train.cgan.one_hot`` builds it. Run on labels with repeats, on one label, and on every class once
    (which must give the identity matrix); ``y`` must be left as it was."""
    from minigan import backend
    from minigan.train.cgan import one_hot

    report = _Report("one_hot", verbose)
    cases = [(np.array([3, 0, 9, 3, 7]), 10), (np.array([1]), 2), (np.arange(4), 4)]
    for y, k in cases:
        y_given = y.copy()
        what = f"one_hot({y.tolist()}, {k})"
        ok, got = _call(report, what, fn, y_given, k)
        if not ok:
            continue
        if not np.array_equal(y_given, y):
            report.fail(f"{what} changed y in place")
        if not isinstance(got, np.ndarray) or got.shape != (len(y), k):
            shape = f"shape {got.shape}" if isinstance(got, np.ndarray) else f"a {type(got).__name__}"
            report.fail(f"{what} must return an array of shape (N, n_classes) = {(len(y), k)}, one row per label; "
                        f"it returned {shape}")
            continue
        if not np.issubdtype(got.dtype, np.floating):
            report.fail(f"{what} has dtype {got.dtype}: the one-hot rows are joined to G's and D's float inputs, so "
                        f"return floats (np.zeros((N, K)) is float64)")
            continue
        want = backend.to_numpy(one_hot(y, k, np.float64))
        rows = [n for n in range(len(y)) if not np.array_equal(got[n], want[n])]
        if rows:
            n = rows[0]
            report.fail(f"{what}: {len(rows)} of {len(y)} rows wrong, e.g. row {n} (label {y[n]}) is "
                        f"{got[n].tolist()}, expected {want[n].tolist()} (a single 1, in column y[n])")
        else:
            _ok(report, f"{what} equals minigan's one_hot")
            report.errors[what] = 0.0
    return report.finish()


def check_split_labels(fn, *, tol: float = TOL, seed: int = 0, verbose: bool = True) -> dict:
    r"""Check ``fn(d_joined, x_shape) -> dx``, the backward pass of joining labels to an input ("vector" joining):
    [x, c] = concatenate(flatten(x), c), so dL/dx is the block of dL/d[x, c] that belongs to x, in x's shape.

    Two inputs: a batch of images (4, 1, 3, 3) with 5 classes (D's input, whose gradient the G step needs) and a
    batch of vectors (3, 6) with 4 classes (G's input [z, c]). Checked for each: the shape, dL/dx against central
    differences of L(x) = sum(join_labels(x, c) * g) in x, and against ``minigan.train.cgan.split_labels``.
    """
    from minigan.train.cgan import join_labels, split_labels

    rng = np.random.default_rng(seed)
    report = _Report("split_labels (the backward of joining labels)", verbose)
    for x_shape, k in (((4, 1, 3, 3), 5), ((3, 6), 4)):
        n, d = x_shape[0], int(np.prod(x_shape[1:]))
        x = rng.standard_normal(x_shape)
        c = np.eye(k)[rng.integers(0, k, n)]
        g = rng.standard_normal((n, d + k))  # dL/d[x, c]
        g_given = g.copy()
        what = f"x of shape {x_shape}, {k} classes"
        ok, dx = _call(report, f"your function ({what}, d_joined of shape {g.shape})", fn, g_given, x_shape)
        if not ok:
            continue
        if not np.array_equal(g_given, g):
            report.fail(f"{what}: your function changed d_joined in place")
        if not isinstance(dx, np.ndarray) or dx.shape != x_shape:
            shape = f"shape {dx.shape}" if isinstance(dx, np.ndarray) else f"a {type(dx).__name__}"
            hint = ""
            if isinstance(dx, np.ndarray) and dx.size == n * d:
                hint = f" (the block {g.shape[0]} x {d} is right, now reshape it to x_shape)"
            elif isinstance(dx, np.ndarray) and dx.shape == (n, x_shape[1]):
                hint = (f" (that is x_shape[1] = {x_shape[1]} columns, the slicing of 'maps' joining, which keeps the "
                        f"first C channels; joined as a vector, x's block is the first prod(x_shape[1:]) = {d} columns)")
            report.fail(f"{what}: dL/dx must have x's shape {x_shape}; yours has {shape}{hint}")
            continue
        dx = dx.astype(np.float64)

        def loss(x=x, c=c, g=g):  # L(x) = <[x, c], g>: its gradient in x is dL/dx for upstream g
            return float((join_labels(x, c, "vector") * g).sum())

        check = check_gradients(loss, {"x": x}, {"x": dx})
        hint = ("that is the labels' end of d_joined (and some of x's): [x, c] puts flatten(x) FIRST, then c"
                if np.array_equal(dx.reshape(n, -1), g[:, -d:]) else
                "[x, c] is flatten(x) then c: dL/dx is the first prod(x_shape[1:]) columns, reshaped")
        report.compare(f"{what}: dL/dx vs central differences", check.errors["x"], tol, hint)
        report.compare(f"{what}: dL/dx vs minigan's split_labels",
                       relative_error(dx, split_labels(g, x_shape, "vector")), TOL_SAME, hint)
    return report.finish()


# ---------------------------------------------------------------------------------------------------------------
# 08: the Frechet distance of two 1-D Gaussians
# ---------------------------------------------------------------------------------------------------------------
FRECHET_CASES = (  # (mu1, var1, mu2, var2): equal, means apart, spreads apart, both, a point mass, large numbers
    (0.0, 1.0, 0.0, 1.0), (1.0, 1.0, -2.0, 1.0), (0.0, 4.0, 0.0, 1.0), (0.5, 2.0, -1.0, 0.5), (3.0, 0.0, 1.0, 9.0),
    (0.0, 0.0, 0.0, 0.0), (100.0, 1e4, 90.0, 2.5e3), (-0.3, 0.09, 0.2, 0.16),
)


def check_frechet_1d(fn, *, tol: float = 1e-9, seed: int = 0, verbose: bool = True) -> dict:
    r"""Check ``fn(mu1, var1, mu2, var2)``, the squared Frechet distance of N(mu1, var1) and N(mu2, var2) (the
    arguments are VARIANCES, as FID's covariance matrices are), against ``minigan.metrics.image_metrics.
    frechet_distance`` on the 1x1 covariances [[var1]], [[var2]]: FID's formula in one dimension.

    Cases: a handful chosen to single out each term (see FRECHET_CASES: equal Gaussians score 0, a point mass has
    variance 0) and a few random ones. Errors are relative to max(1, var1 + var2 + (mu1 - mu2)^2), the size of the
    terms that are added, so a correct answer scores ~1e-16 even where the distance is 0.
    """
    from minigan.metrics.image_metrics import frechet_distance

    rng = np.random.default_rng(seed)
    report = _Report("Frechet distance of two 1-D Gaussians", verbose)
    cases = list(FRECHET_CASES) + [(float(rng.normal()), float(rng.uniform(0.1, 3)), float(rng.normal()),
                                    float(rng.uniform(0.1, 3))) for _ in range(4)]
    wrong = []
    for case in cases:
        mu1, var1, mu2, var2 = case
        ok, got = _call(report, f"your function{case}", fn, *case)
        if not ok:
            return report.finish()
        value = _scalar(got)
        if value is None:
            report.fail(f"your function{case} must return one number, got {type(got).__name__} "
                        f"of shape {np.shape(got)}")
            return report.finish()
        want = frechet_distance([mu1], [[var1]], [mu2], [[var2]])
        scale = max(1.0, var1 + var2 + (mu1 - mu2) ** 2)
        error = abs(value - want) / scale if np.isfinite(value) else float("inf")
        report.errors[f"d^2{case}"] = error
        if not error < tol:
            wrong.append((case, value, want))
    if wrong:
        examples = "; ".join(f"(mu1, var1, mu2, var2) = {case}: yours {value:.6g}, frechet_distance {want:.6g}"
                             for case, value, want in wrong[:3])
        report.fail(f"wrong in {len(wrong)} of {len(cases)} cases, e.g. {examples}{_frechet_hint(fn, cases)}")
    else:
        _ok(report, f"all {len(cases)} cases agree with minigan's frechet_distance on 1x1 covariances "
                    f"(worst error {max(report.errors.values()):.1e}, tolerance {tol:.0e})")
    return report.finish()


def _frechet_hint(fn, cases) -> str:
    known = {
        "the variances are used as if they were standard deviations: the sigmas of the formula are the square "
        "roots of var1 and var2 (FID's tr((S1 S2)^{1/2}))": lambda m1, v1, m2, v2: (m1 - m2) ** 2 + (v1 - v2) ** 2,
        "the cross term needs the square root: tr((S1 S2)^{1/2}) is sqrt(var1 var2) in one dimension":
            lambda m1, v1, m2, v2: (m1 - m2) ** 2 + v1 + v2 - 2 * v1 * v2,
        "this is the distance itself; FID reports its SQUARE, d^2 = (mu1 - mu2)^2 + ...":
            lambda m1, v1, m2, v2: np.sqrt((m1 - m2) ** 2 + (np.sqrt(v1) - np.sqrt(v2)) ** 2),
        "the means' term is squared in FID: ||mu1 - mu2||^2":
            lambda m1, v1, m2, v2: abs(m1 - m2) + (np.sqrt(v1) - np.sqrt(v2)) ** 2,
        "the spread term is missing: two Gaussians with the same mean and different variances are not at distance 0":
            lambda m1, v1, m2, v2: (m1 - m2) ** 2,
    }
    with np.errstate(all="ignore"):
        answers = [_scalar(fn(*case)) for case in cases]
    for hint, formula in known.items():
        if all(a is not None and abs(a - formula(*case)) <= 1e-9 * max(1.0, abs(formula(*case)))
               for a, case in zip(answers, cases)):
            return f". Hint: {hint}"
    return ""


__all__ += [
    "check_clip_weights",
    "check_conv_transpose_output_size",
    "check_frechet_1d",
    "check_generator_loss",
    "check_one_hot",
    "check_split_labels",
]


# ---------------------------------------------------------------------------------------------------------------
# notebook 11: the KL term of conditioning augmentation
# ---------------------------------------------------------------------------------------------------------------
def check_kl_to_standard_normal(fn, *, tol: float = 1e-9, seed: int = 0, verbose: bool = True) -> dict:
    r"""Check ``fn(mu, log_sigma) -> (kl, d_mu, d_log_sigma)``: StackGAN's KL term, the KL divergence of
    N(mu, diag sigma^2) from N(0, I) averaged over every entry (batch and dimensions, as the reference's KL_loss),

        KL = mean[ -log sigma + (sigma^2 + mu^2 - 1) / 2 ],   dKL/dmu = mu / M,   dKL/dlog sigma = (sigma^2 - 1) / M

    with M the number of entries, against that formula (minigan.nn.conditioning's) and central differences, on
    arrays (4, 3) in float64."""
    rng = np.random.default_rng(seed)
    report = _Report("KL(N(mu, sigma^2) || N(0, I)) and its gradient", verbose)
    mu, s = rng.normal(0, 1, (4, 3)), rng.normal(0, 0.5, (4, 3))
    mu_in, s_in = mu.copy(), s.copy()
    ok, got = _call(report, "your function", fn, mu_in, s_in)
    if not ok:
        return report.finish()
    if not (isinstance(got, tuple) and len(got) == 3):
        report.fail(f"return (kl, d_mu, d_log_sigma), got {type(got).__name__}")
        return report.finish()
    kl, d_mu, d_s = got
    if not (np.array_equal(mu_in, mu) and np.array_equal(s_in, s)):
        report.fail("your function changed mu or log_sigma in place")
    M = mu.size
    sigma2 = np.exp(2 * s)
    want_kl = float((-s + 0.5 * (sigma2 + mu * mu - 1)).mean())
    value = _scalar(kl)
    if value is None:
        report.fail(f"kl must be one number, got shape {np.shape(kl)}")
        return report.finish()
    hint = ""
    if abs(value - want_kl * M) < 1e-9 * M:
        hint = "you summed over the entries; the reference averages (divide by their number)"
    elif abs(value - float((-s + 0.5 * (np.exp(s) + mu * mu - 1)).mean())) < 1e-9:
        hint = "sigma^2 = exp(2 log sigma), not exp(log sigma)"
    report.compare("KL value vs the formula", abs(value - want_kl) / max(1.0, abs(want_kl)), tol, hint)
    for name, got_grad, want in (("d_mu", d_mu, mu / M), ("d_log_sigma", d_s, (sigma2 - 1) / M)):
        got_grad = np.asarray(got_grad, dtype=np.float64)
        if got_grad.shape != mu.shape:
            report.fail(f"{name} must have shape {mu.shape}, got {got_grad.shape}")
            continue
        grad_hint = "a factor 1/M (the mean) is missing" if relative_error(got_grad, want * M) < 1e-9 else ""
        report.compare(f"{name} vs the derivative", relative_error(got_grad, want), tol, grad_hint)

    def value_of(mu_, s_):
        return float((-s_ + 0.5 * (np.exp(2 * s_) + mu_ * mu_ - 1)).mean())

    check = check_gradients(lambda: value_of(mu, s), {"mu": mu, "log_sigma": s},
                            {"mu": np.asarray(d_mu, np.float64), "log_sigma": np.asarray(d_s, np.float64)})
    for name, error in check.errors.items():
        report.compare(f"d_{name} vs central differences", error, 1e-6)
    return report.finish()
