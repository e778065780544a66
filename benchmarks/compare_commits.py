"""Two versions of minigan's canonical training step in one process, round by round, with the torch twin.

    git worktree add /tmp/old <commit>
    python benchmarks/compare_commits.py /tmp/old --batch 64 --rounds 12

Separate benchmark processes disagree by several percent because the twin's own time moves between processes;
here the old step, this checkout's step and the twin's step are timed in turn, round after round, in one process
(``lab.bench.interleaved_times``), and new / old is the median of the round-by-round ratios. The old checkout's
``minigan`` package is copied to a temporary folder as ``minigan_old``, its imports rewritten, so that both import
side by side. Its benchmark module is ``minigan.bench`` (before the lab) or ``minigan.lab.bench``.
"""

from __future__ import annotations

import argparse
import importlib
import re
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np


def import_old(checkout: Path):
    """The old checkout's benchmark module, imported as part of a package renamed ``minigan_old``."""
    folder = Path(tempfile.mkdtemp())
    shutil.copytree(checkout / "minigan", folder / "minigan_old")
    for path in (folder / "minigan_old").rglob("*.py"):
        text = path.read_text()
        text = re.sub(r"\bfrom minigan([. ])", r"from minigan_old\1", text)
        text = re.sub(r"\bimport minigan\b", "import minigan_old", text)
        text = re.sub(r"\bminigan\.([a-z_]+)", r"minigan_old.\1", text)
        path.write_text(text)
    sys.path.insert(0, str(folder))
    for name in ("minigan_old.lab.bench", "minigan_old.bench"):
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError:
            continue
    raise SystemExit(f"{checkout}: no minigan/bench.py or minigan/lab/bench.py")


def compare(checkout: Path, batch: int, rounds: int) -> dict:
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from minigan.lab import bench

    old = import_old(checkout)
    fns = [old.minigan_step(batch), bench.minigan_step(batch), bench.torch_step(torch, batch, "cpu")]
    old_s, new_s, torch_s = (np.array(t) for t in bench.interleaved_times(fns, [lambda: None] * 3, rounds, 3))
    return {"batch": batch, "old_ms": float(np.median(old_s) * 1e3), "new_ms": float(np.median(new_s) * 1e3),
            "torch_ms": float(np.median(torch_s) * 1e3), "new_over_old": float(np.median(new_s / old_s)),
            "old_over_torch": float(np.median(old_s / torch_s)), "new_over_torch": float(np.median(new_s / torch_s))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path, help="a checkout of the older commit (git worktree add DIR COMMIT)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args(argv)
    r = compare(args.old, args.batch, args.rounds)
    print(f"batch {r['batch']}: old {r['old_ms']:.1f} ms, new {r['new_ms']:.1f} ms, torch {r['torch_ms']:.1f} ms; "
          f"new / old {r['new_over_old']:.3f}, old / torch {r['old_over_torch']:.2f}x, "
          f"new / torch {r['new_over_torch']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
