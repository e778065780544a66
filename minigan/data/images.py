"""Image datasets: a folder of JPEG/PNG files (CelebA-style), and an offline face set from scikit-image.

Every image is centre-cropped to a square and resized with Pillow:

    side = min(W, H),  left = (W - side) // 2,  top = (H - side) // 2,
    crop = image[top : top + side, left : left + side]  ->  resize to (size, size), bicubic.

Images are kept as uint8 in the layout image files use: (N, H, W) for grayscale, (N, H, W, 3) for RGB.
:class:`minigan.data.batches.Batches` turns them into float NCHW batches in [-1, 1].
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from minigan.data.cache import DataError, DataUnavailableError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
N_LFW_FACES = 100  # skimage.data.lfw_subset(): images 0..99 are faces, 100..199 are background patches


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


def load_image(path: str | os.PathLike, size: int = 64, channels: int = 3) -> np.ndarray:
    """One image file, centre-cropped to a square and resized to size x size.

    Returns uint8 (size, size) for channels=1 or (size, size, 3) for channels=3. Raises DataError naming the
    file when Pillow cannot read it.
    """
    Image = _pil()
    from PIL import ImageOps

    mode = _check_channels(channels)
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)  # photos taken sideways carry their rotation in EXIF
            img = img.convert(mode)  # also forces the pixel data to be read, so truncated files fail here
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"{path}: cannot read as an image ({type(exc).__name__}: {exc})") from exc
    img = img.crop(center_crop_box(*img.size))
    if img.size != (size, size):
        img = img.resize((size, size), getattr(Image, "Resampling", Image).BICUBIC)
    return np.asarray(img, dtype=np.uint8)


def image_files(folder: str | os.PathLike, recursive: bool = False) -> list[Path]:
    """The image files (by extension, any case) in ``folder``, sorted by path so the order is reproducible."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {folder} does not exist or is not a folder")
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in candidates if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def load_image_folder(
    folder: str | os.PathLike,
    size: int = 64,
    channels: int = 3,
    recursive: bool = False,
    limit: int | None = None,
    skip_unreadable: bool = False,
) -> ImageDataset:
    """Every image in ``folder`` (and its subfolders when ``recursive``), centre-cropped and resized.

    ``limit`` keeps the first ``limit`` files in sorted order. An unreadable file raises DataError naming it,
    unless ``skip_unreadable``, which skips it with a warning. Returns an ImageDataset without labels.
    """
    _check_channels(channels)
    paths = image_files(folder, recursive)
    if not paths:
        hint = "" if recursive else "; pass recursive=True to search subfolders too"
        raise DataError(f"{folder}: no image files ({', '.join(IMAGE_EXTENSIONS)}) found{hint}")
    if limit is not None:
        paths = paths[:limit]
    images, skipped = [], []
    for path in paths:
        try:
            images.append(load_image(path, size, channels))
        except DataError as exc:
            if not skip_unreadable:
                raise
            skipped.append(str(exc))
    if skipped:
        warnings.warn(f"skipped {len(skipped)} unreadable image(s): " + "; ".join(skipped[:5]), stacklevel=2)
    if not images:
        raise DataError(f"{folder}: none of the {len(paths)} image files could be read")
    mode = "grayscale" if channels == 1 else "RGB"
    source = (
        f"image folder {folder} ({len(images):,} files, centre-cropped and resized to {size}x{size} {mode})"
    )
    return ImageDataset(np.stack(images), None, source)


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
) -> ImageDataset:
    """Face images: those in ``folder`` (e.g. CelebA's img_align_celeba) if given, else the offline LFW faces.

    See :func:`load_image_folder` and :func:`lfw_faces`; the ``source`` field says which was used.
    """
    if folder is not None:
        return load_image_folder(folder, size, channels, recursive=recursive, limit=limit)
    faces = lfw_faces(size, channels)
    if limit is not None:
        faces.images = faces.images[:limit]
    return faces
