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
import time
import warnings

from minigan import backend, fast
from minigan.errors import LayerInputError, NonFiniteError
from minigan.progress import progress_bar
from minigan.train.history import History


class TrainingDiverged(FloatingPointError):
    """A loss became NaN or infinite: training stops instead of going on with garbage."""


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

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` gave, in place, so that training continues exactly where it stopped.

        The algorithm and optimizer classes must match; G, D and the optimizers must fit (names and shapes), else
        nothing of them changes. Generator states from another backend cannot be restored: they are left as they
        are, with a warning (the run continues, but not bit for bit).
        """
        name = type(self).__name__
        if state["algorithm"] != name:
            raise ValueError(f"{name}.load_state_dict: the state is from a {state['algorithm']} trainer")
        unknown = sorted(set(state["hyperparameters"]) - set(self.HYPERPARAMETERS))
        if unknown:
            raise ValueError(f"{name}.load_state_dict: the state sets {unknown}, which are not hyperparameters of "
                             f"{name} (those are {list(self.HYPERPARAMETERS)})")
        ours = {"G": type(self.opt_G).__name__, "D": type(self.opt_D).__name__}
        if state["optimizers"] != ours:
            raise ValueError(f"{name}.load_state_dict: the state's optimizers are {state['optimizers']}, this "
                             f"trainer's are {ours}")
        parts = (("G", self.G), ("D", self.D), ("opt_G", self.opt_G), ("opt_D", self.opt_D))
        before = {key: obj.state_dict() for key, obj in parts}
        part = None
        try:
            for part, obj in parts:
                obj.load_state_dict(state[part])
        except (KeyError, ValueError) as exc:
            for key, obj in parts:  # put back what was loaded before the failure
                obj.load_state_dict(before[key])
            detail = exc.args[0] if exc.args else exc
            raise ValueError(f"{name}.load_state_dict: {part} does not fit: {detail}") from exc
        generators = self.generators()
        for rng_name, rng_state in state["rngs"].items():
            if rng_name in generators:
                restore_random(generators[rng_name], rng_state, f"{name} generator {rng_name!r}")
        for key, value in state["hyperparameters"].items():
            setattr(self, key, value)
        self.history = History([dict(r) for r in state["history"]])
        self.iterations_done = int(state["iterations_done"])

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
        of samples, or a tuple whose first element is (``(x, labels)`` for conditional models)."""

        def sample(m):
            batch = sample_data(m)
            x = batch[0] if isinstance(batch, tuple) else batch  # (x, labels) for conditional models
            if not bool(backend.array_module(x).isfinite(x).all()):
                raise TrainingDiverged(
                    f"{type(self).__name__}: sample_data returned a batch containing NaN or inf at iteration "
                    f"{self.iterations_done + 1}; training stopped before using it (check the data)"
                )
            return batch

        return sample


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
