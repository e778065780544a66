"""Where downloaded data lives, and how a file gets there safely.

* Cache directory: ``root`` if given, else ``$MINIGAN_DATA``, else ``$XDG_CACHE_HOME/minigan``, else
  ``~/.cache/minigan``.
* Offline mode: ``MINIGAN_OFFLINE=1`` (or ``true``/``yes``) forbids every download.
* A cache directory that cannot be created or written (``$MINIGAN_DATA`` naming a file, or a read-only folder)
  makes :func:`download` raise :class:`DownloadError` before any network access, so a loader that can fall back
  (``load_mnist(source="auto")`` to the offline subset) does so and says why; reading what is already there works.
* :func:`download` tries each mirror in turn with a timeout, hashes the bytes while writing them to a
  temporary file in the destination folder, and renames that file into place only when the checksum matches.
  An interrupted or corrupted download therefore never leaves a file under the final name.
* :func:`atomic_write` gives the same guarantee to any file written locally (e.g. the image folder cache).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.request
from contextlib import contextmanager
from pathlib import Path

# Looked up at call time, so tests can replace it (monkeypatch.setattr(cache, "urlopen", fake)).
urlopen = urllib.request.urlopen

CHUNK = 1 << 20  # bytes read per step while downloading or hashing


class DataError(ValueError):
    """A data file exists but is not what it should be (corrupt, truncated, wrong format)."""


class DownloadError(OSError):
    """No mirror delivered a file with the expected checksum.

    ``failures`` holds one ``(url, exception)`` pair per mirror tried, in order.
    """

    failures: tuple = ()


class DataUnavailableError(RuntimeError):
    """No source of the requested data can be used here; the message says what to install or download."""


def data_dir(root: str | os.PathLike | None = None) -> Path:
    """The cache directory (not created): ``root``, ``$MINIGAN_DATA``, ``$XDG_CACHE_HOME/minigan`` or
    ``~/.cache/minigan``, the first that is set."""
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get("MINIGAN_DATA"):
        return Path(os.environ["MINIGAN_DATA"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "minigan"
    return Path.home() / ".cache" / "minigan"


def offline() -> bool:
    """True when ``MINIGAN_OFFLINE`` is set to 1/true/yes: no download is attempted."""
    return os.environ.get("MINIGAN_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def file_hash(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes (``algorithm``: a name ``hashlib.new`` accepts, e.g. "md5", "sha256")."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def atomic_write(dest: str | os.PathLike):
    """A binary file object whose bytes end up at ``dest`` only if the ``with`` block finishes without error.

    The bytes go to a temporary file in ``dest``'s folder, which then replaces ``dest`` in one step
    (``os.replace``); on any error the temporary file is removed and ``dest`` is left as it was. The folder
    must exist. Raises OSError when it cannot be written.
    """
    dest = Path(dest)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def download(
    urls,
    dest: str | os.PathLike,
    checksum: str | None = None,
    algorithm: str = "sha256",
    timeout: float = 30.0,
) -> Path:
    """Fetch the first of ``urls`` that answers with the expected bytes and store them at ``dest``.

    ``checksum`` is the hex digest (``algorithm``) the file must have; None skips the check. Each URL gets
    ``timeout`` seconds per network operation. The bytes go to a temporary file next to ``dest`` that is
    renamed onto ``dest`` (an atomic step on one file system) only after the digest matched. Raises
    :class:`DownloadError` listing what went wrong with every URL.
    """
    dest = Path(dest)
    urls = [urls] if isinstance(urls, str) else list(urls)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unwritable_folder(dest, urls, exc) from exc
    failures = []
    for url in urls:
        try:
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        except OSError as exc:
            raise _unwritable_folder(dest, urls, exc) from exc
        try:
            digest = hashlib.new(algorithm)
            with os.fdopen(fd, "wb") as out, urlopen(url, timeout=timeout) as response:
                for block in iter(lambda: response.read(CHUNK), b""):
                    digest.update(block)
                    out.write(block)
            if checksum is not None and digest.hexdigest() != checksum.lower():
                raise DataError(
                    f"{algorithm} checksum mismatch: expected {checksum}, got {digest.hexdigest()}"
                )
            os.replace(tmp, dest)
            return dest
        except (
            OSError,
            ValueError,
            http.client.HTTPException,
        ) as exc:  # network, HTTP, timeout, checksum: next mirror
            failures.append((url, exc))
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    lines = [f"  {url}: {type(exc).__name__}: {exc}" for url, exc in failures]
    error = DownloadError(f"could not download {dest.name} from any mirror:\n" + "\n".join(lines))
    error.failures = tuple(failures)
    raise error


def _unwritable_folder(dest: Path, urls: list, exc: OSError) -> DownloadError:
    """The DownloadError of a destination folder that cannot be created or written (``$MINIGAN_DATA`` naming a file
    or a read-only folder, say): nothing was fetched. Each mirror is listed with the folder's error, whose
    ``reason`` (read by :func:`minigan.data.mnist.download_failure_reason`) says what is wrong in a few words, so
    that a caller falling back to other data (``load_mnist(source="auto")``) says why in one line."""
    strerror = exc.strerror or type(exc).__name__
    exc.reason = f"data folder not writable ({strerror}; see MINIGAN_DATA): {dest.parent}"
    error = DownloadError(
        f"could not download {dest.name}: the folder {dest.parent} cannot be created or written "
        f"({type(exc).__name__}: {strerror}); set MINIGAN_DATA to a writable folder"
    )
    error.failures = tuple((url, exc) for url in urls)
    return error
