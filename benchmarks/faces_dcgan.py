"""Faces that look like faces: the 64x64 DCGAN of the PyTorch DCGAN tutorial (minigan model ``dcgan-faces``) trained
by minigan and by its PyTorch twin, the same number of iterations, on the same batches, with the same noise.

    python benchmarks/faces_dcgan.py --iterations 1000 --batch 16 --sample-every 100 --out benchmarks/results
    python benchmarks/faces_dcgan.py --measure 64 16 --measure-steps 4 --out /tmp/faces   # step times only

Both sides start from the same weights: ``minigan.recipes.build_run("dcgan-faces", m=BATCH, seed=SEED)`` builds G
and D (DCGAN initialisation, N(0, 0.02)) and the trainer (:class:`minigan.train.GAN`: Adam(2e-4, (0.5, 0.999)),
k = 1, non-saturating G loss); the torch side is :func:`minigan.lab.torch_twin.torch_twin` of those very networks,
before either trains. The data is the run's own :class:`minigan.data.Batches` stream (offline: the 100 LFW faces
of scikit-image, 25x25 grayscale resized to 64x64), copied before the first batch, so the torch side reads the
same batches in the same order; its noise is drawn from a second ``backend.Random(SEED)``, in the order the
minigan trainer draws its own (z for the D step, then a fresh z for the G step), so both see the same numbers.
The torch step is the one of :func:`minigan.lab.bench.torch_step` (BCE with logits, D frozen in the G step).
Only round-off separates the two runs; in float32 that grows over training (benchmarks/twin_trajectory.py), so
after a few hundred iterations they are two runs of one process, not one run twice.

The two train in turn, ``--sample-every`` iterations each, then both draw samples from one fixed noise batch in
evaluation mode (BatchNorm running statistics, as ``minigan sample`` draws them). Each side's training time is
clocked alone (wall and CPU time of the process), sampling and pictures outside the clocks. By default each side
runs on one thread (minigan: ``fast.set_num_threads(1)``, NumPy's BLAS at one thread; torch:
``torch.set_num_threads(1)``): on a machine shared with other jobs two threads each were 2-5x slower per step.

Written to ``--out`` (every name starts with ``faces_dcgan``):
    faces_dcgan.md                 the report: command, iterations, batch, times, machine, load, versions, scores
    faces_dcgan_side_by_side.png   the final samples, minigan left, torch right, the same z (top: 64 in evaluation mode;
                                   bottom: the first 32 in training-mode BatchNorm over the 64, as the tutorial draws)
    faces_dcgan_progress.png       8 samples of each side at every checkpoint (at most 10, evenly spaced), the
                                   training faces on top; redrawn at every checkpoint while the run goes on
    faces_dcgan_losses.png         loss_D and loss_G of both sides (moving average over 10 iterations)
    faces_dcgan_steptimes.md       with --measure only: seconds per iteration at the given batches
and the trained minigan generator's ``state_dict()`` to ``--checkpoint`` (np.savez, default /tmp/faces_G.npz).

Checkerboard score: the mean power spectrum of the samples at the frequencies of period 2 and 4 pixels
((u, v) with u, v in {0, 16, 32, 48} of 64, (0, 0) left out), over the mean power at their 8 neighbours. A
periodic artefact of the stride-2 transposed convolutions puts peaks there (score >> 1); the training faces,
bicubic-resized from 25x25, score about 1.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import shlex
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from minigan import backend, fast, recipes
from minigan.lab.report import cpu_model
from minigan.lab.torch_twin import torch_twin
from minigan.viz import image_grid

MODEL = "dcgan-faces"
NZ = 100
SAMPLE_SEED = 12345  # the fixed noise of every picture
N_SAMPLES = 64


# ---------------------------------------------------------------------------------------------------------------
# the two sides
# ---------------------------------------------------------------------------------------------------------------
class Twins:
    """minigan's run of ``dcgan-faces`` and the torch twin of its networks, on the same batches and noise."""

    def __init__(self, torch, batch: int, seed: int = 0):
        self.torch = torch
        self.batch = batch
        self.run = recipes.build_run(MODEL, m=batch, seed=seed)
        self.trainer = self.run.trainer
        if self.run.data.position or self.run.data.epoch:
            raise RuntimeError("the data stream was read before the twin could copy it")
        self.data = copy.deepcopy(self.run.data)  # the same batches, in the same order
        self.rng = backend.Random(seed)  # the same noise as the trainer's backend.Random(seed)
        self.tg, self.td = torch_twin(self.trainer.G), torch_twin(self.trainer.D)  # before any step: same weights
        spec_lr, betas = 2e-4, (0.5, 0.999)
        self.opt_g = torch.optim.Adam(self.tg.parameters(), spec_lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.td.parameters(), spec_lr, betas=betas)
        self.bce = torch.nn.BCEWithLogitsLoss()
        self.ones, self.zeros = torch.ones(batch, 1), torch.zeros(batch, 1)
        self.torch_history: list[dict] = []
        self.clock = {"minigan": [0.0, 0.0], "torch": [0.0, 0.0]}  # wall, CPU seconds of training

    @property
    def dtype(self):
        return next(iter(self.trainer.G.params.values())).dtype

    def torch_iteration(self) -> dict:
        """One GAN iteration of the twin, as :meth:`minigan.train.GAN.iteration` (k = 1) takes it: z, then the real
        batch, D on both; then a fresh z for G through a frozen D (the step of minigan.lab.bench.torch_step)."""
        torch, tg, td, m = self.torch, self.tg, self.td, self.batch
        z = torch.as_tensor(backend.to_numpy(self.rng.standard_normal((m, NZ), self.dtype)))
        x = torch.as_tensor(backend.to_numpy(self.data.sample(m)))
        self.opt_d.zero_grad()
        real_logits = td(x)
        with torch.no_grad():
            fake = tg(z)
        fake_logits = td(fake)
        loss_d = self.bce(real_logits, self.ones) + self.bce(fake_logits, self.zeros)
        loss_d.backward()
        self.opt_d.step()
        z2 = torch.as_tensor(backend.to_numpy(self.rng.standard_normal((m, NZ), self.dtype)))
        self.opt_g.zero_grad()
        for p in td.parameters():
            p.requires_grad_(False)
        loss_g = self.bce(td(tg(z2)), self.ones)
        loss_g.backward()
        for p in td.parameters():
            p.requires_grad_(True)
        self.opt_g.step()
        return {"loss_D": loss_d.item(), "loss_G": loss_g.item(),
                "D(x)": torch.sigmoid(real_logits).mean().item(), "D(G(z))": torch.sigmoid(fake_logits).mean().item()}

    def train_minigan(self, iterations: int) -> None:
        w0, c0 = time.perf_counter(), time.process_time()
        self.trainer.train(self.run.sample_data, iterations, progress=False)
        self.clock["minigan"][0] += time.perf_counter() - w0
        self.clock["minigan"][1] += time.process_time() - c0

    def train_torch(self, iterations: int) -> None:
        w0, c0 = time.perf_counter(), time.process_time()
        for _ in range(iterations):
            t0 = time.perf_counter()
            record = self.torch_iteration()
            self.torch_history.append({"iteration": len(self.torch_history) + 1, **record,
                                       "time": time.perf_counter() - t0})
        self.clock["torch"][0] += time.perf_counter() - w0
        self.clock["torch"][1] += time.process_time() - c0

    def fixed_noise(self, n: int = N_SAMPLES) -> np.ndarray:
        return backend.to_numpy(backend.Random(SAMPLE_SEED).standard_normal((n, NZ), self.dtype))

    def samples(self, n: int = N_SAMPLES, train_mode: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(minigan's, torch's) samples from the same fixed z. Evaluation mode by default; ``train_mode`` normalises
        with the batch's own statistics (on copies: the networks' running statistics stay as they are)."""
        z = self.fixed_noise(n)
        G = copy.deepcopy(self.trainer.G) if train_mode else self.trainer.G
        ours = backend.to_numpy(G.forward(backend.to_backend(z), train=train_mode))
        tg = copy.deepcopy(self.tg) if train_mode else self.tg
        tg.train(train_mode)
        with self.torch.no_grad():
            theirs = tg(self.torch.as_tensor(z)).numpy()
        self.tg.train(True)
        return ours, theirs


def history_columns(records: list[dict], key: str) -> np.ndarray:
    return np.array([r[key] for r in records], dtype=np.float64)


# ---------------------------------------------------------------------------------------------------------------
# checkerboard score
# ---------------------------------------------------------------------------------------------------------------
def checkerboard_score(images) -> float:
    """Mean power at the period-2 and period-4 frequencies over the mean power at their neighbours (module doc)."""
    x = np.asarray(images, dtype=np.float64).reshape(len(images), -1, *np.shape(images)[-2:]).mean(axis=1)
    x = x - x.mean(axis=(1, 2), keepdims=True)
    power = (np.abs(np.fft.fft2(x)) ** 2).mean(axis=0)
    h, w = power.shape
    fu, fv = [k * h // 4 for k in range(4)], [k * w // 4 for k in range(4)]
    lattice = {(u, v) for u in fu for v in fv} - {(0, 0)}
    peaks, around = [], []
    for u, v in lattice:
        peaks.append(power[u, v])
        for du in (-1, 0, 1):
            for dv in (-1, 0, 1):
                q = ((u + du) % h, (v + dv) % w)
                if q not in lattice and q != (0, 0):
                    around.append(power[q])
    return float(np.mean(peaks) / np.mean(around))


# ---------------------------------------------------------------------------------------------------------------
# pictures
# ---------------------------------------------------------------------------------------------------------------
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_gray(fig, path) -> None:
    """Save a matplotlib figure of gray pictures as an 8-bit grayscale PNG (a quarter of the RGBA bytes)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    Image.open(buffer).convert("L").save(path, optimize=True)


