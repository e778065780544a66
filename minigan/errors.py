"""minigan's exception types, by what went wrong rather than by the wording of the message.

    LayerInputError(ValueError)        an input a layer cannot take: rank, size, dtype, backend, non-finite values
    NonFiniteError(FloatingPointError) a NaN or inf met where only finite numbers make sense (a layer's input, ...)
    NonFiniteInputError(LayerInputError, NonFiniteError)
                                       a layer's input holds NaN or inf: both of the above, so that
                                       ``except LayerInputError`` still catches it

Code that must tell divergence (weights or activations overflowed) from a caller's bug (a wrong shape or dtype)
catches :class:`NonFiniteError`; it never reads the message. :class:`minigan.train.Trainer` turns a
``NonFiniteError`` raised during an iteration into :class:`minigan.train.TrainingDiverged`, and lets every other
``LayerInputError`` through as it is.

This module imports nothing from minigan, so that any part of it (minigan.nn included) can raise these.
"""

from __future__ import annotations


class LayerInputError(ValueError):
    """An input that a layer cannot take (rank, size, dtype, backend or non-finite values)."""


class NonFiniteError(FloatingPointError):
    """A NaN or inf where only finite numbers make sense; during training it means the run diverged."""


class NonFiniteInputError(LayerInputError, NonFiniteError):
    """A layer got an input containing NaN or inf (e.g. G(z) after G's weights overflowed)."""


__all__ = ["LayerInputError", "NonFiniteError", "NonFiniteInputError"]
