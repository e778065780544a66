r"""Mode coverage on 2D mixtures, with the protocol of VEEGAN / PacGAN / GDPP.

Each generated sample goes to its nearest true mean; it is *high quality* when it lies within ``n_std`` (3)
standard deviations of that mean; a mode is *covered* when at least ``min_samples`` (1) high-quality samples go to
it. Reported: modes covered, the share of high-quality samples, and the KL divergence from uniform of the
high-quality samples' mode histogram: with q_k = (high-quality samples of mode k) / (all high-quality samples),
KL = \sum_{k: q_k > 0} q_k log(q_k K), which is 0 when every mode gets the same share and log K when one mode gets
everything.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minigan import backend


@dataclass
class ModeCoverage:
    modes_covered: int
    n_modes: int
    high_quality: float  # share of samples within n_std standard deviations of their nearest mode
    kl: float  # KL(q || uniform) of the high-quality samples' mode histogram
    counts: np.ndarray  # high-quality samples per mode

    def __str__(self):
        return (f"{self.modes_covered}/{self.n_modes} modes, {100 * self.high_quality:.1f}% high quality, "
                f"KL {self.kl:.3f}")


def mode_coverage(samples, means, std: float, n_std: float = 3.0, min_samples: int = 1) -> ModeCoverage:
    """Score (M, 2) samples against (K, 2) true means of a mixture with the given standard deviation."""
    x = backend.to_numpy(samples).astype(np.float64)
    means = np.asarray(means, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != means.shape[1]:
        raise ValueError(f"mode_coverage: samples must have shape (M, {means.shape[1]}), got {x.shape}")
    d2 = ((x[:, None, :] - means[None, :, :]) ** 2).sum(axis=2)
    nearest = d2.argmin(axis=1)
    dist = np.sqrt(d2[np.arange(len(x)), nearest])
    good = np.isfinite(dist) & (dist <= n_std * std)
    counts = np.bincount(nearest[good], minlength=len(means))
    n_good = int(counts.sum())
    q = counts / n_good if n_good else np.zeros(len(means))
    nz = q > 0
    kl = float((q[nz] * np.log(q[nz] * len(means))).sum()) if n_good else float("nan")
    return ModeCoverage(int((counts >= min_samples).sum()), len(means), n_good / max(len(x), 1), kl, counts)
