"""minigan.bench: the work model, the reports and the ``minigan bench`` command (tiny settings: this checks that
the suite runs and reports, not how fast anything is; speed claims come from running it, see the README)."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from minigan import bench
from minigan.cli import main


def test_step_work_matches_design():
    """DESIGN.md: 10.29 GFLOP per canonical step at batch 64. minigan's count (GEMMs only, D's first-layer input
    gradient in the D step not counted) gives 10.37; the work scales linearly with the batch."""
    assert bench.step_gflop(64) == pytest.approx(10.29, rel=0.02)
    assert bench.step_gflop(256) == pytest.approx(4 * bench.step_gflop(64), rel=1e-9)


def test_run_and_reports(tmp_path):
    result = bench.run(batches=(4,), backends=["numpy"], steps=1, warmup=0, progress=lambda msg: None, gemm_size=128)
    (row,) = result["steps"]
    assert row["backend"] == "numpy" and row["batch"] == 4 and row["minigan_s"] > 0
    assert row["peak_mib"] > 0 and row["memory_ratio"] > 0
    if row.get("threads", 1) > 1:  # NumPy on more than one thread: the one-thread step timed in the same rounds
        assert row["one_thread_s"] > 0 and row["speedup_from_threads"] > 0
    assert len(result["layers"]) == 9 + 7  # every layer of G and D
    assert result["gemm_peak_gflops"]["numpy"] > 0
    (profile,) = result["profiles"]
    assert profile["backend"] == "numpy" and profile["batch"] == 4 and len(profile["layers"]) == 9 + 7
    paths = bench.write_reports(result, tmp_path)
    for p in paths:
        assert p.stat().st_size > 0
    report = paths[0].read_text()
    assert "| numpy | 4 |" in report
    assert "Where the step's time goes (numpy, batch 4)" in report and "| D2 | Conv2d(64, 128) | 3 / 3 |" in report
    assert "Adam" in (tmp_path / "bench_profile.csv").read_text()


def test_twin_is_timed_when_torch_is_there():
    pytest.importorskip("torch")
    result = bench.run(batches=(2,), backends=["numpy"], steps=1, warmup=0, layers=False, memory=False,
                       progress=lambda msg: None, gemm_size=128)
    (row,) = result["steps"]
    assert row["twin"] == "torch-cpu" and row["torch_s"] > 0
    assert row["ratio_minigan_over_torch"] == pytest.approx(row["minigan_s"] / row["torch_s"])


def test_each_layer_is_timed_beside_its_twin():
    """bench.layer_times: every layer of G and D with its torch twin layer, in the same rounds, in order."""
    torch = pytest.importorskip("torch")
    rows = bench.layer_times(2, steps=2, warmup=0, torch=torch)
    assert [(r["net"], r["index"]) for r in rows] == [("G", i) for i in range(9)] + [("D", i) for i in range(7)]
    assert all(r["forward_s"] > 0 and r["torch_forward_s"] > 0 and r["torch_backward_s"] >= 0 for r in rows)
    assert rows[4]["layer"].startswith("ConvTranspose2d(128, 64") and rows[4]["gflop_forward"] > 0


def test_cli_json_is_one_object():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["bench", "--json", "--batch", "2", "--steps", "1", "--warmup", "0", "--no-layers",
                     "--backends", "numpy", "--gemm-size", "128"]) == 0
    summary = json.loads(out.getvalue())
    assert summary["numpy"] and summary["machine"]
    assert summary["steps"]["numpy"]["2"]["step_s"] > 0


def test_interleaved_times_takes_the_functions_in_turn_each_after_an_untimed_call():
    """Round by round, every function runs twice in a row (an untimed settling call, then the timed one) before the
    next function runs; warm-up rounds run each once; one time per function and round comes back."""
    calls, synced = [], []
    fns = [lambda name=name: calls.append(name) for name in "abc"]
    syncs = [lambda name=name: synced.append(name) for name in "abc"]
    times = bench.interleaved_times(fns, syncs, steps=2, warmup=1)
    assert "".join(calls) == "abc" + "aabbcc" * 2
    assert synced == calls  # every call is synchronised before the next one starts
    assert [len(t) for t in times] == [2, 2, 2] and all(s >= 0 for t in times for s in t)


def test_one_thread_runs_the_step_on_one_thread_and_restores_the_count():
    from minigan import parallel

    previous = parallel.num_threads()
    seen = []
    try:
        parallel.set_num_threads(3)
        bench.one_thread(lambda: seen.append(parallel.num_threads()), 3)()
        assert seen == [1] and parallel.num_threads() == 3
    finally:
        parallel.set_num_threads(previous)


@pytest.mark.parametrize("argv, message", [
    (["--steps", "0"], "--steps must be an integer >= 1, got '0'"),
    (["--batch", "64", "1"], "a batch size must be an integer >= 2, got '1'"),
    (["--warmup", "-1"], "--warmup must be an integer >= 0, got '-1'"),
    (["--gemm-size", "big"], "--gemm-size must be an integer >= 1, got 'big'"),
])
def test_cli_refuses_settings_it_cannot_time(argv, message, capsys):
    """A bad setting is a one-line usage error before anything runs, not a traceback from deep in a run."""
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
