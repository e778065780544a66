"""The image folder cache and progress bar of minigan.data.load_image_folder, and minigan.progress.

Every test works on a folder of 30 tiny generated JPEG/PNG files in tmp_path, with the data cache
($MINIGAN_DATA) in tmp_path too. "Decoding" is counted by wrapping images.load_image, the one function that
opens an image file; a cached load must not call it (nor PIL's Image.open) at all.
"""

from __future__ import annotations

import importlib.util
import os
import warnings

import numpy as np
import pytest

from minigan import progress
from minigan.data import cache, image_folder_cache_file, images, load_faces, load_image_folder

Image = pytest.importorskip("PIL.Image")

N_FILES = 30
SIZE = 8


def smooth_image(rng, height, width, channels=3):
    """A random smooth uint8 image (a bilinear blow-up of a 3x3 grid), so JPEG keeps its content."""
    coarse = rng.integers(0, 256, (3, 3, channels), dtype=np.uint8)
    image = Image.fromarray(coarse.squeeze(-1) if channels == 1 else coarse)
    return image.resize((width, height), Image.BILINEAR)


def write_images(folder, start, stop, seed=0):
    """Files img_<i>: even i as JPEG (RGB), odd i as PNG (every 3rd one grayscale); sizes vary a little."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed + start)
    for i in range(start, stop):
        image = smooth_image(rng, 12 + i % 5, 10 + i % 7, channels=1 if i % 3 == 0 else 3)
        image.save(folder / (f"img_{i:03d}.jpg" if i % 2 == 0 else f"img_{i:03d}.png"))


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """The data cache in tmp_path, and a fresh "already warned" set for every test."""
    monkeypatch.setenv("MINIGAN_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(images, "_warned_cache_dirs", set())
    return tmp_path / "cache" / "image_folders"


@pytest.fixture
def folder(tmp_path):
    write_images(tmp_path / "faces", 0, N_FILES)
    return tmp_path / "faces"


@pytest.fixture
def decodes(monkeypatch):
    """A list that gets one entry per image file decoded."""
    calls = []
    real = images.load_image

    def counting(path, *args, **kwargs):
        calls.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(images, "load_image", counting)
    return calls


def forbid_decoding(monkeypatch):
    """From here on, opening or decoding any image file fails the test."""

    def fail(*args, **kwargs):
        raise AssertionError("an image was decoded although the cache should have been used")

    monkeypatch.setattr(images, "load_image", fail)
    monkeypatch.setattr(Image, "open", fail)


def load(folder, **options):
    return load_image_folder(folder, size=SIZE, progress=False, **options)


# ---------------------------------------------------------------------------------------------------------------
# the cache is written, then used
# ---------------------------------------------------------------------------------------------------------------
def test_first_load_writes_the_cache_and_the_second_reads_it(folder, private_cache, monkeypatch, decodes):
    first = load(folder)
    assert len(decodes) == N_FILES
    path = image_folder_cache_file(folder, SIZE, 3)
    assert path.parent == private_cache and path.is_file()
    assert path.name.startswith(f"faces-{SIZE}px-rgb-") and path.suffix == ".npz"
    assert os.listdir(private_cache) == [path.name]  # no temporary file left behind
    with np.load(path, allow_pickle=False) as stored:  # a plain npz: no pickled object anywhere
        np.testing.assert_array_equal(stored["images"], first.images)

    forbid_decoding(monkeypatch)
    second = load(folder)
    assert second.images.dtype == np.uint8 and second.images.shape == (N_FILES, SIZE, SIZE, 3)
    np.testing.assert_array_equal(second.images, first.images)
    assert second.source == first.source and second.labels is None


def test_cached_images_equal_a_fresh_decode(folder):
    load(folder)  # writes the cache
    cached = load(folder)
    fresh = load(folder, cache=False)
    np.testing.assert_array_equal(cached.images, fresh.images)


def test_cache_false_neither_reads_nor_writes(folder, private_cache, decodes):
    load(folder, cache=False)
    load(folder, cache=False)
    assert len(decodes) == 2 * N_FILES and not private_cache.exists()


def test_cache_folder_argument(folder, tmp_path, private_cache, monkeypatch):
    first = load(folder, cache=tmp_path / "elsewhere")
    assert [p.parent for p in (tmp_path / "elsewhere").iterdir()] == [tmp_path / "elsewhere"]
    assert not private_cache.exists()
    forbid_decoding(monkeypatch)
    np.testing.assert_array_equal(load(folder, cache=tmp_path / "elsewhere").images, first.images)


def test_each_setting_has_its_own_cache(folder, private_cache, decodes):
    """Size, channels, limit and recursive are part of the key: a cache of other settings is never reused."""
    (folder / "sub").mkdir()
    write_images(folder / "sub", 100, 103)
    runs = [
        ({}, (N_FILES, SIZE, SIZE, 3)),
        ({"size": 6}, (N_FILES, 6, 6, 3)),
        ({"channels": 1}, (N_FILES, SIZE, SIZE)),
        ({"limit": 5}, (5, SIZE, SIZE, 3)),
        ({"recursive": True}, (N_FILES + 3, SIZE, SIZE, 3)),
    ]
    for options, shape in runs:
        before = len(decodes)
        ds = load_image_folder(folder, **{"size": SIZE, "progress": False, **options})
        assert ds.images.shape == shape and len(decodes) - before == shape[0], options
    assert len(list(private_cache.iterdir())) == len(runs)
    for options, shape in runs:  # and each is used again
        before = len(decodes)
        assert load_image_folder(folder, **{"size": SIZE, "progress": False, **options}).images.shape == shape
        assert len(decodes) == before, options


def test_load_faces_passes_the_cache_options(folder, monkeypatch, private_cache):
    first = load_faces(size=SIZE, channels=1, folder=folder, progress=False)
    forbid_decoding(monkeypatch)
    again = load_faces(size=SIZE, channels=1, folder=folder, progress=False)
    np.testing.assert_array_equal(again.images, first.images)


# ---------------------------------------------------------------------------------------------------------------
# changes to the folder invalidate the cache
# ---------------------------------------------------------------------------------------------------------------
def touch(path):
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


CHANGES = {
    "touch": lambda folder: touch(folder / "img_007.png"),
    "add": lambda folder: write_images(folder, N_FILES, N_FILES + 1, seed=99),
    "remove": lambda folder: (folder / "img_012.jpg").unlink(),
    "replace": lambda folder: smooth_image(np.random.default_rng(5), 40, 30).save(folder / "img_004.jpg"),
    "rename": lambda folder: (folder / "img_004.jpg").rename(folder / "img_004b.jpg"),
}


@pytest.mark.parametrize("change", CHANGES)
def test_a_changed_folder_is_decoded_again(folder, private_cache, decodes, change):
    load(folder)
    CHANGES[change](folder)
    decodes.clear()
    changed = load(folder)
    n_now = len(list(folder.iterdir()))
    assert len(decodes) == n_now  # everything decoded again, not the stale cache
    assert len(changed) == n_now
    np.testing.assert_array_equal(changed.images, load(folder, cache=False).images)
    decodes.clear()
    np.testing.assert_array_equal(load(folder).images, changed.images)
    assert decodes == []  # the rewritten cache is used again
    assert len(list(private_cache.iterdir())) == 1  # rewritten in place, not piled up


def test_the_replaced_image_shows_up(folder, monkeypatch):
    before = load(folder)
    new = np.zeros((SIZE, SIZE, 3), np.uint8)
    new[..., 0] = 255
    Image.fromarray(new).save(folder / "img_001.png")
    touch(folder / "img_001.png")  # a different mtime even on file systems with coarse timestamps
    after = load(folder)
    np.testing.assert_array_equal(after.images[1], new)
    assert not np.array_equal(before.images[1], new)


# ---------------------------------------------------------------------------------------------------------------
# a cache folder that cannot be written, a cache file that cannot be read
# ---------------------------------------------------------------------------------------------------------------
def test_an_unwritable_cache_folder_still_loads_and_warns_once(folder, tmp_path, monkeypatch, decodes):
    (tmp_path / "not_a_folder").write_text("a file where the cache folder would be")
    monkeypatch.setenv("MINIGAN_DATA", str(tmp_path / "not_a_folder" / "cache"))  # fails even for root
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = load(folder)
        second = load(folder)
    np.testing.assert_array_equal(first.images, load(folder, cache=False).images)
    np.testing.assert_array_equal(second.images, first.images)
    assert len(decodes) == 3 * N_FILES  # nothing could be cached
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and "\n" not in messages[0], messages  # once, on one line
    assert messages[0].startswith(f"image folder cache not written to {tmp_path / 'not_a_folder'}")
    assert "images loaded" in messages[0] and "MINIGAN_DATA" in messages[0]
    assert caught[0].filename == __file__  # points at the caller's line


def test_a_failed_write_leaves_no_file(folder, private_cache, monkeypatch):
    def disk_full(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(images.np, "savez", disk_full)
    with pytest.warns(UserWarning, match=r"cache not written .*OSError: No space left on device"):
        ds = load(folder)
    assert len(ds) == N_FILES and list(private_cache.iterdir()) == []


def write_corrupt_cache(kind, path, good):
    """Spoil the cache file at ``path`` (``good`` is a correct one's images) in the way ``kind`` says."""
    if kind == "garbage":
        path.write_bytes(b"this is not an npz file")
    elif kind == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "npy":
        with open(path, "wb") as file:
            np.save(file, good)
    elif kind == "missing key":
        np.savez(path, images=good)
    elif kind == "wrong shape":
        with np.load(path) as stored:
            fingerprint = stored["fingerprint"]
        np.savez(path, images=good[:, :4, :4], skipped=np.array([], str), fingerprint=fingerprint)
    elif kind == "wrong dtype":
        with np.load(path) as stored:
            fingerprint = stored["fingerprint"]
        np.savez(path, images=good.astype(np.float32), skipped=np.array([], str), fingerprint=fingerprint)
    elif kind == "pickled":
        with np.load(path) as stored:
            fingerprint = stored["fingerprint"]
        bomb = np.empty(len(good), dtype=object)
        bomb[:] = [Unpickled() for _ in range(len(good))]
        np.savez(path, images=bomb, skipped=np.array([], str), fingerprint=fingerprint)
    else:
        raise ValueError(kind)


UNPICKLED = []


def _record_unpickling():
    UNPICKLED.append("unpickled")


class Unpickled:
    """Records when an instance is unpickled: the cache reader must never do that."""

    def __reduce__(self):
        return (_record_unpickling, ())


@pytest.mark.parametrize(
    "kind", ["garbage", "truncated", "empty", "npy", "missing key", "wrong shape", "wrong dtype", "pickled"]
)
def test_a_corrupt_cache_is_ignored_and_rewritten(folder, decodes, kind):
    good = load(folder).images
    path = image_folder_cache_file(folder, SIZE, 3)
    write_corrupt_cache(kind, path, good)
    decodes.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # quietly rebuilt
        again = load(folder)
    assert len(decodes) == N_FILES and UNPICKLED == []
    np.testing.assert_array_equal(again.images, good)
    with np.load(path, allow_pickle=False) as stored:  # rewritten with good content
        np.testing.assert_array_equal(stored["images"], good)
    decodes.clear()
    load(folder)
    assert decodes == []


def test_skipped_files_are_reported_from_the_cache_too(folder, monkeypatch):
    (folder / "broken.png").write_bytes(b"not a PNG")
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable image\(s\): .*broken.png"):
        first = load(folder, skip_unreadable=True)
    assert len(first) == N_FILES
    with pytest.raises(images.DataError, match="broken.png"):  # not served from the skip_unreadable cache
        load(folder)
    forbid_decoding(monkeypatch)
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable image\(s\): .*broken.png"):
        second = load(folder, skip_unreadable=True)
    np.testing.assert_array_equal(second.images, first.images)


def test_atomic_write_keeps_the_old_file_on_error(tmp_path):
    dest = tmp_path / "f.bin"
    dest.write_bytes(b"old")
    with pytest.raises(RuntimeError), cache.atomic_write(dest) as out:
        out.write(b"new, but never finished")
        raise RuntimeError("interrupted")
    assert dest.read_bytes() == b"old" and os.listdir(tmp_path) == ["f.bin"]
    with cache.atomic_write(dest) as out:
        out.write(b"new")
    assert dest.read_bytes() == b"new" and os.listdir(tmp_path) == ["f.bin"]


# ---------------------------------------------------------------------------------------------------------------
# progress bars
# ---------------------------------------------------------------------------------------------------------------
def test_decoding_shows_a_progress_bar_unless_disabled(folder, capsys):
    load_image_folder(folder, size=SIZE, cache=False)
    err = capsys.readouterr().err
    assert "decoding faces" in err and f"{N_FILES}/{N_FILES}" in err
    load_image_folder(folder, size=SIZE, cache=False, progress=False)
    assert capsys.readouterr().err == ""


def test_tqdm_auto_only_with_ipywidgets(monkeypatch):
    import tqdm.auto
    import tqdm.std

    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args):
        if name == "ipywidgets":
            return have_widgets
        return real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    for have_widgets, expected in ((None, tqdm.std.tqdm), (object(), tqdm.auto.tqdm)):
        progress.tqdm_class.cache_clear()
        assert progress.tqdm_class() is expected
    progress.tqdm_class.cache_clear()


