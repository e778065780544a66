"""Checkpoints (minigan/io.py) and exact resume.

* Resume is exact: N iterations, save, load into a FRESH trainer (models, optimizers and generators built from
  other seeds), N more iterations gives bit for bit what the run that saved gets, and on NumPy what 2N iterations
  in one go get: parameters, BatchNorm statistics, optimizer moments, history (except its 'time' column) and every
  generator's state. For GAN (a D with BatchNorm and Dropout, a G with a Dropout that owns its generator), WGAN and
  WGAN-GP on the 8-Gaussian ring, whose sampler's generator is saved through ``rngs``.
* The file is plain arrays (``np.load(..., allow_pickle=False)``) with the metadata ``minigan sample`` needs, and
  save -> load -> save gives the same content.
* Saving is atomic: a save interrupted at any point (while writing, at fsync, at the rename, by Ctrl-C) leaves the
  last good checkpoint as it was and no temporary file.
* Clear errors: another architecture (names the parameter and shapes, changes nothing), another algorithm or
  optimizer, a missing generator name, files that are not checkpoints or are truncated or damaged.
* The pieces: Random.state_dict, Optimizer.load_state_dict replacing old slots, Trainer.state_dict.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

from minigan import backend, io, nn, optim
from minigan.data import ring
from minigan.models import toy_discriminator, toy_generator
from minigan.train import CGAN, GAN, WGAN, WGANGP

NZ = 2
ALGORITHMS = ("gan", "wgan", "wgangp")
N = 4  # iterations before and after the checkpoint


def make(algo: str, seed: int = 0, hidden: int = 16, **kwargs):
    """A small trainer for the ring; everything random in it (weights, noise, dropout masks) comes from ``seed``."""
    backend.seed(seed)
    if algo == "gan":  # D with BatchNorm and Dropout (library-wide generator); G with a Dropout that has its own
        G = nn.Sequential(nn.Dense(NZ, hidden), nn.ReLU(), nn.Dropout(0.1, rng=backend.Random(seed + 100)),
                          nn.Dense(hidden, 2))
        D = nn.Sequential(nn.Dense(2, hidden), nn.BatchNorm1d(hidden), nn.LeakyReLU(0.2), nn.Dropout(0.3),
                          nn.Dense(hidden, 1))
        return GAN(G, D, optim.Adam(G, 1e-3, (0.5, 0.999)), optim.Adam(D, 1e-3, (0.5, 0.999)), nz=NZ, m=16,
                   seed=seed, **kwargs)
    G, D = toy_generator(nz=NZ, hidden=hidden, depth=2), toy_discriminator(hidden=hidden, depth=2)
    if algo == "wgan":
        return WGAN(G, D, optim.RMSProp(G, 1e-3), optim.RMSProp(D, 1e-3), nz=NZ, m=16, seed=seed,
                    **{"n_critic": 2, "c": 0.05, **kwargs})
    return WGANGP(G, D, optim.Adam(G, 1e-3, (0.0, 0.9)), optim.Adam(D, 1e-3, (0.0, 0.9)), nz=NZ, m=16, seed=seed,
                  **{"n_critic": 2, "lam": 1.0, **kwargs})


def numpy_tree(value):
    """Nested dicts/lists with every array as NumPy, for comparisons."""
    if isinstance(value, dict):
        return {k: numpy_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [numpy_tree(v) for v in value]
    if isinstance(value, np.ndarray) or backend.is_cupy(value):
        return backend.to_numpy(value).copy()
    return value


def assert_tree_equal(a, b, where="state"):
    """Equal bit for bit: same keys, same dtypes, same array bytes, same plain values."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), f"{where}: keys {list(a)} != {list(b)}"
        for k in a:
            assert_tree_equal(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), f"{where}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_tree_equal(x, y, f"{where}[{i}]")
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape, f"{where}: dtype/shape"
        assert a.tobytes() == b.tobytes(), f"{where}: values differ"
    else:
        assert type(a) is type(b) and a == b, f"{where}: {a!r} != {b!r}"


