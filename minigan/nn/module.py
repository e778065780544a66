"""The layer contract every minigan layer follows.

A layer maps an input array ``x`` to an output ``y`` and knows how to send a gradient back:

* ``forward(x)`` returns ``y`` and caches what ``backward`` needs (one cache per layer, overwritten by the next
  forward: run D on a real batch, then its backward, then on a fake batch, then its backward, as the papers do).
* ``backward(dy)`` returns ``dx = dL/dx`` given ``dy = dL/dy`` and ADDS ``dL/dtheta`` into ``grads`` (so gradients of
  several batches accumulate until ``zero_grad()``). ``backward(dy, param_grads=False)`` returns only ``dx``, for
  the generator's step through the discriminator, and leaves ``grads`` untouched.
* ``params`` / ``grads``: dicts name -> array, the same names as ``state_dict()`` and as PyTorch's, the arrays
  themselves (an optimizer updates them in place).
* ``train()`` / ``eval()`` set the mode (BatchNorm, Dropout behave differently); ``forward(x, train=False)``
  overrides it for a single call.

Inputs are checked at the boundary: wrong rank, wrong feature/channel count, a 0-d array or an empty one (no
samples, or no values per sample), a non-float or mismatched dtype, an array of the other backend, or a NaN/inf gives
a :class:`LayerInputError` naming the layer and what it expected. ``backward`` holds ``dy`` to the same rule as
forward holds ``x``: it must be an array of the forward output's backend, shape and dtype (a float64 ``dy`` on a
float32 layer is refused, not cast: forward refuses a float64 ``x`` there too, and a silent cast would hide which
precision the gradients were computed in).

``load_state_dict`` treats a state dict as input too (it may come from a file): every entry is checked (names,
shapes, dtype kind, finite values, a variance's sign) before any is copied, so a refused state changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from minigan import backend, fast
from minigan.errors import LayerInputError, NonFiniteInputError


def _is_array(a) -> bool:
    """True for a NumPy or CuPy array (not a list, a scalar or another library's tensor)."""
    return isinstance(a, np.ndarray) or backend.is_cupy(a)


class Module:
    """Base class: parameter and buffer bookkeeping, modes, state dicts, input checks."""

    def __init__(self):
        self.training = True
        self._params: dict[str, object] = {}
        self._grads: dict[str, object] = {}
        self._buffers: dict[str, object] = {}
        self._children: dict[str, Module] = {}
        self._out_shape = None  # shape of the last forward output; None means "no forward yet"
        self._out_backend = None  # "numpy" or "cupy": where the last forward output lives
        self._out_dtype = None  # dtype of the last forward output: what backward's dy must be

    # -- registration --------------------------------------------------------------------------------------------
    def _add_param(self, name: str, value) -> None:
        self._params[name] = value
        self._grads[name] = backend.array_module(value).zeros_like(value)

    def _add_buffer(self, name: str, value) -> None:
        self._buffers[name] = value

    def __getattr__(self, item):
        # reached only when normal lookup fails: expose parameters and buffers as attributes (layer.weight)
        for store in ("_params", "_buffers"):
            d = self.__dict__.get(store)
            if d is not None and item in d:
                return d[item]
        raise AttributeError(f"{type(self).__name__} has no attribute {item!r}")

    def named_modules(self, prefix: str = ""):
        """Yield (prefix, module) for this module and every descendant, depth first."""
        yield prefix, self
        for child_name, child in self._children.items():
            yield from child.named_modules(f"{prefix}{child_name}.")

    # -- parameters, gradients, state ----------------------------------------------------------------------------
    @property
    def params(self) -> dict:
        """name -> parameter array, for this module and all children (``0.weight`` inside Sequential)."""
        return {p + k: v for p, m in self.named_modules() for k, v in m._params.items()}

    @property
    def grads(self) -> dict:
        """name -> gradient array, the same names as :attr:`params`."""
        return {p + k: v for p, m in self.named_modules() for k, v in m._grads.items()}

    @property
    def buffers(self) -> dict:
        """name -> non-trainable state (BatchNorm running statistics)."""
        return {p + k: v for p, m in self.named_modules() for k, v in m._buffers.items()}

    def zero_grad(self) -> None:
        """Set every parameter gradient to zero (gradients otherwise accumulate across backward calls)."""
        for g in self.grads.values():
            g[...] = 0

    def train(self, mode: bool = True) -> Module:
        """Training mode (batch statistics, dropout on) for this module and its children."""
        for _, m in self.named_modules():
            m.training = mode
        return self

    def eval(self) -> Module:
        """Evaluation mode (running statistics, dropout off)."""
        return self.train(False)

    def state_dict(self) -> dict:
        """Copies of parameters and buffers, keyed in PyTorch's order and names."""
        out = {}
        for p, m in self.named_modules():
            for k, v in m._params.items():
                out[p + k] = v.copy()
            for k, v in m._buffers.items():
                out[p + k] = v.copy()
        return out

    _nonnegative_state: tuple[str, ...] = ()
    """Names of this module's own buffers that must hold values >= 0 (BatchNorm: ``running_var``); checked by
    :meth:`load_state_dict`."""

    def load_state_dict(self, state: dict) -> None:
        """Copy values into parameters and buffers in place (any array-like: NumPy, CuPy, CPU torch tensors).

        Every name must match and every shape agree; values are cast to the module's dtype and backend. Floating
        parameters and buffers take real floating values only (no integers, booleans, complex numbers, strings or
        objects), finite after the cast (NaN, inf, or a float64 value beyond float32's range is refused); integer
        buffers (BatchNorm's ``num_batches_tracked``) take non-negative integers; a variance (BatchNorm's
        ``running_var``) must be >= 0. Everything is checked before anything is copied, so a state dict that does
        not fit leaves the module as it was. KeyError for missing or unexpected names, TypeError for a ``state``
        that is not a mapping, ValueError naming the key for a value that is refused.
        """
        self._apply_state_dict(self._check_state_dict(state))

    def _check_state_dict(self, state) -> dict:
        """Check ``state`` entry by entry without changing anything; returns what :meth:`_apply_state_dict` copies
        (key -> (target array, value already on the target's backend and dtype))."""
        where = f"{self._short_repr()}.load_state_dict"
        if not isinstance(state, Mapping):
            raise TypeError(f"{where}: expected a dict of arrays, got {type(state).__name__}")
        targets = {}
        for p, m in self.named_modules():
            for store in (m._params, m._buffers):
                for k in store:
                    targets[p + k] = (m, store, k)
        missing = [k for k in targets if k not in state]
        unexpected = [k for k in state if k not in targets]
        if missing or unexpected:
            problems = [f"{what} keys {keys}" for what, keys in (("missing", missing), ("unexpected", unexpected))
                        if keys]
            raise KeyError(f"{where}: {', '.join(problems)}")
        plan = {}
        for key, (m, store, k) in targets.items():
            plan[key] = (store[k], _checked_entry(where, key, state[key], store[k], m, k))
        return plan

    @staticmethod
    def _apply_state_dict(plan: dict) -> None:
        """Copy what :meth:`_check_state_dict` accepted into place (nothing here can fail)."""
        for current, value in plan.values():
            current[...] = value

    def to(self, backend_name: str | None = None, dtype=None) -> Module:
        """Move parameters, gradients and buffers to another backend and/or floating dtype, in place."""
        if dtype is not None and np.dtype(dtype) not in (np.float32, np.float64):
            raise ValueError(f"{self._short_repr()}.to: dtype must be float32 or float64, got {np.dtype(dtype)}")
        for _, m in self.named_modules():
            for store in (m._params, m._grads, m._buffers):
                for k, v in store.items():
                    target_dtype = dtype if (dtype is not None and np.issubdtype(v.dtype, np.floating)) else None
                    store[k] = backend.to_backend(v, backend_name or backend.backend_of(v), target_dtype)
            m._clear_cache()
        return self

    def _clear_cache(self) -> None:
        self._out_shape = self._out_dtype = None

    def _short_repr(self) -> str:
        """The repr for a single layer; only the class name for a container (its repr spans many lines)."""
        return type(self).__name__ if self._children else repr(self)

    def num_parameters(self) -> int:
        """Total number of trainable scalars."""
        return int(sum(v.size for v in self.params.values()))

    # -- forward / backward --------------------------------------------------------------------------------------
    def forward(self, x, train: bool | None = None):
        """y = f(x); caches what backward needs. ``train`` overrides the module's mode for this call.

        The layer's ``_forward`` runs through :mod:`minigan.fast`: on the whole batch (as :mod:`minigan.reference`
        does), or on chunks of it on minigan's threads inside a ``fast.threads()`` block."""
        return self._run_forward(x, train, check_finite=True)

    __call__ = forward

    def _run_forward(self, x, train, check_finite: bool):
        self._check_input(x, check_finite)
        y = fast.forward(self, x, self._mode(train))
        self._out_shape, self._out_backend, self._out_dtype = tuple(y.shape), backend.backend_of(y), y.dtype
        return y

    def _mode(self, train: bool | None):
        """The mode ``_forward`` runs in: the call's override if given, else this module's own."""
        return self.training if train is None else bool(train)

    def backward(self, dy, param_grads: bool = True, input_grad: bool = True):
        """dx = dL/dx from dy = dL/dy; adds dL/dtheta into ``grads`` unless ``param_grads`` is False.

        ``dy`` must be an array of the last forward output's backend, shape and dtype, else LayerInputError naming
        the layer (a float64 dy on a float32 layer is refused as forward refuses a float64 x there: no silent cast).

        ``input_grad=False`` says the caller will not use dx (a discriminator step: the data needs no gradient):
        layers that can skip computing it do (Dense and the convolutions: one GEMM fewer), and None is returned.
        """
        if self._out_shape is None:
            raise RuntimeError(f"{self!r}: backward called before forward (nothing cached)")
        if not _is_array(dy):
            raise LayerInputError(
                f"{self!r}: backward got dy of type {type(dy).__name__}, expected a NumPy or CuPy array of the "
                f"forward output's shape {self._out_shape}"
            )
        if backend.backend_of(dy) != self._out_backend:
            raise LayerInputError(
                f"{self!r}: backward got a {backend.backend_of(dy)} dy, but forward ran on {self._out_backend}"
            )
        if tuple(dy.shape) != self._out_shape:
            raise LayerInputError(
                f"{self!r}: backward got dy of shape {tuple(dy.shape)}, expected the forward output's shape "
                f"{self._out_shape}"
            )
        if dy.dtype != self._out_dtype:  # refused, not cast: forward refuses a mismatched x the same way
            raise LayerInputError(
                f"{self!r}: backward got dy of dtype {dy.dtype}, expected the forward output's dtype "
                f"{self._out_dtype} (cast dy with dy.astype({str(self._out_dtype)!r}))"
            )
        dx = fast.backward(self, dy, param_grads, input_grad)  # as forward ran: whole, or in chunks
        return dx if input_grad else None

    # -- what a layer writes ---------------------------------------------------------------------------------
    per_sample = False
    """True when sample n's output depends only on sample n's input, and the parameter gradient is a sum over the
    samples: then minigan.fast may run the layer on chunks of the batch (BatchNorm and Dropout are not)."""

    elementwise = False
    """True when each output value depends only on the input value in the same place (the activations)."""

    def _forward(self, x, train: bool):  # pragma: no cover - abstract
        """y = f(x) on the whole batch, caching on ``self`` what ``_backward`` needs."""
        raise NotImplementedError

    def _backward(self, dy, param_grads: bool, input_grad: bool):  # pragma: no cover - abstract
        """dx = J^T dy (may be skipped when not input_grad); adds dL/dtheta into ``self._grads`` if param_grads."""
        raise NotImplementedError

    # -- gradient penalty support (see minigan/gradient_penalty.py) ---------------------------------------------
    supports_gradient_penalty = False

    def _jvp(self, g, t):  # pragma: no cover - only layers that declare support implement it
        """The Jacobian-vector product J t at the cached input; a layer with weights also adds the penalty's weight
        gradient, its weight-gradient formula with upstream signal g and input t (gradient_penalty.py)."""
        raise NotImplementedError(f"{self!r} has no hand-derived gradient-penalty support")

    # -- input checks --------------------------------------------------------------------------------------------
    def _expected(self) -> str:
        """Human description of the accepted input, e.g. '(N, 3, H, W)'."""
        return "an array"

    def _check_shape(self, x) -> bool:
        """True when x's shape is acceptable. Layers override."""
        return True

    def _fail(self, what: str):
        raise LayerInputError(f"{self!r} expected input {self._expected()}, got {what}")

    def _check_input(self, x, check_finite: bool) -> None:
        if not _is_array(x):
            self._fail(f"an object of type {type(x).__name__} (not a NumPy or CuPy array)")
        if not np.issubdtype(x.dtype, np.floating):
            self._fail(f"dtype {x.dtype} (expected float32 or float64)")
        if x.ndim == 0:
            self._fail("a 0-d array (a single number; a layer takes a batch, (N, ...))")
        if x.shape[0] == 0:
            self._fail(f"an empty batch, shape {tuple(x.shape)} (N = 0)")
        if x.size == 0:
            self._fail(f"shape {tuple(x.shape)}, which holds no values")
        first = next(iter(self._params.values()), None)
        if first is not None:
            if backend.backend_of(x) != backend.backend_of(first):
                self._fail(
                    f"a {backend.backend_of(x)} array while its parameters live on {backend.backend_of(first)} "
                    f"(move one with Module.to() or minigan.backend.to_backend())"
                )
            if x.dtype != first.dtype:
                self._fail(f"dtype {x.dtype} while its parameters are {first.dtype} (cast one of them)")
        if not self._check_shape(x):
            self._fail(f"shape {tuple(x.shape)}")
        if check_finite and not bool(backend.array_module(x).isfinite(x).all()):
            raise NonFiniteInputError(f"{self!r} got an input containing NaN or inf")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _checked_entry(where: str, key: str, value, current, module: Module, name: str):
    """``value`` for state entry ``key`` (the array ``current``, named ``name`` in ``module``), on ``current``'s
    backend and dtype; ValueError naming the key if it is refused."""
    whose = f"(the {name} of {module._short_repr()})"
    if not backend.is_cupy(value):
        try:
            value = np.asarray(value)
        except Exception as exc:  # noqa: BLE001 - ragged lists, GPU torch tensors, ...: refused, by key
            raise ValueError(f"{where}: {key!r} is not an array ({type(exc).__name__}: {exc}) {whose}") from None
    if tuple(value.shape) != tuple(current.shape):
        raise ValueError(f"{where}: {key!r} has shape {tuple(value.shape)}, expected {tuple(current.shape)} {whose}")
    kind, target = value.dtype.kind, current.dtype
    if np.issubdtype(target, np.floating):
        if kind != "f":
            raise ValueError(f"{where}: {key!r} has dtype {value.dtype}; expected real floating-point values "
                             f"{whose}")
        with np.errstate(over="ignore", invalid="ignore"):  # overflow shows up as inf, refused just below
            out = backend.to_backend(value, backend.backend_of(current), target)
        if not bool(backend.array_module(out).isfinite(out).all()):
            what = "NaN or inf" if value.dtype.itemsize <= target.itemsize else f"NaN, inf or values beyond {target}"
            raise ValueError(f"{where}: {key!r} holds {what}; parameters and buffers must be finite {whose}")
    elif np.issubdtype(target, np.integer):
        if kind not in "iu":
            raise ValueError(f"{where}: {key!r} has dtype {value.dtype}; expected integers {whose}")
        xp = backend.array_module(value)
        if value.size and (bool((value < 0).any()) or int(xp.max(value)) > np.iinfo(target).max):
            raise ValueError(f"{where}: {key!r} must hold integers from 0 to {np.iinfo(target).max} {whose}")
        out = backend.to_backend(value, backend.backend_of(current), target)
    else:  # pragma: no cover - minigan holds float and integer arrays only
        raise ValueError(f"{where}: {key!r}: cannot load into a {target} array {whose}")
    if name in module._nonnegative_state and bool((out < 0).any()):
        raise ValueError(f"{where}: {key!r} holds negative values; it must be >= 0 {whose}")
    return out
