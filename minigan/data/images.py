"""Image datasets: a folder of JPEG/PNG files (CelebA-style), and an offline face set from scikit-image.

Every image is centre-cropped to a square and resized with Pillow:

    side = min(W, H),  left = (W - side) // 2,  top = (H - side) // 2,
    crop = image[top : top + side, left : left + side]  ->  resize to (size, size), bicubic.

A 16-bit grayscale PNG (Pillow mode "I;16" or "I"; mode "F" alike) is scaled from 0..65535 to 0..255 first, not
clipped. Images are kept as uint8 in the layout image files use: (N, H, W) for grayscale, (N, H, W, 3) for RGB.
:class:`minigan.data.batches.Batches` turns them into float NCHW batches in [-1, 1].

Decoding a CelebA-sized folder (200,000 JPEGs) takes minutes, so :func:`load_image_folder` shows a progress
bar and keeps what it decoded in a cache file, ``<cache>/image_folders/<folder>-<size>px-<mode>-<key>.npz``
(``<cache>`` is :func:`minigan.data.cache.data_dir`, i.e. ``$MINIGAN_DATA`` or ``~/.cache/minigan``):

* ``<key>`` hashes the resolved folder path, size, channels, ``recursive``, ``limit`` and ``skip_unreadable``,
  so each combination has its own file, and a later load with the same settings overwrites it;
* inside, next to the uint8 images, is a fingerprint of the file list: every file's relative path, size and
  modification time. A cache whose fingerprint differs from the folder's (a file added, removed, replaced or
  touched) is not used, it is decoded again and rewritten;
* the file is a plain ``.npz`` read with ``allow_pickle=False`` and written atomically (a temporary file,
  then ``os.replace``); one that cannot be read is ignored and rewritten, and a cache folder that cannot be
  written costs one warning, never the load.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from minigan.data.cache import DataError, DataUnavailableError, atomic_write, data_dir
from minigan.progress import progress_bar

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
N_LFW_FACES = 100  # skimage.data.lfw_subset(): images 0..99 are faces, 100..199 are background patches
CACHE_FORMAT = 2  # in every cache key: raise it when decoding changes (crop, filter) so old files go unused
# 2: 16-bit grayscale PNGs are scaled to 8 bits (0..65535 -> 0..255), no longer clipped to 255
_warned_cache_dirs: set[str] = set()  # cache folders already reported as unwritable in this process


@dataclass(repr=False)
class ImageDataset:
    """Images with optional labels, and a sentence saying where they came from.

    images: uint8, (N, H, W) grayscale or (N, H, W, 3) RGB; 0 is black, 255 white.
    labels: int64 (N,) or None.
    source: which source was used, e.g. "MNIST IDX files in ~/.cache/minigan/mnist (train: 60,000 images)".
    split:  "train", "test" or "all".
    """

    images: np.ndarray
    labels: np.ndarray | None
    source: str
    split: str = "all"

    def __len__(self) -> int:
        return len(self.images)

    @property
    def channels(self) -> int:
        """1 for (N, H, W) images, else the size of the last axis."""
        return 1 if self.images.ndim == 3 else self.images.shape[-1]

    def batches(self, batch_size: int = 64, **options):
        """A :class:`~minigan.data.batches.Batches` over these images (and labels, if any)."""
        from minigan.data.batches import Batches

        return Batches(self.images, self.labels, batch_size=batch_size, **options)

    def __repr__(self) -> str:
        n, h, w = self.images.shape[:3]
        labels = "none" if self.labels is None else f"{len(np.unique(self.labels))} classes"
        return f"ImageDataset({n} images {h}x{w}x{self.channels}, labels: {labels}; {self.source})"


def _pil():
    """Pillow's Image module, or an error saying how to get it."""
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - matplotlib depends on Pillow
        raise DataUnavailableError("reading image files needs Pillow: `pip install pillow`") from exc
    return Image


