"""Minibatches of a dataset held in host memory, shuffled each epoch, as model input on the active backend.

Order. Epoch e visits the N samples in the order ``permutation_e = default_rng([seed, e]).permutation(N)``
(NumPy, on the host, whatever the backend): each sample once per epoch, and epoch e's order depends only
on (seed, e). The whole position in the stream is therefore three integers, (seed, epoch, position), which
is what :meth:`Batches.state_dict` saves; loading them resumes the exact same sequence of batches.

Scaling. A batch leaves as the backend's default float dtype in [-1, 1]:

    x = (v - (hi + lo) / 2) / ((hi - lo) / 2),
    (lo, hi) = (0, 255) for integer images, (0, 1) for float images,

so 0 -> -1 and 255 -> +1, the range of a generator ending in tanh.

Layout. Images go out NCHW: (N, H, W) -> (N, 1, H, W); (N, H, W, C) -> (N, C, H, W) (pass layout="NCHW" when
the array is NCHW already). Flat samples (N, D), such as 2D points, stay (N, D).
"""

from __future__ import annotations

import numpy as np

from minigan import backend

LAYOUTS = ("NHWC", "NCHW")


def default_value_range(images: np.ndarray) -> tuple[float, float]:
    """(0, 255) for integer images, (0, 1) for float images (booleans count as (0, 1))."""
    if images.dtype == np.bool_ or np.issubdtype(images.dtype, np.floating):
        return 0.0, 1.0
    return 0.0, 255.0


