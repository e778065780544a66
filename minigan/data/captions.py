"""StackGAN's task at digit scale: captions made from each digit's class and two measured attributes, and
the encoders that turn them into model input.

A caption names the digit, how thick its stroke is and how it slants, e.g. ``"a thick seven leaning right"``
or ``"a thin two standing upright"``. Every caption has the same five words:

    "a"  <thin | medium | thick>  <zero .. nine>  <leaning left | standing upright | leaning right>

so there are 10 x 3 x 3 = 90 captions, and a caption is one integer, its **caption id**:

    caption_id = 9 * digit + 3 * thickness_bucket + slant_bucket,    digit = caption_id // 9.

That integer rides through :class:`minigan.data.Batches` where labels usually do
(``Batches(images, caption_ids)``), and :func:`bag_of_words` / :func:`token_ids` turn a batch of ids into the
text embedding (bag of words) or the input of an Embedding layer (token ids).

The measures (the same functions later check generated samples against their captions) follow Morpho-MNIST
(Castro et al., "Morpho-MNIST: Quantitative Assessment and Diagnostics for Representation Learning", JMLR
2019; github.com/dccastro/Morpho-MNIST, ``morphomnist/morpho.py``):

* **slant** -- Morpho-MNIST's: the horizontal shear of the grey image's second central moments,
  ``slant = arctan(-mu11 / mu02)`` (x = column, y = row, pointing down), in radians. Positive leans right
  (the top of the digit to the right of its bottom), 0 is upright. Computed on the image less its minimum,
  so the grey level of the background does not matter.
* **thickness** -- Morpho-MNIST's definition, "2 x the mean of the distance transform along the medial
  axis", in pixels of the input: the image is upsampled ``scale`` times (cubic spline, default 2), binarised
  at half its own range (``v >= min + 0.5 (max - min)``, Morpho-MNIST's threshold), given a one-pixel
  background border, and its Euclidean distance transform taken (``scipy.ndimage.distance_transform_edt``).
  Morpho-MNIST reads the distances on scikit-image's medial axis; here, so that only NumPy and SciPy are
  needed, on the **ridge** of the distance map: the pixels that are a local maximum of the distance along one
  of the four directions (horizontal, vertical, two diagonals) -- above both neighbours, or one of a
  two-pixel plateau that is itself a local maximum (the middle of an even-width stroke). On the offline MNIST
  training set it correlates 0.982 with Morpho-MNIST's own measure (scale 4, scikit-image's medial axis) and
  reads lower on average (2.35 px against 2.51 px). Why this measure: it follows the width of the pen, not
  the amount of ink -- a longer stroke, a bigger digit or an extra loop add ridge pixels at the same
  distance, so they barely move it (a ridge mean), where ink area or area / length estimates do move. A
  stroke 1 or 2 px wide measures 1 or 2 px; wider ones read somewhat less than their width (a 20 px long bar
  6 px wide reads 4.5 px), because the ridge runs out into the stroke's corners, where the distance falls;
  the reading still rises with every pixel of width.

Both measures are invariant to ``v -> a v + b`` (a > 0), so uint8 data, [0, 1] floats and a generator's
[-1, 1] output are measured alike, (N, H, W) or NCHW (N, 1, H, W). A blank image (max == min) has no stroke:
NaN for both, which no bucket accepts.

Buckets (frozen constants, so a caption never depends on which data happened to be loaded):

* thickness: ``thin`` below ``THICKNESS_EDGES[0]`` px, ``thick`` from ``THICKNESS_EDGES[1]`` px on,
  ``medium`` between: (2.05, 2.5), the tertiles of the offline MNIST training set (4,000 digits) measured at
  the default scale 2, rounded (measure at that scale when comparing against captions);
* slant: ``standing upright`` within +-``UPRIGHT_DEGREES`` (10 degrees) of vertical, ``leaning right`` /
  ``leaning left`` beyond: symmetric, so "upright" means upright, not "the median slant" (MNIST leans right:
  its median slant is +8 degrees).

The wrong captions of StackGAN's matching-aware discriminator (real image, wrong text) come from
:func:`mismatched`: the same attributes with another digit (``mode="class"``), or the caption of another
random sample whose caption differs (``mode="sample"``). StackGAN's reference (``hanzhanggit/StackGAN``,
``misc/datasets.py``) pairs the right text with the image of a random other sample, moving the draws that hit
the same class on by a random offset, which makes a different class likely but not certain; here the wrong
caption always differs from the right one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from minigan.data.images import ImageDataset

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
THICKNESS_WORDS = ("thin", "medium", "thick")
SLANT_PHRASES = ("leaning left", "standing upright", "leaning right")
THICKNESS_EDGES = (2.05, 2.5)  # px at scale 2: the offline MNIST train set's tertiles, 2.055 and 2.494
UPRIGHT_DEGREES = 10.0  # |slant| <= this many degrees reads "standing upright"
N_CAPTIONS = len(DIGIT_WORDS) * len(THICKNESS_WORDS) * len(SLANT_PHRASES)  # 90
CAPTION_LENGTH = 5  # words in every caption
PAD, UNK = "<pad>", "<unk>"
MODES = ("class", "sample")


# ---------------------------------------------------------------------------------------------------------------
# measures
# ---------------------------------------------------------------------------------------------------------------
def _as_batch(images) -> np.ndarray:
    """(N, H, W) float64 from (N, H, W), (N, 1, H, W) or one (H, W) image (a CuPy array comes to the host)."""
    from minigan import backend

    x = np.asarray(backend.to_numpy(images), dtype=np.float64)
    if x.ndim == 2:
        x = x[None]
    elif x.ndim == 4 and x.shape[1] == 1:
        x = x[:, 0]
    elif x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 3:
        raise ValueError(f"expected grayscale images (N, H, W) or (N, 1, H, W), got shape {np.shape(images)}")
    return x


def slant(images) -> np.ndarray:
    """Slant of each image in radians, ``arctan(-mu11 / mu02)`` (Morpho-MNIST): > 0 leans right, < 0 left.

    ``mu11``, ``mu02`` are the central moments of the image less its minimum (x = column, y = row, down). A
    stroke ``x = x0 + s (y0 - y)`` (its top to the right for s > 0) measures ``arctan(s)``. NaN for a blank
    image.
    """
    x = _as_batch(images)
    x = x - x.min(axis=(1, 2), keepdims=True)
    h, w = x.shape[1:]
    cols = np.arange(w, dtype=np.float64)[None, None, :]
    rows = np.arange(h, dtype=np.float64)[None, :, None]
    mass = x.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        cx = (x * cols).sum(axis=(1, 2)) / mass
        cy = (x * rows).sum(axis=(1, 2)) / mass
        dx, dy = cols - cx[:, None, None], rows - cy[:, None, None]
        mu11 = (x * dx * dy).sum(axis=(1, 2)) / mass
        mu02 = (x * dy * dy).sum(axis=(1, 2)) / mass
        result = np.arctan(-mu11 / mu02)
    result[~(mass > 0) | ~(mu02 > 0)] = np.nan
    return result


def binarise(images, scale: int = 2, threshold: float = 0.5) -> np.ndarray:
    """The ink of each image as booleans (N, scale H, scale W): upsampled ``scale`` times with a cubic spline
    (``scipy.ndimage.zoom``, order 3, zero outside), then ``v >= min + threshold (max - min)`` per image."""
    if int(scale) != scale or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")
    x = _as_batch(images)
    x = x - x.min(axis=(1, 2), keepdims=True)  # background at 0, so "zero outside" is the background
    if scale > 1:
        # one image at a time: a batched zoom would also run its spline prefilter across the batch axis (same
        # result here, four times slower)
        x = np.stack([ndimage.zoom(im, scale, order=3, mode="grid-constant", grid_mode=True) for im in x])
    lo, hi = x.min(axis=(1, 2), keepdims=True), x.max(axis=(1, 2), keepdims=True)
    ink = x >= lo + threshold * (hi - lo)
    ink[(hi <= lo)[:, 0, 0]] = False  # a blank image has no ink
    return ink


def ridge(distance: np.ndarray) -> np.ndarray:
    """The ridge of a distance map (H, W) or (N, H, W): pixels with distance > 0 that are a local maximum
    along at least one of the four directions -- strictly above both neighbours, or one of two equal
    neighbours that are together above the pixels either side of them (the middle of an even-width stroke)."""
    d = np.asarray(distance, dtype=np.float64)
    if d.ndim == 2:
        return ridge(d[None])[0]
    _, h, w = d.shape
    p = np.pad(d, ((0, 0), (2, 2), (2, 2)))

    def shifted(dy, dx):
        return p[:, 2 + dy : 2 + dy + h, 2 + dx : 2 + dx + w]

    out = np.zeros(d.shape, dtype=bool)
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        a, b = shifted(dy, dx), shifted(-dy, -dx)
        a2, b2 = shifted(2 * dy, 2 * dx), shifted(-2 * dy, -2 * dx)
        out |= (d > a) & (d > b)
        out |= (d == a) & (d > b) & (a > a2)
        out |= (d == b) & (d > a) & (b > b2)
    return out & (d > 0)


def thickness(images, scale: int = 2, threshold: float = 0.5) -> np.ndarray:
    """Mean stroke thickness of each image in pixels of the input (see the module docstring): 2 x the mean of
    the Euclidean distance transform over the ridge of the ink, measured at ``scale`` times the resolution
    and divided by ``scale``. It rises with the width of the pen (1 px for a 1 px stroke, 2 for 2, then
    somewhat below the width). NaN for a blank image. The caption buckets hold for the default scale 2."""
    ink = binarise(images, scale, threshold)
    result = np.full(len(ink), np.nan)
    for i, mask in enumerate(ink):
        if not mask.any():
            continue
        distance = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]  # background all round
        on_ridge = ridge(distance)
        result[i] = 2.0 * distance[on_ridge].mean() / scale
    return result


def measure(images, scale: int = 2) -> dict:
    """``{"thickness": px (N,), "slant": radians (N,)}`` of a batch of images (any intensity scale)."""
    return {"thickness": thickness(images, scale), "slant": slant(images)}


# ---------------------------------------------------------------------------------------------------------------
# buckets and caption ids
# ---------------------------------------------------------------------------------------------------------------
def thickness_bucket(values, edges=THICKNESS_EDGES) -> np.ndarray:
    """0 thin (< edges[0]), 1 medium, 2 thick (>= edges[1]); -1 for NaN."""
    values = np.asarray(values, dtype=np.float64)
    bucket = np.digitize(values, edges).astype(np.int64)
    bucket[np.isnan(values)] = -1
    return bucket


def slant_bucket(values, upright_degrees: float = UPRIGHT_DEGREES) -> np.ndarray:
    """0 leaning left (< -upright), 1 standing upright (|slant| <= upright), 2 leaning right (> upright); -1
    for NaN. ``values`` in radians, the threshold in degrees."""
    values = np.asarray(values, dtype=np.float64)
    limit = np.deg2rad(upright_degrees)
    bucket = np.where(values < -limit, 0, np.where(values > limit, 2, 1)).astype(np.int64)
    bucket[np.isnan(values)] = -1
    return bucket


def caption_ids(digits, thickness_buckets, slant_buckets) -> np.ndarray:
    """``9 digit + 3 thickness + slant`` for each sample (int64); ValueError for anything out of range."""
    d, t, s = (np.asarray(v, dtype=np.int64) for v in (digits, thickness_buckets, slant_buckets))
    for name, v, n in (("digit", d, 10), ("thickness bucket", t, 3), ("slant bucket", s, 3)):
        if v.size and (v.min() < 0 or v.max() >= n):
            raise ValueError(f"caption_ids: {name} outside 0..{n - 1}: {np.unique(v[(v < 0) | (v >= n)])}")
    return 9 * d + 3 * t + s


def caption_parts(ids) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(digit, thickness bucket, slant bucket) of each caption id."""
    ids = _check_ids(ids)
    return ids // 9, (ids // 3) % 3, ids % 3