def center_crop_box(width: int, height: int) -> tuple[int, int, int, int]:
    """The largest centred square of a width x height image, as (left, top, right, bottom) for PIL's crop."""
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def _check_channels(channels: int) -> str:
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels}")
    return "L" if channels == 1 else "RGB"


def _check_size(size: int) -> None:
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")


def load_image(path: str | os.PathLike, size: int = 64, channels: int = 3) -> np.ndarray:
    """One image file, centre-cropped to a square and resized to size x size.

    Returns uint8 (size, size) for channels=1 or (size, size, 3) for channels=3. Raises DataError naming the
    file when Pillow cannot read it.
    """
    Image = _pil()
    from PIL import ImageOps

    mode = _check_channels(channels)
    _check_size(size)
    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)  # photos taken sideways carry their rotation in EXIF
            img = _to_8bit(img).convert(mode)  # also forces the pixel data to be read, so truncated files fail here
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"{path}: cannot read as an image ({type(exc).__name__}: {exc})") from exc
    img = img.crop(center_crop_box(*img.size))
    if img.size != (size, size):
        img = img.resize((size, size), getattr(Image, "Resampling", Image).BICUBIC)
    return np.asarray(img, dtype=np.uint8)


WIDE_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")  # Pillow's modes of 16-bit (and wider) gray pixels


def _to_8bit(img):
    """``img`` with 8-bit pixels: a 16-bit grayscale image (a 16-bit PNG opens in mode "I;16" or "I"; mode "F"
    too) is scaled from 0..65535 to 0..255 (v * 255 / 65535, rounded; values outside 0..65535 clipped), where
    Pillow's own convert("L") would clip every value above 255 to white. Other images are returned as they are
    (Pillow already reduces 16-bit RGB PNGs to 8 bits by their high byte)."""
    if img.mode not in WIDE_MODES:
        return img
    from PIL import Image

    wide = np.asarray(img, dtype=np.float64)
    if not np.all(np.isfinite(wide)):  # a float image ("F") holding NaN or inf
        raise ValueError(f"mode {img.mode} image holds NaN or inf pixel values")
    narrow = np.round(np.clip(wide, 0.0, 65535.0) * (255.0 / 65535.0)).astype(np.uint8)
    return Image.fromarray(narrow, "L")