def to_model_input(images, layout: str = "NHWC", value_range=(0.0, 255.0), dtype=None):
    """A batch of images as the models want it: NCHW (or (N, D) for flat samples), scaled from
    ``value_range`` to [-1, 1] (``value_range=None``: no scaling), in ``dtype`` (default: the backend's), on
    the active backend.

    The array moves to the backend first and is converted there: a uint8 batch crosses to the GPU in a quarter
    of the bytes of a float32 one.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    dtype = np.dtype(dtype or backend.default_dtype())
    x = backend.to_backend(images)
    if x.ndim == 3:  # (N, H, W): one channel
        x = x[:, None, :, :]
    elif x.ndim == 4 and layout == "NHWC":
        x = x.transpose(0, 3, 1, 2)
    elif x.ndim not in (2, 4):
        raise ValueError(
            "expected samples of shape (N, D), (N, H, W) or (N, H, W, C) / (N, C, H, W), "
            f"got {tuple(x.shape)}"
        )
    x = x.astype(dtype, order="C")  # a fresh contiguous array, so the scaling below can work in place
    if value_range is not None:
        lo, hi = value_range
        x -= dtype.type((hi + lo) / 2)  # centre of the range -> 0
        x /= dtype.type((hi - lo) / 2)  # half-width -> 1 (exact at the ends: 127.5 / 127.5)
    return x


class Batches:
    """Shuffled minibatches of ``images`` (and ``labels``), epoch after epoch.

    images:      host array, (N, H, W), (N, H, W, C) (or NCHW with layout="NCHW"), or flat (N, D).
    labels:      None or (N,) integers; batches are then ``(x, labels)`` tuples (what conditional trainers
                 expect).
    batch_size:  samples per batch when iterating (``sample(m)`` may ask for any m).
    shuffle:     False visits the samples in their stored order every epoch.
    drop_last:   True skips an epoch's last, incomplete batch (every batch has exactly the size asked for);
                 False returns it, smaller.
    seed:        the epoch orders depend only on (seed, epoch); None picks a seed at random (still saved).
    value_range: the range mapped onto [-1, 1]; "auto" = (0, 255) for integer data, (0, 1) for float data;
                 None leaves values as they are.

    Use ``for x in batches`` to run one epoch (the rest of the current one, if it was started), or the
    ``sample(m)`` method as the ``sample_data`` of :meth:`minigan.train.Trainer.train`.
    ``epoch`` is the 0-based index of the epoch the most recent batch came from.
    """

    def __init__(
        self,
        images,
        labels=None,
        batch_size: int = 64,
        shuffle: bool = True,
        drop_last: bool = True,
        seed: int | None = 0,
        layout: str = "NHWC",
        value_range="auto",
        dtype=None,
    ):
        images = backend.to_numpy(images)
        if images.ndim not in (2, 3, 4) or len(images) == 0:
            raise ValueError(
                f"Batches: expected a non-empty array of samples (N, ...), got shape {images.shape}"
            )
        if labels is not None:
            labels = backend.to_numpy(labels)
            if labels.shape != (len(images),):
                raise ValueError(f"Batches: labels must have shape ({len(images)},), got {labels.shape}")
        if batch_size < 1:
            raise ValueError(f"Batches: batch_size must be >= 1, got {batch_size}")
        if drop_last and batch_size > len(images):
            raise ValueError(
                f"Batches: batch_size {batch_size} > {len(images)} samples with drop_last=True gives no batch"
            )
        if layout not in LAYOUTS:
            raise ValueError(f"Batches: layout must be one of {LAYOUTS}, got {layout!r}")
        if isinstance(value_range, str):
            if value_range != "auto":
                raise ValueError(
                    f"Batches: value_range must be 'auto', (lo, hi) or None, got {value_range!r}"
                )
            value_range = default_value_range(images)
        if value_range is not None:
            lo, hi = (float(v) for v in value_range)
            if not hi > lo:
                raise ValueError(f"Batches: value_range {value_range} must have lo < hi")
            data_lo, data_hi = float(images.min()), float(images.max())
            if data_lo < lo or data_hi > hi:
                raise ValueError(
                    f"Batches: data range [{data_lo:g}, {data_hi:g}] lies outside value_range "
                    f"({lo:g}, {hi:g}); "
                    f"pass the range the data is in, e.g. value_range=({data_lo:g}, {data_hi:g}), or None"
                )
            value_range = (lo, hi)
        self.images, self.labels = images, labels
        self.batch_size, self.shuffle, self.drop_last = int(batch_size), bool(shuffle), bool(drop_last)
        self.layout, self.value_range, self.dtype = layout, value_range, dtype
        self.seed = int(np.random.default_rng().integers(2**62)) if seed is None else int(seed)
        self.epoch = 0  # index of the current epoch
        self.position = 0  # samples of the current epoch already handed out
        self._order = None  # the current epoch's permutation, rebuilt from (seed, epoch) when needed

    def __len__(self) -> int:
        """Batches of ``batch_size`` per epoch."""
        n, b = len(self.images), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    @property
    def n(self) -> int:
        """Number of samples."""
        return len(self.images)

    def order(self, epoch: int) -> np.ndarray:
        """The sample indices of ``epoch`` in visiting order (host int64 array of length N)."""
        if not self.shuffle:
            return np.arange(self.n)
        return np.random.default_rng([self.seed, epoch]).permutation(self.n)

    def _current_order(self) -> np.ndarray:
        if self._order is None:
            self._order = self.order(self.epoch)
        return self._order

    def _next_indices(self, m: int) -> np.ndarray:
        """The indices of the next batch of (up to) m samples, moving to a new epoch when this one cannot give
        one (empty, or fewer than m left with drop_last)."""
        if m < 1:
            raise ValueError(f"Batches: batch size must be >= 1, got {m}")
        if self.drop_last and m > self.n:
            raise ValueError(
                f"Batches: a batch of {m} from {self.n} samples is impossible with drop_last=True"
            )
        left = self.n - self.position
        if left == 0 or (self.drop_last and left < m):
            self.epoch += 1
            self.position = 0
            self._order = None
        indices = self._current_order()[self.position : self.position + m]
        self.position += len(indices)
        return indices

    def _epoch_has_batch(self) -> bool:
        left = self.n - self.position
        return left >= self.batch_size or (left > 0 and not self.drop_last)

    def _make(self, indices):
        x = to_model_input(self.images[indices], self.layout, self.value_range, self.dtype)
        if self.labels is None:
            return x
        return x, backend.to_backend(self.labels[indices].astype(np.int64))

    def sample(self, m: int | None = None):
        """The next batch of m samples (default ``batch_size``): x, or (x, labels) when there are labels.

        x is NCHW (or (m, D)) in [-1, 1], labels int64 (m,), both on the active backend. With drop_last=False
        the last batch of an epoch may be smaller than m.
        """
        return self._make(self._next_indices(self.batch_size if m is None else int(m)))

    __call__ = sample

    def sampler(self):
        """The ``sample_data(m)`` callable the trainers take (this object's :meth:`sample`)."""
        return self.sample

    def __iter__(self):
        """The batches of one epoch: the rest of the current epoch, or a new epoch if this one is used up."""
        if not self._epoch_has_batch():
            self.epoch += 1
            self.position = 0
            self._order = None
        while self._epoch_has_batch():
            yield self.sample(self.batch_size)

    def state_dict(self) -> dict:
        """Where the stream stands, as plain integers (safe for ``np.savez`` and JSON)."""
        return {"seed": self.seed, "epoch": self.epoch, "position": self.position, "n": self.n}

    def load_state_dict(self, state: dict) -> None:
        """Resume from :meth:`state_dict`: the next batch is the one that would have come next. The state is
        checked whole before anything changes (exactly its four keys, each a non-negative integer; ``n`` this
        dataset's size, ``position`` within it): ValueError naming what is wrong."""
        if not isinstance(state, dict) or set(state) != {"seed", "epoch", "position", "n"}:
            keys = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"Batches: a state has exactly the keys epoch, n, position, seed; got {keys}")
        values = {}
        for key, value in state.items():
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"Batches: state[{key!r}] must be a non-negative integer, got {value!r}")
            values[key] = int(value)
        if values["n"] != self.n:
            raise ValueError(f"Batches: the state was saved for {values['n']} samples, this dataset has {self.n}")
        if values["position"] > values["n"]:
            raise ValueError(f"Batches: position {values['position']} out of range 0..{values['n']}")
        self.seed, self.epoch, self.position = values["seed"], values["epoch"], values["position"]
        self._order = None

    def __repr__(self) -> str:
        return (
            f"Batches({self.n} samples, batch_size={self.batch_size}, shuffle={self.shuffle}, "
            f"drop_last={self.drop_last}, epoch={self.epoch}, position={self.position})"
        )
