"""Pictures: sample grids of images, 2D samples over the true modes, loss curves (matplotlib; headless machines
fall back to Agg)."""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np

from minigan import backend


def image_grid(images, nrow: int | None = None, padding: int = 2, value_range=(-1.0, 1.0)) -> np.ndarray:
    """Tile a batch of images (N, C, H, W), C = 1 or 3, into one picture, row by row, ``nrow`` images per row
    (default: as square as possible), with ``padding`` pixels of black between them.

    Pixel values are mapped linearly from ``value_range`` (the generators' tanh range by default) to [0, 255] and
    clipped. Returns uint8 of shape (rows * (H + p) + p, nrow * (W + p) + p) for C = 1, with a trailing 3 for C = 3.
    """
    x = backend.to_numpy(images)
    if x.ndim == 3:  # (N, H, W): one channel
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"image_grid: expected images of shape (N, 1 or 3, H, W), got {x.shape}")
    n, c, h, w = x.shape
    if n == 0:
        raise ValueError("image_grid: no images to draw")
    nrow = nrow or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / nrow))
    lo, hi = value_range
    pixels = np.clip((x.astype(np.float64) - lo) / (hi - lo), 0.0, 1.0)
    pixels = np.round(255 * pixels).astype(np.uint8).transpose(0, 2, 3, 1)  # (N, H, W, C)
    p = padding
    grid = np.zeros((rows * (h + p) + p, nrow * (w + p) + p, c), dtype=np.uint8)
    for i in range(n):
        r, q = divmod(i, nrow)
        top, left = p + r * (h + p), p + q * (w + p)
        grid[top:top + h, left:left + w] = pixels[i]
    return grid[..., 0] if c == 1 else grid


def save_image_grid(images, path, nrow: int | None = None, value_range=(-1.0, 1.0), scale: int = 2):
    """Write :func:`image_grid` as a PNG, each pixel drawn as a ``scale`` x ``scale`` block (28-pixel digits are
    small on a screen). Returns the path."""
    grid = image_grid(images, nrow=nrow, value_range=value_range)
    grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    plt.imsave(path, grid, cmap="gray" if grid.ndim == 2 else None, vmin=0, vmax=255)
    return path


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
    ax.set_title("\n".join(textwrap.wrap(title, 60)), fontsize=8)  # a long title wraps instead of leaving the figure
    ax.legend(loc="upper right", fontsize=7)
    if own:
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=120)
            plt.close(fig)
        return fig
    return ax


def loss_curves(history, keys=None, path=None, title: str = ""):
    """Per-iteration curves of the given history columns (default: every column whose name starts with "loss")."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    it = history["iteration"]
    if keys is None:
        keys = [k for k in history.columns if k.startswith("loss")]
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


def side_by_side(panels, nrow: int | None = None, title: str = "", path=None, size: float = 4.5):
    """Image grids next to each other, one per (caption, images) pair of ``panels``: e.g. what a short run drew
    beside what the shipped, fully trained generator draws (:mod:`minigan.pretrained`). Captions are wrapped."""
    panels = list(panels)
    fig, axes = plt.subplots(1, len(panels), figsize=(size * len(panels), size + 0.6), squeeze=False)
    for ax, (caption, images) in zip(axes[0], panels, strict=True):
        ax.imshow(image_grid(images, nrow=nrow), cmap="gray")
        ax.set_title(textwrap.fill(caption, 48), fontsize=9)
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig
