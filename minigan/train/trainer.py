"""What the three algorithms share: noise, the outer loop, history, callbacks, progress bar, the NaN guard.

Each algorithm subclasses :class:`Trainer` and writes ``iteration(sample_data)`` the way its paper's pseudocode
reads; this module only runs it ``iterations`` times.

The NaN guard stops training with :class:`TrainingDiverged` as soon as a non-finite number shows up, wherever it
shows up: in a batch of real data (checked before any network sees it), in a layer's input during the iteration
(the layers refuse NaN/inf inputs, e.g. G(z) after G's weights overflowed), or in the iteration's logged values.
"""

from __future__ import annotations

import math
import time

from tqdm.auto import tqdm

from minigan import backend
from minigan.nn.module import LayerInputError
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
        G.backward(d_x)
        self.opt_G.step()
        return {"loss_G": loss_G}

    def iteration(self, sample_data) -> dict:  # pragma: no cover - abstract
        """One outer iteration of the algorithm; returns the record to log (floats or 0-d arrays)."""
        raise NotImplementedError

    def train(self, sample_data, iterations: int, callbacks=(), progress: bool = True, desc: str | None = None):
        """Run ``iterations`` outer iterations; ``sample_data(m)`` returns a batch of m real samples.

        After each iteration every callback is called as ``callback(trainer, record)``. Returns the history.
        """
        name = type(self).__name__
        bar = tqdm(range(iterations), desc=desc or name, disable=not progress, leave=False, dynamic_ncols=True)
        sample_data = self._finite_batches(sample_data)
        for _ in bar:
            t0 = time.perf_counter()
            try:
                values = self.iteration(sample_data)
            except LayerInputError as exc:
                if "NaN or inf" not in str(exc):  # a wrong shape or dtype is a bug to see as it is, not divergence
                    raise
                raise TrainingDiverged(
                    f"{name}: a layer received NaN or inf during iteration {self.iterations_done + 1} (weights or "
                    f"activations overflowed); lower the learning rate or check the data scaling"
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


def every(n: int, fn):
    """A callback that calls ``fn(trainer, record)`` every n iterations (and never otherwise)."""

    def callback(trainer, record):
        if trainer.iterations_done % n == 0:
            fn(trainer, record)

    return callback
