"""minigan.backend: choosing NumPy or CuPy, moving arrays, the default dtype and the seeded generator."""

from __future__ import annotations

import os
import subprocess
import sys
import types

import numpy as np
import pytest

from minigan import backend, nn

needs_cupy = pytest.mark.skipif(not backend.cupy_available(), reason="CuPy or a GPU is not available")


@pytest.fixture
def restore_backend():
    """Put the backend back as it was; listed before no_cupy so that it tears down after CuPy is importable again."""
    previous = backend.name()
    yield
    backend.use(previous)


@pytest.fixture
def no_cupy(monkeypatch):
    """Make ``import cupy`` fail, whether or not CuPy is installed (None in sys.modules stops an import)."""
    monkeypatch.setitem(sys.modules, "cupy", None)


# --------------------------------------------------------------------------------------------------------------
# choosing a backend
# --------------------------------------------------------------------------------------------------------------
def test_use_numpy(restore_backend):
    backend.use("numpy")
    assert backend.name() == "numpy"
    assert backend.get_xp() is np
    assert isinstance(backend.asarray([1.0, 2.0]), np.ndarray)


def test_unknown_backend_names_the_choices(restore_backend):
    before = backend.name()
    for bad in ("torch", "NumPy", ""):
        with pytest.raises(ValueError, match=r"unknown backend '.*'; expected one of \('numpy', 'cupy'\)"):
            backend.use(bad)
    assert backend.name() == before


def test_use_cupy_without_cupy_says_how_to_install(restore_backend, no_cupy):
    backend.use("numpy")
    with pytest.raises(backend.BackendError, match=r"the 'cupy' backend needs CuPy, which is not installed: install "
                                                   r"CuPy .*`pip install minigan\[cuda12\]` \(cupy-cuda12x\) or "
                                                   r"`pip install minigan\[cuda13\]`"):
        backend.use("cupy")
    assert backend.name() == "numpy" and backend.get_xp() is np  # a failed switch changes nothing
    assert not backend.cupy_available()
    assert backend.available_backends() == ["numpy"]
    with pytest.raises(backend.BackendError, match=r"pip install minigan\[cuda12\]"):
        backend.Random(0, backend="cupy")
    with pytest.raises(backend.BackendError, match=r"pip install minigan\[cuda12\]"):
        backend.to_backend(np.ones(3), "cupy")


@pytest.mark.parametrize("device_count, message", [
    (lambda: 0, r"CuPy is installed but no GPU is visible; install CuPy"),
    (lambda: (_ for _ in ()).throw(RuntimeError("cudaErrorNoDevice")),
     r"CuPy is installed but no CUDA device is usable \(cudaErrorNoDevice\); install CuPy"),
], ids=["zero-gpus", "no-driver"])
def test_use_cupy_without_a_gpu_says_so(monkeypatch, restore_backend, device_count, message):
    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=device_count))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    backend.use("numpy")
    with pytest.raises(backend.BackendError, match=message + r".*pip install minigan\[cuda12\]"):
        backend.use("cupy")
    assert backend.name() == "numpy"
    assert backend.available_backends() == ["numpy"]


def test_available_backends_always_include_numpy_first():
    available = backend.available_backends()
    assert available[0] == "numpy"
    assert set(available) <= set(backend.BACKENDS)
    assert ("cupy" in available) == backend.cupy_available()


# --------------------------------------------------------------------------------------------------------------
# MINIGAN_BACKEND, read when minigan is imported (in a fresh interpreter)
# --------------------------------------------------------------------------------------------------------------
def run_python(code: str, env_value: str | None):
    env = {k: v for k, v in os.environ.items() if k != "MINIGAN_BACKEND"}
    if env_value is not None:
        env["MINIGAN_BACKEND"] = env_value
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                          check=False)


def test_environment_variable_numpy():
    result = run_python("import minigan; print(minigan.backend.name())", "numpy")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "numpy"
    unset = run_python("import minigan; print(minigan.backend.name())", None)
    assert unset.returncode == 0, unset.stderr
    assert unset.stdout.strip() == "numpy"