def _check_ids(ids) -> np.ndarray:
    from minigan import backend

    ids = np.asarray(backend.to_numpy(ids))
    if ids.size and not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"caption ids must be integers, got dtype {ids.dtype}")
    ids = ids.astype(np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= N_CAPTIONS):
        raise ValueError(f"caption ids lie in 0..{N_CAPTIONS - 1}, got {ids.min()}..{ids.max()}")
    return ids


def caption_text(ids) -> list[str]:
    """The caption of each id: ``caption_text([9 * 7 + 3 * 2 + 2]) == ["a thick seven leaning right"]``."""
    ids = np.atleast_1d(_check_ids(ids))
    return [ALL_CAPTIONS[i] for i in ids]


def _caption(i: int) -> str:
    d, t, s = i // 9, (i // 3) % 3, i % 3
    return f"a {THICKNESS_WORDS[t]} {DIGIT_WORDS[d]} {SLANT_PHRASES[s]}"


ALL_CAPTIONS = tuple(_caption(i) for i in range(N_CAPTIONS))  # caption id -> text


def caption_ids_of(images, labels, scale: int = 2) -> np.ndarray:
    """The caption id of each labelled image, from its label and its measured thickness and slant."""
    m = measure(images, scale)
    t, s = thickness_bucket(m["thickness"]), slant_bucket(m["slant"])
    if (t < 0).any() or (s < 0).any():
        blank = int(((t < 0) | (s < 0)).sum())
        raise ValueError(f"caption_ids_of: {blank} blank image(s) cannot be captioned")
    return caption_ids(labels, t, s)


