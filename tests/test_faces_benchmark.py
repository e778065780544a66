"""benchmarks/faces_dcgan.py at a toy size: both sides train on the same batches with the same noise, and the script
writes the report, the pictures and minigan's generator; the real run's figures come from benchmarks/, never here."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("faces_dcgan", ROOT / "benchmarks" / "faces_dcgan.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["faces_dcgan"] = module
    spec.loader.exec_module(module)
    return module


def test_faces_dcgan_smoke_run_writes_its_report_pictures_and_generator(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("skimage")
    faces = _script()
    out, ckpt = tmp_path / "results", tmp_path / "G.npz"
    argv = ["--iterations", "2", "--batch", "2", "--sample-every", "1", "--out", str(out), "--checkpoint", str(ckpt)]
    assert faces.main(argv) == 0
    for name in ("faces_dcgan.md", "faces_dcgan_side_by_side.png", "faces_dcgan_progress.png",
                 "faces_dcgan_losses.png"):
        assert (out / name).stat().st_size > 0, name
    report = (out / "faces_dcgan.md").read_text()
    assert "--iterations 2 --batch 2" in report and "| minigan |" in report and "| PyTorch twin |" in report
    rows = [line for line in report.splitlines() if line.startswith(("| 1 |", "| 2 |"))]
    assert len(rows) == 2  # a checkerboard score per checkpoint

    # the saved state_dict loads into a fresh dcgan-faces generator (grayscale LFW: one channel)
    from minigan import recipes

    G = recipes.build_generator("dcgan-faces", recipes.default_options("dcgan-faces", channels=1))
    with np.load(ckpt) as saved:
        G.load_state_dict(dict(saved))
        assert set(saved.files) == set(G.state_dict())


def test_faces_dcgan_twin_sees_minigans_batches_and_noise():
    """One iteration each from the same weights, batches and noise: the losses agree to float32 round-off."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("skimage")
    twins = _script().Twins(torch, batch=2, seed=0)
    twins.train_minigan(1)
    twins.train_torch(1)
    ours, theirs = twins.trainer.history.records[0], twins.torch_history[0]
    for key in ("loss_D", "loss_G", "D(x)", "D(G(z))"):
        assert abs(ours[key] - theirs[key]) < 1e-3 * max(1.0, abs(theirs[key])), key


def test_checkerboard_score_sees_a_period_two_pattern():
    faces = _script()
    rng = np.random.default_rng(0)
    smooth = np.cumsum(np.cumsum(rng.standard_normal((8, 1, 64, 64)), axis=2), axis=3)
    checker = smooth / np.abs(smooth).max() + 0.5 * (-1.0) ** np.add.outer(np.arange(64), np.arange(64))
    assert faces.checkerboard_score(checker) > 10 * faces.checkerboard_score(smooth)
