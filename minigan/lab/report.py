"""Small helpers the benchmark scripts in benchmarks/ share: a median clock, the CPU's name, one thread count for
minigan and BLAS, mean ± sd over seeds and where a table goes."""

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


def mean_sd(values, digits: int = 3) -> str:
    """"mean ± sd" of ``values`` (the sample sd, ddof 1; 0 for a single value), ``digits`` decimals."""
    v = np.asarray(values, dtype=float)
    sd = v.std(ddof=1) if len(v) > 1 else 0.0
    return f"{v.mean():.{digits}f} ± {sd:.{digits}f}"


def pin_threads(n: int) -> None:
    """Run minigan's layers on ``n`` threads and hold BLAS at ``n`` too, for the whole process: a table script
    also runs G outside a trainer's iterations (where the trainer holds BLAS at one itself), and BLAS threads
    spinning on a loaded 2-core machine made a 16 x 16384 x 16 GEMM take 0.5 s."""
    from threadpoolctl import threadpool_limits

    from minigan import fast

    fast.set_num_threads(n)
    threadpool_limits(limits=n, user_api="blas")
