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

from minigan import backend


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
