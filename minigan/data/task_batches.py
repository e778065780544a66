"""Batches for a training step that takes several arrays: pix2pix's aligned (A, B), CycleGAN's unpaired (A, B).

A :class:`TaskBatches` reads one batch from each of its named :class:`~minigan.data.Batches` streams and hands
the trainer the tuple ``make`` builds from them:

    pairs = load_edges2digits("train", size=32).batches(64, seed=1)            # (x, labels), x = [A, B] channels
    stream = TaskBatches(lambda b: split_pair(b["pairs"][0]), pairs=pairs)     # sample(m) -> (A, B)

    domains = load_unpaired_digits("usps-like", size=32)
    stream = TaskBatches(lambda b: (b["a"], b["b"]), a=Batches(domains.a.images, seed=1),
                         b=Batches(domains.b.images, seed=2))                  # two streams, never paired

Its ``state_dict`` holds every stream's position, so a checkpoint resumes all of them; ``len`` and ``epoch``
are those of the first stream (an "epoch" of CycleGAN is a pass over domain A, as the reference's dataset length
is max(|A|, |B|) with the shorter one wrapping; here the first stream decides).
"""

from __future__ import annotations

from collections.abc import Callable


class TaskBatches:
    """``sample(m)`` = ``make({name: stream.sample(m) for each stream})``; resumable like one Batches."""

    def __init__(self, make: Callable, **streams):
        if not streams:
            raise ValueError("TaskBatches: give at least one stream, e.g. TaskBatches(make, pairs=Batches(...))")
        self.make, self.streams = make, dict(streams)
        self.primary = next(iter(self.streams.values()))

    def sample(self, m: int | None = None):
        return self.make({name: stream.sample(m) for name, stream in self.streams.items()})

    __call__ = sample

    def __len__(self) -> int:
        return len(self.primary)

    @property
    def epoch(self) -> int:
        return self.primary.epoch

    @property
    def position(self) -> int:
        return self.primary.position

    def state_dict(self) -> dict:
        return {name: stream.state_dict() for name, stream in self.streams.items()}

    def load_state_dict(self, state: dict) -> None:
        """Every stream's state, checked on a copy first: a refused state moves no stream (ValueError)."""
        import copy

        if not isinstance(state, dict) or set(state) != set(self.streams):
            keys = sorted(map(str, state)) if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"TaskBatches: a state has one entry per stream {sorted(self.streams)}, got {keys}")
        for name, stream in self.streams.items():
            copy.copy(stream).load_state_dict(state[name])  # raises before anything real changes
        for name, stream in self.streams.items():
            stream.load_state_dict(state[name])

    def __repr__(self) -> str:
        return f"TaskBatches({', '.join(f'{k}={v!r}' for k, v in self.streams.items())})"
