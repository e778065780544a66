"""The one module that knows NumPy from CuPy.

Everything else in minigan writes ``xp.<function>`` where ``xp`` is the array module of the arrays at hand
(:func:`array_module`), or of the active backend (:func:`get_xp`) when an array is being created from nothing.
CuPy mirrors NumPy's API, so one code path serves both.

Select the backend with ``minigan.backend.use("numpy" | "cupy")`` or with the environment variable
``MINIGAN_BACKEND`` before importing minigan. A value that names no backend, or ``cupy`` where CuPy or a GPU is
missing, does not break ``import minigan`` (nor ``minigan --help``): the first call that needs the backend
(``get_xp``, ``name``, ``rng``, ``seed``, ``Random()``, ``asarray``) raises its :class:`BackendError`, until
``use()`` chooses a backend explicitly. Nothing here ever patches the global ``numpy`` module.

Random numbers come from :class:`Random`, a seeded generator living on one backend. :func:`seed` reseeds the
library-wide generator that layers use for initialisation and dropout masks, so a run is reproducible from one
integer.
"""

from __future__ import annotations

import os

import numpy as np

BACKENDS = ("numpy", "cupy")

_CUPY_HELP = (
    "install CuPy for your CUDA version, e.g. `pip install minigan[cuda12]` (cupy-cuda12x) or "
    "`pip install minigan[cuda13]` (cupy-cuda13x), on a machine with an NVIDIA GPU"
)

_name = "numpy"
_xp = np
_default_dtype = np.dtype(np.float32)
_rng = None  # the library-wide Random, created lazily on the active backend


class BackendError(RuntimeError):
    """The requested backend cannot be used here."""


def _import_cupy():
    """Import CuPy and check that a GPU is visible; raise BackendError with install advice otherwise."""
    try:
        import cupy
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise BackendError(f"the 'cupy' backend needs CuPy, which is not installed: {_CUPY_HELP}") from exc
    try:
        n_devices = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDA driver missing or broken
        raise BackendError(f"CuPy is installed but no CUDA device is usable ({exc}); {_CUPY_HELP}") from exc
    if n_devices < 1:
        raise BackendError(f"CuPy is installed but no GPU is visible; {_CUPY_HELP}")
    return cupy


def cupy_available() -> bool:
    """True when CuPy imports and sees at least one GPU."""
    try:
        _import_cupy()
    except BackendError:
        return False
    return True


def available_backends() -> list[str]:
    """The backends usable on this machine, NumPy first."""
    return ["numpy", "cupy"] if cupy_available() else ["numpy"]


def use(name: str) -> None:
    """Make ``name`` ("numpy" or "cupy") the active backend for arrays created from now on."""
    global _name, _xp, _rng, _env_error
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; expected one of {BACKENDS}")
    _xp = _import_cupy() if name == "cupy" else np
    if name != _name:
        _rng = None
    _name = name
    _env_error = None  # an explicit choice replaces whatever MINIGAN_BACKEND said


def name() -> str:
    """The active backend's name."""
    check_environment()
    return _name


def get_xp():
    """The active backend's array module (``numpy`` or ``cupy``)."""
    if _env_error is not None:
        raise _env_error
    return _xp


def array_module(*arrays):
    """The array module of the given arrays: ``cupy`` if any of them is a CuPy array, else ``numpy``."""
    for a in arrays:
        if type(a).__module__.startswith("cupy"):
            import cupy

            return cupy
    return np


def is_cupy(a) -> bool:
    """True for a CuPy array."""
    return type(a).__module__.startswith("cupy")


def backend_of(a) -> str:
    """"cupy" for a CuPy array, "numpy" otherwise."""
    return "cupy" if is_cupy(a) else "numpy"


def to_numpy(a):
    """A NumPy copy (or the array itself) of a NumPy or CuPy array; other values pass through ``np.asarray``."""
    if is_cupy(a):
        return a.get()
    return np.asarray(a)


def to_backend(a, backend: str | None = None, dtype=None):
    """Move array ``a`` to ``backend`` (default: the active one), optionally casting to ``dtype``."""
    if backend is None:
        check_environment()
        backend = _name
    if backend == "numpy":
        out = to_numpy(a)
    elif backend == "cupy":
        cupy = _import_cupy()
        out = cupy.asarray(a)
    else:
        raise ValueError(f"unknown backend {backend!r}; expected one of {BACKENDS}")
    if dtype is not None and out.dtype != np.dtype(dtype):
        out = out.astype(dtype)
    return out


def asarray(a, dtype=None):
    """``a`` as an array of the active backend (default dtype: :func:`default_dtype` for floats)."""
    if dtype is None and np.issubdtype(np.asarray(a).dtype if not is_cupy(a) else a.dtype, np.floating):
        dtype = _default_dtype
    return to_backend(a, _name, dtype)


def synchronize(a=None) -> None:
    """Wait for the GPU to finish queued work (a no-op on NumPy). Call before reading a clock."""
    if _name == "cupy" or (a is not None and is_cupy(a)):
        import cupy

        cupy.cuda.get_current_stream().synchronize()


# ---------------------------------------------------------------------------------------------------------------
# dtype
# ---------------------------------------------------------------------------------------------------------------
def default_dtype() -> np.dtype:
    """The dtype new parameters and data get: float32 unless changed."""
    return _default_dtype