def side_by_side(path, eval_pair, train_pair, iterations: int, train_shown: int = 32) -> None:
    """minigan left, torch right: 64 samples in evaluation mode on top, the first ``train_shown`` of the same z in
    training-mode BatchNorm (statistics of the whole batch of 64) below."""
    plt = _plt()
    grids = [image_grid(a, nrow=8) for a in eval_pair] + [image_grid(a[:train_shown], nrow=8) for a in train_pair]
    h, w = grids[0].shape
    h2 = grids[2].shape[0]
    fig, axes = plt.subplots(2, 2, figsize=(2 * w / 100 + 0.3, (h + h2) / 100 + 0.9), dpi=100,
                             gridspec_kw={"height_ratios": [h, h2]})
    titles = [f"minigan, {iterations} iterations (eval-mode BN)", (f"PyTorch twin, {iterations} iterations "
              "(eval-mode BN)"), "minigan, same z (train-mode BN over the 64)", ("PyTorch twin, same z (train-mode BN "
              "over the 64)")]
    for ax, grid, title in zip(axes.ravel(), grids, titles):
        ax.imshow(grid, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.tight_layout(pad=0.3)
    save_gray(fig, path)
    plt.close(fig)


def progress_figure(path, real, checkpoints: list[tuple[int, np.ndarray, np.ndarray]], per_row: int = 8,
                    max_rows: int = 10) -> None:
    """The training faces, then ``per_row`` samples of each side at (at most ``max_rows``, evenly spaced, the
    last always among them) checkpoints."""
    plt = _plt()
    if len(checkpoints) > max_rows:
        keep = np.unique(np.round(np.linspace(0, len(checkpoints) - 1, max_rows)).astype(int))
        checkpoints = [checkpoints[i] for i in keep]
    rows = [("training faces", real[:per_row], real[per_row:2 * per_row])]
    rows += [(f"{it} it", a[:per_row], b[:per_row]) for it, a, b in checkpoints]
    strips = [(label, image_grid(a, nrow=per_row), image_grid(b, nrow=per_row)) for label, a, b in rows]
    h, w = strips[0][1].shape
    fig, axes = plt.subplots(len(rows), 2, figsize=(2 * w / 100 + 0.8, len(rows) * (h / 100 + 0.05) + 0.4),
                             dpi=100, squeeze=False)
    for i, (label, left, right) in enumerate(strips):
        for j, strip in enumerate((left, right)):
            ax = axes[i, j]
            ax.imshow(strip, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(label, fontsize=8)
    axes[0, 0].set_title("minigan", fontsize=9)
    axes[0, 1].set_title("PyTorch twin", fontsize=9)
    fig.tight_layout(pad=0.2, h_pad=0.1, w_pad=0.3)
    save_gray(fig, path)
    plt.close(fig)


def moving_average(x: np.ndarray, window: int = 10) -> np.ndarray:
    if len(x) < window:
        return x
    return np.convolve(x, np.ones(window) / window, mode="valid")


def loss_figure(path, ours: list[dict], theirs: list[dict], window: int = 10) -> None:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), dpi=100)
    for ax, key in zip(axes, ("loss_D", "loss_G")):
        for name, records, colour in (("minigan", ours, "tab:blue"), ("PyTorch twin", theirs, "tab:orange")):
            y = moving_average(history_columns(records, key), window)
            x = np.arange(len(y)) + (len(records) - len(y)) + 1
            ax.plot(x, y, label=name, lw=0.9, color=colour)
        ax.set_title(f"{key} (moving average over {window} iterations)", fontsize=9)
        ax.set_xlabel("iteration")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------------------------