def test_environment_variable_invalid_value():
    """A bad MINIGAN_BACKEND does not break `import minigan` (so that `minigan --help` works); the first call that
    needs the backend raises."""
    assert run_python("import minigan", "tensorflow").returncode == 0
    result = run_python("import minigan; minigan.backend.get_xp()", "tensorflow")
    assert result.returncode != 0
    assert "BackendError: MINIGAN_BACKEND='tensorflow' is not a backend; expected one of ('numpy', 'cupy')" in (
        result.stderr)


def test_environment_variable_cupy_without_cupy():
    result = run_python("import sys; sys.modules['cupy'] = None; import minigan; minigan.backend.get_xp()", "cupy")
    assert result.returncode != 0
    assert "BackendError: the 'cupy' backend needs CuPy, which is not installed" in result.stderr
    assert "pip install minigan[cuda12]" in result.stderr


@needs_cupy
def test_environment_variable_cupy():
    result = run_python("import minigan; print(minigan.backend.name(), minigan.backend.get_xp().__name__)", "cupy")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["cupy", "cupy"]


# --------------------------------------------------------------------------------------------------------------
# moving arrays
# --------------------------------------------------------------------------------------------------------------
def test_to_numpy(bk):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    on = bk.asarray(a)
    back = backend.to_numpy(on)
    assert isinstance(back, np.ndarray) and back.dtype == np.float32
    np.testing.assert_array_equal(back, a)
    assert backend.to_numpy(a) is a  # a NumPy array passes through
    listed = backend.to_numpy([[1, 2], [3, 4]])
    assert isinstance(listed, np.ndarray) and listed.shape == (2, 2)


def test_to_backend_with_dtype(bk):
    a = np.arange(4, dtype=np.float32)
    on = backend.to_backend(a, bk.name, np.float64)
    assert backend.backend_of(on) == bk.name and on.dtype == np.float64
    np.testing.assert_array_equal(backend.to_numpy(on), a)
    assert backend.backend_of(backend.to_backend(a)) == bk.name  # default: the active backend
    back = backend.to_backend(on, "numpy", "float32")
    assert isinstance(back, np.ndarray) and back.dtype == np.float32
    with pytest.raises(ValueError, match=r"unknown backend 'gpu'; expected one of \('numpy', 'cupy'\)"):
        backend.to_backend(a, "gpu")


def test_asarray_dtypes(bk):
    floats = backend.asarray([0.5, 1.5])  # Python floats (float64 to NumPy) get the default dtype
    assert floats.dtype == np.float32 and backend.backend_of(floats) == bk.name
    assert backend.asarray(np.ones(3, np.float64)).dtype == np.float32
    assert backend.asarray([1, 2, 3]).dtype.kind == "i"  # integers stay integers (labels, indices)
    assert backend.asarray([1, 2], dtype=np.float64).dtype == np.float64
    assert backend.asarray(np.ones(2, np.float32), dtype=np.int32).dtype == np.int32
    backend.set_default_dtype(np.float64)
    assert backend.asarray(np.ones(3, np.float32)).dtype == np.float64
    assert backend.asarray(bk.asarray(np.ones(2), np.float32)).dtype == np.float64  # from the active backend too


def test_array_module_and_is_cupy(bk):
    on = bk.asarray(np.ones(2))
    assert backend.array_module(on) is bk.xp
    assert backend.array_module(np.ones(2), on) is bk.xp  # any CuPy array makes it CuPy
    assert backend.is_cupy(on) == (bk.name == "cupy")
    assert backend.backend_of(on) == bk.name
    assert backend.array_module(np.ones(2)) is np and not backend.is_cupy(np.ones(2))
    backend.synchronize(on)  # a no-op on NumPy; waits for the GPU on CuPy


