"""Weight initialisation.

* :func:`uniform_fan_in` — PyTorch's default for Linear/Conv layers, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and
  bias (``kaiming_uniform_(a=sqrt(5))`` works out to this bound); minigan layers start from it so that a PyTorch twin
  built with the same seed-independent rule has the same distribution.
* :func:`dcgan_normal_` — Radford et al. 2016: every weight from N(0, 0.02); BatchNorm scale from N(1, 0.02),
  shifts zero.
* :func:`xavier_uniform` (Glorot & Bengio 2010) and :func:`he_normal` (He et al. 2015), as array factories.

``fan_in`` of a weight of shape (out, in, *k) is in * prod(k); PyTorch reads dimension 1 as "in" for every layer,
ConvTranspose2d included (its weight is (in, out, kh, kw), so its fan_in is out * kh * kw), and so do we.
"""

from __future__ import annotations

import math

from minigan import backend


def fan_in_and_out(shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight shape, read as PyTorch does: dim 1 is input, dim 0 is output."""
    receptive = math.prod(shape[2:]) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def uniform_fan_in(shape, fan_in: int, rng=None, dtype=None):
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)) of the given shape, on the active backend."""
    rng = rng or backend.rng()
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return rng.uniform(-bound, bound, shape, dtype)


def xavier_uniform(shape, gain: float = 1.0, rng=None, dtype=None):
    """U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = fan_in_and_out(shape)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return (rng or backend.rng()).uniform(-a, a, shape, dtype)


def he_normal(shape, negative_slope: float = 0.0, rng=None, dtype=None):
    """N(0, std^2), std = sqrt(2 / ((1 + a^2) fan_in)) for a (Leaky)ReLU of slope a."""
    fan_in, _ = fan_in_and_out(shape)
    std = math.sqrt(2.0 / ((1.0 + negative_slope**2) * fan_in))
    return (rng or backend.rng()).normal(0.0, std, shape, dtype)


def dcgan_normal_(model, std: float = 0.02, rng=None) -> None:
    """Radford et al.'s initialisation, in place: weights ~ N(0, std^2); BatchNorm weight ~ N(1, std^2); biases 0."""
    rng = rng or backend.rng()
    for _, m in model.named_modules():
        is_norm = "running_mean" in m._buffers
        for name, p in m._params.items():
            if name == "weight":
                centre = 1.0 if is_norm else 0.0
                p[...] = rng.normal(centre, std, p.shape, p.dtype)
            else:
                p[...] = 0