def run_state(trainer, data_rng) -> dict:
    """Everything the next iterations depend on, plus the history without its 'time' column.

    Reading the generator states reseeds them on CuPy, so this is called at the end of a run only."""
    state = numpy_tree(trainer.state_dict())
    state["history"] = [{k: v for k, v in r.items() if k != "time"} for r in state["history"]]
    state["library_rng"] = backend.rng().state_dict()
    state["data_rng"] = data_rng.state_dict()
    return state


def train(trainer, data_rng, iterations):
    trainer.train(ring().sampler(data_rng), iterations, progress=False)


# ---------------------------------------------------------------------------------------------------------------
# exact resume
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("algo", ALGORITHMS)
def test_resume_in_a_fresh_trainer_is_exact(bk, tmp_path, algo):
    path = tmp_path / "checkpoint.npz"

    # the run that saves: N iterations, checkpoint, N more
    saving, saving_data = make(algo, seed=0), backend.Random(1)
    train(saving, saving_data, N)
    io.save_checkpoint(path, saving, model=f"{algo}-test", rngs={"data": saving_data})
    train(saving, saving_data, N)
    expected = run_state(saving, saving_data)

    # a fresh process, as it were: everything built from other seeds, then the checkpoint loaded
    resumed, resumed_data = make(algo, seed=7), backend.Random(8)
    backend.seed(9)
    io.load_checkpoint(path, resumed, rngs={"data": resumed_data})
    assert resumed.iterations_done == N and len(resumed.history) == N
    train(resumed, resumed_data, N)
    assert_tree_equal(run_state(resumed, resumed_data), expected)
    assert resumed.iterations_done == 2 * N
    assert [r["iteration"] for r in resumed.history.records] == list(range(1, 2 * N + 1))

    if bk.name == "numpy":  # saving does not touch the NumPy streams: the same as 2N iterations in one go
        straight, straight_data = make(algo, seed=0), backend.Random(1)
        train(straight, straight_data, 2 * N)
        assert_tree_equal(run_state(straight, straight_data), expected)


def test_resume_restores_the_algorithms_hyperparameters(tmp_path):
    path = tmp_path / "c.npz"
    for algo, name in (("gan", "k"), ("wgan", "c"), ("wgangp", "lam")):
        saved = make(algo)
        io.save_checkpoint(path, saved)
        other = make(algo, **{name: {"k": 3, "c": 0.5, "lam": 7.0}[name]})
        io.load_checkpoint(path, other)
        assert getattr(other, name) == getattr(saved, name)
        assert other.hyperparameters() == saved.hyperparameters()


def test_history_round_trips_with_types(tmp_path):
    trainer = make("wgangp")
    train(trainer, backend.Random(1), 3)
    trainer.history.append({"iteration": 99, "note_free_record": 1.5})  # a record with other columns
    io.save_checkpoint(tmp_path / "c.npz", trainer)
    restored = io.read_checkpoint(tmp_path / "c.npz")["trainer"]["history"]
    assert restored == trainer.history.records
    assert all(type(r["iteration"]) is int for r in restored)


# ---------------------------------------------------------------------------------------------------------------
# the file
# ---------------------------------------------------------------------------------------------------------------
def test_file_is_plain_arrays_with_metadata(tmp_path):
    path = tmp_path / "checkpoint.npz"
    trainer = make("gan", k=2)
    train(trainer, backend.Random(1), 2)
    io.save_checkpoint(path, trainer, model="gan-test", meta={"mixture": "ring"})
    with np.load(path, allow_pickle=False) as z:
        assert all(z[name].dtype != object for name in z.files)
        assert int(z["format"]) == io.FORMAT_VERSION
        assert "G/0.weight" in z.files and "D/1.running_var" in z.files and "D/1.num_batches_tracked" in z.files
        assert "opt_D/exp_avg.0.weight" in z.files and "opt_G/t" in z.files
        np.testing.assert_array_equal(z["D/1.running_mean"], backend.to_numpy(trainer.D.buffers["1.running_mean"]))
    meta = io.read_checkpoint(path)["meta"]
    import minigan

    assert meta["minigan_version"] == minigan.__version__
    assert meta["model"] == "gan-test" and meta["mixture"] == "ring"
    assert meta["algorithm"] == "GAN" and meta["iterations_done"] == 2
    assert meta["hyperparameters"] == {"nz": NZ, "m": 16, "k": 2, "generator_loss": "non-saturating"}
    assert meta["optimizers"]["D"] == {"class": "Adam", "lr": 1e-3, "betas": [0.5, 0.999], "eps": 1e-8}
    assert "BatchNorm1d" in meta["architecture"]["D"]
    assert meta["backend"] == "numpy" and meta["dtype"] == "float32"
    wgan_meta, gp_meta = [(io.save_checkpoint(tmp_path / f"{a}.npz", make(a)), io.read_checkpoint(
        tmp_path / f"{a}.npz")["meta"])[1] for a in ("wgan", "wgangp")]
    assert wgan_meta["hyperparameters"] == {"nz": NZ, "m": 16, "n_critic": 2, "c": 0.05}
    assert gp_meta["hyperparameters"] == {"nz": NZ, "m": 16, "n_critic": 2, "lam": 1.0}


