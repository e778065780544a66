"""minigan.lab.bench: the work model, the reports and the ``minigan bench`` command (tiny settings: this checks that
the suite runs and reports, not how fast anything is; speed claims come from running it, see the README)."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys

import pytest

from minigan.cli import main
from minigan.lab import bench


def _gemm_flops_by_hand(n: int) -> int:
    """The GEMM FLOPs of one canonical training iteration at batch n, counted from the layer shapes alone.

    Each GEMM layer's forward is one product rows x inner @ inner x cols (2 FLOPs per multiply-add); its input
    gradient and its weight gradient are one product of the same size each.

        G: Dense(100, 6272)             x (n, 100) @ W^T (100, 6272)
           ConvTranspose2d(128, 64, 4)  x (n*7*7, 128) @ W (128, 64*4*4), then col2im to 14 x 14
           ConvTranspose2d(64, 1, 4)    x (n*14*14, 64) @ W (64, 1*4*4), then col2im to 28 x 28
        D: Conv2d(1, 64, 4, 2, 1)       im2col (n*14*14, 1*4*4) @ W^T (1*4*4, 64)
           Conv2d(64, 128, 4, 2, 1)     im2col (n*7*7, 64*4*4) @ W^T (64*4*4, 128)
           Dense(6272, 1)               x (n, 6272) @ W^T (6272, 1)

    Products per iteration (k = 1): G runs forward twice (the fake batch of the D step, the G step) and backward
    once (weight gradients; input gradients except its first layer's: z needs none). D runs forward three times
    (real, fake, G step); backward on real and fake with weight gradients and input gradients except its first
    layer's (the data needs none), and in the G step with input gradients only, the first layer's included (they
    flow on into G), no weight gradients.
    """
    g = [(n, 100, 128 * 7 * 7), (n * 7 * 7, 128, 64 * 4 * 4), (n * 14 * 14, 64, 1 * 4 * 4)]
    d = [(n * 14 * 14, 1 * 4 * 4, 64), (n * 7 * 7, 64 * 4 * 4, 128), (n, 128 * 7 * 7, 1)]
    # (forwards, weight gradients, input gradients) per layer
    g_products = [(2, 1, 0), (2, 1, 1), (2, 1, 1)]
    d_products = [(3, 2, 1), (3, 2, 3), (3, 2, 3)]
    return sum(2 * rows * inner * cols * sum(products)
               for shapes, counts in ((g, g_products), (d, d_products))
               for (rows, inner, cols), products in zip(shapes, counts))


def test_step_work_is_the_gemm_work_counted_by_hand():
    """step_gflop (from the layers' own shapes and the step's algorithm) equals the count by hand from the layer
    shapes (:func:`_gemm_flops_by_hand`), to rounding: 10.369171456 GFLOP at batch 64 (162,018,304 FLOPs per
    sample). An earlier figure, 10.29 GFLOP checked within 2%, was 1.2 MFLOP per sample short of this count; the
    comparison is now exact, so a change in the work the step does, or in how it is counted, shows here."""
    assert _gemm_flops_by_hand(64) == 10_369_171_456
    for n in (2, 4, 64, 256):
        assert bench.step_gflop(n) == pytest.approx(_gemm_flops_by_hand(n) / 1e9, rel=1e-12), n


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
    from minigan import fast

    previous = fast.num_threads()
    seen = []
    try:
        fast.set_num_threads(3)
        bench.one_thread(lambda: seen.append(fast.num_threads()), 3)()
        assert seen == [1] and fast.num_threads() == 3
    finally:
        fast.set_num_threads(previous)


def test_the_core_library_never_imports_the_lab_or_torch():
    """Every module of minigan outside minigan.lab imports (in a fresh interpreter) without pulling in
    minigan.lab or torch; minigan.lab.torch_twin itself imports torch only when a twin is built."""
    code = """if True:
        import importlib, pathlib, sys
        import minigan
        root = pathlib.Path(minigan.__file__).parent
        for path in sorted(root.rglob("*.py")):
            name = ".".join(("minigan",) + path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
            if not name.startswith("minigan.lab") and name != "minigan.__main__":
                importlib.import_module(name)
        lab = sorted(m for m in sys.modules if m.startswith("minigan.lab"))
        assert not lab and "torch" not in sys.modules, (lab, "torch" in sys.modules)
        import minigan.lab.torch_twin
        assert "torch" not in sys.modules
        print("ok")
    """
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


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
