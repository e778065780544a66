r"""Numerical gradient checking by central differences.

For a scalar loss L and every entry theta_i of every tensor checked,

    numeric_i = (L(theta + eps e_i) - L(theta - eps e_i)) / (2 eps),          error O(eps^2),

compared with the analytic gradient a through the relative error of each tensor, in the max norm:

    err = max_i |a_i - numeric_i| / max(max_i |a_i|, max_i |numeric_i|, floor * G),

reported with the index i where the difference is largest; G is the largest |a_i| or |numeric_i| of all the
tensors checked together (the input's and every parameter's). Dividing by the tensor's gradient scale rather than
by each entry keeps entries whose true gradient is tiny from turning round-off into "errors": the central
difference carries an absolute round-off of about 1e-16 S / eps ~ 1e-10 S, with S the size of the terms summed
into L. A tensor whose whole gradient is zero (the bias of a layer feeding a training-mode BatchNorm) holds
nothing but that round-off, so it is judged against ``floor`` (default 1e-2) times G, the gradient scale of the
whole check, rather than against an absolute number whose meaning would change with the units of L (a check
whose gradients are all exactly zero has no scale and scores 0). Everything runs in float64: a correct backward
scores ~1e-9, and a wrong one (a sign, a missing factor, a wrong axis) scores above 1e-2.

:func:`gradcheck` checks a layer (or a whole Sequential): L = sum(forward(x) * dy) for a fixed random dy, so
dL/dy = dy and one call of ``backward(dy)`` gives the analytic dL/dx and dL/dtheta. :func:`check_gradients` is the
general form for any scalar function (losses, penalties).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from minigan import backend


@dataclass
class GradcheckResult:
    """Worst relative error overall and per tensor, with the index where it occurred."""

    worst_error: float
    worst_where: str
    errors: dict[str, float] = field(default_factory=dict)
    where: dict[str, tuple] = field(default_factory=dict)

    def passed(self, tol: float = 1e-6) -> bool:
        return self.worst_error < tol

    def __str__(self) -> str:
        rows = ", ".join(f"{k}: {v:.2e}" for k, v in self.errors.items())
        return f"worst relative error {self.worst_error:.2e} at {self.worst_where} ({rows})"


def _numeric_gradient(loss, tensor, eps: float):
    """Central differences of ``loss()`` with respect to every entry of ``tensor`` (perturbed in place)."""
    grad = np.zeros(tensor.shape, dtype=np.float64)
    for idx in np.ndindex(*tensor.shape):
        original = tensor[idx].item()
        tensor[idx] = original + eps
        plus = loss()
        tensor[idx] = original - eps
        minus = loss()
        tensor[idx] = original
        grad[idx] = (plus - minus) / (2 * eps)
    return grad


def check_gradients(loss, tensors: dict, analytic: dict, eps: float = 1e-6, floor: float = 1e-2):
    """Compare ``analytic[name]`` with central differences of the scalar ``loss()`` for each tensor in ``tensors``.

    ``loss`` is called with no arguments and must read the tensors, which are perturbed in place (and restored).
    Tensors must be float64.
    """
    result = GradcheckResult(worst_error=0.0, worst_where="(nothing checked)")
    pairs = {}
    for name, tensor in tensors.items():
        if tensor.dtype != np.float64:
            raise TypeError(f"gradcheck: {name} is {tensor.dtype}; central differences need float64")
        numeric = _numeric_gradient(loss, tensor, eps)
        a = backend.to_numpy(analytic[name]).astype(np.float64)
        if a.shape != numeric.shape:
            raise ValueError(f"gradcheck: analytic gradient of {name} has shape {a.shape}, expected {numeric.shape}")
        if a.size:
            pairs[name] = (a, numeric)
    overall = max((max(float(np.abs(a).max()), float(np.abs(n).max())) for a, n in pairs.values()), default=0.0)
    for name, (a, numeric) in pairs.items():
        diff = np.abs(a - numeric)
        scale = max(float(np.abs(a).max()), float(np.abs(numeric).max()), floor * overall)
        flat = int(np.argmax(diff))
        result.errors[name] = float(diff.flat[flat]) / scale if scale > 0 else 0.0  # scale 0: all exactly 0
        result.where[name] = tuple(int(i) for i in np.unravel_index(flat, diff.shape))
        if result.errors[name] >= result.worst_error:
            result.worst_error = result.errors[name]
            result.worst_where = f"{name}{list(result.where[name])}"
    return result


def gradcheck(module, x, dy=None, eps: float = 1e-6, floor: float = 1e-2, params: bool = True,
              before_forward=None, seed: int = 0) -> GradcheckResult:
    """Check ``module.backward`` against central differences, for the input and (by default) every parameter.

    The module is deep-copied and cast to float64 (the caller's module is not touched); ``x`` likewise.
    ``dy`` defaults to a seeded standard normal array of the output's shape. ``before_forward(module)`` is called
    before every forward, to make a stochastic layer repeat itself (e.g. reset a Dropout's generator).
    Returns a :class:`GradcheckResult`; ``result.passed(1e-6)`` is the usual verdict.
    """
    module = copy.deepcopy(module).to(dtype=np.float64)
    xp = backend.array_module(x)
    x = x.astype(np.float64, copy=True)

    def forward():
        if before_forward is not None:
            before_forward(module)
        return module.forward(x)

    y = forward()
    if dy is None:
        dy = xp.asarray(np.random.default_rng(seed).standard_normal(y.shape))
    dy = dy.astype(np.float64)

    module.zero_grad()
    forward()
    dx = module.backward(dy)

    def loss():
        return float((forward() * dy).sum())

    tensors = {"input": x}
    analytic = {"input": dx}
    if params:
        for name, p in module.params.items():
            tensors[name] = p
            analytic[name] = module.grads[name].copy()
    return check_gradients(loss, tensors, analytic, eps=eps, floor=floor)