# --------------------------------------------------------------------------------------------------------------
# default dtype
# --------------------------------------------------------------------------------------------------------------
def test_set_default_dtype():
    assert backend.default_dtype() == np.float32
    for dtype in (np.float64, "float64", np.dtype("float64")):
        backend.set_default_dtype(dtype)
        assert backend.default_dtype() == np.float64
        assert nn.Dense(2, 2).weight.dtype == np.float64
    backend.set_default_dtype("float32")
    assert backend.default_dtype() == np.float32
    for bad in (np.float16, np.int32, "int64", np.complex64):
        with pytest.raises(ValueError, match=r"default dtype must be float32 or float64, got "
                                             + np.dtype(bad).name):
            backend.set_default_dtype(bad)
    assert backend.default_dtype() == np.float32  # a rejected dtype changes nothing


# --------------------------------------------------------------------------------------------------------------
# random numbers
# --------------------------------------------------------------------------------------------------------------
def draws(r):
    return [backend.to_numpy(a) for a in (r.standard_normal((3, 4)), r.normal(2.0, 0.5, (5,)), r.random((2, 2)),
                                          r.uniform(-1.0, 3.0, (6,)), r.permutation(10), r.integers(0, 5, (8,)))]


def test_random_is_reproducible_with_a_seed(bk):
    a, b, c = draws(backend.Random(11)), draws(backend.Random(11)), draws(backend.Random(12))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])
    assert backend.Random(11).backend == bk.name
    assert backend.backend_of(backend.Random(11).random((2,))) == bk.name


def test_random_distributions(bk):
    r = backend.Random(0)
    assert r.standard_normal((4,)).dtype == np.float32
    assert r.standard_normal((4,), np.float64).dtype == np.float64
    z = backend.to_numpy(r.normal(3.0, 2.0, (20000,), np.float64))
    assert abs(z.mean() - 3.0) < 0.1 and abs(z.std() - 2.0) < 0.1
    u = backend.to_numpy(r.uniform(-1.0, 3.0, (20000,)))
    assert u.min() >= -1.0 and u.max() < 3.0 and abs(u.mean() - 1.0) < 0.1
    assert sorted(backend.to_numpy(r.permutation(10)).tolist()) == list(range(10))
    k = backend.to_numpy(r.integers(2, 5, (1000,)))
    assert set(k.tolist()) == {2, 3, 4}


def test_library_generator_follows_seed(bk):
    returned = backend.seed(5)
    assert backend.rng() is returned
    first = backend.to_numpy(backend.rng().random((4,)))
    backend.seed(5)
    np.testing.assert_array_equal(backend.to_numpy(backend.rng().random((4,))), first)
    np.testing.assert_array_equal(first, backend.to_numpy(backend.Random(5).random((4,))))


# --------------------------------------------------------------------------------------------------------------
# a model on the GPU and back
# --------------------------------------------------------------------------------------------------------------
@needs_cupy
def test_model_to_cupy_and_back(restore_backend):
    import cupy

    backend.use("numpy")
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.LeakyReLU(0.2), nn.Flatten(),
                          nn.Dense(4 * 6 * 6, 1))
    x = np.random.default_rng(0).standard_normal((5, 1, 6, 6)).astype(np.float32)
    model.forward(x)
    model.eval()
    y_cpu = model.forward(x)
    state = model.state_dict()

    assert model.to("cupy") is model
    for k, v in model.state_dict().items():
        assert isinstance(v, cupy.ndarray), k
        np.testing.assert_array_equal(v.get(), state[k])
    assert all(isinstance(g, cupy.ndarray) for g in model.grads.values())
    with pytest.raises(nn.LayerInputError, match="got a numpy array while its parameters live on cupy"):
        model.forward(x)
    y_gpu = model.forward(cupy.asarray(x))
    assert isinstance(y_gpu, cupy.ndarray)
    np.testing.assert_allclose(y_gpu.get(), y_cpu, rtol=1e-4, atol=1e-5)
    model.backward(cupy.ones_like(y_gpu))

    model.to("numpy")
    for k, v in model.state_dict().items():
        assert isinstance(v, np.ndarray), k
        np.testing.assert_array_equal(v, state[k])
    assert all(isinstance(g, np.ndarray) for g in model.grads.values())
    np.testing.assert_allclose(model.forward(x), y_cpu, rtol=1e-6)