# ---------------------------------------------------------------------------------------------------------------
# vocabulary and encoders
# ---------------------------------------------------------------------------------------------------------------
class Vocabulary:
    """The words of the captions and their integer ids: ``<pad>`` 0, ``<unk>`` 1, then the 19 words in a fixed
    order (``a``, the thickness words, the digit words, ``leaning left right standing upright``).

    Text is lowercased and split into runs of letters (punctuation and spaces separate words), so
    ``"A thin two, upright"`` reads as four words. Unknown words map to ``<unk>``.
    """

    def __init__(self, words=None):
        if words is None:
            words = ["a", *THICKNESS_WORDS, *DIGIT_WORDS, "leaning", "left", "right", "standing", "upright"]
        words = [PAD, UNK, *[w for w in words if w not in (PAD, UNK)]]
        if len(set(words)) != len(words):
            raise ValueError("Vocabulary: words must be distinct")
        self.words = tuple(words)
        self.index = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    @staticmethod
    def tokenize(text: str) -> list[str]:
        return re.findall(r"<pad>|<unk>|[a-z]+", text.lower())

    def encode(self, captions, length: int = CAPTION_LENGTH) -> np.ndarray:
        """Token ids (N, length), int64: each caption's words, cut or padded with ``<pad>`` (0) at the end."""
        captions = [captions] if isinstance(captions, str) else list(captions)
        out = np.zeros((len(captions), length), dtype=np.int64)
        for row, text in enumerate(captions):
            ids = [self.index.get(w, 1) for w in self.tokenize(text)][:length]
            out[row, : len(ids)] = ids
        return out

    def decode(self, ids) -> list[str]:
        """The text of each row of token ids (``<pad>`` dropped)."""
        ids = np.atleast_2d(np.asarray(ids, dtype=np.int64))
        return [" ".join(self.words[i] for i in row if i != 0) for row in ids]

    def bag_of_words(self, captions, binary: bool = True, norm: str | None = "l2") -> np.ndarray:
        """(N, len(self)) float64: how often each word id occurs in each caption (``binary``: whether it
        does), ``<pad>`` never counted, ``<unk>`` counted; each row then divided by its L2 (``norm="l2"``) or
        L1 (``"l1"``) norm, or left as counts (None). Column i is token id i."""
        ids = self.encode(captions, length=max([len(self.tokenize(c)) for c in _as_list(captions)] + [1]))
        return _bag(ids, len(self), binary, norm)


