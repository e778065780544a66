"""Shared fixtures: every backend-sensitive test takes ``bk`` and runs once per available backend.

CuPy cases are collected everywhere and skipped, with the reason, where CuPy or a GPU is missing.

Hypothesis: under CI (CI=true) every run draws the same examples (``derandomize``), so whether a submission lands
does not depend on which examples a run happened to draw; everywhere else each run explores new examples, and
hypothesis's example database replays any failure it finds until it is fixed.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

from minigan import backend, fast


class Backend:
    """The backend under test: where arrays go, how they come back."""

    def __init__(self, name: str):
        self.name = name
        self.xp = backend.get_xp()

    def asarray(self, a, dtype=None):
        return backend.to_backend(np.asarray(a), self.name, dtype)

    @staticmethod
    def to_numpy(a):
        return backend.to_numpy(a)

    def __repr__(self):
        return self.name


def _backend_params():
    params = [pytest.param("numpy", id="numpy")]
    reason = None
    try:
        backend._import_cupy()
    except backend.BackendError as exc:
        reason = str(exc)
    marks = [pytest.mark.skip(reason=f"CuPy unavailable: {reason}")] if reason else []
    params.append(pytest.param("cupy", id="cupy", marks=marks))
    return params


@pytest.fixture(params=_backend_params())
def bk(request):
    previous = backend.name()
    backend.use(request.param)
    backend.seed(0)
    try:
        yield Backend(request.param)
    finally:
        backend.use(previous)


@pytest.fixture(autouse=True)
def _restore_defaults():
    """Each test starts from float32 and a seeded library generator, whatever the last one changed."""
    backend.set_default_dtype(np.float32)
    backend.seed(0)
    yield
    backend.set_default_dtype(np.float32)


@pytest.fixture(params=["whole batch", "three threads"])
def threads_mode(request, monkeypatch):
    """Each check twice: every layer's own code on the whole batch (minigan.reference), and through minigan.fast
    inside a threads() block with three threads and chunks of a single sample, so that the chunked, threaded path
    of every per-sample layer meets the same random shapes, strides and paddings."""
    if request.param == "whole batch":
        yield request.param
        return
    if fast.blas_threads() is None:
        pytest.skip("threadpoolctl finds no BLAS here to hold at one thread: minigan runs no threads of its own")
    previous = fast.num_threads()
    monkeypatch.setattr(fast, "MIN_BATCH", 1)
    monkeypatch.setattr(fast, "SMALL_WORK", 0)
    monkeypatch.setattr(fast, "CHUNK_BYTES", 1)
    fast.set_num_threads(3)
    try:
        with fast.threads():
            yield request.param
    finally:
        fast.set_num_threads(previous)


@pytest.fixture
def interrupt_at_batch(monkeypatch):
    """``interrupt_at_batch(k)`` makes the next CLI run send itself SIGINT (``signum``: another signal, e.g. SIGTERM)
    while drawing its k-th data batch (inside an iteration, where a user's Ctrl-C lands); it returns a function that
    undoes the patch."""
    import signal

    from minigan import recipes

    build_run = recipes.build_run

    def interrupted_run(k, signum, *args, **kwargs):
        run = build_run(*args, **kwargs)
        sample, calls = run.sample_data, []

        def sample_data(m):
            calls.append(m)
            if len(calls) == k:
                os.kill(os.getpid(), signum)
            return sample(m)

        run.sample_data = sample_data
        return run

    def arm(k: int, signum=signal.SIGINT):
        monkeypatch.setattr(recipes, "build_run", lambda *args, **kwargs: interrupted_run(k, signum, *args, **kwargs))
        return lambda: monkeypatch.setattr(recipes, "build_run", build_run)

    return arm
