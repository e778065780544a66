"""Checkpoints: a whole training run in one ``.npz`` file, written atomically, read back without pickle.

    save_checkpoint(path, trainer, extra=None, meta=None, model="gan-toy", rngs={"data": data_rng})
    info = load_checkpoint(path, trainer, rngs={"data": data_rng})   # restores in place -> {"meta", "extra"}
    ckpt = read_checkpoint(path)                                      # the contents, no trainer needed

A resumed run continues exactly: N steps, save, load into a freshly built trainer, N more steps gives (on NumPy)
the same numbers bit for bit as 2N steps in one go. For that the file holds everything the steps depend on:

    format                 int64, 0-d     FORMAT_VERSION; what marks the file as a minigan checkpoint
    meta.json              uint8 (UTF-8)  JSON for people and for ``minigan sample``: minigan version, model name,
                                          algorithm and its hyperparameters (its class's HYPERPARAMETERS:
                                          nz, m and e.g. k, generator_loss / n_critic, c / n_critic, lam),
                                          architectures, optimizers, backend, dtype, iterations done, caller's meta
    state.json             uint8 (UTF-8)  JSON: iterations done, history, the states of every random generator
                                          (trainer noise, layers' own, library-wide as Dropout uses, the caller's
                                          ``rngs`` such as the data sampler's), the JSON part of ``extra``
    G/<name>, D/<name>     arrays         parameters and buffers, state_dict names (G/0.weight, D/1.running_var)
    opt_G/<key>, opt_D/<key>  arrays      optimizer states (opt_D/t, opt_D/exp_avg.0.weight, ...)
    extra/<name>           arrays         the arrays passed in ``extra``

Writing goes to a temporary file in the same folder, which is flushed, fsync'ed and then renamed onto ``path``
(``os.replace``): a save that is interrupted leaves the previous checkpoint as it was and no temporary file.

On CuPy the generators' states are reseeds (see :meth:`minigan.backend.Random.state_dict`): saving changes the
random stream that follows, and the run resumed from the file continues exactly like the run that saved it.

A checkpoint is input, and reading one never runs code from it (``allow_pickle=False``, JSON for the rest).
:func:`read_checkpoint` refuses, with :class:`CheckpointError`, anything but a regular file (a FIFO or a device named
``x.npz`` is refused before it is read, so it cannot hang), an archive without a valid ``format``, entries outside
the layout above, and JSON parts of the wrong structure (meta not a dict, state.json without exactly its four
parts, a history table whose rows do not match its columns). :func:`load_checkpoint` then checks every field
against the trainer before it applies any (:meth:`minigan.train.Trainer.load_state_dict`: hyperparameters by their
rules, step count, history, generator states, every weight's name, shape, dtype and finiteness, the optimizers'
states), as well as the library-wide and the caller's generator states: a refused checkpoint changes nothing.
"""

from __future__ import annotations

import json
import os
import stat
import uuid
import zipfile
from pathlib import Path

import numpy as np

from minigan import backend
from minigan.train.trainer import check_random_state, restore_random

FORMAT_VERSION = 1
_NETS = ("G", "D", "opt_G", "opt_D")  # the array groups of a trainer's state, each stored under "<group>/<name>"


class CheckpointError(ValueError):
    """A file that is not a (readable) minigan checkpoint, or a checkpoint that does not fit the trainer."""


# ---------------------------------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------------------------------
def save_checkpoint(path, trainer, extra: dict | None = None, meta: dict | None = None, *, model: str | None = None,
                    rngs: dict | None = None) -> Path:
    """Write ``trainer``'s whole state to ``path`` (one .npz, written as given, atomically). Returns the path.

    extra: name -> NumPy/CuPy array or JSON-serializable value (e.g. a data iterator's position), given back by
        :func:`load_checkpoint`.
    meta:  JSON-serializable facts to keep beside the automatic ones (it may not reuse their names).
    model: the name the models were built from (e.g. "gan-toy"), stored as meta["model"] for ``minigan sample``.
    rngs:  name -> :class:`minigan.backend.Random` whose states to save too, e.g. ``{"data": data_rng}`` for the
        generator behind ``sample_data``; pass the same names to :func:`load_checkpoint`.
    """
    state = trainer.state_dict()
    arrays = {"format": np.asarray(FORMAT_VERSION, dtype=np.int64)}
    for group in _NETS:
        for name, value in state[group].items():
            arrays[f"{group}/{name}"] = backend.to_numpy(value)
    extra_json = {}
    for name, value in (extra or {}).items():
        if isinstance(value, np.ndarray) or backend.is_cupy(value):
            arrays[f"extra/{name}"] = backend.to_numpy(value)
        else:
            extra_json[name] = value
    saved_state = {
        "trainer": {k: v for k, v in state.items() if k not in _NETS},
        "library_rng": backend.rng().state_dict(),
        "rngs": {name: r.state_dict() for name, r in (rngs or {}).items()},
        "extra": extra_json,
    }
    saved_state["trainer"]["history"] = _history_to_table(state["history"])
    arrays["meta.json"] = _to_json_array(_meta(trainer, state, model, meta or {}), "meta")
    arrays["state.json"] = _to_json_array(saved_state, "extra")
    path = Path(path)
    _write_atomically(path, arrays)
    return path