# the machine
# ---------------------------------------------------------------------------------------------------------------
def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def load() -> tuple[float, float, float]:
    return os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3


def git_commit() -> str:
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=False).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}{' (working tree with uncommitted changes)' if dirty else ''}" if head else "unknown"


def versions(torch) -> dict:
    import minigan

    return {"python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
            "minigan": getattr(minigan, "__version__", "?"), "commit": git_commit()}


@contextmanager
def thread_counts(torch, threads: int):
    """minigan on ``threads`` threads (its own, each with a one-thread BLAS; or BLAS's ``threads`` when 1), torch
    on ``threads``; all three counts as they were afterwards."""
    from threadpoolctl import threadpool_limits

    before = fast.num_threads(), torch.get_num_threads()
    limiter = threadpool_limits(limits=threads, user_api="blas")
    fast.set_num_threads(threads)
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        limiter.restore_original_limits()
        fast.set_num_threads(before[0])
        torch.set_num_threads(before[1])


# ---------------------------------------------------------------------------------------------------------------
# step times (--measure)
# ---------------------------------------------------------------------------------------------------------------
def measure(torch, batches, steps: int, seed: int = 0) -> list[dict]:
    """Seconds per training iteration of each side at each batch size: ``steps`` iterations after one untimed one,
    minigan's and torch's in turn."""
    rows = []
    for batch in batches:
        twins = Twins(torch, batch, seed)
        twins.train_minigan(1)
        twins.train_torch(1)
        ours, theirs = [], []
        load_before = load()[0]
        for _ in range(steps):
            w = twins.clock["minigan"][0]
            twins.train_minigan(1)
            ours.append(twins.clock["minigan"][0] - w)
            w = twins.clock["torch"][0]
            twins.train_torch(1)
            theirs.append(twins.clock["torch"][0] - w)
        rows.append({"batch": batch, "minigan": ours, "torch": theirs, "load": (load_before, load()[0])})
    return rows


