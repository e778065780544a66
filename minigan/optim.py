r"""Optimizers: they read a model's gradients and update its parameters in place, on whichever backend they live.

An optimizer holds the model, not copies of its arrays, so it keeps working after ``model.to("cupy")``. Its
state (moments, step count) is keyed by parameter name; ``state_dict()`` / ``load_state_dict()`` make a resumed
run continue exactly. ``step()`` never zeroes gradients: call ``model.zero_grad()`` (as the papers' loops do, once
per update).

Update rules (g the gradient, theta the parameter, everything elementwise):

* SGD with momentum mu:      v <- mu v + g;   theta <- theta - lr v                        (PyTorch's form)
* Adam (Kingma & Ba 2015):   m <- b1 m + (1 - b1) g;   v <- b2 v + (1 - b2) g^2;   t <- t + 1
                             m_hat = m / (1 - b1^t);   v_hat = v / (1 - b2^t)
                             theta <- theta - lr m_hat / (sqrt(v_hat) + eps)
* RMSProp (Tieleman & Hinton 2012):  v <- a v + (1 - a) g^2;   theta <- theta - lr g / (sqrt(v) + eps)
* Weight clipping (Arjovsky et al. 2017): theta <- clip(theta, -c, c) for every parameter of the critic.
* LinearDecay: a schedule, lr_t = lr_0 (1 - t / T), applied as a trainer callback.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from minigan import backend, fast


class Optimizer:
    """Base: the model, its named (parameter, gradient) pairs, per-parameter state, the step count t."""

    def __init__(self, model, lr: float):
        if not lr > 0:  # written so that NaN fails too
            raise ValueError(f"{type(self).__name__}: learning rate must be positive, got {lr}")
        self.model = model
        self.lr = float(lr)
        self.initial_lr = self.lr  # what a schedule (LinearDecay) scales; load_state_dict restores lr, not this
        self.t = 0
        self.state: dict[str, dict[str, object]] = {}

    def _slot(self, kind: str, name: str, like):
        """The state array ``kind`` of parameter ``name``: zeros at first; after ``model.to(...)`` it follows the
        parameter to its new backend and dtype, keeping its values (a moved model continues its run)."""
        slots = self.state.setdefault(kind, {})
        slot = slots.get(name)
        if slot is None or slot.shape != like.shape:
            slot = backend.array_module(like).zeros_like(like)
        elif backend.backend_of(slot) != backend.backend_of(like) or slot.dtype != like.dtype:
            slot = backend.to_backend(slot, backend.backend_of(like), like.dtype)
        slots[name] = slot
        return slot

    SLOTS: tuple[str, ...] = ()  # the kinds of state array each parameter has (Adam: its two moments)

    def step(self) -> None:
        """One update of every parameter from its current gradient."""
        self.t += 1
        grads = self.model.grads
        for name, p in self.model.params.items():
            self._update(name, p, grads[name])

    def _update(self, name, p, g):
        """The update rule on the parameter, its gradient and its state slots, in place. ``minigan.fast.update``
        runs it, which may cut a large parameter into parts, one per thread (the rule is elementwise)."""
        fast.update(self._rule, p, g, *(self._slot(kind, name, p) for kind in self.SLOTS))

    def _rule(self, p, g, *slots):  # pragma: no cover - abstract
        raise NotImplementedError

    def hyperparameters(self) -> dict:
        return {"lr": self.lr}

    def state_dict(self) -> dict:
        """Step count, initial and current hyperparameters and state slots, NumPy arrays keyed ``kind.param_name``."""
        out = {"t": np.asarray(self.t), "initial_lr": np.asarray(self.initial_lr)}
        out.update({f"hp.{k}": np.asarray(v) for k, v in self.hyperparameters().items()})
        for kind, slots in self.state.items():
            for name, arr in slots.items():
                out[f"{kind}.{name}"] = backend.to_numpy(arr).copy()
        return out

    ALL_SLOTS: tuple[str, ...] = ()
    """Every kind of state array this class may hold, whatever its settings (SGD: momentum_buffer)."""

    NONNEGATIVE_SLOTS: tuple[str, ...] = ()
    """The kinds that hold running averages of g^2, >= 0 by construction: a state with a negative value is refused."""

    def _check_hyper(self, name: str, value) -> str | None:
        """Why ``value`` is not an acceptable setting ``name`` for a loaded state, or None. The base class knows lr
        (>= 0: a LinearDecay schedule ends at 0); subclasses add theirs."""
        if name == "lr":
            return None if math.isfinite(value) and value >= 0 else "must be a finite number >= 0"
        return None

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` gave; slots land on the backend and dtype of the model's parameters.

        Everything is checked before anything changes, and the loaded slots replace all current ones (state from
        earlier steps of this optimizer does not survive a load). Checked: the keys (t, the hyperparameters
        ``hp.<name>`` of :meth:`hyperparameters`, no other names; ``initial_lr`` may be absent, from files written
        before schedules), t an integer >= 0, initial_lr > 0 and every hyperparameter within the range its
        constructor allows (lr >= 0), each slot ``<kind>.<parameter>`` of a kind this optimizer keeps, for a
        parameter of the model, of its shape, real floating and finite (and >= 0 for averages of g^2). KeyError for
        a missing or unknown name, ValueError naming the key for a refused value.
        """
        self._apply_state_dict(self._check_state_dict(state))

    def _check_state_dict(self, state) -> dict:
        """Check ``state`` without changing anything; returns what :meth:`_apply_state_dict` sets."""
        where = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state, Mapping):
            raise TypeError(f"{where}: expected a dict of arrays, got {type(state).__name__}")
        if "t" not in state:
            raise KeyError(f"{where}: no step count 't' in the state")
        ours = self.hyperparameters()
        missing = [f"hp.{k}" for k in ours if f"hp.{k}" not in state]
        if missing:
            raise KeyError(f"{where}: the state lacks hyperparameters {missing}")
        t = _scalar(where, "t", state["t"], "iu")
        if not 0 <= t < 2**63:
            raise ValueError(f"{where}: t (the step count) must be an integer >= 0, got {t}")
        initial_lr = None
        if "initial_lr" in state:  # absent from checkpoints written before schedules existed
            initial_lr = _scalar(where, "initial_lr", state["initial_lr"], "fiu")
            if not (math.isfinite(initial_lr) and initial_lr > 0):
                raise ValueError(f"{where}: initial_lr must be a finite number > 0, got {initial_lr}")
        params = self.model.params
        hypers, slots = {}, {}
        for key, value in state.items():
            if not isinstance(key, str):
                raise KeyError(f"{where}: unexpected key {key!r}")
            if key in ("t", "initial_lr"):
                continue
            if key.startswith("hp."):
                name = key[3:]
                if name not in ours:
                    raise KeyError(f"{where}: unexpected hyperparameter {key!r}; {type(self).__name__} has "
                                   f"{['hp.' + k for k in ours]}")
                hypers[name] = _hyper(where, key, value, ours[name])
                problem = self._check_hyper(name, hypers[name])
                if problem:
                    raise ValueError(f"{where}: {key} = {hypers[name]}: {problem}")
                continue
            kind, _, name = key.partition(".")
            if kind not in self.ALL_SLOTS or not name:
                raise KeyError(f"{where}: unexpected key {key!r}; {type(self).__name__} keeps t, initial_lr, "
                               f"hp.<name> and slots {list(self.ALL_SLOTS)} as '<kind>.<parameter>'")
            if name not in params:
                raise KeyError(f"{where}: no parameter named {name!r} in the model")
            slots.setdefault(kind, {})[name] = _slot_value(where, key, value, params[name],
                                                            kind in self.NONNEGATIVE_SLOTS)
        return {"t": t, "initial_lr": initial_lr, "hypers": hypers, "slots": slots}

    def _apply_state_dict(self, plan: dict) -> None:
        """Set what :meth:`_check_state_dict` accepted (nothing here can fail)."""
        self.t = plan["t"]
        if plan["initial_lr"] is not None:
            self.initial_lr = plan["initial_lr"]
        for name, value in plan["hypers"].items():
            setattr(self, name, value)
        self.state = plan["slots"]