def _meta(trainer, state: dict, model, user_meta: dict) -> dict:
    import minigan

    first_param = next(iter(trainer.G.params.values()))
    auto = {
        "minigan_version": minigan.__version__,
        "format": FORMAT_VERSION,
        "model": model,
        "algorithm": state["algorithm"],
        "hyperparameters": state["hyperparameters"],
        "architecture": {"G": repr(trainer.G), "D": repr(trainer.D)},
        "optimizers": {"G": {"class": type(trainer.opt_G).__name__, **trainer.opt_G.hyperparameters()},
                       "D": {"class": type(trainer.opt_D).__name__, **trainer.opt_D.hyperparameters()}},
        "backend": backend.backend_of(first_param),
        "dtype": str(first_param.dtype),
        "iterations_done": state["iterations_done"],
    }
    clash = sorted(set(auto) & set(user_meta))
    if clash:
        raise ValueError(f"save_checkpoint: meta may not set {clash}; these are filled in automatically")
    return {**auto, **user_meta}


def _write_atomically(path: Path, arrays: dict) -> None:
    """np.savez into a temporary file beside ``path``, flush, fsync, then rename it onto ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:  # an error or Ctrl-C: the old checkpoint stays, the partial file goes
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _to_json_array(obj, what: str) -> np.ndarray:
    """obj as UTF-8 JSON bytes in a uint8 array (a plain array: no pickle needed to read it)."""
    try:
        text = json.dumps(obj, default=_numpy_scalar)
    except TypeError as exc:
        raise ValueError(f"save_checkpoint: {what} must be JSON-serializable (or arrays, in extra): {exc}") from exc
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def _numpy_scalar(value):
    if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON-serializable")


def _history_to_table(records: list[dict]) -> dict:
    """Records as {"columns": [...], "rows": [[...], ...]}; a value a record lacks is null."""
    columns: list[str] = []
    for r in records:
        columns += [k for k in r if k not in columns]
    return {"columns": columns, "rows": [[r.get(c) for c in columns] for r in records]}


def _history_from_table(table: dict) -> list[dict]:
    """Records from _history_to_table's table; ValueError unless its columns are distinct names and every row has
    one value per column (the values themselves are checked by Trainer.load_state_dict)."""
    if not isinstance(table, dict) or set(table) != {"columns", "rows"}:
        raise ValueError("the history must be a table {'columns': [...], 'rows': [[...], ...]}")
    columns, rows = table["columns"], table["rows"]
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns) or \
            len(set(columns)) != len(columns):
        raise ValueError("the history's columns must be distinct names")
    if not isinstance(rows, list) or not all(isinstance(r, list) and len(r) == len(columns) for r in rows):
        raise ValueError(f"every row of the history must be a list of {len(columns)} values, one per column")
    return [{c: v for c, v in zip(columns, row) if v is not None} for row in rows]


# ---------------------------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------------------------
def read_checkpoint(path) -> dict:
    """The contents of a checkpoint, as NumPy arrays and plain Python values; no trainer needed.

    Returns {"meta": dict, "trainer": a Trainer.state_dict() (G and D are module state dicts: rebuild the model
    named meta["model"] and call ``G.load_state_dict(ckpt["trainer"]["G"])``), "library_rng": generator state,
    "rngs": name -> generator state, "extra": dict}. Raises FileNotFoundError when nothing is at ``path``, and
    :class:`CheckpointError` for anything else that is not a checkpoint: a folder, a FIFO or device (refused
    without being read), an unreadable or damaged file, contents of the wrong structure. No pickle is ever loaded.
    """
    path = Path(path)
    # opened without blocking (a FIFO would wait for a writer forever) and checked on the open descriptor, so that
    # what is read is what was checked
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise CheckpointError(f"{path} cannot be read as a checkpoint ({type(exc).__name__}: {exc})") from exc
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        os.close(fd)
        raise
    if not stat.S_ISREG(mode):
        os.close(fd)
        what = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "not a regular file"
        raise CheckpointError(f"{path} is {what}, not a minigan checkpoint file")
    with os.fdopen(fd, "rb") as fh:
        arrays = _read_arrays(path, fh)
    if "format" not in arrays:
        raise CheckpointError(f"{path} is an .npz archive but not a minigan checkpoint (no 'format' entry; it "
                              f"holds {sorted(arrays)[:5]}...)")
    fmt = arrays.pop("format")
    if fmt.ndim != 0 or fmt.dtype.kind not in "iu":
        raise CheckpointError(f"{path}: the 'format' entry must be a 0-d integer, got dtype {fmt.dtype} and shape "
                              f"{fmt.shape}")
    version = int(fmt)
    if version < 1:
        raise CheckpointError(f"{path}: checkpoint format {version} does not exist (formats start at 1)")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{path} has checkpoint format {version}; this minigan reads up to {FORMAT_VERSION} "
                              f"(upgrade minigan)")
    try:
        meta = _from_json_array(arrays.pop("meta.json"), "meta.json")
        saved = _from_json_array(arrays.pop("state.json"), "state.json")
        if not isinstance(meta, dict):
            raise TypeError(f"meta.json must hold a JSON object, got a {type(meta).__name__}")
        parts = ("trainer", "library_rng", "rngs", "extra")
        if not isinstance(saved, dict) or set(saved) != set(parts):
            got = sorted(saved) if isinstance(saved, dict) else f"a {type(saved).__name__}"
            raise ValueError(f"state.json must hold an object with exactly {list(parts)}, got {got}")
        for part in parts:
            if not isinstance(saved[part], dict):
                raise TypeError(f"state.json's {part!r} must be an object, got a {type(saved[part]).__name__}")
        trainer_state = dict(saved["trainer"])
        clash = sorted(set(trainer_state) & set(_NETS))
        if clash:
            raise ValueError(f"state.json's trainer may not hold {clash} (they are arrays of the archive)")
        if "history" in trainer_state:
            trainer_state["history"] = _history_from_table(trainer_state["history"])
        library_rng, rngs, extra = saved["library_rng"], saved["rngs"], dict(saved["extra"])
    except (KeyError, TypeError, ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError: ValueErrors
        raise CheckpointError(f"{path}: damaged checkpoint metadata ({type(exc).__name__}: {exc})") from exc
    for group in _NETS:
        trainer_state[group] = {}
    for key, value in arrays.items():
        group, name = key.split("/", 1) if "/" in key else (key, "")
        if group in _NETS and name:
            trainer_state[group][name] = value
        elif group == "extra" and name:
            if name in extra:
                raise CheckpointError(f"{path}: extra entry {name!r} is both an array and a JSON value")
            extra[name] = value
        else:
            raise CheckpointError(f"{path}: unknown entry {key!r} in the checkpoint")
    return {"meta": meta, "trainer": trainer_state, "library_rng": library_rng, "rngs": rngs, "extra": extra}


def _read_arrays(path: Path, fh) -> dict:
    """Every entry of the .npz open as ``fh``, read (so that damage shows up here), without pickle."""
    try:
        loaded = np.load(fh, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"{path} is not a minigan checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise CheckpointError(f"{path} is not a minigan checkpoint (a single .npy array, not an .npz archive)")
    try:
        with loaded:
            return {name: loaded[name] for name in loaded.files}  # reads every entry: damage shows up here
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"{path} is damaged or truncated ({type(exc).__name__}: {exc})") from exc


def _from_json_array(a: np.ndarray, name: str):
    if a.dtype != np.uint8 or a.ndim != 1:
        raise ValueError(f"{name} must be UTF-8 bytes (uint8, 1-d), got dtype {a.dtype} and shape {a.shape}")
    return json.loads(a.tobytes().decode("utf-8"))


def load_checkpoint(path, trainer, rngs: dict | None = None) -> dict:
    """Restore ``trainer`` in place from ``path`` (models, optimizers, generators, step count, history), the
    library-wide generator, and the generators given in ``rngs`` (the names used when saving).

    Returns {"meta": dict, "extra": dict}. Everything is checked before anything is applied (see the module
    docstring): a checkpoint of another algorithm, optimizer or architecture, or one whose fields are out of their
    schema (a hyperparameter of the wrong type or range, a negative step count, NaN weights, a malformed generator
    state, an unknown key), raises :class:`CheckpointError` naming the field, and leaves the trainer and every
    generator as they were.
    """
    ckpt = read_checkpoint(path)
    rngs = rngs or {}
    missing = [name for name in rngs if name not in ckpt["rngs"]]
    if missing:
        raise CheckpointError(f"{path} holds no generator named {missing}; it has {sorted(ckpt['rngs'])}")
    try:
        check_random_state(ckpt["library_rng"], "library_rng")
        for name in rngs:
            check_random_state(ckpt["rngs"][name], f"rngs[{name!r}]")
        trainer.load_state_dict(ckpt["trainer"])  # checks every field, then applies them all
    except (KeyError, ValueError, TypeError) as exc:
        detail = exc.args[0] if exc.args else exc
        meta = ckpt["meta"]
        made_for = str(meta.get("algorithm"))[:40]
        if isinstance(meta.get("model"), str):
            made_for += f" on model {meta['model'][:40]!r}"
        raise CheckpointError(f"{path} cannot be loaded into this trainer (checkpoint of a {made_for}): {detail}") \
            from exc
    restore_random(backend.rng(), ckpt["library_rng"], "the library-wide generator")
    for name, rng in rngs.items():
        restore_random(rng, ckpt["rngs"][name], f"generator {name!r}")
    return {"meta": ckpt["meta"], "extra": ckpt["extra"]}