def image_files(folder: str | os.PathLike, recursive: bool = False) -> list[Path]:
    """The image files (by extension, any case) in ``folder``, sorted by path so the order is reproducible."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {folder} does not exist or is not a folder")
    extensions = IMAGE_EXTENSIONS
    if recursive:
        return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in extensions)
    with os.scandir(folder) as entries:  # is_file() from the directory listing: no stat per file
        names = [e.name for e in entries if e.is_file() and os.path.splitext(e.name)[1].lower() in extensions]
    return [folder / name for name in sorted(names)]  # within one folder, the order sorted(paths) gives


def image_folder_cache_file(
    folder: str | os.PathLike,
    size: int = 64,
    channels: int = 3,
    recursive: bool = False,
    limit: int | None = None,
    skip_unreadable: bool = False,
    cache: bool | str | os.PathLike = True,
) -> Path | None:
    """Where :func:`load_image_folder` keeps images decoded with these settings; None if ``cache`` is False.

    ``cache``: True for ``<cache>/image_folders`` (see :func:`minigan.data.cache.data_dir`), a folder to use
    that folder instead, False for no cache. The file may not exist yet; delete it to force a fresh decode.
    """
    if cache is False or cache is None:
        return None
    folder = Path(folder).expanduser().resolve()
    settings = {
        "format": CACHE_FORMAT,
        "folder": str(folder),
        "size": int(size),
        "channels": int(channels),
        "recursive": bool(recursive),
        "limit": None if limit is None else int(limit),
        "skip_unreadable": bool(skip_unreadable),
    }
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:20]
    name = re.sub(r"[^A-Za-z0-9._-]", "_", folder.name)[:40] or "root"
    mode = "gray" if channels == 1 else "rgb"
    cache_dir = data_dir() / "image_folders" if cache is True else Path(cache).expanduser()
    return cache_dir / f"{name}-{size}px-{mode}-{key}.npz"


def file_list_fingerprint(folder: str | os.PathLike, paths) -> str:
    """SHA-256 over each file's path relative to ``folder`` (the paths lie in it, as
    :func:`image_files` gives them), its size and its modification time (ns).

    Adding, removing, renaming, rewriting or touching a file changes it; reading no pixel data, it costs one
    ``stat`` per file.
    """
    root = os.fspath(Path(folder).expanduser())
    prefix = os.path.join(root, "")  # root and a separator: cut off every path's start as a string (fast)
    digest = hashlib.sha256()
    for path in map(os.fspath, paths):
        st = os.stat(path)  # follows a symlink: the linked file's size and time
        rel = path[len(prefix) :] if path.startswith(prefix) else os.path.relpath(path, root)
        digest.update(f"{rel.replace(os.sep, '/')}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _read_cache(path: Path, fingerprint: str, n_files: int, image_shape: tuple) -> tuple | None:
    """(images, skipped messages) from a matching cache file, or None (missing, stale, unreadable, odd)."""
    try:
        with open(path, "rb") as file:  # opened here, so it is closed even when np.load fails
            stored = np.load(file, allow_pickle=False)
            if not isinstance(stored, np.lib.npyio.NpzFile):  # e.g. a single .npy array
                return None
            with stored:
                if stored["fingerprint"].item() != fingerprint:
                    return None
                images, skipped = stored["images"], [str(s) for s in stored["skipped"]]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # missing, truncated, not an npz
        return None
    if images.dtype != np.uint8 or images.shape[1:] != image_shape or len(images) + len(skipped) != n_files:
        return None
    return images, skipped


def _write_cache(path: Path, images: np.ndarray, skipped: list[str], fingerprint: str) -> None:
    """Store the decoded images atomically; if the folder cannot be written, warn once per folder, go on."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as out:
            skipped = np.array(skipped, dtype=str)
            np.savez(out, images=images, skipped=skipped, fingerprint=np.array(fingerprint))
    except OSError as exc:
        if str(path.parent) not in _warned_cache_dirs:
            _warned_cache_dirs.add(str(path.parent))
            reason = f"{type(exc).__name__}: {exc.strerror or exc}"
            warnings.warn(
                f"image folder cache not written to {path.parent} ({reason}); the images loaded, but the "
                "next run decodes them again (set MINIGAN_DATA to a writable folder, or pass cache=False)",
                stacklevel=3,
            )


def _decode_files(paths, size, channels, skip_unreadable, progress, desc) -> tuple[list, list[str]]:
    """Decode and resize ``paths`` one by one behind a progress bar; (images, messages of skipped files)."""
    images, skipped = [], []
    for path in progress_bar(paths, desc=desc, unit="img", disable=not progress, dynamic_ncols=True):
        try:
            images.append(load_image(path, size, channels))
        except DataError as exc:
            if not skip_unreadable:
                raise
            skipped.append(str(exc))
    return images, skipped