def _as_hyper(value):
    value = np.asarray(value)
    return tuple(float(v) for v in value) if value.ndim else float(value)


def _scalar(where: str, key: str, value, kinds: str):
    """A 0-d array-like of a dtype kind in ``kinds`` ("iu" integers, "f" floats) as a Python int or float."""
    try:
        a = np.asarray(backend.to_numpy(value))
    except Exception as exc:  # noqa: BLE001 - whatever it is, it is not a number: refused, by key
        raise ValueError(f"{where}: {key} is not a number ({type(exc).__name__})") from None
    if a.ndim != 0 or a.dtype.kind not in kinds:
        what = "an integer" if kinds == "iu" else "a real number"
        raise ValueError(f"{where}: {key} must be {what} (0-d), got dtype {a.dtype} and shape {a.shape}")
    return int(a) if a.dtype.kind in "iu" else float(a)


def _hyper(where: str, key: str, value, like):
    """A hyperparameter's value, shaped as the optimizer's own ``like`` (a float, or a tuple of floats)."""
    try:
        a = np.asarray(backend.to_numpy(value))
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"{where}: {key} is not a number ({type(exc).__name__})") from None
    shape = (len(like),) if isinstance(like, tuple) else ()
    if a.shape != shape or a.dtype.kind not in "fiu":
        raise ValueError(f"{where}: {key} must be real, of shape {shape}; got dtype {a.dtype} and shape {a.shape}")
    return _as_hyper(a)


