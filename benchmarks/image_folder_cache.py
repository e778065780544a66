"""What the image folder cache saves: a CelebA-like folder of JPEGs loaded twice, decoding vs the cache.

    python benchmarks/image_folder_cache.py [--n 20000] [--folder DIR] [--size 64] [--channels 3]
                                            [--cached-runs 3] [--out benchmarks/results/image_folder_cache.md]

1. Generate ``--n`` JPEGs of 178x218 pixels (CelebA's aligned size) into ``--folder`` (default: a temporary
   folder, deleted afterwards): random smooth colour fields (a bicubic blow-up of a 5x4 grid) plus a little
   Gaussian noise (sigma 3), at quality 90, which gives files of about 7 KB, CelebA's average.
   Files already in ``--folder`` are reused.
2. First load, in a fresh Python process, with an empty cache folder: ``load_image_folder(folder, size,
   channels)`` lists the files, fingerprints them (one stat each), decodes, crops and resizes every image
   with Pillow, and writes the cache.
3. Second load, in another fresh process (``--cached-runs`` times; the median is reported): the same call,
   which now lists, fingerprints and reads the cache file.

Each load reports its total time and the parts inside it (timed by wrapping minigan.data.images' helpers),
and a SHA-256 of the images, so that the table also says whether both loads gave the same bytes. The JPEGs
were just written, so the first load reads them from the page cache: it times decoding, not the disk.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from minigan.lab.report import cpu_model

WIDTH, HEIGHT = 178, 218  # CelebA's img_align_celeba
NOISE_SIGMA, JPEG_QUALITY = 3.0, 90


# ---------------------------------------------------------------------------------------------------------------
# the folder
# ---------------------------------------------------------------------------------------------------------------
def generate(folder: Path, n: int, seed: int = 0, progress: bool = True) -> dict:
    """Write bench_000000.jpg ... into ``folder`` (those already there are kept); returns counts and timing."""
    from PIL import Image

    from minigan.progress import progress_bar

    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    written = 0
    for i in progress_bar(range(n), desc="generating JPEGs", unit="img", disable=not progress):
        path = folder / f"bench_{i:06d}.jpg"
        if path.exists():
            continue
        rng = np.random.default_rng([seed, i])
        coarse = Image.fromarray(rng.integers(0, 256, (5, 4, 3), dtype=np.uint8))
        smooth = np.asarray(coarse.resize((WIDTH, HEIGHT), Image.BICUBIC), dtype=np.float32)
        noisy = smooth + rng.normal(0.0, NOISE_SIGMA, smooth.shape).astype(np.float32)
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(path, "JPEG", quality=JPEG_QUALITY)
        written += 1
    files = sorted(folder.glob("bench_*.jpg"))[:n]
    return {
        "written": written,
        "seconds": time.perf_counter() - t0,
        "files": len(files),
        "mean_kb": float(np.mean([p.stat().st_size for p in files]) / 1024),
    }


# ---------------------------------------------------------------------------------------------------------------
# one load, in its own process
# ---------------------------------------------------------------------------------------------------------------
def load_once(folder: str, size: int, channels: int, cache_dir: str, n: int, progress: bool = True) -> dict:
    """One ``load_image_folder`` call, with the time spent in each of its parts."""
    from minigan.data import images

    parts: dict[str, float] = {}

    def timed(name, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                parts[name] = parts.get(name, 0.0) + time.perf_counter() - t0

        return wrapper

    helpers = {  # part name -> the function of minigan.data.images that does it
        "list": "image_files",
        "fingerprint": "file_list_fingerprint",
        "decode": "_decode_files",
        "cache_read": "_read_cache",
        "cache_write": "_write_cache",
    }
    for name, attr in helpers.items():
        setattr(images, attr, timed(name, getattr(images, attr)))
    t0 = time.perf_counter()
    ds = images.load_image_folder(folder, size, channels, limit=n, progress=progress, cache=cache_dir)
    total = time.perf_counter() - t0
    cache_file = images.image_folder_cache_file(folder, size, channels, limit=n, cache=cache_dir)
    return {
        "total": total,
        **parts,
        "n": len(ds),
        "shape": list(ds.images.shape),
        "sha256": hashlib.sha256(np.ascontiguousarray(ds.images).tobytes()).hexdigest(),
        "cache_mb": cache_file.stat().st_size / 2**20 if cache_file.exists() else 0.0,
    }


def load_in_subprocess(folder: Path, size: int, channels: int, cache_dir: Path, n: int, progress: bool):
    """:func:`load_once` in a fresh interpreter (as a second run of a training script would be)."""
    command = [sys.executable, __file__, "--load-once", str(folder), "--size", str(size),
               "--channels", str(channels), "--cache-dir", str(cache_dir), "--n", str(n)]
    if not progress:
        command.append("--quiet")
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)  # the progress bar: stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------------------------------------------
def machine() -> str:
    import PIL
    import tqdm

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{cpu_model()}, {cores} cores usable ({os.cpu_count()} online); {platform.system()} "
        f"{platform.machine()}; Python {platform.python_version()}, NumPy {np.__version__}, "
        f"Pillow {PIL.__version__}, tqdm {tqdm.__version__}; {datetime.date.today().isoformat()}"
    )


def seconds(x: float) -> str:
    return f"{x:.2f}" if x < 100 else f"{x:.0f}"


def markdown(gen: dict, first: dict, cached: list[dict], size: int, channels: int, command: str = "") -> str:
    """The report: one table row per load, then the speed-up, the cache file, the generation and the machine."""
    second = sorted(cached, key=lambda r: r["total"])[len(cached) // 2]  # the median run
    n = first["n"]
    same = all(r["sha256"] == first["sha256"] for r in cached)
    mode = "grayscale" if channels == 1 else "RGB"
    title = "# Image folder cache: the first load (decoding) against the second (cached)"
    if command:
        title += f"\n\n`{command}`"
    intro = (
        f"`load_image_folder(folder, size={size}, channels={channels})` on {n:,} generated JPEGs of "
        f"{WIDTH}x{HEIGHT} ({gen['mean_kb']:.1f} KB on average; CelebA's aligned images: 178x218, about 7 KB), "
        f"to {size}x{size} {mode}; each load in a fresh Python process."
    )
    header = (
        "| load | total (s) | images/s | list (s) | fingerprint (s) | decode + resize (s) | cache write (s) "
        "| cache read (s) | what it does |"
    )
    rows = []
    for name, r, what in (
        ("first load (empty cache)", first, "list + fingerprint + decode and resize + write cache"),
        ("second load (cached)", second, "list + fingerprint + read cache"),
    ):
        rows.append(
            f"| {name} | {seconds(r['total'])} | {n / r['total']:,.0f} | {r.get('list', 0):.2f} "
            f"| {r.get('fingerprint', 0):.2f} | {r.get('decode', 0):.2f} | {r.get('cache_write', 0):.2f} "
            f"| {r.get('cache_read', 0):.2f} | {what} |"
        )
    shape = " x ".join(map(str, first["shape"]))
    summary = (
        f"Cached load {first['total'] / second['total']:.0f}x faster than the first "
        f"({seconds(first['total'])} s -> {seconds(second['total'])} s; cached runs: "
        f"{', '.join(seconds(r['total']) for r in cached)} s, median shown). "
        f"Cache file: {first['cache_mb']:.1f} MiB (uint8 {shape}, .npz). "
        f"Same images from both loads (SHA-256 of the arrays): {'yes' if same else 'NO'}."
    )
    generation = (
        f"Generating the {gen['files']:,} JPEGs took {seconds(gen['seconds'])} s ({gen['written']:,} written "
        "this run). The JPEGs had just been written, so the first load read them from the page cache."
    )
    table = "\n".join([header, "|---|---|---|---|---|---|---|---|---|", *rows])
    return "\n\n".join([title, intro, table, summary, generation, f"Machine: {machine()}."]) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="number of JPEGs (default 20000)")
    parser.add_argument("--folder", help="where to generate the JPEGs (kept); default: a temporary folder")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--channels", type=int, default=3, choices=(1, 3))
    parser.add_argument("--cached-runs", type=int, default=3, help="cached loads to time (median reported)")
    parser.add_argument("--out", help="also write the markdown report to this file")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--load-once", metavar="FOLDER", help=argparse.SUPPRESS)  # the subprocess's entry
    parser.add_argument("--cache-dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.load_once:
        result = load_once(args.load_once, args.size, args.channels, args.cache_dir, args.n, not args.quiet)
        print(json.dumps(result))
        return 0

    with tempfile.TemporaryDirectory(prefix="minigan_bench_") as tmp:
        folder = Path(args.folder) if args.folder else Path(tmp) / "images"
        cache_dir = Path(tmp) / "cache"  # empty: the first load cannot find a cache from an earlier run
        gen = generate(folder, args.n, progress=not args.quiet)
        load = functools.partial(load_in_subprocess, folder, args.size, args.channels, cache_dir, args.n,
                                 not args.quiet)
        first = load()
        cached = [load() for _ in range(max(1, args.cached_runs))]
        command = "python benchmarks/image_folder_cache.py " + " ".join(sys.argv[1:] if argv is None else argv)
        report = markdown(gen, first, cached, args.size, args.channels, command.strip())
    print(report)
    if args.out:
        Path(args.out).write_text(report)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
    raise SystemExit(main())
