"""Mode coverage of four GAN algorithms on the 2D ring (8 modes) and grid (25 modes), next to the published rows.

    OPENBLAS_NUM_THREADS=1 python benchmarks/mode_coverage_table.py --seeds 5 --out /tmp/mode_coverage

For each algorithm, mixture and seed: train minigan's toy G and D (minigan.models.toy_generator/toy_discriminator,
3 hidden layers of ``--hidden`` units, z in R^2) with minigan's trainer, then score 2,500 samples with the protocol
of VEEGAN / PacGAN / GDPP (minigan.metrics.modes: nearest mean, high quality within 3 std, a mode covered with >= 1
high-quality sample). Prints a markdown table (mean ± sd over seeds of modes covered, high-quality %, reverse KL of
the covered-mode histogram from uniform), the published rows of docs/design.md, and the settings used; writes
``coverage.csv`` (one row per run) and, for seed 0, one scatter picture per (algorithm, mixture).

Settings (batch 256 everywhere, as in Gulrajani et al.'s toy experiments; iterations = generator updates):

    algorithm                        trainer                            optimizer (G and D)          iterations
    GAN (saturating)                 GAN, k = 1, log(1 - D(G(z)))      Adam(1e-3, (0.5, 0.999))       5,000
    GAN (non-saturating)             GAN, k = 1, -log D(G(z))          Adam(1e-3, (0.5, 0.999))       5,000
    WGAN (clipping)                  WGAN, n_critic 5, c = 0.1          RMSProp(5e-4)                  5,000
    WGAN-GP                          WGANGP, n_critic 5, lambda = 0.1   Adam(1e-4, (0, 0.9))           5,000
    WGAN-GP (lr 1e-3, linear decay)  WGANGP, n_critic 5, lambda = 0.1   Adam(1e-3 -> 0, (0, 0.9))     20,000

"WGAN-GP" is the paper's toy setting (Adam 1e-4, betas (0, 0.9), n_critic 5, lambda 0.1, batch 256). The decayed
row is ours: the same algorithm with a tenfold rate lowered linearly to 0 over the run (optim.LinearDecay, the
schedule of Gulrajani et al.'s image experiments); it is also ``minigan train wgan-gp-toy --lr 1e-3 --lr-decay``.
The GAN and WGAN settings are minigan's toy recipes (minigan.recipes): DCGAN's Adam betas with the rate raised to
1e-3, and WGAN's RMSProp with the rate and the clipping constant raised tenfold from the image settings (5e-5,
0.01), because a 3-layer MLP critic clipped to 0.01 barely moves on a 2D toy in a few thousand iterations. One
WGAN-GP iteration (batch 256, width 128) costs ~30 ms in NumPy on one core, so a 20,000-iteration run takes
~10 minutes. Override with --iterations / --lr.

Measured: benchmarks/results/mode_coverage.md (5 seeds per row, NumPy float32, one core per process). In short:
with its rate decayed, WGAN-GP covers all 25 grid modes in every seed with 96% of its samples high quality, and
all 8 ring modes; at the paper's constant 1e-4 it covers the ring but not the grid in 5,000 iterations (~19/25,
~5% high quality: the samples still fill the square between the modes). Runs of one table can be split over
processes: ``--seeds 2 --first-seed 3`` in one, ``--seeds 3`` in another, then ``--merge`` their coverage.csv.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time

import numpy as np

from minigan import backend, optim
from minigan.data import grid, ring
from minigan.lab import report
from minigan.metrics.modes import N_SAMPLES, score_generator
from minigan.models import toy_discriminator, toy_generator
from minigan.train import GAN, WGAN, WGANGP, TrainingDiverged

NZ, BATCH, HIDDEN = 2, 256, 128

# name -> trainer settings; "lr" applies to both G and D
ALGORITHMS = {
    "GAN (saturating)": dict(kind="gan", generator_loss="saturating", opt="adam", lr=1e-3, betas=(0.5, 0.999),
                             iterations=5_000),
    "GAN (non-saturating)": dict(kind="gan", generator_loss="non-saturating", opt="adam", lr=1e-3,
                                 betas=(0.5, 0.999), iterations=5_000),
    "WGAN (clipping)": dict(kind="wgan", opt="rmsprop", lr=5e-4, n_critic=5, c=0.1, iterations=5_000),
    "WGAN-GP": dict(kind="wgan-gp", opt="adam", lr=1e-4, betas=(0.0, 0.9), n_critic=5, lam=0.1, iterations=5_000),
    "WGAN-GP (lr 1e-3, linear decay)": dict(kind="wgan-gp", opt="adam", lr=1e-3, betas=(0.0, 0.9), n_critic=5,
                                            lam=0.1, iterations=20_000, decay=True),
}
SHORT = {"GAN (saturating)": "gan-sat", "GAN (non-saturating)": "gan-ns", "WGAN (clipping)": "wgan",
         "WGAN-GP": "wgan-gp", "WGAN-GP (lr 1e-3, linear decay)": "wgan-gp-decay"}
MIXTURES = {"ring": ring, "grid": grid}

# docs/design.md, "The 2D toy protocol": (modes covered, % high quality, source)
PUBLISHED = {
    "grid": [("GAN", 3.3, 0.5, "VEEGAN T1"), ("ALI", 15.8, 1.6, "VEEGAN T1"), ("Unrolled GAN", 23.6, 16, "VEEGAN T1"),
             ("VEEGAN", 24.6, 40, "VEEGAN T1"), ("WGAN-GP", 24.2, 28.7, "GDPP T1"), ("GDPP", 24.8, 68.5, "GDPP T1"),
             ("PacGAN4", 24.8, 93.6, "PacGAN T1, other net, 10 trials")],
    "ring": [("GAN", 1, 99.3, "VEEGAN T1"), ("Unrolled GAN", 7.6, 35.6, "VEEGAN T1"), ("VEEGAN", 8, 52.9, "VEEGAN T1"),
             ("WGAN-GP", 6.8, 59.6, "GDPP T1"), ("GDPP", 8, 71.7, "GDPP T1"),
             ("PacGAN2", 7.9, 95.6, "PacGAN T1, other net")],
}


def make_trainer(cfg: dict, seed: int, batch: int, hidden: int):
    backend.seed(seed)
    G, D = toy_generator(nz=NZ, hidden=hidden), toy_discriminator(hidden=hidden)
    if cfg["opt"] == "adam":
        opt_G, opt_D = optim.Adam(G, cfg["lr"], cfg["betas"]), optim.Adam(D, cfg["lr"], cfg["betas"])
    else:
        opt_G, opt_D = optim.RMSProp(G, cfg["lr"]), optim.RMSProp(D, cfg["lr"])
    if cfg["kind"] == "gan":
        return GAN(G, D, opt_G, opt_D, nz=NZ, m=batch, k=1, generator_loss=cfg["generator_loss"], seed=seed)
    if cfg["kind"] == "wgan":
        return WGAN(G, D, opt_G, opt_D, nz=NZ, m=batch, n_critic=cfg["n_critic"], c=cfg["c"], seed=seed)
    return WGANGP(G, D, opt_G, opt_D, nz=NZ, m=batch, n_critic=cfg["n_critic"], lam=cfg["lam"], seed=seed)


def run_one(algo: str, cfg: dict, mixture_name: str, seed: int, batch: int, hidden: int, out: str | None):
    """Train one (algorithm, mixture, seed); return a CSV row (dict)."""
    mixture = MIXTURES[mixture_name]()
    trainer = make_trainer(cfg, seed, batch, hidden)
    t0 = time.perf_counter()
    diverged = ""
    try:
        schedule = [optim.LinearDecay([trainer.opt_G, trainer.opt_D], cfg["iterations"])] if cfg.get("decay") else []
        trainer.train(mixture.sampler(backend.Random(seed + 1)), cfg["iterations"], callbacks=schedule,
                      progress=False)
        score = score_generator(trainer.sample, mixture, N_SAMPLES)
    except TrainingDiverged as exc:  # reported as such, scored as nothing covered
        diverged, score = str(exc)[:120], None
    seconds = time.perf_counter() - t0
    if score is not None and seed == 0 and out:
        from minigan import viz

        viz.scatter_2d(trainer.sample(N_SAMPLES), mixture.means, mixture.std,
                       title=f"{algo}, {mixture.name}, seed 0: {score}",
                       path=os.path.join(out, f"scatter_{SHORT[algo]}_{mixture_name}.png"))
    return {"algorithm": algo, "mixture": mixture_name, "seed": seed, "iterations": trainer.iterations_done,
            "modes": score.modes_covered if score else 0, "n_modes": mixture.n_modes,
            "high_quality": score.high_quality if score else 0.0, "kl": score.kl if score else math.inf,
            "seconds": round(seconds, 1), "diverged": diverged}


def mean_sd(values) -> str:
    v = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(v)):
        return f"inf ({int((~np.isfinite(v)).sum())} run(s) with no HQ sample)"
    return report.mean_sd(v, digits=2)


def table(rows, mixtures, algorithms) -> str:
    lines = ["| mixture | algorithm | modes covered | high quality % | reverse KL | modes per seed | s / run |",
             "|---|---|---|---|---|---|---|"]
    for mix in mixtures:
        for algo in algorithms:
            rs = [r for r in rows if r["mixture"] == mix and r["algorithm"] == algo]
            if not rs:
                continue
            k = rs[0]["n_modes"]
            per_seed = ", ".join(str(r["modes"]) + ("!" if r["diverged"] else "") for r in rs)
            lines.append(f"| {mix} ({k}) | minigan {algo} | {mean_sd([r['modes'] for r in rs])} | "
                         f"{mean_sd([100 * r['high_quality'] for r in rs])} | {mean_sd([r['kl'] for r in rs])} | "
                         f"{per_seed} | {np.mean([r['seconds'] for r in rs]):.0f} |")
        for name, modes, hq, src in PUBLISHED[mix]:
            lines.append(f"| {mix} | published: {name} ({src}) | {modes} | {hq} | | | |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=5, help="number of seeds (docs/design.md: average over 5)")
    p.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    p.add_argument("--merge", nargs="+", default=None, metavar="CSV",
                   help="train nothing: print the table of the runs in these coverage.csv files (e.g. from runs "
                        "split over several processes)")
    p.add_argument("--mixtures", nargs="+", default=list(MIXTURES), choices=list(MIXTURES))
    p.add_argument("--algorithms", nargs="+", default=list(SHORT.values()), choices=list(SHORT.values()))
    p.add_argument("--iterations", type=int, default=None, help="generator updates for every algorithm "
                   "(default: per algorithm, see the module docstring)")
    p.add_argument("--lr", type=float, default=None, help="learning rate for every algorithm (default: per algorithm)")
    p.add_argument("--batch", type=int, default=BATCH)
    p.add_argument("--hidden", type=int, default=HIDDEN, help="width of G's and D's 3 hidden layers")
    p.add_argument("--out", default="mode_coverage_out", help="folder for coverage.csv and the scatter pictures")
    args = p.parse_args(argv)
    if args.merge:
        rows = []
        for path in args.merge:
            with open(path, newline="") as fh:
                for r in csv.DictReader(fh):
                    rows.append({**r, "seed": int(r["seed"]), "modes": int(r["modes"]), "n_modes": int(r["n_modes"]),
                                 "high_quality": float(r["high_quality"]), "kl": float(r["kl"]),
                                 "seconds": float(r["seconds"])})
        mixtures = [m for m in MIXTURES if any(r["mixture"] == m for r in rows)]
        print(table(rows, mixtures, [a for a in ALGORITHMS if any(r["algorithm"] == a for r in rows)]))
        return rows
    os.makedirs(args.out, exist_ok=True)
    algorithms = [a for a in ALGORITHMS if SHORT[a] in args.algorithms]
    configs = {}
    for algo in algorithms:
        cfg = dict(ALGORITHMS[algo])
        if args.iterations is not None:
            cfg["iterations"] = args.iterations
        if args.lr is not None:
            cfg["lr"] = args.lr
        configs[algo] = cfg
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    print(f"minigan mode coverage: seeds {seeds[0]}..{seeds[-1]}, batch {args.batch}, G/D 3 hidden x {args.hidden}, "
          f"z in R^{NZ}, {N_SAMPLES} samples scored, backend {backend.name()}, numpy {np.__version__}")
    for algo, cfg in configs.items():
        print(f"  {algo}: {cfg}")
    sys.stdout.flush()
    rows = []
    for mix in args.mixtures:
        for algo in algorithms:
            for seed in seeds:
                row = run_one(algo, configs[algo], mix, seed, args.batch, args.hidden, args.out)
                rows.append(row)
                print(f"  {mix} {algo} seed {seed}: {row['modes']}/{row['n_modes']} modes, "
                      f"{100 * row['high_quality']:.1f}% HQ, KL {row['kl']:.3f}, {row['seconds']:.0f} s"
                      + (f"  DIVERGED: {row['diverged']}" if row["diverged"] else ""), flush=True)
                with open(os.path.join(args.out, "coverage.csv"), "w", newline="") as fh:
                    writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
                    writer.writeheader()
                    writer.writerows(rows)
    print()
    print(table(rows, args.mixtures, algorithms))
    print(f"\n('!' marks a seed that diverged: scored 0 modes, KL inf.) CSV: {os.path.join(args.out, 'coverage.csv')}")
    return rows


if __name__ == "__main__":
    main()