def test_save_load_save_gives_the_same_content(tmp_path):
    first, second = tmp_path / "first.npz", tmp_path / "second.npz"
    trainer, data_rng = make("gan"), backend.Random(1)
    train(trainer, data_rng, 3)
    extra = {"epoch": 2, "order": np.arange(5)}
    io.save_checkpoint(first, trainer, extra, {"mixture": "ring"}, model="gan-test", rngs={"data": data_rng})
    fresh, fresh_data = make("gan", seed=5), backend.Random(6)
    info = io.load_checkpoint(first, fresh, rngs={"data": fresh_data})
    io.save_checkpoint(second, fresh, info["extra"], {"mixture": "ring"}, model="gan-test",
                       rngs={"data": fresh_data})
    with np.load(first, allow_pickle=False) as a, np.load(second, allow_pickle=False) as b:
        assert a.files == b.files
        for name in a.files:
            assert a[name].dtype == b[name].dtype and a[name].tobytes() == b[name].tobytes(), name


def test_read_checkpoint_rebuilds_the_generator_without_a_trainer(tmp_path):
    trainer = make("wgan")
    train(trainer, backend.Random(1), 2)
    io.save_checkpoint(tmp_path / "c.npz", trainer, model="wgan-test")
    ckpt = io.read_checkpoint(tmp_path / "c.npz")
    assert ckpt["meta"]["model"] == "wgan-test"
    G = toy_generator(nz=ckpt["meta"]["hyperparameters"]["nz"], hidden=16, depth=2)
    G.load_state_dict(ckpt["trainer"]["G"])
    z = backend.Random(3).standard_normal((10, NZ))
    np.testing.assert_array_equal(G(z, train=False), trainer.G(z, train=False))


def test_extra_values_and_arrays_come_back(tmp_path):
    trainer = make("wgan")
    extra = {"epoch": 3, "position": 17, "name": "ring", "order": np.array([2, 0, 1]), "w": np.float32(0.5)}
    io.save_checkpoint(tmp_path / "c.npz", trainer, extra)
    got = io.load_checkpoint(tmp_path / "c.npz", make("wgan", seed=1))["extra"]
    assert got.keys() == extra.keys()
    assert (got["epoch"], got["position"], got["name"], got["w"]) == (3, 17, "ring", 0.5)
    np.testing.assert_array_equal(got["order"], extra["order"])


def test_meta_must_be_json_and_may_not_overwrite_the_automatic_fields(tmp_path):
    trainer = make("wgan")
    with pytest.raises(ValueError, match="algorithm"):
        io.save_checkpoint(tmp_path / "c.npz", trainer, meta={"algorithm": "mine"})
    with pytest.raises(ValueError, match="JSON"):
        io.save_checkpoint(tmp_path / "c.npz", trainer, meta={"when": object()})
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------------------------------------------
# atomic writes
# ---------------------------------------------------------------------------------------------------------------
def failing_savez(exception):
    """np.savez that writes part of an archive, then fails."""

    def savez(file, **arrays):
        file.write(b"PK\x03\x04 half an archive")
        raise exception

    return savez


