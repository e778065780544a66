"""2D mixtures of Gaussians used to study mode collapse (Metz et al. 2017, VEEGAN, PacGAN, GDPP).

* ring: 8 Gaussians with means at radius 1 and angles 2 pi i / 8, i = 0..7, standard deviation 0.01;
* grid: 25 Gaussians with means at {-4, -2, 0, 2, 4}^2, standard deviation 0.05.

(The eight angles are 2 pi i / 8 for i = 0..7; ``linspace(0, 2 pi, 8)`` would repeat angle 0 at 2 pi and give seven.)
"""

from __future__ import annotations

import numpy as np

from minigan import backend


class GaussianMixture2D:
    """An equal-weight mixture of isotropic 2D Gaussians with known means (for evaluation)."""

    def __init__(self, means, std: float, name: str = "mixture"):
        self.means = np.asarray(means, dtype=np.float64)
        if self.means.ndim != 2 or self.means.shape[1] != 2:
            raise ValueError(f"means must have shape (K, 2), got {self.means.shape}")
        if std <= 0:
            raise ValueError(f"std must be positive, got {std}")
        self.std = float(std)
        self.name = name

    @property
    def n_modes(self) -> int:
        return len(self.means)

    def sample(self, m: int, rng: backend.Random | None = None, dtype=None):
        """m samples, shape (m, 2), on the generator's backend: pick a mode uniformly, add N(0, std^2 I)."""
        rng = rng or backend.rng()
        xp = backend.array_module(rng.standard_normal((1,)))
        means = xp.asarray(self.means, dtype=dtype or backend.default_dtype())
        modes = rng.integers(0, self.n_modes, (m,))
        return means[modes] + self.std * rng.standard_normal((m, 2), dtype)

    def sampler(self, rng: backend.Random | None = None):
        """A ``sample_data(m)`` callable for the training loops, drawing from ``rng``."""
        rng = rng or backend.rng()
        return lambda m: self.sample(m, rng)

    def __repr__(self):
        return f"GaussianMixture2D({self.name}: {self.n_modes} modes, std={self.std})"


def ring(n_modes: int = 8, radius: float = 1.0, std: float = 0.01) -> GaussianMixture2D:
    """n_modes Gaussians on a circle of the given radius, at angles 2 pi i / n_modes."""
    angles = 2 * np.pi * np.arange(n_modes) / n_modes
    return GaussianMixture2D(radius * np.stack([np.cos(angles), np.sin(angles)], axis=1), std, f"ring{n_modes}")


def grid(side: int = 5, spacing: float = 2.0, std: float = 0.05) -> GaussianMixture2D:
    """side x side Gaussians on a square grid centred at the origin ({-4, -2, 0, 2, 4}^2 by default)."""
    ticks = spacing * (np.arange(side) - (side - 1) / 2)
    means = np.array([(a, b) for a in ticks for b in ticks])
    return GaussianMixture2D(means, std, f"grid{side * side}")
