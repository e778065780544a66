"""Trained generators shipped with the package, one call each:

    G = minigan.pretrained.load("dcgan-mnist")           # the generator, in evaluation mode, float32
    x = minigan.pretrained.sample("dcgan-mnist", 64)     # 64 samples as a NumPy array
    minigan.pretrained.info("dcgan-mnist")["command"]    # how it was trained

Each was trained by minigan itself with the ``minigan train`` command that :data:`CATALOG` records and that
``info(name)`` returns (with the iterations, the data, the wall time and the machine). ``python -m
minigan.pretrained.make NAME`` runs that command again and rewrites the file: seeded, so on the same machine and
library versions it gives the same weights.

Storage: ``NAME.npz`` beside this file, no pickle: ``meta.json`` (the record above, as UTF-8 bytes) and one
``G/<parameter or buffer>`` array per entry of the generator's ``state_dict()``, in float16: half the bytes of
float32, and a weight rounded to float16 changes a sample by about 1e-3, invisible in a picture. The toys also ship
their critic, as ``D/...`` (``load(name, net="D")``). ``load`` rebuilds the network of the recipe
(:mod:`minigan.recipes`) and loads the weights into it in the library's default dtype.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FOLDER = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Entry:
    """What ``make`` trains: a recipe (model name and options) and the ``minigan train`` arguments."""

    model: str
    options: dict = field(default_factory=dict)
    train_args: tuple[str, ...] = ()
    about: str = ""
    keep_D: bool = False  # ship the discriminator (critic) as well: the toys' are tiny, and notebook 05 maps them

    def command(self, name: str) -> str:
        opts = []
        for key, value in self.options.items():
            opts += [f"--{key.replace('_', '-')}", str(value)]
        return " ".join(["minigan", "train", self.model, *opts, *self.train_args, "--out", f"runs/pretrained/{name}"])


CATALOG: dict[str, Entry] = {
    "mlp-mnist": Entry("mlp-mnist", {}, ("--epochs", "100", "--seed", "0"),
                       "the MLP GAN of notebook 03 on the offline 4,000-digit MNIST subset"),
    "dcgan-mnist": Entry("dcgan-mnist", {}, ("--epochs", "60", "--seed", "0"),
                         "the canonical MNIST DCGAN (notebook 04) on the offline 4,000-digit MNIST subset"),
    "cgan-mnist": Entry("cgan-mnist", {}, ("--epochs", "200", "--seed", "0"),
                        "the conditional MLP GAN of notebook 06 on the offline 4,000-digit MNIST subset"),
    "wgan-gp-ring": Entry("wgan-gp-toy", {"mixture": "ring"},
                          ("--iterations", "20000", "--lr", "1e-3", "--lr-decay", "--seed", "0"),
                          "WGAN-GP on the ring of 8 Gaussians (notebook 05), learning rate decayed to 0", keep_D=True),
    "wgan-gp-grid": Entry("wgan-gp-toy", {"mixture": "grid"},
                          ("--iterations", "20000", "--lr", "1e-3", "--lr-decay", "--seed", "0"),
                          "WGAN-GP on the grid of 25 Gaussians (notebook 05), learning rate decayed to 0", keep_D=True),
    "pix2pix-edges": Entry("pix2pix-edges", {}, ("--epochs", "20", "--seed", "0"),
                           "pix2pix on edge map -> digit pairs of the offline MNIST subset (notebook 10)"),
    "cyclegan-digits": Entry("cyclegan-digits", {}, ("--iterations", "4800", "--seed", "0"),
                             "CycleGAN between MNIST and the usps-like digits, unpaired (notebook 10); both "
                             "generators, G_A (A -> B) and G_B (B -> A)"),
    "stackgan-digits-stage1": Entry("stackgan-digits", {"stage": 1}, ("--iterations", "3000", "--seed", "0"),
                                    "StackGAN stage I: caption -> 16x16 digit (notebook 11)"),
    "stackgan-digits": Entry("stackgan-digits", {"stage": 2, "stage1": "runs/pretrained/stackgan-digits-stage1/"
                                                                       "checkpoint.npz"},
                             ("--iterations", "1500", "--seed", "0"),
                             "StackGAN stages I and II: caption -> 32x32 digit, stage II trained on the shipped "
                             "stage I (make stackgan-digits-stage1 first; notebook 11)"),
}


class PretrainedError(LookupError):
    """A name with no shipped generator, or a file that is not one."""


def names() -> tuple[str, ...]:
    """The generators shipped with this installation (those of CATALOG whose file is present)."""
    return tuple(name for name in CATALOG if path(name).exists())


def path(name: str) -> Path:
    if name not in CATALOG:
        raise PretrainedError(f"no pretrained generator named {name!r}; available: {', '.join(CATALOG)}")
    return FOLDER / f"{name}.npz"


def _read(name: str, net: str = "G") -> tuple[dict, dict]:
    file = path(name)
    if not file.exists():
        raise PretrainedError(f"{file} is missing: this installation was built without it (make it with "
                              f"`python -m minigan.pretrained.make {name}`)")
    with np.load(file, allow_pickle=False) as archive:
        meta = json.loads(archive["meta.json"].tobytes().decode("utf-8"))
        state = {key[2:]: archive[key] for key in archive.files if key.startswith(f"{net}/")}
    if not state:
        raise PretrainedError(f"{file} holds no {net} (only the toys ship their critic)")
    return meta, state


def info(name: str) -> dict:
    """The record stored with the weights: model, options, command, iterations, epochs, data, wall time, machine,
    library versions, date."""
    return _read(name)[0]


def load(name: str, backend_name: str | None = None, net: str = "G"):
    """The trained generator ``name`` (or, with ``net="D"``, its discriminator or critic where it ships), in
    evaluation mode, on the active backend (or ``backend_name``), in the library's default dtype."""
    from minigan import backend, recipes

    if net not in ("G", "D"):
        raise ValueError(f"net must be 'G' or 'D', got {net!r}")
    meta, state = _read(name, net)
    module = recipes.build_networks(meta["model"], dict(meta["options"]))["GD".index(net)]
    dtype = np.dtype(backend.default_dtype())
    module.load_state_dict({k: (v.astype(dtype) if v.dtype == np.float16 else v) for k, v in state.items()})
    if backend_name is not None:
        module.to(backend_name)
    module.eval()
    return module


def sample(name: str, n: int = 64, seed: int = 0, labels=None) -> np.ndarray:
    """n samples of the trained generator ``name`` as a NumPy array (images in [-1, 1], or 2-D points), from noise
    seeded with ``seed``; a conditional model draws class i // ceil(n / 10) for sample i unless ``labels`` says.
    A translation model (pix2pix, CycleGAN) translates n held-out examples drawn with ``seed`` and returns its
    picture rows, (rows, n, C, H, W): input, output, target (see :func:`minigan.recipes.task_rows`)."""
    from minigan import backend, recipes

    G = load(name)
    meta = info(name)
    if recipes.data_kind(meta["model"]) in recipes.TASK_KINDS:
        rows = recipes.task_rows(G, meta["model"], dict(meta["options"]), n, seed=seed)
        return np.stack([backend.to_numpy(images) for _, images in rows])
    return backend.to_numpy(recipes.generate(G, meta["model"], n, seed=seed, labels=labels))


__all__ = ["CATALOG", "Entry", "PretrainedError", "info", "load", "names", "path", "sample"]