def load_image_folder(
    folder: str | os.PathLike,
    size: int = 64,
    channels: int = 3,
    recursive: bool = False,
    limit: int | None = None,
    skip_unreadable: bool = False,
    progress: bool = True,
    cache: bool | str | os.PathLike = True,
) -> ImageDataset:
    """Every image in ``folder`` (and its subfolders when ``recursive``), centre-cropped and resized.

    ``limit`` keeps the first ``limit`` files in sorted order. An unreadable file raises DataError naming it,
    unless ``skip_unreadable``, which skips it with a warning. ``progress`` shows a progress bar while
    decoding. ``cache``: True keeps the decoded images in ``<cache>/image_folders`` and reuses them while the
    folder's files are unchanged (see the module docstring), a folder keeps them there, False neither reads
    nor writes a cache. Returns an ImageDataset without labels, the same whether read from the cache or not.
    """
    _check_channels(channels)
    _check_size(size)
    paths = image_files(folder, recursive)
    if not paths:
        hint = "" if recursive else "; pass recursive=True to search subfolders too"
        raise DataError(f"{folder}: no image files ({', '.join(IMAGE_EXTENSIONS)}) found{hint}")
    if limit is not None:
        paths = paths[:limit]

    cache_file = image_folder_cache_file(folder, size, channels, recursive, limit, skip_unreadable, cache)
    found = None
    if cache_file is not None:
        fingerprint = file_list_fingerprint(folder, paths)
        image_shape = (size, size) if channels == 1 else (size, size, 3)
        found = _read_cache(cache_file, fingerprint, len(paths), image_shape)
    if found is not None:
        images, skipped = found
    else:
        desc = f"decoding {Path(folder).name or folder}"
        decoded, skipped = _decode_files(paths, size, channels, skip_unreadable, progress, desc)
        if not decoded:
            raise DataError(f"{folder}: none of the {len(paths)} image files could be read")
        images = np.stack(decoded)
        if cache_file is not None:
            _write_cache(cache_file, images, skipped, fingerprint)

    if skipped:
        warnings.warn(f"skipped {len(skipped)} unreadable image(s): " + "; ".join(skipped[:5]), stacklevel=2)
    mode = "grayscale" if channels == 1 else "RGB"
    source = (
        f"image folder {folder} ({len(images):,} files, centre-cropped and resized to {size}x{size} {mode})"
    )
    return ImageDataset(images, None, source)


def lfw_faces(size: int = 64, channels: int = 1) -> ImageDataset:
    """The 100 face images of ``skimage.data.lfw_subset()`` (shipped with scikit-image, no download).

    The subset holds 200 images of 25x25 grayscale in [0, 1]: the first 100 are faces from Labeled Faces in
    the Wild, the rest background patches, which are left out. Each face is rounded to uint8 and resized
    (bicubic) to size x size; channels=3 repeats the gray value in R, G and B.
    """
    _check_channels(channels)
    try:
        import skimage.data
    except ImportError as exc:
        raise DataUnavailableError(
            "the offline face set needs scikit-image: `pip install minigan[data]` (or `pip install "
            "scikit-image`); "
            "or pass folder= with your own images (e.g. CelebA's img_align_celeba)"
        ) from exc
    faces = np.asarray(skimage.data.lfw_subset()[:N_LFW_FACES], dtype=np.float64)
    faces = np.round(np.clip(faces, 0.0, 1.0) * 255).astype(np.uint8)  # (100, 25, 25)
    if faces.shape[1:] != (size, size):
        Image = _pil()
        bicubic = getattr(Image, "Resampling", Image).BICUBIC
        faces = np.stack([np.asarray(Image.fromarray(f, "L").resize((size, size), bicubic)) for f in faces])
    if channels == 3:
        faces = np.repeat(faces[..., None], 3, axis=-1)
    source = (
        f"skimage.data.lfw_subset() faces (the first {N_LFW_FACES} of its 200 images; 25x25 grayscale, "
        f"resized to {size}x{size}, offline)"
    )
    return ImageDataset(faces, None, source)


def load_faces(
    size: int = 64,
    channels: int = 1,
    folder: str | os.PathLike | None = None,
    recursive: bool = True,
    limit: int | None = None,
    progress: bool = True,
    cache: bool | str | os.PathLike = True,
) -> ImageDataset:
    """Face images: those in ``folder`` (e.g. CelebA's img_align_celeba) if given, else the offline LFW faces.

    See :func:`load_image_folder` (``progress`` and ``cache`` apply to a folder only) and :func:`lfw_faces`;
    the ``source`` field says which was used.
    """
    if folder is not None:
        return load_image_folder(
            folder, size, channels, recursive=recursive, limit=limit, progress=progress, cache=cache
        )
    faces = lfw_faces(size, channels)
    if limit is not None:
        faces.images = faces.images[:limit]
    return faces
