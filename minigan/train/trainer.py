"""What the three algorithms share: noise, the outer loop, history, callbacks, progress bar, the NaN guard.

Each algorithm subclasses :class:`Trainer` and writes ``iteration(sample_data)`` the way its paper's pseudocode
reads; this module only runs it ``iterations`` times.

The NaN guard stops training with :class:`TrainingDiverged` as soon as a non-finite number shows up, wherever it
shows up: in a batch of real data (checked before any network sees it), in a layer's input during the iteration
(the layers refuse NaN/inf inputs with :class:`minigan.errors.NonFiniteInputError`, e.g. G(z) after G's weights
overflowed; any :class:`minigan.errors.NonFiniteError` raised in an iteration counts), or in the iteration's logged
values. Other errors, a layer's wrong shape or dtype among them, are bugs and pass through as they are.
"""

from __future__ import annotations

import math
import numbers
import time
import warnings
from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from minigan import backend, fast
from minigan.errors import LayerInputError, NonFiniteError
from minigan.progress import progress_bar
from minigan.train.history import History


class TrainingDiverged(FloatingPointError):
    """A loss became NaN or infinite: training stops instead of going on with garbage."""


class StateError(ValueError):
    """A state given to :meth:`Trainer.load_state_dict` (e.g. read from a checkpoint) that is refused; the message
    names the field. Nothing was applied."""


# ---------------------------------------------------------------------------------------------------------------
# what a checkpoint's hyperparameters may hold (see Trainer.HYPERPARAMETER_RULES)
# ---------------------------------------------------------------------------------------------------------------
def _is_int(value) -> bool:
    """True for a Python or NumPy integer (bool excluded)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value) -> bool:
    """True for a Python or NumPy int or float (bool and complex excluded)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_finite_real(value) -> bool:
    """True for a finite int or float (an int too large for a float counts as not finite)."""
    if not _is_real(value):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


class Count:
    """An integer >= ``minimum`` (below 2**63). ``fixed``: it must equal the trainer's own value (the networks were
    built for it, as for nz)."""

    def __init__(self, minimum: int = 1, fixed: bool = False):
        self.minimum, self.fixed = minimum, fixed

    def check(self, value, current):
        if not _is_int(value) or not self.minimum <= value < 2**63:
            raise ValueError(f"must be an integer >= {self.minimum}")
        return _same_as(int(value), current, self.fixed)


class Real:
    """A finite real number >= ``minimum`` (> ``minimum`` when ``strict``)."""

    def __init__(self, minimum: float = 0.0, strict: bool = False):
        self.minimum, self.strict = minimum, strict

    def check(self, value, current):
        ok = _is_finite_real(value) and (value > self.minimum if self.strict else value >= self.minimum)
        if not ok:
            raise ValueError(f"must be a finite number {'>' if self.strict else '>='} {self.minimum}")
        return float(value)


class OneOf:
    """One of the strings ``choices``. ``fixed``: it must equal the trainer's own value."""

    def __init__(self, choices, fixed: bool = False):
        self.choices, self.fixed = tuple(choices), fixed

    def check(self, value, current):
        if not isinstance(value, str) or value not in self.choices:
            raise ValueError(f"must be one of {list(self.choices)}")
        return _same_as(value, current, self.fixed)


class SameType:
    """The fallback for a hyperparameter without a rule: the type of the trainer's current value (finite if real)."""

    def check(self, value, current):
        for test in (lambda v: isinstance(v, bool), _is_int, _is_real, lambda v: isinstance(v, str)):
            if test(current):
                if not test(value) or (_is_real(value) and not _is_finite_real(value)):
                    raise ValueError(f"must be of the type of the trainer's {current!r} (and finite)")
                return value
        raise ValueError(f"has no rule, and the trainer's value {current!r} is not a number or a string")


