"""Data: the 2D toy mixtures of the mode-collapse literature (more loaders arrive with the data issue)."""

from minigan.data.toy import GaussianMixture2D, grid, ring

__all__ = ["GaussianMixture2D", "grid", "ring"]