def _as_list(captions):
    return [captions] if isinstance(captions, str) else list(captions)


def _bag(ids: np.ndarray, size: int, binary: bool, norm: str | None) -> np.ndarray:
    if norm not in ("l2", "l1", None):
        raise ValueError(f"norm must be 'l2', 'l1' or None, got {norm!r}")
    counts = np.zeros((len(ids), size))
    np.add.at(counts, (np.repeat(np.arange(len(ids)), ids.shape[1]), ids.ravel()), 1.0)
    counts[:, 0] = 0.0  # <pad>
    if binary:
        counts = (counts > 0).astype(np.float64)
    if norm is not None:
        scale = np.linalg.norm(counts, axis=1) if norm == "l2" else counts.sum(axis=1)
        counts /= np.where(scale > 0, scale, 1.0)[:, None]
    return counts


VOCABULARY = Vocabulary()
TOKEN_TABLE = VOCABULARY.encode(ALL_CAPTIONS)  # (90, 5): caption id -> token ids
TOKEN_TABLE.flags.writeable = False


def token_ids(ids) -> np.ndarray:
    """Token ids (N, 5) of caption ids, for an Embedding layer (vocabulary :data:`VOCABULARY`, 21 ids)."""
    return TOKEN_TABLE[np.atleast_1d(_check_ids(ids))]