def _slot_value(where: str, key: str, value, p, nonnegative: bool):
    """A state slot as a copy on the parameter's backend and dtype (never shared with the caller's arrays)."""
    if not backend.is_cupy(value):
        try:
            value = np.asarray(value)
        except Exception as exc:  # noqa: BLE001
            raise ValueError(f"{where}: {key} is not an array ({type(exc).__name__})") from None
    if tuple(value.shape) != tuple(p.shape):
        raise ValueError(f"{where}: {key} has shape {tuple(value.shape)}, expected {tuple(p.shape)}")
    if value.dtype.kind != "f":
        raise ValueError(f"{where}: {key} has dtype {value.dtype}; expected real floating-point values")
    with np.errstate(over="ignore", invalid="ignore"):  # an overflowing cast shows up as inf, refused below
        out = backend.to_backend(value, backend.backend_of(p), p.dtype).copy()
    xp = backend.array_module(out)
    if not bool(xp.isfinite(out).all()):
        raise ValueError(f"{where}: {key} holds NaN or inf (or values beyond {p.dtype}); a state must be finite")
    if nonnegative and bool((out < 0).any()):
        raise ValueError(f"{where}: {key} holds negative values; an average of squared gradients is >= 0")
    return out


class SGD(Optimizer):
    """Stochastic gradient descent with (heavy-ball) momentum."""

    def __init__(self, model, lr: float = 0.01, momentum: float = 0.0):
        super().__init__(model, lr)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"SGD: momentum must be in [0, 1), got {momentum}")
        self.momentum = float(momentum)

    def hyperparameters(self):
        return {"lr": self.lr, "momentum": self.momentum}

    @property
    def SLOTS(self):
        return ("momentum_buffer",) if self.momentum else ()

    ALL_SLOTS = ("momentum_buffer",)

    def _check_hyper(self, name, value):
        if name == "momentum":
            return None if 0.0 <= value < 1.0 else "must be in [0, 1)"
        return super()._check_hyper(name, value)

    def _rule(self, p, g, v=None):
        if v is None:  # no momentum
            p -= self.lr * g
            return
        v *= self.momentum
        v += g  # v <- mu v + g
        p -= self.lr * v