def _brief(value, limit: int = 60) -> str:
    """repr(value), cut to ``limit`` characters (a crafted field may be huge)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _name(value) -> str:
    """A name as it reads (a short string), anything else as a brief repr."""
    return value if isinstance(value, str) and value.isidentifier() and len(value) <= 60 else _brief(value)


def _same_as(value, current, fixed: bool):
    if fixed and value != current:
        raise ValueError(f"this trainer's networks were built for {current!r}; a state cannot change it")
    return value


def _checked_history(history, where: str) -> list[dict]:
    """Copies of the history's records; ValueError unless a list of dicts of names to finite numbers."""
    if not isinstance(history, (list, tuple)):
        raise StateError(f"{where}: history must be a list of records, got {type(history).__name__}")
    records = []
    for i, record in enumerate(history):
        if not isinstance(record, Mapping):
            raise StateError(f"{where}: history[{i}] must be a dict, got {type(record).__name__}")
        for key, value in record.items():
            if not isinstance(key, str) or not _is_finite_real(value):
                raise StateError(f"{where}: history[{i}][{_brief(key)}] = {_brief(value)}: a record maps names to "
                                 f"finite numbers")
        records.append(dict(record))
    return records


class Trainer:
    """Holds G, D, their optimizers, the batch size m, the noise prior and a seeded generator.

    ``noise(m)`` draws m samples of the prior p(z) = N(0, I) of dimension ``nz``.
    """

    def __init__(self, G, D, opt_G, opt_D, nz: int, m: int = 64, seed: int | None = 0):
        if m < 1:
            raise ValueError(f"batch size m must be >= 1, got {m}")
        self.G, self.D, self.opt_G, self.opt_D = G, D, opt_G, opt_D
        self.nz, self.m = nz, m
        self.rng = backend.Random(seed)
        self.history = History()
        self.iterations_done = 0

    def noise(self, m: int):
        """m samples of z ~ N(0, I), shape (m, nz)."""
        return self.rng.standard_normal((m, self.nz), self._dtype())

    def _dtype(self):
        return next(iter(self.G.params.values())).dtype

    def sample(self, n: int, train: bool = False):
        """n generated samples G(z); by default in evaluation mode (BatchNorm running statistics)."""
        return self.G.forward(self.noise(n), train=train)

    def generator_step(self, loss_fn) -> dict:
        """Sample z ~ p(z), descend loss_fn(D(G(z))) in G's parameters, through D without touching D's gradients."""
        G, D = self.G, self.D
        z = self.noise(self.m)
        G.zero_grad()
        loss_G, d_scores = loss_fn(D(G(z)))
        d_x = D.backward(d_scores, param_grads=False)  # only dL/dG(z); D is not updated in this step
        G.backward(d_x, input_grad=False)  # z needs no gradient: G's first layer skips dx
        self.opt_G.step()
        return {"loss_G": loss_G}

    def iteration(self, sample_data) -> dict:  # pragma: no cover - abstract
        """One outer iteration of the algorithm; returns the record to log (floats or 0-d arrays)."""
        raise NotImplementedError

    # -- checkpoints (minigan.io writes these to disk) ------------------------------------------------------------
    HYPERPARAMETERS: tuple[str, ...] = ("nz", "m")
    """The attributes saved in checkpoints and restored by :meth:`load_state_dict`: the base trainer's own. Each
    algorithm extends its parent's with the settings it adds (GAN: k, generator_loss; WGAN: n_critic, c; ...)."""

    HYPERPARAMETER_RULES: ClassVar[dict] = {"nz": Count(1, fixed=True), "m": Count(1)}
    """What :meth:`load_state_dict` accepts for each of ``HYPERPARAMETERS`` (a :class:`Count`, :class:`Real` or
    :class:`OneOf`); each algorithm extends its parent's. A ``fixed`` one (nz: the networks were built for it) must
    equal the trainer's own value. A name without a rule must keep the type of the trainer's current value."""

    def hyperparameters(self) -> dict:
        """The algorithm's settings (those ``HYPERPARAMETERS`` of its class names) by name."""
        return {name: getattr(self, name) for name in self.HYPERPARAMETERS}

    def generators(self) -> dict:
        """Every random generator the run draws from, by name: the noise generator ``"noise"``, and the ``rng`` of
        any layer of G or D that holds its own (``"D/2."`` for a Dropout(rng=...) at index 2 of D)."""
        found = {"noise": self.rng}
        for net_name, net in (("G", self.G), ("D", self.D)):
            for prefix, module in net.named_modules():
                if isinstance(module.__dict__.get("rng"), backend.Random):
                    found[f"{net_name}/{prefix}"] = module.rng
        return found

    def state_dict(self) -> dict:
        """Everything a resumed run needs from the trainer (the library-wide generator aside: see minigan.io).

        Keys: algorithm, hyperparameters, iterations_done, history (list of records), rngs (name -> generator
        state), G and D (Module state dicts), opt_G and opt_D (Optimizer state dicts), optimizers (their class
        names). On CuPy, reading a generator's state reseeds it (see :meth:`minigan.backend.Random.state_dict`).
        """
        return {
            "algorithm": type(self).__name__,
            "hyperparameters": self.hyperparameters(),
            "iterations_done": self.iterations_done,
            "history": [dict(r) for r in self.history.records],
            "rngs": {name: r.state_dict() for name, r in self.generators().items()},
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "opt_G": self.opt_G.state_dict(),
            "opt_D": self.opt_D.state_dict(),
            "optimizers": {"G": type(self.opt_G).__name__, "D": type(self.opt_D).__name__},
        }

    STATE_KEYS = ("algorithm", "hyperparameters", "iterations_done", "history", "rngs", "G", "D", "opt_G", "opt_D",
                  "optimizers")
    """The keys of :meth:`state_dict`, all of which :meth:`load_state_dict` requires (and no others)."""

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` gave, in place, so that training continues exactly where it stopped.

        A state is input (it may come from a file someone else wrote): every field is checked before anything is
        applied, and a state that is refused leaves the trainer exactly as it was (models, optimizers, generators,
        hyperparameters, step count, history). The checks, each error a ValueError (KeyError for a name that G, D or
        an optimizer lacks) naming the field:

        * the keys are :attr:`STATE_KEYS`, no more, no fewer; the algorithm and optimizer classes match this one's;
        * hyperparameters: exactly :attr:`HYPERPARAMETERS`, each within its :attr:`HYPERPARAMETER_RULES` (type and
          range; nz and the like equal to this trainer's, as the networks were built for them);
        * iterations_done an integer >= 0; history a list of records, each a dict of names to finite numbers;
        * rngs: a state of the expected structure for each of this trainer's :meth:`generators`, no others;
        * G, D: :meth:`minigan.nn.Module.load_state_dict`'s checks (names, shapes, dtype kind, finite values);
          opt_G, opt_D: :meth:`minigan.optim.Optimizer.load_state_dict`'s (step count, hyperparameters, slots).

        Generator states from another backend cannot be restored: they are left as they are, with a warning (the run
        continues, but not bit for bit).
        """
        name = type(self).__name__
        where = f"{name}.load_state_dict"
        if not isinstance(state, Mapping):
            raise StateError(f"{where}: expected a dict (a Trainer.state_dict()), got {type(state).__name__}")
        missing = [k for k in self.STATE_KEYS if k not in state]
        unknown = sorted(str(k) for k in state if k not in self.STATE_KEYS)
        if missing or unknown:
            problems = [f"{what} {keys}" for what, keys in (("lacks", missing), ("has unknown keys", unknown)) if keys]
            raise StateError(f"{where}: the state {' and '.join(problems)}")
        if state["algorithm"] != name:
            raise StateError(f"{where}: the state is from a {_name(state['algorithm'])} trainer")
        hypers = self._check_hyperparameters(state["hyperparameters"], where)
        ours = {"G": type(self.opt_G).__name__, "D": type(self.opt_D).__name__}
        if state["optimizers"] != ours:
            raise StateError(f"{where}: the state's optimizers are {_brief(state['optimizers'], 120)}, this "
                             f"trainer's are {ours}")
        iterations_done = state["iterations_done"]
        if not _is_int(iterations_done) or not 0 <= iterations_done < 2**63:
            raise StateError(f"{where}: iterations_done must be an integer >= 0, got {_brief(iterations_done)}")
        history = _checked_history(state["history"], where)
        generators = self.generators()
        rng_states = state["rngs"]
        if not isinstance(rng_states, Mapping):
            raise StateError(f"{where}: rngs must be a dict of generator states, got {type(rng_states).__name__}")
        if set(rng_states) != set(generators):
            raise StateError(f"{where}: rngs holds generators {_brief(sorted(map(str, rng_states)), 120)}, this "
                             f"trainer has {sorted(generators)}")
        for rng_name, rng_state in rng_states.items():
            check_random_state(rng_state, f"{where}: rngs[{rng_name!r}]")
        plans = {}
        for part, obj in (("G", self.G), ("D", self.D), ("opt_G", self.opt_G), ("opt_D", self.opt_D)):
            try:
                plans[part] = (obj, obj._check_state_dict(state[part]))
            except (KeyError, ValueError, TypeError) as exc:
                detail = exc.args[0] if exc.args else exc
                raise StateError(f"{where}: {part} does not fit: {detail}") from exc
        # everything is checked: apply (nothing below can fail)
        for obj, plan in plans.values():
            obj._apply_state_dict(plan)
        for rng_name, rng_state in rng_states.items():
            restore_random(generators[rng_name], rng_state, f"{name} generator {rng_name!r}")
        for key, value in hypers.items():
            setattr(self, key, value)
        self.history = History(history)
        self.iterations_done = int(iterations_done)

    def _check_hyperparameters(self, given, where: str) -> dict:
        """The state's hyperparameters, each checked against its rule (normalised: ints as int, reals as float)."""
        name = type(self).__name__
        if not isinstance(given, Mapping):
            raise StateError(f"{where}: hyperparameters must be a dict, got {type(given).__name__}")
        unknown = sorted(str(k) for k in set(given) - set(self.HYPERPARAMETERS))
        if unknown:
            raise StateError(f"{where}: the state sets {unknown}, which are not hyperparameters of {name} (those "
                             f"are {list(self.HYPERPARAMETERS)})")
        missing = [k for k in self.HYPERPARAMETERS if k not in given]
        if missing:
            raise StateError(f"{where}: the state lacks hyperparameters {missing} of {name}")
        checked = {}
        for key in self.HYPERPARAMETERS:
            rule = self.HYPERPARAMETER_RULES.get(key) or SameType()
            try:
                checked[key] = rule.check(given[key], getattr(self, key))
            except ValueError as exc:
                raise StateError(f"{where}: hyperparameter {key} = {_brief(given[key])}: {exc}") from None
        return checked

    def train(self, sample_data, iterations: int, callbacks=(), progress: bool = True, desc: str | None = None):
        """Run ``iterations`` outer iterations; ``sample_data(m)`` returns a batch of m real samples.

        After each iteration every callback is called as ``callback(trainer, record)``. Returns the history.
        """
        name = type(self).__name__
        bar = progress_bar(
            range(iterations), desc=desc or name, disable=not progress, leave=False, dynamic_ncols=True
        )
        sample_data = self._finite_batches(sample_data)
        for _ in bar:
            t0 = time.perf_counter()
            try:
                with fast.threads(self.m):  # minigan's threads for this iteration's layers, BLAS held at one
                    values = self.iteration(sample_data)
            except NonFiniteError as exc:  # by type: a wrong shape or dtype is a bug to see as it is, not divergence
                what = "a layer received NaN or inf" if isinstance(exc, LayerInputError) else str(exc)
                raise TrainingDiverged(
                    f"{name}: {what} during iteration {self.iterations_done + 1} (weights or activations "
                    f"overflowed); lower the learning rate or check the data scaling"
                ) from exc
            record = {k: float(v) for k, v in values.items()}
            backend.synchronize()
            self.iterations_done += 1
            record = {"iteration": self.iterations_done, **record, "time": time.perf_counter() - t0}
            bad = [k for k, v in record.items() if not math.isfinite(v)]
            if bad:
                raise TrainingDiverged(
                    f"{name}: {', '.join(bad)} became non-finite at iteration "
                    f"{self.iterations_done} ({record}); lower the learning rate or check the data scaling"
                )
            self.history.append(record)
            if progress and (self.iterations_done % 10 == 0 or self.iterations_done == 1):
                bar.set_postfix({k: f"{v:.3g}" for k, v in record.items() if k.startswith("loss")}, refresh=False)
            for callback in callbacks:
                callback(self, record)
        bar.close()
        return self.history

    def _finite_batches(self, sample_data):
        """``sample_data``, refusing a batch that holds NaN or inf before any network sees it. A batch is an array
        of samples, or a tuple of arrays (``(x, labels)`` for conditional models, ``(A, B)`` for translation
        models), each of which is checked."""

        def sample(m):
            batch = sample_data(m)
            arrays = batch if isinstance(batch, tuple) else (batch,)
            if not all(bool(backend.array_module(x).isfinite(x).all()) for x in arrays):
                raise TrainingDiverged(
                    f"{type(self).__name__}: sample_data returned a batch containing NaN or inf at iteration "
                    f"{self.iterations_done + 1}; training stopped before using it (check the data)"
                )
            return batch

        return sample


def check_random_state(state, what: str) -> None:
    """ValueError naming ``what`` unless ``state`` has the structure of a :meth:`minigan.backend.Random.state_dict`:
    {"backend": "numpy", "seed": int >= 0 or None, "bit_generator": a PCG64 state} or {"backend": "cupy",
    "seed": int >= 0}, no other keys. A NumPy state is also tried on a scratch generator (nothing real changes)."""
    if not isinstance(state, Mapping):
        raise StateError(f"{what}: expected a generator state (a dict), got {type(state).__name__}")
    kind = state.get("backend")
    keys = {"numpy": {"backend", "seed", "bit_generator"}, "cupy": {"backend", "seed"}}.get(kind)
    if keys is None:
        raise StateError(f"{what}: backend must be 'numpy' or 'cupy', got {_brief(kind)}")
    if set(state) != keys:
        raise StateError(f"{what}: a {kind} generator state has the keys {sorted(keys)}, got "
                         f"{_brief(sorted(map(str, state)), 120)}")
    seed = state["seed"]
    seed_limit = 2**64 if kind == "cupy" else 2**128
    if not ((seed is None and kind == "numpy") or (_is_int(seed) and 0 <= seed < seed_limit)):
        raise StateError(f"{what}: seed must be an integer >= 0{' or None' if kind == 'numpy' else ''}, got "
                         f"{_brief(seed)}")
    if kind == "cupy":
        return
    bits = state["bit_generator"]
    expected = {"bit_generator": None, "state": None, "has_uint32": None, "uinteger": None}
    if not isinstance(bits, Mapping) or set(bits) != set(expected):
        raise StateError(f"{what}: bit_generator must be a PCG64 state {sorted(expected)}, got {_brief(bits)}")
    inner = bits["state"]
    ok = (bits["bit_generator"] == "PCG64" and isinstance(inner, Mapping) and set(inner) == {"state", "inc"}
          and all(_is_int(inner[k]) and 0 <= inner[k] < 2**128 for k in ("state", "inc"))
          and bits["has_uint32"] in (0, 1) and _is_int(bits["has_uint32"])
          and _is_int(bits["uinteger"]) and 0 <= bits["uinteger"] < 2**32)
    if not ok:
        raise StateError(f"{what}: bit_generator is not a valid PCG64 state: {_brief(bits, 200)}")
    try:
        np.random.PCG64().state = dict(bits)  # numpy's own check, on a scratch generator
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise StateError(f"{what}: bit_generator is not a valid PCG64 state ({exc})") from None


def restore_random(rng: backend.Random, state: dict, what: str) -> bool:
    """Load ``state`` into ``rng``; when it comes from another backend, warn and leave ``rng`` as it is."""
    if state.get("backend") != rng.backend:
        warnings.warn(f"{what}: the saved state is from the {state.get('backend')} backend, the generator lives on "
                      f"{rng.backend}; it keeps its own state, so the resumed run is not bit-exact", stacklevel=3)
        return False
    rng.load_state_dict(state)
    return True


def every(n: int, fn):
    """A callback that calls ``fn(trainer, record)`` every n iterations (and never otherwise)."""

    def callback(trainer, record):
        if trainer.iterations_done % n == 0:
            fn(trainer, record)

    return callback