def bag_of_words(ids, binary: bool = True, norm: str | None = "l2") -> np.ndarray:
    """Bag-of-words vectors (N, 21) of caption ids: binary word presence, L2-normalised by default (every
    caption has 5 distinct words, so each entry is 0 or 1/sqrt(5)). See :meth:`Vocabulary.bag_of_words`."""
    return _bag(token_ids(ids), len(VOCABULARY), binary, norm)


# ---------------------------------------------------------------------------------------------------------------
# wrong captions for the matching-aware discriminator
# ---------------------------------------------------------------------------------------------------------------
def mismatched(ids, rng=None, mode: str = "class", pool=None) -> np.ndarray:
    """A wrong caption id for each caption id, never equal to it.

    mode "class":  the same thickness and slant, a digit drawn uniformly from the 9 others;
    mode "sample": the caption of a random element of ``pool`` (default: ``ids`` themselves, e.g. the rest of
                   the batch) whose caption differs; ValueError when the pool holds no different caption.
    ``rng``: a numpy Generator or a seed.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    rng = np.random.default_rng(rng)
    ids = np.atleast_1d(_check_ids(ids))
    if mode == "class":
        digit, t, s = caption_parts(ids)
        other = (digit + rng.integers(1, 10, size=len(ids))) % 10  # uniform over the 9 other digits
        return caption_ids(other, t, s)
    pool = ids if pool is None else np.atleast_1d(_check_ids(pool))
    wrong = np.empty_like(ids)
    for i, own in enumerate(ids):
        choices = pool[pool != own]
        if len(choices) == 0:
            raise ValueError(f"mismatched: no caption in the pool differs from {ALL_CAPTIONS[own]!r}")
        wrong[i] = choices[rng.integers(len(choices))]
    return wrong


# ---------------------------------------------------------------------------------------------------------------
# the dataset
# ---------------------------------------------------------------------------------------------------------------
@dataclass(repr=False)
class CaptionedDigits:
    """Digits with their captions.

    images:      uint8 (N, size, size), the MNIST digits (zero-padded when size > 28).
    labels:      int64 (N,), the digit classes.
    thickness:   float64 (N,), stroke thickness in px, measured on the 28x28 digit.
    slant:       float64 (N,), radians, > 0 leaning right.
    caption_ids: int64 (N,), ``9 digit + 3 thickness bucket + slant bucket``; see :func:`caption_text`,
                 :func:`token_ids`, :func:`bag_of_words`.
    source, split: as :func:`minigan.data.load_mnist` says.
    """

    images: np.ndarray
    labels: np.ndarray
    thickness: np.ndarray
    slant: np.ndarray
    caption_ids: np.ndarray
    source: str
    split: str

    def __len__(self) -> int:
        return len(self.images)

    @property
    def captions(self) -> list[str]:
        return caption_text(self.caption_ids)

    def batches(self, batch_size: int = 64, **options):
        """:class:`~minigan.data.Batches` of ``(x, caption_ids)``: the ids ride where labels usually do."""
        from minigan.data.batches import Batches

        return Batches(self.images, self.caption_ids, batch_size=batch_size, **options)

    def as_image_dataset(self) -> ImageDataset:
        return ImageDataset(self.images, self.labels, self.source, self.split)

    def word_shares(self) -> dict:
        """Share of the samples carrying each thickness word and each slant phrase."""
        _, t, s = caption_parts(self.caption_ids)
        shares = {w: float(np.mean(t == i)) for i, w in enumerate(THICKNESS_WORDS)}
        shares.update({p: float(np.mean(s == i)) for i, p in enumerate(SLANT_PHRASES)})
        return shares

    def __repr__(self) -> str:
        distinct = len(np.unique(self.caption_ids))
        return f"CaptionedDigits({len(self)} digits, {distinct} distinct captions; {self.source})"


def load_captioned_digits(
    split: str = "train", size: int = 28, scale: int = 2, **mnist_options
) -> CaptionedDigits:
    """MNIST (:func:`minigan.data.load_mnist`, same split and options) with a caption for every digit,
    measured on the 28x28 digit (see the module docstring), the images then zero-padded to ``size``."""
    from minigan.data.mnist import load_mnist
    from minigan.data.paired import pad_images

    data = load_mnist(split, **mnist_options)
    m = measure(data.images, scale)
    ids = caption_ids(data.labels, thickness_bucket(m["thickness"]), slant_bucket(m["slant"]))
    source = f"captions from class, thickness and slant of {data.source}"
    images = pad_images(data.images, size)
    return CaptionedDigits(images, data.labels, m["thickness"], m["slant"], ids, source, split)