def measure_markdown(rows, threads: int, argv) -> str:
    lines = [f"# dcgan-faces: seconds per training iteration, minigan vs PyTorch twin ({threads} thread(s) each)",
             "", f"Command: `{command_line(argv)}`", "",
             f"Machine: {cpu_model()}, {cores()} cores; {time.strftime('%Y-%m-%d %H:%M')}", "",
             "| batch | minigan median (s) | torch median (s) | minigan steps (s) | torch steps (s) | 1-min load |",
             "|---:|---:|---:|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['batch']} | {np.median(r['minigan']):.2f} | {np.median(r['torch']):.2f} | "
                     f"{', '.join(f'{t:.2f}' for t in r['minigan'])} | {', '.join(f'{t:.2f}' for t in r['torch'])} "
                     f"| {r['load'][0]:.2f} -> {r['load'][1]:.2f} |")
    return "\n".join(lines) + "\n"


def command_line(argv) -> str:
    return "python benchmarks/faces_dcgan.py " + " ".join(shlex.quote(a) for a in argv)


# ---------------------------------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------------------------------
def train(torch, iterations: int, batch: int, sample_every: int, seed: int = 0, log=print, on_checkpoint=None):
    """Both sides, in turns of ``sample_every`` iterations, samples after each turn (then
    ``on_checkpoint(real, checkpoints)``, if given, e.g. to draw the progress so far). Returns a dict of results."""
    started = versions(torch)  # the commit the run starts from (others may commit while it runs)
    twins = Twins(torch, batch, seed)
    real = backend.to_numpy(copy.deepcopy(twins.run.data).sample(min(2 * 8, len(twins.run.data.images))))
    checkpoints, loads = [], [(0, load())]
    start = time.perf_counter()
    done = 0
    while done < iterations:
        chunk = min(sample_every, iterations - done)
        twins.train_minigan(chunk)
        twins.train_torch(chunk)
        done += chunk
        ours, theirs = twins.samples()
        checkpoints.append((done, ours, theirs))
        loads.append((done, load()))
        last_ours, last_theirs = twins.trainer.history.records[-1], twins.torch_history[-1]
        log(f"{done}/{iterations} it: minigan {twins.clock['minigan'][0]:.0f} s (loss_D {last_ours['loss_D']:.3f}, "
            f"loss_G {last_ours['loss_G']:.3f}), torch {twins.clock['torch'][0]:.0f} s (loss_D "
            f"{last_theirs['loss_D']:.3f}, loss_G {last_theirs['loss_G']:.3f}); load {loads[-1][1][0]:.2f}")
        if on_checkpoint is not None:
            on_checkpoint(real, checkpoints)
    wall = time.perf_counter() - start
    train_pair = twins.samples(train_mode=True)
    return {"twins": twins, "real": real, "checkpoints": checkpoints, "train_pair": train_pair, "loads": loads,
            "wall": wall, "versions": started}


