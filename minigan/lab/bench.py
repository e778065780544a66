"""The CPU-vs-CUDA benchmark suite: the canonical MNIST DCGAN training step (docs/design.md) on NumPy, on CuPy
when a GPU is present, and on its PyTorch twin when torch is installed, all in one process, one run.

    minigan bench [--batch 64 256] [--backends numpy cupy] [--steps 20] [--out DIR] [--json] [--no-layers]
                  [--no-profile]

What is timed (after ``warmup`` rounds; on a GPU the device is synchronised before every clock):

* the step, ``steps`` rounds, each round one minigan step, one product of the GEMM peak and one twin step, in
  turn (:func:`interleaved_times`): the machines drift, and measurements taken seconds apart compare fairly.
  Reported: the median step of each; minigan / twin as the median of the round-by-round ratios; the share of peak
  as the median over rounds of minigan's GFLOP/s over that round's GEMM rate. On NumPy with more than one thread
  of minigan's (:mod:`minigan.fast`), each round also takes the same step with minigan's thread count set to one
  (``fast.set_num_threads(1)``): the speed-up the threads bring is the median of the round-by-round ratios.
  The step is one iteration of :class:`minigan.train.GAN` with k = 1 and Adam(2e-4, (0.5, 0.999)): D on a real
  batch and on a fake batch G(z), then G through D with fresh z (non-saturating loss, D's parameter gradients
  skipped). The torch twin does exactly the same work (fresh z, D frozen in the G step, BCE with logits, Adam);
* every layer's forward and backward alone, on the previous layer's output, in the step's training mode, on the
  backend (on minigan's threads, ``fast.threads()``, as inside the step) and on the twin, in the same rounds
  (:func:`layer_times`; ``--no-layers`` skips this);
* the profile of the step (:mod:`minigan.lab.step_profile`): every layer's calls and every optimizer step timed
  inside ``steps`` real steps, with the GEMM FLOPs each layer did there: where the step's time goes, and at what
  rate each layer's products run in the company they keep (``--no-profile`` skips this);
* the backend's float32 GEMM peak (``a @ b``, 2048 x 2048 x 2048): the best of 5 products before the steps and of
  the products between them;
* the peak memory of a NumPy step (``tracemalloc``, which NumPy reports its buffers to) against what the step
  needs at least: parameters, gradients and Adam's two moments, plus every layer output of G and D cached for
  backward at once.

Work per step (:func:`step_gflop`): the GEMM FLOPs of every convolution and dense layer (2 per multiply-add),
forward, and backward once per gradient the step computes: weight and input gradients, except D's first layer's
input gradient in the D step, D's weight gradients in the G step and G's first layer's input gradient, which the
step does not ask for and the layers then skip. At batch 64 that is 10.37 GFLOP (tests/test_bench.py counts it by
hand from the layer shapes).

The twin is :func:`minigan.lab.torch_twin.torch_twin` of minigan's own G and D. torch, when installed, is imported
only to time it; minigan never needs it.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import re
import time
import tracemalloc
from pathlib import Path

import numpy as np

from minigan import backend, fast, optim
from minigan.lab.flops import layer_gflop
from minigan.lab.step_profile import step_profile
from minigan.lab.torch_twin import torch_twin
from minigan.models import dcgan_mnist_discriminator, dcgan_mnist_generator

NZ = 100


# ---------------------------------------------------------------------------------------------------------------
# work
# ---------------------------------------------------------------------------------------------------------------
def _shapes(net, x):
    shapes = []
    for layer in net.layers:
        y = layer.forward(x, train=True)
        shapes.append((layer, tuple(x.shape), tuple(y.shape)))
        x = y
    return shapes


def step_gflop(batch: int) -> float:
    """GEMM work of one GAN iteration (see the module docstring)."""
    g, d = dcgan_mnist_generator(), dcgan_mnist_discriminator()
    xp = backend.get_xp()
    g_shapes = _shapes(g, xp.zeros((batch, NZ), dtype=np.float32))
    d_shapes = _shapes(d, xp.zeros((batch, 1, 28, 28), dtype=np.float32))
    g_f = sum(layer_gflop(*s) for s in g_shapes)
    d_f = sum(layer_gflop(*s) for s in d_shapes)
    d_first = layer_gflop(*d_shapes[0])
    # D step: G fwd; D fwd + bwd (dW and dx, except D's first layer's dx: not needed, not computed) on real and fake
    d_step = g_f + 2 * (d_f + 2 * d_f - d_first)
    # G step: G fwd, D fwd, D bwd for dx only, G bwd (dW; its first layer's dx is not needed)
    g_step = g_f + d_f + d_f + (2 * g_f - layer_gflop(*g_shapes[0]))
    return d_step + g_step


# ---------------------------------------------------------------------------------------------------------------
# clocks
# ---------------------------------------------------------------------------------------------------------------
def interleaved_times(fns, syncs, steps: int, warmup: int) -> list[list[float]]:
    """Seconds of one call of each function per round, ``steps`` rounds after ``warmup``; ``syncs[i]`` is called
    after fns[i] before the clock is read.

    These machines drift: the same step measured minutes apart differs by 20 to 40% on the 2-core machine. Taking
    minigan's step, the GEMM of the peak and the twin's step in turn, round after round, puts the three within a
    second of each other, so that their ratios, taken round by round, are not the ratio of two moments. Each timed
    call follows an untimed call of the same function: a thread pool that has just worked keeps its threads
    spinning for a while (OpenBLAS's for about 0.1 s), and in a first run interleaved call by call, torch's step
    measured 210 ms right after NumPy's GEMM, against 111 to 116 ms in the runs with this settling call. The
    untimed call lets the other library's threads go idle, as they are when one library runs alone.
    """
    for _ in range(warmup):
        for fn, sync in zip(fns, syncs):
            fn()
            sync()
    times = [[] for _ in fns]
    for _ in range(steps):
        for fn, sync, record in zip(fns, syncs, times):
            fn()  # settle (see above)
            sync()
            t0 = time.perf_counter()
            fn()
            sync()
            record.append(time.perf_counter() - t0)
    return times


def gemm_product(xp, n: int = 2048):
    """The peak's product ``a @ b`` of two n x n float32 matrices of an array library (NumPy, CuPy, or torch on a
    device, given as ``xp``), as a function of no arguments."""
    rng = np.random.default_rng(0)
    a, b = (xp.asarray(rng.standard_normal((n, n), dtype=np.float32)) for _ in range(2))
    return lambda: a @ b


def gemm_peak(xp, sync, n: int = 2048, repeats: int = 5) -> float:
    """float32 GEMM GFLOP/s of an array library: the best of ``repeats`` :func:`gemm_product` calls."""
    product = gemm_product(xp, n)
    product()
    sync()
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        product()
        sync()
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def _images(rng, batch):
    return np.tanh(rng.standard_normal((batch, 1, 28, 28))).astype(np.float32)


def minigan_trainer(batch: int, seed: int = 0):
    from minigan.train import GAN

    backend.seed(seed)
    g, d = dcgan_mnist_generator(), dcgan_mnist_discriminator()
    trainer = GAN(g, d, optim.Adam(g, 2e-4, (0.5, 0.999)), optim.Adam(d, 2e-4, (0.5, 0.999)), nz=NZ, m=batch, k=1,
                  seed=seed)
    real = backend.to_backend(_images(np.random.default_rng(seed), batch))
    return trainer, (lambda m: real)


def minigan_step(batch: int):
    """One canonical training step of minigan, as a function of no arguments, inside ``fast.threads()`` as
    ``Trainer.train`` runs every iteration."""
    trainer, data = minigan_trainer(batch)
    return _on_minigan_threads(lambda: trainer.iteration(data), batch)


def one_thread(step, threads: int):
    """``step`` run with minigan's thread count at one (``fast.set_num_threads(1)``: its NumPy work on the calling
    thread alone, :mod:`minigan.fast`); the count is set back to ``threads`` after each call."""
    def step_on_one_thread():
        fast.set_num_threads(1)
        try:
            step()
        finally:
            fast.set_num_threads(threads)

    return step_on_one_thread


def minigan_memory(batch: int) -> tuple[int, int]:
    """(peak bytes allocated during one NumPy step, bytes the step needs at least); see the module docstring."""
    trainer, data = minigan_trainer(batch)
    step = _on_minigan_threads(lambda: trainer.iteration(data), batch)
    step()  # optimizer slots exist from here on
    params = sum(p.nbytes for net in (trainer.G, trainer.D) for p in net.params.values())
    g_out = sum(4 * int(np.prod(s[2])) for s in _shapes(trainer.G, trainer.noise(batch)))
    d_out = sum(4 * int(np.prod(s[2])) for s in _shapes(trainer.D, data(batch)))
    needed = 4 * params + g_out + d_out  # parameters, gradients, two Adam moments; all layer outputs once
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    step()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak - base + 4 * params, needed  # the step's own peak on top of the resident state


# ---------------------------------------------------------------------------------------------------------------
# the torch twin (minigan.lab.torch_twin: built from minigan's own G and D)
# ---------------------------------------------------------------------------------------------------------------
def _torch_sync(torch, device):
    return torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)


def torch_step(torch, batch: int, device: str):
    """The twin's GAN iteration, the same work as :func:`minigan_step`, as a function of no arguments."""
    backend.seed(0)
    tg, td = (torch_twin(net, device) for net in (dcgan_mnist_generator(), dcgan_mnist_discriminator()))
    opt_g = torch.optim.Adam(tg.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(td.parameters(), 2e-4, betas=(0.5, 0.999))
    bce = torch.nn.BCEWithLogitsLoss()
    real = torch.as_tensor(_images(np.random.default_rng(0), batch), device=device)
    ones = torch.ones(batch, 1, device=device)
    zeros = torch.zeros(batch, 1, device=device)

    def step():
        opt_d.zero_grad()
        with torch.no_grad():
            fake = tg(torch.randn(batch, NZ, device=device))
        (bce(td(real), ones) + bce(td(fake), zeros)).backward()
        opt_d.step()
        opt_g.zero_grad()
        for p in td.parameters():
            p.requires_grad_(False)
        bce(td(tg(torch.randn(batch, NZ, device=device))), ones).backward()
        for p in td.parameters():
            p.requires_grad_(True)
        opt_g.step()

    return step


def layer_times(batch: int, steps: int, warmup: int, torch=None, device: str = "cpu") -> list[dict]:
    """Every layer of G and D alone, forward and backward in training mode, on the previous layer's output; with
    ``torch``, its twin layer in the same rounds (:func:`interleaved_times`: minigan's forward, minigan's backward,
    the twin's forward, the twin's forward + backward, in turn). minigan's calls run on its threads
    (``fast.threads()``), as inside a trainer's step. The twin's backward is the round's forward + backward less
    its forward (autograd has no backward without its forward); medians over the rounds."""
    xp = backend.get_xp()
    rng = np.random.default_rng(0)
    backend.seed(0)
    g, d = dcgan_mnist_generator(), dcgan_mnist_discriminator()
    twins = (torch_twin(g, device), torch_twin(d, device)) if torch is not None else (None, None)
    sync = _torch_sync(torch, device) if torch is not None else None
    rows = []
    inputs = (rng.standard_normal((batch, NZ), dtype=np.float32), _images(rng, batch))
    for name, net, twin, x_np in zip("GD", (g, d), twins, inputs):
        x = xp.asarray(x_np)
        tx = torch.as_tensor(x_np, device=device) if twin is not None else None
        for i, layer in enumerate(net.layers):
            y = layer.forward(x, train=True)
            dy = xp.ones_like(y)
            fns = [_on_minigan_threads(lambda layer=layer, x=x: layer.forward(x, train=True), batch),
                   _on_minigan_threads(lambda layer=layer, dy=dy: layer.backward(dy), batch)]
            syncs = [backend.synchronize] * 2
            if twin is not None:
                t_layer, t_x = twin[i], tx.detach().requires_grad_(True)
                t_y = t_layer(t_x)
                t_dy = torch.ones_like(t_y)
                fns += [lambda t_layer=t_layer, t_x=t_x: t_layer(t_x),
                        lambda t_layer=t_layer, t_x=t_x, t_dy=t_dy: t_layer(t_x).backward(t_dy)]
                syncs += [sync] * 2
            times = [np.array(t) for t in interleaved_times(fns, syncs, steps, warmup)]
            row = {"net": name, "index": i, "layer": repr(layer), "forward_s": float(np.median(times[0])),
                   "backward_s": float(np.median(times[1])), "gflop_forward": layer_gflop(layer, x.shape, y.shape)}
            if twin is not None:
                row.update({"torch_forward_s": float(np.median(times[2])),
                            "torch_backward_s": max(float(np.median(times[3] - times[2])), 0.0)})
                tx = t_y.detach()
            rows.append(row)
            x = y
    return rows


def _on_minigan_threads(fn, batch: int | None = None):
    """fn, called inside ``fast.threads(batch)`` (as a trainer's step runs its layers)."""
    def call():
        with fast.threads(batch):
            return fn()

    return call


# ---------------------------------------------------------------------------------------------------------------
# the suite
# ---------------------------------------------------------------------------------------------------------------
def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def machine() -> dict:
    info = {"machine": platform.machine(), "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(), "numpy": np.__version__, "cpus": _cpu_count(),
            "minigan_threads": fast.num_threads()}
    torch = _torch()
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    if backend.cupy_available():
        import cupy

        info["cupy"] = cupy.__version__
        info["gpu"] = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    return info


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def minigan_profile(batch: int, steps: int, warmup: int) -> dict:
    """:func:`minigan.lab.step_profile.step_profile` of the canonical step: where its time goes, layer by layer."""
    trainer, data = minigan_trainer(batch)
    step = _on_minigan_threads(lambda: trainer.iteration(data), batch)
    return step_profile(step, {"G": trainer.G, "D": trainer.D},
                        {"G": trainer.opt_G, "D": trainer.opt_D}, steps, warmup)


def run(batches=(64, 256), backends=None, steps: int = 20, warmup: int = 3, layers: bool = True,
        memory: bool = True, progress=print, gemm_size: int = 2048, profile: bool = True) -> dict:
    """Time everything; returns {"machine", "steps": [...], "layers": [...], "profiles": [...],
    "gemm_peak_gflops": {...}}."""
    torch = _torch()
    backends = list(backends or backend.available_backends())
    result = {"machine": machine(), "steps": [], "layers": [], "profiles": [], "gemm_peak_gflops": {},
              "gemm_size": gemm_size}
    previous = backend.name()
    try:
        for name in backends:
            backend.use(name)
            xp = backend.get_xp()
            peak = gemm_peak(xp, backend.synchronize, gemm_size)
            result["gemm_peak_gflops"][name] = peak
            device = "cuda" if name == "cupy" else "cpu"
            twin_ok = torch is not None and (device == "cpu" or torch.cuda.is_available())
            if twin_ok:
                result["gemm_peak_gflops"][f"torch-{device}"] = _torch_gemm_peak(torch, device, gemm_size)
            for batch in batches:
                progress(f"minigan bench: {name}, batch {batch}")
                work = step_gflop(batch)
                fns, syncs = [minigan_step(batch), gemm_product(xp, gemm_size)], [backend.synchronize] * 2
                if twin_ok:
                    fns.append(torch_step(torch, batch, device))
                    syncs.append(_torch_sync(torch, device))
                threads = fast.num_threads() if name == "numpy" else 1
                if threads > 1:  # the same step on one thread, in the same rounds: what minigan's threads bring
                    fns.append(one_thread(minigan_step(batch), threads))
                    syncs.append(backend.synchronize)
                times = [np.array(t) for t in interleaved_times(fns, syncs, steps, warmup)]
                ours, gemm = times[:2]
                theirs = times[2:3] if twin_ok else []
                gemm_rate = 2 * gemm_size**3 / gemm / 1e9  # this machine's GEMM rate, round by round
                peak = max(peak, float(gemm_rate.max()))
                t = float(np.median(ours))
                row = {"backend": name, "batch": batch, "minigan_s": t, "gflop": work, "minigan_gflops": work / t,
                       "share_of_peak": float(np.median(work / ours / gemm_rate))}
                if threads > 1:
                    row.update({"threads": threads, "one_thread_s": float(np.median(times[-1])),
                                "speedup_from_threads": float(np.median(times[-1] / ours))})
                if twin_ok:
                    tt = float(np.median(theirs[0]))
                    row.update({"twin": f"torch-{device}", "torch_s": tt,
                                "ratio_minigan_over_torch": float(np.median(ours / theirs[0]))})
                if memory and name == "numpy":
                    peak_bytes, needed = minigan_memory(batch)
                    row.update({"peak_mib": peak_bytes / 2**20, "needed_mib": needed / 2**20,
                                "memory_ratio": peak_bytes / needed})
                result["steps"].append(row)
                if layers:
                    for row in layer_times(batch, steps, warmup, torch if twin_ok else None, device):
                        result["layers"].append({**row, "backend": name, "batch": batch})
                if profile:
                    result["profiles"].append({"backend": name, "batch": batch,
                                               **minigan_profile(batch, steps, warmup)})
            result["gemm_peak_gflops"][name] = peak
    finally:
        backend.use(previous)
    return result


def _torch_gemm_peak(torch, device, n: int = 2048) -> float:
    class OnDevice:  # torch as an ``xp`` for gemm_peak: asarray puts the matrix on the device
        @staticmethod
        def asarray(a):
            return torch.as_tensor(a, device=device)

    return gemm_peak(OnDevice, _torch_sync(torch, device), n)


# ---------------------------------------------------------------------------------------------------------------
# reports
# ---------------------------------------------------------------------------------------------------------------
def markdown(result: dict) -> str:
    m = result["machine"]
    lines = [f"machine: {json.dumps(m)}", "",
             f"GEMM peak (float32, {result['gemm_size']}^3): " + ", ".join(f"{k} {v:.0f} GFLOP/s"
                                                         for k, v in result["gemm_peak_gflops"].items()), "",
             ("Steps: medians over rounds of one minigan step, one GEMM, one twin step and (NumPy, more than one "
              "thread) one minigan step on one thread, in turn; minigan / twin, the share of peak and the speed-up "
              "from threads are medians of the round-by-round ratios."), "",
             ("| backend | batch | minigan step (ms) | twin step (ms) | minigan / twin | GFLOP | GFLOP/s | share of "
              "peak | peak memory / needed | on one thread (ms) | speed-up from threads |"),
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["steps"]:
        twin = f"{1e3 * r['torch_s']:.1f}" if "torch_s" in r else "-"
        ratio = f"{r['ratio_minigan_over_torch']:.2f}x" if "torch_s" in r else "-"
        mem = (f"{r['peak_mib']:.0f} / {r['needed_mib']:.0f} MiB = {r['memory_ratio']:.2f}x" if "peak_mib" in r
               else "-")
        one = (f"{1e3 * r['one_thread_s']:.1f} | {r['speedup_from_threads']:.2f}x ({r['threads']} threads)"
               if "one_thread_s" in r else "- | -")
        lines.append(f"| {r['backend']} | {r['batch']} | {1e3 * r['minigan_s']:.1f} | {twin} | {ratio} | "
                     f"{r['gflop']:.2f} | {r['minigan_gflops']:.0f} | {100 * r['share_of_peak']:.0f}% | {mem} | "
                     f"{one} |")
    if result["layers"]:
        lines += ["", ("Layers alone, each on the previous layer's output: medians over rounds of minigan's forward, "
                       "its backward, the twin layer's forward and its forward + backward, in turn."), "",
                  "| backend | batch | layer | fwd (ms) | bwd (ms) | twin fwd (ms) | twin bwd (ms) | fwd GFLOP/s |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in result["layers"]:
            tf = f"{1e3 * r['torch_forward_s']:.2f}" if "torch_forward_s" in r else "-"
            tb = f"{1e3 * r['torch_backward_s']:.2f}" if "torch_backward_s" in r else "-"
            rate = f"{r['gflop_forward'] / r['forward_s']:.0f}" if r["gflop_forward"] else ""
            lines.append(f"| {r['backend']} | {r['batch']} | {r['net']}{r['index']} {_short(r['layer'])} | "
                         f"{1e3 * r['forward_s']:.2f} | {1e3 * r['backward_s']:.2f} | {tf} | {tb} | {rate} |")
    for p in result.get("profiles", []):
        lines += _profile_markdown(p)
    return "\n".join(lines) + "\n"


def _short(layer_repr: str) -> str:
    """'Conv2d(64, 128, kernel_size=(4, 4), stride=(2, 2), ...)' -> 'Conv2d(64, 128)': the keyword arguments after
    the positional ones dropped (a repr with only keyword arguments stays whole)."""
    return re.sub(r", \w+=(\([^)]*\)|[^,()]*)", "", layer_repr)


def _profile_markdown(p: dict) -> list[str]:
    step = p["step_s"]

    def share(seconds):
        return f"{100 * seconds / step:.1f}%"

    lines = ["", (f"Where the step's time goes ({p['backend']}, batch {p['batch']}): each layer's calls and each "
                  f"optimizer step timed inside the step (minigan.lab.step_profile), per step, means over "
                  f"{p['steps']} steps; the step with these clocks: {1e3 * step:.1f} ms, {p['gflop']:.2f} GFLOP of "
                  "GEMMs."), "",
             "| net | layer | calls (fwd / bwd) | forward (ms) | backward (ms) | share of step | GFLOP | GFLOP/s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in p["layers"]:
        t = r["forward_s"] + r["backward_s"]
        rate = f"{r['gflop'] / t:.0f}" if r["gflop"] and t else ""
        gflop = f"{r['gflop']:.3f}" if r["gflop"] else ""
        lines.append(f"| {r['net']}{r['index']} | {_short(r['layer'])} | {r['forward_calls']:g} / "
                     f"{r['backward_calls']:g} | {1e3 * r['forward_s']:.2f} | {1e3 * r['backward_s']:.2f} | "
                     f"{share(t)} | {gflop} | {rate} |")
    for r in p["optimizers"]:
        lines.append(f"| {r['net']} | {r['optimizer']}.step | {r['calls']:g} | | {1e3 * r['s']:.2f} | {share(r['s'])} "
                     f"| | |")
    lines.append(f"| | outside layers and optimizers (losses, noise, data, Python) | | | {1e3 * p['rest_s']:.2f} | "
                 f"{share(p['rest_s'])} | | |")
    return lines


def write_reports(result: dict, out) -> list[Path]:
    """bench.md, bench_steps.csv, bench_layers.csv, bench_profile.csv, bench.json, bench.png (step time vs
    batch, log scale) and, when the step was profiled, bench_profile.png (where its time goes)."""
    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "bench.md", out / "bench_steps.csv", out / "bench_layers.csv", out / "bench.json",
             out / "bench.png", out / "bench_profile.csv"]
    paths[0].write_text(markdown(result))
    profile_rows = [{"backend": p["backend"], "batch": p["batch"], **r}
                    for p in result.get("profiles", []) for r in p["layers"] + p["optimizers"]
                    + [{"net": "", "layer": "outside layers and optimizers", "s": p["rest_s"]}]]
    for path, rows in ((paths[1], result["steps"]), (paths[2], result["layers"]), (paths[5], profile_rows)):
        columns = list(dict.fromkeys(k for r in rows for k in r))
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
    paths[3].write_text(json.dumps(result, indent=1))
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name in dict.fromkeys(r["backend"] for r in result["steps"]):
        rows = [r for r in result["steps"] if r["backend"] == name]
        ax.plot([r["batch"] for r in rows], [r["minigan_s"] for r in rows], "o-", label=f"minigan {name}")
        if rows and "torch_s" in rows[0]:
            ax.plot([r["batch"] for r in rows], [r["torch_s"] for r in rows], "s--", label=rows[0]["twin"])
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size")
    ax.set_ylabel("training step (s)")
    ax.set_title("canonical MNIST DCGAN step", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(paths[4], dpi=120)
    plt.close(fig)
    if result.get("profiles"):
        paths.append(out / "bench_profile.png")
        plot_profiles(result["profiles"], paths[-1])
    return paths


def plot_profiles(profiles: list[dict], path=None):
    """One panel per profiled (backend, batch): a bar per layer and optimizer, forward and backward stacked, in ms
    per step, and the time outside them; the step's total in the title. Saved to ``path`` (and closed) if given;
    the figure is returned."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(profiles), figsize=(5.5 * len(profiles), 5.5), squeeze=False)
    for ax, p in zip(axes[0], profiles):
        labels = [f"{r['net']}{r['index']} {_short(r['layer'])}" for r in p["layers"]]
        labels += [f"{r['net']} {r['optimizer']}.step" for r in p["optimizers"]] + ["outside layers"]
        fwd = [1e3 * r["forward_s"] for r in p["layers"]] + [0.0] * (len(p["optimizers"]) + 1)
        bwd = [1e3 * r["backward_s"] for r in p["layers"]] + [1e3 * r["s"] for r in p["optimizers"]]
        bwd.append(1e3 * p["rest_s"])
        rows = range(len(labels))[::-1]  # G0 at the top
        ax.barh(rows, fwd, color="tab:blue", label="forward")
        ax.barh(rows, bwd, left=fwd, color="tab:orange", label="backward / optimizer step / rest")
        ax.set_yticks(list(rows), labels, fontsize=7)
        ax.set_xlabel("ms per training step")
        ax.set_title(f"{p['backend']}, batch {p['batch']}: step {1e3 * p['step_s']:.1f} ms", fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig


def summary_json(result: dict) -> dict:
    """The one JSON object of ``minigan bench --json``: machine, versions, and per backend and batch size the
    median step time in seconds (and the twin's, where it ran)."""
    steps = {}
    for r in result["steps"]:
        entry = {"step_s": r["minigan_s"]}
        if "torch_s" in r:
            entry.update({"twin": r["twin"], "twin_step_s": r["torch_s"]})
        steps.setdefault(r["backend"], {})[str(r["batch"])] = entry
    return {**result["machine"], "gemm_peak_gflops": result["gemm_peak_gflops"], "steps": steps}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="minigan bench", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return command(parser.parse_args(argv))


def _at_least(least: int, what: str):
    """An argparse type: an integer >= least, else an error that says so."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < least:
            raise argparse.ArgumentTypeError(f"{what} must be an integer >= {least}, got {text!r}")
        return value

    return parse


def add_arguments(parser):
    # batch >= 2: the DCGAN's BatchNorm needs two samples to take statistics over
    parser.add_argument("--batch", type=_at_least(2, "a batch size"), nargs="+", default=[64, 256])
    parser.add_argument("--backends", nargs="+", choices=backend.BACKENDS, default=None,
                        help="default: every available one")
    parser.add_argument("--steps", type=_at_least(1, "--steps"), default=20)
    parser.add_argument("--warmup", type=_at_least(0, "--warmup"), default=3)
    parser.add_argument("--no-layers", action="store_true", help="skip the per-layer timings in isolation")
    parser.add_argument("--no-profile", action="store_true", help="skip the profile of the step (time per layer "
                        "inside the step)")
    parser.add_argument("--gemm-size", type=_at_least(1, "--gemm-size"), default=2048,
                        help="n of the n x n x n GEMM peak measurement")
    parser.add_argument("--out", default=None, help="write bench.md, CSVs, JSON, bench.png and bench_profile.png here")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")


def command(args) -> int:
    import sys

    quiet = (lambda *a, **k: None) if args.json else (lambda msg: print(msg, file=sys.stderr))
    result = run(args.batch, args.backends, args.steps, args.warmup, layers=not args.no_layers, progress=quiet,
                 gemm_size=args.gemm_size, profile=not args.no_profile)
    if args.out:
        for path in write_reports(result, args.out):
            quiet(f"wrote {path}")
    print(json.dumps(summary_json(result)) if args.json else markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