def set_default_dtype(dtype) -> None:
    """Set the default floating dtype (``np.float32`` or ``np.float64``)."""
    global _default_dtype
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"default dtype must be float32 or float64, got {dtype}")
    _default_dtype = dtype


# ---------------------------------------------------------------------------------------------------------------
# random numbers
# ---------------------------------------------------------------------------------------------------------------
class Random:
    """A seeded random generator on one backend.

    NumPy: ``numpy.random.Generator(PCG64(seed))``; CuPy: ``cupy.random.RandomState(seed)`` (cuRAND). The two
    backends give different streams for the same seed; each is reproducible on its own.
    """

    def __init__(self, seed: int | None = None, backend: str | None = None):
        if backend is None:
            check_environment()
        self.backend = backend or _name
        self.seed = seed
        if self.backend == "cupy":
            cupy = _import_cupy()
            self._gen = cupy.random.RandomState(seed)
        else:
            self._gen = np.random.Generator(np.random.PCG64(seed))

    def standard_normal(self, shape, dtype=None):
        """Samples of N(0, 1) with the given shape."""
        dtype = np.dtype(dtype or _default_dtype)
        return self._gen.standard_normal(size=shape, dtype=dtype)

    def normal(self, loc, scale, shape, dtype=None):
        """Samples of N(loc, scale^2)."""
        return loc + scale * self.standard_normal(shape, dtype)

    def random(self, shape, dtype=None):
        """Uniform samples on [0, 1)."""
        dtype = np.dtype(dtype or _default_dtype)
        if self.backend == "cupy":
            return self._gen.random_sample(size=shape, dtype=dtype)
        return self._gen.random(size=shape, dtype=dtype)

    def uniform(self, low, high, shape, dtype=None):
        """Uniform samples on [low, high)."""
        return low + (high - low) * self.random(shape, dtype)

    def permutation(self, n: int):
        """A random permutation of range(n)."""
        return self._gen.permutation(n)

    def integers(self, low: int, high: int, shape):
        """Integers uniform on [low, high)."""
        if self.backend == "cupy":
            return self._gen.randint(low, high, size=shape)
        return self._gen.integers(low, high, size=shape)

    def state_dict(self) -> dict:
        """The generator's state as a JSON-serializable dict; :meth:`load_state_dict` continues the stream from it.

        NumPy: the PCG64 ``bit_generator.state``. CuPy: cuRAND's state cannot be read back, so the generator is
        reseeded with a seed drawn from its own stream and that seed is the state. On CuPy, saving therefore changes
        the stream that follows (the saving run and a run resumed from its state still continue identically).
        """
        if self.backend == "cupy":
            new_seed = int(self._gen.randint(0, 2**31 - 1, size=()))
            self._gen.seed(new_seed)
            self.seed = new_seed
            return {"backend": "cupy", "seed": new_seed}
        return {"backend": "numpy", "seed": self.seed, "bit_generator": self._gen.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        """Continue from a state given by :meth:`state_dict` of a generator on the same backend."""
        if state.get("backend") != self.backend:
            raise ValueError(f"Random.load_state_dict: the state is from a {state.get('backend')!r} generator, this "
                             f"one lives on {self.backend!r}")
        if self.backend == "cupy":
            self._gen.seed(int(state["seed"]))
        else:
            self._gen.bit_generator.state = state["bit_generator"]  # numpy checks the dict (PCG64, keys) itself
        self.seed = state["seed"]


def seed(value: int | None) -> Random:
    """Reseed the library-wide generator (initialisation, dropout masks) on the active backend."""
    global _rng
    check_environment()
    _rng = Random(value, _name)
    return _rng


def rng() -> Random:
    """The library-wide generator of the active backend (seeded with 0 unless :func:`seed` was called)."""
    global _rng
    check_environment()
    if _rng is None or _rng.backend != _name:
        _rng = Random(0, _name)
    return _rng


def environment_backend() -> str | None:
    """The backend ``MINIGAN_BACKEND`` names (None when unset or empty); raises :class:`BackendError` when it names
    no backend or one that cannot be used here (``cupy`` without CuPy or a GPU). Reads the variable anew."""
    value = os.environ.get("MINIGAN_BACKEND", "").strip()
    if not value:
        return None
    if value not in BACKENDS:
        raise BackendError(f"MINIGAN_BACKEND={value!r} is not a backend; expected one of {BACKENDS}")
    if value == "cupy":
        try:
            _import_cupy()
        except BackendError as exc:
            raise BackendError(f"{exc} (asked for by MINIGAN_BACKEND=cupy)") from exc
    return value


def check_environment() -> None:
    """Raise the :class:`BackendError` of an unusable ``MINIGAN_BACKEND`` read at import (nothing if it was fine, or
    once :func:`use` chose a backend explicitly)."""
    if _env_error is not None:
        raise _env_error


# MINIGAN_BACKEND, read once at import. A bad value does not break the import (``minigan --help`` and anything
# that needs no arrays keep working): it is kept, and raised by the first function that needs the backend (name,
# get_xp, rng, seed, Random, asarray, to_backend) until use() picks a backend explicitly.
_env_error: BackendError | None = None
try:
    _env = environment_backend()
except BackendError as _exc:
    _env_error = _exc
else:
    if _env:
        use(_env)