def report(result, args, argv, torch, files) -> str:
    twins = result["twins"]
    ours, theirs = twins.trainer.history.records, twins.torch_history
    t_ours, t_theirs = history_columns(ours, "time"), history_columns(theirs, "time")
    loads = np.array([l for _, l in result["loads"]])
    v = result["versions"]
    real_batch = twins.run.data.images.astype(np.float64)[:, None] / 127.5 - 1.0  # all training faces, NCHW
    lines = [
        "# dcgan-faces: minigan vs its PyTorch twin on the offline LFW faces",
        "",
        f"Command: `{command_line(argv)}`",
        "",
        (f"- model: `{MODEL}` (the 64x64 DCGAN of the PyTorch DCGAN tutorial, nc = 1), "
        f"`minigan.recipes.build_run(\"{MODEL}\", m={args.batch}, seed={args.seed})`"),
        (f"- data: {twins.run.data_source}; {twins.run.batches_per_epoch} batch(es) of {args.batch} per epoch "
        f"(drop_last), both sides the same batches in the same order and the same noise"),
        (f"- iterations: {len(ours)} each (k = 1: one D step and one G step per iteration), "
        f"= {len(ours) / max(twins.run.batches_per_epoch, 1):.0f} epochs; batch {args.batch}; "
        "Adam(2e-4, (0.5, 0.999)), non-saturating G loss, N(0, 0.02) init; float32"),
        (f"- threads: {args.threads} per side (minigan `fast.set_num_threads({args.threads})` and NumPy's BLAS at "
        f"{args.threads}; `torch.set_num_threads({args.threads})`); the sides train in turns of "
        f"{args.sample_every} iterations"),
        "",
        "## Time",
        "",
        "| | training wall (s) | training CPU (s) | median s / iteration | mean s / iteration |",
        "|---|---:|---:|---:|---:|",
        (f"| minigan | {twins.clock['minigan'][0]:.0f} | {twins.clock['minigan'][1]:.1f} | "
        f"{np.median(t_ours):.3f} | {t_ours.mean():.3f} |"),
        (f"| PyTorch twin | {twins.clock['torch'][0]:.0f} | {twins.clock['torch'][1]:.1f} | "
        f"{np.median(t_theirs):.3f} | {t_theirs.mean():.3f} |"),
        "",
        (f"Whole run: {result['wall']:.0f} s wall ({result['wall'] / 60:.1f} min), sampling and pictures included. "
        f"minigan / torch, median per iteration: {np.median(t_ours) / np.median(t_theirs):.2f}x."),
        "",
        (f"Machine: {cpu_model()}, {cores()} cores (shared with other jobs: wall times are inflated, compare the two "
        f"sides, measured in turns, rather than absolute times). 1/5/15-min load average at the start "
        f"{' / '.join(f'{x:.2f}' for x in loads[0])}, at the end {' / '.join(f'{x:.2f}' for x in loads[-1])}; "
        f"1-min load at the checkpoints: min {loads[:, 0].min():.2f}, mean {loads[:, 0].mean():.2f}, max "
        f"{loads[:, 0].max():.2f}."),
        "",
        (f"Versions: Python {v['python']}, NumPy {v['numpy']}, torch {v['torch']} (CPU), minigan {v['minigan']}, "
        f"commit {v['commit']} at the start; {time.strftime('%Y-%m-%d %H:%M %Z')}."),
        "",
        "## Samples",
        "",
        ("`faces_dcgan_side_by_side.png`: 64 samples of each side from the same fixed z "
        f"(`backend.Random({SAMPLE_SEED})`), minigan left, torch right; top row evaluation-mode BatchNorm (running "
        "statistics, what `minigan sample` draws), bottom row the first 32 of the same z in training-mode "
        "BatchNorm over the batch of 64 (what the PyTorch tutorial's `netG(fixed_noise)` shows). "
        "`faces_dcgan_progress.png`: the first 8 of those (evaluation mode) at every checkpoint, under 16 "
        "training faces."),
        "",
        ("Checkerboard score (power at period-2/4 frequencies over their neighbours; >> 1: a periodic artefact; "
        f"the training faces: {checkerboard_score(real_batch):.2f}):"),
        "",
        "| iteration | minigan | PyTorch twin |",
        "|---:|---:|---:|",
    ]
    for it, a, b in result["checkpoints"]:
        lines.append(f"| {it} | {checkerboard_score(a):.2f} | {checkerboard_score(b):.2f} |")
    a, b = result["train_pair"]
    lines.append(f"| {len(ours)} (train-mode BN) | {checkerboard_score(a):.2f} | {checkerboard_score(b):.2f} |")
    window = min(50, len(ours))
    lines += [
        "",
        f"## Losses (mean of the last {window} iterations)",
        "",
        "| | loss_D | loss_G | D(x) | D(G(z)) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, records in (("minigan", ours), ("PyTorch twin", theirs)):
        cols = [history_columns(records, k)[-window:].mean() for k in ("loss_D", "loss_G", "D(x)", "D(G(z))")]
        lines.append(f"| {name} | " + " | ".join(f"{c:.3f}" for c in cols) + " |")
    lines += ["", "## Files", ""] + [f"- `{f}`" for f in files]
    if args.checkpoint:
        lines.append(f"- minigan's generator `state_dict()` (np.savez): `{args.checkpoint}` (not in the repository)")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=1000, help="training iterations of each side")
    parser.add_argument("--batch", type=int, default=16, help="batch size m (the LFW set has 100 faces)")
    parser.add_argument("--sample-every", type=int, default=100,
                        help="iterations per turn; both sides draw samples after each turn")
    parser.add_argument("--out", default="benchmarks/results", help="folder for the report and pictures")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="threads of each side (default 1)")
    parser.add_argument("--checkpoint", default="/tmp/faces_G.npz",
                        help="where to np.savez minigan's trained G state_dict ('' to skip)")
    parser.add_argument("--measure", type=int, nargs="*", default=None, metavar="BATCH",
                        help="only time iterations at these batch sizes (writes faces_dcgan_steptimes.md)")
    parser.add_argument("--measure-steps", type=int, default=4)
    args = parser.parse_args(argv)
    if args.iterations < 1 or args.sample_every < 1 or args.batch < 1:
        parser.error("--iterations, --sample-every and --batch must be positive")

    import torch

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with thread_counts(torch, args.threads):
        if args.measure is not None:
            rows = measure(torch, args.measure or [64, 16], args.measure_steps, args.seed)
            text = measure_markdown(rows, args.threads, argv)
            (out / "faces_dcgan_steptimes.md").write_text(text)
            print(text)
            return 0
        result = train(torch, args.iterations, args.batch, args.sample_every, args.seed,
                       on_checkpoint=lambda real, cps: progress_figure(out / "faces_dcgan_progress.png", real, cps))
    twins = result["twins"]
    final = result["checkpoints"][-1]
    names = ["faces_dcgan.md", "faces_dcgan_side_by_side.png", "faces_dcgan_progress.png", "faces_dcgan_losses.png"]
    side_by_side(out / names[1], final[1:], result["train_pair"], final[0])
    progress_figure(out / names[2], result["real"], result["checkpoints"])
    loss_figure(out / names[3], twins.trainer.history.records, twins.torch_history)
    if args.checkpoint:
        np.savez(args.checkpoint, **{k: backend.to_numpy(v) for k, v in twins.trainer.G.state_dict().items()})
    (out / names[0]).write_text(report(result, args, argv, torch, names[1:]))
    print(f"wrote {', '.join(str(out / n) for n in names)}" + (f" and {args.checkpoint}" if args.checkpoint else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
