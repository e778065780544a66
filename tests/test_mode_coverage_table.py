"""benchmarks/mode_coverage_table.py end to end on tiny settings: it trains, scores, writes one CSV row per run,
merges CSVs from several processes into one table, and gives the decayed WGAN-GP row its learning-rate schedule."""

from __future__ import annotations

import csv
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
import mode_coverage_table as mct

from minigan import optim


def test_runs_scores_writes_and_merges(tmp_path, capsys):
    common = ["--mixtures", "ring", "--iterations", "3", "--hidden", "8", "--batch", "16"]
    first = mct.main(common + ["--algorithms", "gan-ns", "wgan-gp-decay", "--seeds", "1", "--out", str(tmp_path / "a")])
    second = mct.main(common + ["--algorithms", "gan-ns", "--seeds", "1", "--first-seed", "1",
                                "--out", str(tmp_path / "b")])
    assert [(r["algorithm"], r["seed"], r["iterations"]) for r in first + second] == [
        ("GAN (non-saturating)", 0, 3), ("WGAN-GP (lr 1e-3, linear decay)", 0, 3), ("GAN (non-saturating)", 1, 3)]
    for r in first + second:
        assert 0 <= r["modes"] <= 8 and r["n_modes"] == 8 and 0.0 <= r["high_quality"] <= 1.0
    assert (tmp_path / "a" / "scatter_gan-ns_ring.png").stat().st_size > 0  # seed 0 draws its picture
    with open(tmp_path / "a" / "coverage.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 2
    capsys.readouterr()
    merged = mct.main(["--merge", str(tmp_path / "a" / "coverage.csv"), str(tmp_path / "b" / "coverage.csv")])
    out = capsys.readouterr().out
    assert len(merged) == 3
    ns_row = next(line for line in out.splitlines() if "minigan GAN (non-saturating)" in line)
    assert ns_row.count("|") == 8 and f"{first[0]['modes']}, {second[0]['modes']}" in ns_row  # both seeds, one row
    assert "published: VEEGAN" in out


@pytest.mark.parametrize("short, decays", [("wgan-gp-decay", True), ("wgan-gp", False)])
def test_only_the_decay_row_decays(monkeypatch, short, decays):
    seen = []
    real_train = mct.WGANGP.train

    def spy(self, data, iterations, callbacks=(), **kw):
        seen.append([c for c in callbacks if isinstance(c, optim.LinearDecay)])
        return real_train(self, data, iterations, callbacks=callbacks, **kw)

    monkeypatch.setattr(mct.WGANGP, "train", spy)
    algo = next(a for a, s in mct.SHORT.items() if s == short)
    cfg = dict(mct.ALGORITHMS[algo], iterations=2)
    row = mct.run_one(algo, cfg, "ring", 0, batch=16, hidden=8, out=None)
    assert row["iterations"] == 2
    assert bool(seen[0]) == decays
    if decays:
        assert seen[0][0].iterations == 2