def test_no_iprogress_warning_in_a_notebook_without_ipywidgets(tmp_path, monkeypatch):
    """In a Jupyter kernel, importing and using minigan's progress bars prints no "IProgress not found"."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    code = (
        "import warnings\n"
        "warnings.simplefilter('always')\n"
        "import minigan.train.trainer\n"
        "from minigan.data import load_image_folder\n"
        "from minigan.progress import progress_bar, tqdm_class\n"
        f"load_image_folder({str(tmp_path / 'faces')!r}, size=4, cache=False)\n"
        "print(sum(progress_bar(range(3))), tqdm_class().__module__)"
    )
    write_images(tmp_path / "faces", 0, 3)
    repository = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([repository, os.environ.get("PYTHONPATH", "")]))
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    text = "".join(o.get("text", "") for o in notebook.cells[0].outputs)
    assert "3 tqdm." in text, text  # the cell ran to the end
    assert "IProgress" not in text and "TqdmWarning" not in text, text


def test_the_cache_holds_plain_arrays_only(folder):
    """Nothing in the cache file needs pickle (the reader passes allow_pickle=False)."""
    load(folder)
    with np.load(image_folder_cache_file(folder, SIZE, 3), allow_pickle=False) as stored:
        assert sorted(stored.files) == ["fingerprint", "images", "skipped"]
        assert all(stored[name].dtype != object for name in stored.files)


# ---------------------------------------------------------------------------------------------------------------
# the benchmark script behind benchmarks/results/image_folder_cache.md, at a tiny size
# ---------------------------------------------------------------------------------------------------------------
def test_the_benchmark_times_both_loads(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "image_folder_cache_bench",
        os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks",
                     "image_folder_cache.py"),
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "report.md"
    args = ["--n", "12", "--size", "8", "--cached-runs", "1", "--quiet", "--folder", str(tmp_path / "jpegs")]
    assert bench.main([*args, "--out", str(out)]) == 0
    report = out.read_text()
    first = next(line for line in report.splitlines() if line.startswith("| first load"))
    second = next(line for line in report.splitlines() if line.startswith("| second load"))
    assert float(first.split("|")[6]) > 0 and float(second.split("|")[6]) == 0  # decoding only the first time
    assert "Same images from both loads (SHA-256 of the arrays): yes" in report
    assert len(list((tmp_path / "jpegs").glob("bench_*.jpg"))) == 12