@pytest.mark.parametrize("where", ["savez", "fsync", "replace", "ctrl-c"])
def test_interrupted_save_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, where):
    path = tmp_path / "checkpoint.npz"
    trainer = make("gan")
    io.save_checkpoint(path, trainer)
    good = path.read_bytes()
    train(trainer, backend.Random(1), 2)  # something new to save
    failure = KeyboardInterrupt() if where == "ctrl-c" else OSError("disk full")
    if where in ("savez", "ctrl-c"):
        monkeypatch.setattr(io.np, "savez", failing_savez(failure))
    elif where == "fsync":
        monkeypatch.setattr(io.os, "fsync", lambda fd: (_ for _ in ()).throw(failure))
    else:
        monkeypatch.setattr(io.os, "replace", lambda src, dst: (_ for _ in ()).throw(failure))
    with pytest.raises(type(failure)):
        io.save_checkpoint(path, trainer)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["checkpoint.npz"]  # no temporary file left behind
    assert path.read_bytes() == good
    assert io.read_checkpoint(path)["meta"]["iterations_done"] == 0


def test_interrupted_first_save_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(io.np, "savez", failing_savez(RuntimeError("boom")))
    with pytest.raises(RuntimeError):
        io.save_checkpoint(tmp_path / "checkpoint.npz", make("wgan"))
    assert os.listdir(tmp_path) == []


def test_save_replaces_the_previous_checkpoint(tmp_path):
    path = tmp_path / "checkpoint.npz"
    trainer = make("wgan")
    io.save_checkpoint(path, trainer)
    train(trainer, backend.Random(1), 2)
    io.save_checkpoint(path, trainer)
    assert os.listdir(tmp_path) == ["checkpoint.npz"]
    assert io.read_checkpoint(path)["meta"]["iterations_done"] == 2


# ---------------------------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------------------------
def test_another_architecture_is_a_clear_error_and_changes_nothing(tmp_path):
    path = tmp_path / "c.npz"
    io.save_checkpoint(path, make("wgangp", hidden=16), model="wide")
    narrow = make("wgangp", seed=3, hidden=8)
    before = numpy_tree(narrow.state_dict())
    with pytest.raises(io.CheckpointError, match=r"'0\.weight' has shape \(16, 2\), expected \(8, 2\)") as info:
        io.load_checkpoint(path, narrow)
    assert "G does not fit" in str(info.value) and "'wide'" in str(info.value)
    assert_tree_equal(numpy_tree(narrow.state_dict()), before)


def test_a_misfit_in_d_leaves_g_untouched(tmp_path):
    path = tmp_path / "c.npz"
    io.save_checkpoint(path, make("wgan"))
    other = make("wgan", seed=3)
    deeper = toy_discriminator(hidden=16, depth=3)
    other.D, other.opt_D = deeper, optim.RMSProp(deeper, 1e-3)
    before = numpy_tree(other.state_dict())
    with pytest.raises(io.CheckpointError, match=r"D does not fit.*missing keys \['6\.weight', '6\.bias'\]"):
        io.load_checkpoint(path, other)
    assert_tree_equal(numpy_tree(other.state_dict()), before)


def make_cgan(k: int = 1, seed: int = 0):
    """A small conditional trainer: 3 classes of 2D points."""
    backend.seed(seed)
    G = nn.Sequential(nn.Dense(NZ + 3, 8), nn.ReLU(), nn.Dense(8, 2))
    D = nn.Sequential(nn.Dense(2 + 3, 8), nn.LeakyReLU(0.2), nn.Dense(8, 1))
    return CGAN(G, D, optim.Adam(G), optim.Adam(D), nz=NZ, m=8, k=k, seed=seed, n_classes=3)


@pytest.mark.parametrize("algo, changed, expected", [
    ("gan", {"k": 3}, {"nz": NZ, "m": 16, "k": 1, "generator_loss": "non-saturating"}),
    ("wgan", {"n_critic": 4, "c": 0.5}, {"nz": NZ, "m": 16, "n_critic": 2, "c": 0.05}),
    ("wgangp", {"n_critic": 4, "lam": 7.0}, {"nz": NZ, "m": 16, "n_critic": 2, "lam": 1.0}),
    ("cgan", {"k": 3}, {"nz": NZ, "m": 8, "k": 1, "generator_loss": "non-saturating", "n_classes": 3,
                        "d_labels": "vector"}),
])
def test_each_algorithm_saves_and_restores_exactly_its_own_hyperparameters(tmp_path, algo, changed, expected):
    """The checkpoint holds the names the trainer's class declares in HYPERPARAMETERS, no more, no fewer."""
    build = make_cgan if algo == "cgan" else lambda **kw: make(algo, **kw)
    saved = build()
    assert tuple(saved.hyperparameters()) == type(saved).HYPERPARAMETERS
    path = io.save_checkpoint(tmp_path / "c.npz", saved)
    assert io.read_checkpoint(path)["meta"]["hyperparameters"] == expected
    other = build(**changed)
    io.load_checkpoint(path, other)
    assert other.hyperparameters() == expected


