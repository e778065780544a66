"""The ``minigan`` console script, end to end: ``minigan train gan-toy|wgan-toy|wgan-gp-toy``.

Run in-process through ``minigan.cli.main([...])`` and once as a real process (``python -m minigan``): the run
writes samples.png, samples.npy (2,500 samples, shape (2500, 2)), losses.png and history.csv (one row per
iteration) and exits 0. Bad arguments exit non-zero with ONE line on stderr saying what is wrong.
"""

from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
import pytest

from minigan import backend
from minigan.cli import main

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
                          timeout=300)
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
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert len(proc.stderr.strip().splitlines()) == 1 and "nope" in proc.stderr


@pytest.mark.skipif(backend.cupy_available(), reason="CuPy works here: nothing to refuse")
def test_unavailable_cupy_backend_is_one_line(tmp_path, capsys):
    code = run_main(train_args(tmp_path / "out", "gan-toy", "--backend", "cupy"))
    err = capsys.readouterr().err
    assert code != 0
    assert len(err.strip().splitlines()) == 1 and "CuPy" in err
