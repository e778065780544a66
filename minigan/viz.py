"""Pictures: 2D samples over the true modes, loss curves (matplotlib; headless machines fall back to Agg)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from minigan import backend


def scatter_2d(samples, means=None, std=None, title: str = "", ax=None, path=None):
    """Generated 2D samples (dots) over the true means (crosses, with a 3-std circle when ``std`` is given)."""
    x = backend.to_numpy(samples)
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(x[:, 0], x[:, 1], s=2, alpha=0.4, color="tab:blue", label="G(z)")
    if means is not None:
        means = np.asarray(means)
        ax.scatter(means[:, 0], means[:, 1], marker="x", color="tab:red", s=40, label="true modes")
        if std is not None:
            for mu in means:
                ax.add_patch(plt.Circle(mu, 3 * std, color="tab:red", fill=False, lw=0.6))
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=8)
    ax.legend(loc="upper right", fontsize=7)
    if own:
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=120)
            plt.close(fig)
        return fig
    return ax


def loss_curves(history, keys=("loss_D", "loss_G"), path=None, title: str = ""):
    """Per-iteration curves of the given history columns."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    it = history["iteration"]
    for k in keys:
        if k in history.columns:
            ax.plot(it, history[k], label=k, lw=0.8)
    ax.set_xlabel("iteration")
    ax.legend()
    ax.set_title(title)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig
