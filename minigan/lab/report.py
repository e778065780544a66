"""Small helpers the benchmark scripts in benchmarks/ share: a median clock, the CPU's name and where a table goes."""

from __future__ import annotations

import platform
import time
from pathlib import Path

import numpy as np


def median_ms(fn, repeats: int = 30) -> float:
    """The median of ``repeats`` timed calls of fn (after one untimed call), in milliseconds."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e3)


def cpu_model() -> str:
    """The CPU's model name as /proc/cpuinfo gives it (Linux), else what the platform module says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def emit(text: str, out: str | None) -> int:
    """Print a markdown report and, when ``out`` is given, write it there; the exit status of a script (0)."""
    print(text)
    if out:
        Path(out).write_text(text)
    return 0
