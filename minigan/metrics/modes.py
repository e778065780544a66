r"""Mode coverage on 2D mixtures, with the protocol of VEEGAN / PacGAN / GDPP.

Protocol (Srivastava et al. 2017, VEEGAN sec. 5.1; Lin et al. 2018, PacGAN sec. 4; docs/design.md, "The 2D toy
protocol"), with its numbers as arguments:

* draw ``n_samples`` (2,500) samples from the generator;
* each sample goes to its nearest true mean (Euclidean distance);
* it is *high quality* when it lies within ``n_std`` (3) standard deviations of that mean;
* a mode is *covered* when at least ``min_samples`` (1) high-quality samples go to it.

Reported (:class:`ModeCoverage`): modes covered out of K, the share of high-quality samples among all samples, and
the KL divergence from uniform of the high-quality samples' mode histogram: with
q_k = (high-quality samples of mode k) / (all high-quality samples),

    KL(q || U_K) = \sum_{k: q_k > 0} q_k log(q_k K),

which is 0 when every mode gets the same share and log K when one mode gets everything (0 log 0 = 0).

When *no* sample is high quality the histogram is empty and q is not a distribution, so the KL is undefined. We
report ``kl = inf`` then, not NaN: it is the worst outcome of the protocol (nothing on any mode), it sorts after
every finite KL (<= log K) and it survives averaging over seeds (a mean over seeds that contains such a run is inf,
which says "some seed put no sample on any mode" instead of silently dropping that seed as nanmean would).
``ModeCoverage.high_quality == 0`` and ``modes_covered == 0`` say the same thing directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minigan import backend

N_SAMPLES = 2500  # samples scored per run (VEEGAN, PacGAN, GDPP)
N_STD = 3.0  # a sample is high quality within N_STD standard deviations of its nearest mean
MIN_SAMPLES = 1  # a mode is covered with at least MIN_SAMPLES high-quality samples


@dataclass
class ModeCoverage:
    """The protocol's numbers for one set of samples.

    modes_covered: modes with >= min_samples high-quality samples (0..n_modes).
    n_modes:       K, the number of true means.
    high_quality:  share (0..1) of all samples within n_std standard deviations of their nearest mean.
    kl:            KL(q || uniform) of the high-quality samples' mode histogram q, in nats, 0 <= kl <= log K;
                   ``inf`` when no sample is high quality (q undefined; see the module docstring).
    counts:        (K,) int, high-quality samples per mode.
    """

    modes_covered: int
    n_modes: int
    high_quality: float
    kl: float
    counts: np.ndarray

    def __str__(self):
        return (f"{self.modes_covered}/{self.n_modes} modes, {100 * self.high_quality:.1f}% high quality, "
                f"KL {self.kl:.3f}")


def mode_coverage(samples, means, std: float, n_std: float = N_STD, min_samples: int = MIN_SAMPLES) -> ModeCoverage:
    """Score samples (M, D) against the K true means (K, D) of an isotropic mixture of standard deviation ``std``.

    Samples that are NaN or inf are never high quality (they still count in the denominator of the share).
    Raises ValueError on wrong shapes, an empty sample set, or a non-positive std / n_std / min_samples.
    """
    means = np.asarray(means, dtype=np.float64)
    if means.ndim != 2 or len(means) == 0:
        raise ValueError(f"mode_coverage: means must have shape (K, D) with K >= 1, got {means.shape}")
    x = np.asarray(backend.to_numpy(samples), dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != means.shape[1]:
        raise ValueError(f"mode_coverage: samples must have shape (M, {means.shape[1]}) like the means, got {x.shape}")
    if len(x) == 0:
        raise ValueError("mode_coverage: no samples to score")
    if not std > 0 or not n_std > 0:
        raise ValueError(f"mode_coverage: std and n_std must be positive, got std={std}, n_std={n_std}")
    if min_samples < 1:
        raise ValueError(f"mode_coverage: min_samples must be >= 1, got {min_samples}")
    finite = np.isfinite(x).all(axis=1)
    d2 = ((np.where(finite[:, None], x, 0.0)[:, None, :] - means[None, :, :]) ** 2).sum(axis=2)  # (M, K)
    nearest = d2.argmin(axis=1)
    dist = np.sqrt(d2[np.arange(len(x)), nearest])
    good = finite & (dist <= n_std * std)
    counts = np.bincount(nearest[good], minlength=len(means))
    n_good = int(counts.sum())
    if n_good:
        q = counts / n_good
        nz = q > 0
        kl = float((q[nz] * np.log(q[nz] * len(means))).sum())
    else:
        kl = float("inf")  # empty histogram: the worst case, see the module docstring
    return ModeCoverage(int((counts >= min_samples).sum()), len(means), n_good / len(x), kl, counts)


def score_generator(sample, mixture, n_samples: int = N_SAMPLES, n_std: float = N_STD,
                    min_samples: int = MIN_SAMPLES) -> ModeCoverage:
    """The protocol end to end: ``sample(n_samples)`` -> (n_samples, 2) samples (e.g. ``trainer.sample``), scored
    against ``mixture.means`` and ``mixture.std`` (a :class:`minigan.data.toy.GaussianMixture2D`)."""
    if n_samples < 1:
        raise ValueError(f"score_generator: n_samples must be >= 1, got {n_samples}")
    return mode_coverage(sample(n_samples), mixture.means, mixture.std, n_std, min_samples)
