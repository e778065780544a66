"""The ``minigan`` console script.

    minigan train gan-toy|wgan-toy|wgan-gp-toy [--mixture ring|grid] [--iterations N] [--batch-size M]
                  [--seed S] [--backend numpy|cupy] [--out DIR] [--no-progress]

writes DIR/samples.png (generated points over the true modes), DIR/samples.npy, DIR/losses.png and
DIR/history.csv, and prints the mode coverage of 2,500 samples.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from minigan import backend, optim

TOY_MODELS = ("gan-toy", "wgan-toy", "wgan-gp-toy")


def _toy_trainer(model: str, m: int, seed: int):
    from minigan.models import toy_discriminator, toy_generator
    from minigan.train import GAN, WGAN, WGANGP

    backend.seed(seed)
    G, D = toy_generator(nz=2), toy_discriminator()
    if model == "gan-toy":  # Goodfellow et al., non-saturating G loss, k = 1, Adam
        return GAN(G, D, optim.Adam(G, 1e-3, (0.5, 0.999)), optim.Adam(D, 1e-3, (0.5, 0.999)), nz=2, m=m, k=1,
                   seed=seed)
    if model == "wgan-toy":  # Arjovsky et al.: RMSProp, n_critic 5; c and lr enlarged for a 2D toy
        return WGAN(G, D, optim.RMSProp(G, 5e-4), optim.RMSProp(D, 5e-4), nz=2, m=m, n_critic=5, c=0.1, seed=seed)
    # Gulrajani et al.: Adam(1e-4, 0, 0.9), n_critic 5, lambda 0.1 as in their toy experiments
    return WGANGP(G, D, optim.Adam(G, 1e-4, (0.0, 0.9)), optim.Adam(D, 1e-4, (0.0, 0.9)), nz=2, m=m, n_critic=5,
                  lam=0.1, seed=seed)


def cmd_train(args) -> int:
    from minigan.data import grid, ring
    from minigan.metrics import mode_coverage
    from minigan.viz import loss_curves, scatter_2d

    if args.model not in TOY_MODELS:
        print(f"minigan train: unknown model {args.model!r}; available: {', '.join(TOY_MODELS)}", file=sys.stderr)
        return 2
    if args.iterations < 1 or args.batch_size < 1:
        print("minigan train: --iterations and --batch-size must be positive", file=sys.stderr)
        return 2
    try:
        backend.use(args.backend)
    except backend.BackendError as exc:
        print(f"minigan train: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    mixture = ring() if args.mixture == "ring" else grid()
    trainer = _toy_trainer(args.model, args.batch_size, args.seed)
    history = trainer.train(mixture.sampler(backend.Random(args.seed + 1)), args.iterations,
                            progress=not args.no_progress, desc=args.model)
    samples = backend.to_numpy(trainer.sample(2500))
    score = mode_coverage(samples, mixture.means, mixture.std)
    np.save(out / "samples.npy", samples)
    scatter_2d(samples, mixture.means, mixture.std, title=f"{args.model} on {mixture.name}: {score}",
               path=out / "samples.png")
    loss_curves(history, path=out / "losses.png", title=args.model)
    history.to_csv(out / "history.csv")
    print(f"{args.model} on {mixture.name}, {args.iterations} iterations: {score}")
    print(f"wrote {out / 'samples.png'}, {out / 'samples.npy'}, {out / 'losses.png'}, {out / 'history.csv'}")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, except that a usage error is ONE line on stderr (what is wrong, where to look), exit status 2,
    like the errors ``cmd_train`` reports itself. Subcommand parsers are made of this class too."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="minigan", description="GANs from scratch in NumPy")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a GAN and write samples")
    train.add_argument("model", help=f"one of: {', '.join(TOY_MODELS)}")
    train.add_argument("--mixture", choices=("ring", "grid"), default="ring")
    train.add_argument("--iterations", type=int, default=2000)
    train.add_argument("--batch-size", type=int, default=256)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--backend", choices=backend.BACKENDS, default=backend.name())
    train.add_argument("--out", default="runs/toy")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(func=cmd_train)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
