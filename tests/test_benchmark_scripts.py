"""The benchmark scripts behind benchmarks/results (fast_policy, elementwise_order, wgan_gp_cost) run and write the
tables they claim, at small sizes; the figures themselves come from benchmarks/, never from here."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

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