class Adam(Optimizer):
    """Adam with bias correction; the DCGAN settings are Adam(model, lr=2e-4, betas=(0.5, 0.999))."""

    def __init__(self, model, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8):
        super().__init__(model, lr)
        b1, b2 = betas
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"Adam: betas must be in [0, 1), got {betas}")
        if not eps >= 0:
            raise ValueError(f"Adam: eps must be non-negative, got {eps}")
        self.betas, self.eps = (float(b1), float(b2)), float(eps)

    def hyperparameters(self):
        return {"lr": self.lr, "betas": self.betas, "eps": self.eps}

    SLOTS = ALL_SLOTS = ("exp_avg", "exp_avg_sq")
    NONNEGATIVE_SLOTS = ("exp_avg_sq",)

    def _check_hyper(self, name, value):
        if name == "betas":
            return None if all(0.0 <= b < 1.0 for b in value) else "each must be in [0, 1)"
        if name == "eps":
            return None if math.isfinite(value) and value >= 0 else "must be a finite number >= 0"
        return super()._check_hyper(name, value)

    def _rule(self, p, g, m, v):
        """The update rule of the module docstring, in place. The bias corrections are folded into two scalars:
        lr m_hat / (sqrt(v_hat) + eps) = (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)."""
        xp, (b1, b2) = backend.array_module(p), self.betas
        m *= b1
        m += (1 - b1) * g  # m <- b1 m + (1 - b1) g
        v *= b2
        v += (1 - b2) * (g * g)  # v <- b2 v + (1 - b2) g^2
        step_size, root_correction = self.lr / (1 - b1**self.t), 1 / math.sqrt(1 - b2**self.t)
        update = xp.sqrt(v)
        update *= root_correction
        update += self.eps  # sqrt(v_hat) + eps
        xp.divide(m, update, out=update)
        update *= step_size  # lr m_hat / (sqrt(v_hat) + eps)
        p -= update


class RMSProp(Optimizer):
    """RMSProp as in PyTorch (alpha 0.99, eps 1e-8); WGAN uses RMSProp(critic, lr=5e-5)."""

    def __init__(self, model, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8):
        super().__init__(model, lr)
        if not 0.0 <= alpha < 1.0:
            raise ValueError(f"RMSProp: alpha must be in [0, 1), got {alpha}")
        if not eps >= 0:
            raise ValueError(f"RMSProp: eps must be non-negative, got {eps}")
        self.alpha, self.eps = float(alpha), float(eps)

    def hyperparameters(self):
        return {"lr": self.lr, "alpha": self.alpha, "eps": self.eps}

    SLOTS = ALL_SLOTS = ("square_avg",)
    NONNEGATIVE_SLOTS = ("square_avg",)

    def _check_hyper(self, name, value):
        if name == "alpha":
            return None if 0.0 <= value < 1.0 else "must be in [0, 1)"
        if name == "eps":
            return None if math.isfinite(value) and value >= 0 else "must be a finite number >= 0"
        return super()._check_hyper(name, value)

    def _rule(self, p, g, v):
        v *= self.alpha
        v += (1 - self.alpha) * (g * g)
        p -= self.lr * g / (backend.array_module(v).sqrt(v) + self.eps)


class LinearDecay:
    r"""lr_t = lr_0 (1 - t / T): every optimizer's learning rate falls linearly to 0 over T iterations.

    The schedule of Gulrajani et al.'s image experiments (their ResNet runs decay Adam's rate linearly to 0). Use it
    as a trainer callback: ``trainer.train(data, T, callbacks=[LinearDecay([opt_G, opt_D], T)])``. After iteration
    t it sets the rate that iteration t + 1 will use, lr_0 (1 - t / T), so iteration t runs at lr_0 (1 - (t-1) / T)
    and the last one at lr_0 / T. It reads t from the trainer and lr_0 from each optimizer's ``initial_lr`` (the
    rate it was built with), so a run resumed from a checkpoint continues the same schedule.
    """

    def __init__(self, optimizers, iterations: int):
        if iterations < 1:
            raise ValueError(f"LinearDecay: iterations must be >= 1, got {iterations}")
        self.optimizers, self.iterations = list(optimizers), int(iterations)

    def __call__(self, trainer, record=None) -> None:
        remaining = max(0.0, 1.0 - trainer.iterations_done / self.iterations)
        for opt in self.optimizers:
            opt.lr = opt.initial_lr * remaining


def clip_weights(model, c: float) -> None:
    """theta <- clip(theta, -c, c) in place, for every parameter of ``model`` (WGAN's Lipschitz constraint)."""
    if not c > 0:  # NaN fails too
        raise ValueError(f"clip_weights: c must be positive, got {c}")
    for p in model.params.values():
        backend.array_module(p).clip(p, -c, c, out=p)
