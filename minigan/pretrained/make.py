"""Train a shipped generator again and rewrite its file: ``python -m minigan.pretrained.make NAME [NAME ...]``.

It runs the ``minigan train`` command that :data:`minigan.pretrained.CATALOG` records (into ``runs/pretrained/NAME``
unless ``--runs`` says otherwise), times it, and keeps G's ``state_dict()`` in float16 with a record of how it was
made (see :mod:`minigan.pretrained`).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import time
from pathlib import Path

import numpy as np

from minigan.pretrained import CATALOG, FOLDER

DEFAULT_RUNS = Path("runs/pretrained")


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def data_source(meta: dict) -> str | None:
    """The checkpoint's data source without the local path of the file it was read from."""
    source = meta.get("data_source")
    return None if source is None else re.sub(r"; /[^;)]*", "", source)


def _portable(options: dict, entry) -> dict:
    """The run's options as the catalogue states them: a --stage1 path as in the recorded command, not where
    this machine's run read it."""
    options = dict(options)
    if options.get("stage1"):
        options["stage1"] = entry.options.get("stage1")
    return options


def make(name: str, runs: Path, folder: Path = FOLDER) -> Path:
    """Train ``name`` as CATALOG says, then write ``folder/name.npz``; returns its path."""
    import minigan
    from minigan import cli
    from minigan.io import read_checkpoint

    entry = CATALOG[name]
    command = entry.command(name)
    argv = shlex.split(command)[1:]  # without the leading "minigan"
    out = runs / name
    argv[argv.index("--out") + 1] = str(out)
    if "--stage1" in argv:  # a run on top of another catalogued run: read it where this make put it
        i = argv.index("--stage1") + 1
        argv[i] = str(runs / Path(argv[i]).relative_to(DEFAULT_RUNS))
    t0 = time.perf_counter()
    status = cli.main([*argv, "--no-progress", "--overwrite"])  # a new run, replacing an earlier one of this name
    wall_s = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"{name}: `{command}` exited with status {status}")
    ckpt = read_checkpoint(out / "checkpoint.npz")
    meta = ckpt["meta"]
    record = {
        "name": name, "model": entry.model, "options": _portable(meta["options"], entry), "about": entry.about, "command": command,
        "iterations": meta["iterations_done"], "target": meta.get("target"), "data": data_source(meta),
        "wall_s": round(wall_s, 1), "machine": _cpu(), "minigan_version": minigan.__version__,
        "numpy_version": np.__version__, "python_version": platform.python_version(),
        "date": datetime.date.today().isoformat(), "storage": "float16",
    }
    arrays = {"meta.json": np.frombuffer(json.dumps(record).encode("utf-8"), dtype=np.uint8)}
    for net in ("G", "D") if entry.keep_D else ("G",):
        for key, value in ckpt["trainer"][net].items():
            value = np.asarray(value)
            arrays[f"{net}/{key}"] = value.astype(np.float16) if value.dtype.kind == "f" else value
    target = folder / f"{name}.npz"
    tmp = target.with_suffix(".npz.tmp")
    with open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    os.replace(tmp, target)
    print(f"{name}: {meta['iterations_done']} iterations in {wall_s:.0f} s -> {target} "
          f"({target.stat().st_size / 1e6:.2f} MB)")
    return target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+", choices=sorted(CATALOG), metavar="NAME")
    parser.add_argument("--runs", type=Path, default=DEFAULT_RUNS, help="where the training runs go")
    args = parser.parse_args(argv)
    for name in args.names:
        make(name, args.runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