def test_a_hyperparameter_the_trainer_does_not_have_is_refused(tmp_path):
    """A state naming a setting this algorithm lacks (WGAN-GP's lam in a WGAN checkpoint) is an error, and the
    trainer keeps everything it had: no stray attribute, the same weights."""
    saving = make("wgan")
    own = saving.hyperparameters
    saving.hyperparameters = lambda: {**own(), "lam": 10.0}
    path = io.save_checkpoint(tmp_path / "c.npz", saving)
    other = make("wgan", seed=3)
    before = numpy_tree(other.G.state_dict())
    with pytest.raises(io.CheckpointError, match=r"\['lam'\], which are not hyperparameters of WGAN"):
        io.load_checkpoint(path, other)
    assert "lam" not in vars(other)
    assert_tree_equal(numpy_tree(other.G.state_dict()), before)


def test_another_algorithm_or_optimizer_is_a_clear_error(tmp_path):
    path = tmp_path / "c.npz"
    io.save_checkpoint(path, make("wgan"))
    with pytest.raises(io.CheckpointError, match="from a WGAN trainer"):
        io.load_checkpoint(path, make("wgangp"))
    other = make("wgan")
    other.opt_D = optim.SGD(other.D, 1e-3)
    with pytest.raises(io.CheckpointError, match="RMSProp"):
        io.load_checkpoint(path, other)


def test_an_unknown_generator_name_is_a_clear_error(tmp_path):
    path = tmp_path / "c.npz"
    io.save_checkpoint(path, make("wgan"), rngs={"data": backend.Random(1)})
    with pytest.raises(io.CheckpointError, match=r"no generator named \['sampler'\]; it has \['data'\]"):
        io.load_checkpoint(path, make("wgan"), rngs={"sampler": backend.Random(1)})


