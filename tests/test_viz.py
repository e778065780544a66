"""minigan.viz: the sample grid's layout and pixel mapping, and that every picture is really written."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from minigan import viz
from minigan.data import ring
from minigan.train import History


def test_grid_places_each_image_row_by_row():
    images = np.stack([np.full((1, 3, 2), v) for v in (-1.0, 0.0, 1.0, 0.5, -0.5)])  # (5, 1, 3, 2)
    grid = viz.image_grid(images, nrow=2, padding=1)
    assert grid.shape == (3 * (3 + 1) + 1, 2 * (2 + 1) + 1) and grid.dtype == np.uint8
    expected = [0, 128, 255, 191, 64]  # -1 -> 0, 0 -> 127.5 rounds to 128, 1 -> 255, 0.5 -> 191, -0.5 -> 64
    for i, value in enumerate(expected):
        r, q = divmod(i, 2)
        top, left = 1 + r * 4, 1 + q * 3
        assert (grid[top:top + 3, left:left + 2] == value).all(), f"image {i}"
    assert (grid[0] == 0).all() and (grid[:, 0] == 0).all()  # padding is black
    assert (grid[9:12, 4:6] == 0).all()  # the missing sixth cell stays empty


def test_grid_rgb_keeps_channels_and_clips():
    images = np.zeros((4, 3, 2, 2))
    images[:, 0] = 5.0  # red far above the range: clipped to 255
    images[:, 2] = -7.0  # blue below: clipped to 0
    grid = viz.image_grid(images, padding=0)
    assert grid.shape == (4, 4, 3)
    assert (grid[..., 0] == 255).all() and (grid[..., 1] == 128).all() and (grid[..., 2] == 0).all()


def test_grid_default_is_square_and_value_range_is_honoured():
    images = np.linspace(0, 1, 9 * 4).reshape(9, 1, 2, 2)
    grid = viz.image_grid(images, padding=0, value_range=(0.0, 1.0))
    assert grid.shape == (6, 6)
    assert grid.min() == 0 and grid.max() == 255


@pytest.mark.parametrize("shape", [(2, 2, 3, 3), (2, 3), (0, 1, 2, 2)])
def test_grid_refuses_what_is_not_a_batch_of_images(shape):
    with pytest.raises(ValueError, match="image_grid"):
        viz.image_grid(np.zeros(shape))


def test_pictures_are_written(tmp_path):
    images = np.random.default_rng(0).uniform(-1, 1, (6, 1, 5, 5))
    path = viz.save_image_grid(images, tmp_path / "grid.png", nrow=3, scale=2)
    back = plt.imread(path)
    assert back.shape[:2] == (2 * (2 * 7 + 2), 2 * (3 * 7 + 2))
    mix = ring()
    points = np.repeat(mix.means, 10, axis=0) + mix.std * np.random.default_rng(1).standard_normal((80, 2))
    viz.scatter_2d(points, mix.means, mix.std, title="t", path=tmp_path / "s.png")
    history = History()
    for i in range(5):
        history.append({"iteration": i + 1, "loss_D": 1.0 / (i + 1), "loss_G": float(i), "D(x)": 0.5})
    viz.loss_curves(history, path=tmp_path / "l.png")
    for name in ("s.png", "l.png"):
        assert plt.imread(tmp_path / name).size > 0


def test_long_scatter_title_wraps_inside_the_figure():
    title = "WGAN-GP (lr 1e-3, linear decay), grid25, seed 0: 25/25 modes, 96.4% high quality, KL 0.007"
    fig = viz.scatter_2d(np.zeros((4, 2)), title=title)
    shown = fig.axes[0].get_title()
    assert shown.replace("\n", " ") == title and all(len(line) <= 60 for line in shown.split("\n"))
    fig.canvas.draw()
    box = fig.axes[0].title.get_window_extent()
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width  # nothing cut off at the figure's edges
    plt.close(fig)


def test_side_by_side_shows_each_grid_under_its_caption(tmp_path):
    left, right = np.full((4, 1, 3, 3), -1.0), np.full((4, 1, 3, 3), 1.0)
    fig = viz.side_by_side([("this run", left), ("shipped, trained for 30 epochs", right)], nrow=2)
    assert [ax.get_title() for ax in fig.axes] == ["this run", "shipped, trained for 30 epochs"]
    assert fig.axes[0].images[0].get_array().max() == 0 and fig.axes[1].images[0].get_array().max() == 255
    plt.close(fig)
    viz.side_by_side([("a", left)], path=tmp_path / "p.png")
    assert plt.imread(tmp_path / "p.png").shape[0] > 0
