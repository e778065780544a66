"""What the gradient penalty costs: a WGAN-GP iteration against a WGAN iteration, in minigan and in PyTorch.

    python benchmarks/wgan_gp_cost.py [--batch 64] [--rounds 8] [--out benchmarks/results/wgan_gp_cost.md]

The networks of ``wgan-gp-mnist`` (the canonical DCGAN generator, its discriminator without BatchNorm as the
critic), n_critic = 5. Four steps are timed in turn, round after round (``lab.bench.interleaved_times``): minigan's
WGAN iteration (RMSProp, clipping), minigan's WGAN-GP iteration (Adam, the hand-derived penalty gradient: a backward
pass and one tangent sweep), and the same two under PyTorch, whose penalty gradient is a double backprop
(``autograd.grad(create_graph=True)``). minigan's iterations run inside ``fast.threads()``, as in training.

Reported: the median of each, WGAN-GP / WGAN within each library (what the penalty costs there), and minigan /
PyTorch for each algorithm, all as medians of the round-by-round ratios.
"""

from __future__ import annotations

import argparse
import platform

import numpy as np

from minigan import backend, fast, optim
from minigan.lab.bench import interleaved_times
from minigan.lab.report import emit
from minigan.lab.torch_twin import torch_twin
from minigan.models import dcgan_mnist_critic, dcgan_mnist_generator
from minigan.train import WGAN, WGANGP

NZ, N_CRITIC = 100, 5


def _real(batch: int):
    return np.tanh(np.random.default_rng(0).standard_normal((batch, 1, 28, 28))).astype(np.float32)


def minigan_iteration(algorithm: str, batch: int):
    backend.seed(0)
    G, D = dcgan_mnist_generator(), dcgan_mnist_critic()
    if algorithm == "wgan":
        trainer = WGAN(G, D, optim.RMSProp(G, 5e-5), optim.RMSProp(D, 5e-5), nz=NZ, m=batch, n_critic=N_CRITIC)
    else:
        trainer = WGANGP(G, D, optim.Adam(G, 1e-4, (0.0, 0.9)), optim.Adam(D, 1e-4, (0.0, 0.9)), nz=NZ, m=batch,
                         n_critic=N_CRITIC, lam=10.0)
    real = _real(batch)

    def iteration():
        with fast.threads():
            trainer.iteration(lambda m: real)

    return iteration


def torch_iteration(torch, algorithm: str, batch: int):
    backend.seed(0)
    G, D = torch_twin(dcgan_mnist_generator()), torch_twin(dcgan_mnist_critic())
    if algorithm == "wgan":
        opt_g, opt_d = torch.optim.RMSprop(G.parameters(), 5e-5), torch.optim.RMSprop(D.parameters(), 5e-5)
    else:
        opt_g = torch.optim.Adam(G.parameters(), 1e-4, betas=(0.0, 0.9))
        opt_d = torch.optim.Adam(D.parameters(), 1e-4, betas=(0.0, 0.9))
    real = torch.as_tensor(_real(batch))

    def critic_step():
        opt_d.zero_grad()
        with torch.no_grad():
            fake = G(torch.randn(batch, NZ))
        loss = D(fake).mean() - D(real).mean()
        if algorithm == "wgan-gp":
            eps = torch.rand(batch, 1, 1, 1)
            x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
            (u,) = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
            loss = loss + 10.0 * ((u.flatten(1).norm(dim=1) - 1) ** 2).mean()
        loss.backward()
        opt_d.step()
        if algorithm == "wgan":
            with torch.no_grad():
                for p in D.parameters():
                    p.clamp_(-0.01, 0.01)

    def iteration():
        for _ in range(N_CRITIC):
            critic_step()
        opt_g.zero_grad()
        for p in D.parameters():
            p.requires_grad_(False)
        (-D(G(torch.randn(batch, NZ))).mean()).backward()
        for p in D.parameters():
            p.requires_grad_(True)
        opt_g.step()

    return iteration


def measure(batch: int = 64, rounds: int = 8, warmup: int = 2) -> dict:
    import torch

    names = ["minigan wgan", "minigan wgan-gp", "torch wgan", "torch wgan-gp"]
    fns = [minigan_iteration("wgan", batch), minigan_iteration("wgan-gp", batch),
           torch_iteration(torch, "wgan", batch), torch_iteration(torch, "wgan-gp", batch)]
    times = dict(zip(names, (np.array(t) for t in interleaved_times(fns, [lambda: None] * 4, rounds, warmup))))
    t = times
    return {"batch": batch, "rounds": rounds, "torch": torch.__version__, "numpy": np.__version__,
            "median_s": {k: float(np.median(v)) for k, v in t.items()},
            "gp_over_wgan": {"minigan": float(np.median(t["minigan wgan-gp"] / t["minigan wgan"])),
                             "torch": float(np.median(t["torch wgan-gp"] / t["torch wgan"]))},
            "minigan_over_torch": {"wgan": float(np.median(t["minigan wgan"] / t["torch wgan"])),
                                   "wgan-gp": float(np.median(t["minigan wgan-gp"] / t["torch wgan-gp"]))}}


def markdown(r: dict) -> str:
    ms = {k: v * 1e3 for k, v in r["median_s"].items()}
    return "\n".join([
        (f"wgan-gp-mnist networks, batch {r['batch']}, n_critic {N_CRITIC}, {r['rounds']} interleaved rounds; "
        f"NumPy {r['numpy']}, torch {r['torch']}, {platform.processor() or platform.machine()}, "
        f"{fast.num_threads()} minigan threads"),
        "",
        "| | WGAN iteration (ms) | WGAN-GP iteration (ms) | WGAN-GP / WGAN |",
        "|---|---|---|---|",
        f"| minigan | {ms['minigan wgan']:.1f} | {ms['minigan wgan-gp']:.1f} | {r['gp_over_wgan']['minigan']:.2f}x |",
        (f"| torch (double backprop) | {ms['torch wgan']:.1f} | {ms['torch wgan-gp']:.1f} | "
        f"{r['gp_over_wgan']['torch']:.2f}x |"),
        f"| minigan / torch | {r['minigan_over_torch']['wgan']:.2f}x | {r['minigan_over_torch']['wgan-gp']:.2f}x | |",
        "",
    ])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--out", default=None, help="write the table here as markdown")
    args = parser.parse_args(argv)
    text = markdown(measure(args.batch, args.rounds))
    return emit(text, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