def damaged(path, tmp_path):
    """Files that are not checkpoints: name -> path."""
    data = path.read_bytes()
    flip = data.index(b"G/0.weight.npy") + 200
    files = {
        "text": b"not a checkpoint\n",
        "empty": b"",
        "truncated": data[: len(data) // 2],
        "bitflip": data[:flip] + bytes([data[flip] ^ 0xFF]) + data[flip + 1:],  # inside G/0.weight's numbers
    }
    out = {}
    for name, content in files.items():
        out[name] = tmp_path / f"{name}.npz"
        out[name].write_bytes(content)
    out["npy"] = tmp_path / "array.npy"
    np.save(out["npy"], np.zeros(3))
    out["other npz"] = tmp_path / "other.npz"
    np.savez(out["other npz"], weights=np.zeros(3))
    return out


def test_files_that_are_not_checkpoints_are_clear_errors(tmp_path):
    good = tmp_path / "good.npz"
    trainer = make("gan")
    io.save_checkpoint(good, trainer)
    before = numpy_tree(trainer.state_dict())
    for path in damaged(good, tmp_path).values():
        with pytest.raises(io.CheckpointError, match="not a minigan checkpoint|damaged|truncated"):
            io.read_checkpoint(path)
        with pytest.raises(io.CheckpointError):
            io.load_checkpoint(path, trainer)
    assert_tree_equal(numpy_tree(trainer.state_dict()), before)
    with pytest.raises(FileNotFoundError):
        io.read_checkpoint(tmp_path / "missing.npz")


def test_a_newer_format_is_refused(tmp_path):
    path = tmp_path / "c.npz"
    io.save_checkpoint(path, make("wgan"))
    with np.load(path) as z:
        entries = {name: z[name] for name in z.files}
    entries["format"] = np.asarray(io.FORMAT_VERSION + 1)
    np.savez(path, **entries)
    with pytest.raises(io.CheckpointError, match="upgrade minigan"):
        io.read_checkpoint(path)


# ---------------------------------------------------------------------------------------------------------------
# the pieces
# ---------------------------------------------------------------------------------------------------------------
def test_random_state_dict_continues_the_stream(bk):
    r = backend.Random(5)
    r.standard_normal((3,))
    state = r.state_dict()
    after = [bk.to_numpy(r.standard_normal((4,))), bk.to_numpy(r.random((2, 2))), bk.to_numpy(r.integers(0, 9, 5))]
    other = backend.Random(6)
    other.load_state_dict(state)
    again = [bk.to_numpy(other.standard_normal((4,))), bk.to_numpy(other.random((2, 2))),
             bk.to_numpy(other.integers(0, 9, 5))]
    for a, b in zip(after, again):
        np.testing.assert_array_equal(a, b)


def test_random_state_of_another_backend_is_refused_or_skipped_with_a_warning():
    r = backend.Random(0)
    foreign = {"backend": "cupy", "seed": 3}
    with pytest.raises(ValueError, match="'cupy' generator"):
        r.load_state_dict(foreign)
    from minigan.train.trainer import restore_random

    before = r.state_dict()
    with pytest.warns(UserWarning, match="not bit-exact"):
        assert restore_random(r, foreign, "test generator") is False
    assert r.state_dict() == before


def test_random_state_is_json_and_a_copy():
    r = backend.Random(0)
    state = r.state_dict()
    import json

    assert json.loads(json.dumps(state)) == state
    r.standard_normal((5,))
    assert r.state_dict() != state


def test_optimizer_load_replaces_the_slots_of_earlier_steps():
    model = nn.Dense(2, 3)
    fresh_state = optim.Adam(model).state_dict()
    opt = optim.Adam(model)
    model.grads["weight"][...] = 1.0
    opt.step()
    assert opt.state and opt.t == 1
    opt.load_state_dict(fresh_state)
    assert opt.state == {} and opt.t == 0


def test_optimizer_load_checks_before_changing_anything_and_copies():
    model = nn.Dense(2, 3)
    opt = optim.Adam(model)
    model.grads["weight"][...] = 1.0
    opt.step()
    state = opt.state_dict()
    bad = {**state, "exp_avg.bias": np.zeros(7)}
    with pytest.raises(ValueError, match="exp_avg.bias"):
        opt.load_state_dict({**bad, "t": 5})
    assert opt.t == 1
    other = optim.Adam(model)
    other.load_state_dict(state)
    other.step()
    assert not np.array_equal(state["exp_avg.weight"], other.state["exp_avg"]["weight"])  # no shared arrays


def test_trainer_generators_include_layers_with_their_own():
    trainer = make("gan")
    assert list(trainer.generators()) == ["noise", "G/2."]
    assert list(make("wgan").generators()) == ["noise"]


def test_trainer_load_state_dict_warns_for_generators_of_another_backend():
    saved = make("wgan")
    state = saved.state_dict()
    state["rngs"]["noise"] = {"backend": "cupy", "seed": 1}
    other = make("wgan", seed=4)
    with pytest.warns(UserWarning, match="noise"):
        other.load_state_dict(state)
    assert_tree_equal(numpy_tree(other.G.state_dict()), numpy_tree(saved.G.state_dict()))


def test_no_warnings_on_a_plain_resume(tmp_path):
    trainer = make("gan")
    io.save_checkpoint(tmp_path / "c.npz", trainer)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        io.load_checkpoint(tmp_path / "c.npz", make("gan", seed=2))


def test_a_checkpoint_moves_between_backends(bk, tmp_path):
    """Saved on the backend under test, loaded into a NumPy trainer: models and optimizers come over exactly; the
    generators of another backend keep their own state, with a warning."""
    path = tmp_path / "c.npz"
    trainer = make("wgangp")
    train(trainer, backend.Random(1), 2)
    io.save_checkpoint(path, trainer)
    expected = numpy_tree({k: v for k, v in trainer.state_dict().items() if k != "rngs"})
    backend.use("numpy")
    target = make("wgangp", seed=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        io.load_checkpoint(path, target)
    assert_tree_equal(numpy_tree({k: v for k, v in target.state_dict().items() if k != "rngs"}), expected)
    assert any("not bit-exact" in str(w.message) for w in caught) == (bk.name == "cupy")
