"""The README's example runs as printed, and its two commands are the ones CI uses."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_block(containing: str) -> str:
    blocks = [b for b in re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL) if containing in b]
    assert len(blocks) == 1, f"{len(blocks)} python blocks of the README contain {containing!r}"
    return blocks[0]


def _run(code: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    return out.getvalue()


def test_readme_example_learns():
    out = _run(_python_block("binary_cross_entropy_with_logits"))
    accuracy = float(re.search(r"accuracy ([\d.]+)%", out).group(1))
    assert accuracy > 95.0, out


def test_readme_gan_in_fifteen_lines_covers_the_ring():
    """The README says it covers all 8 modes; the protocol's numbers must say so too (and most samples sharp)."""
    code = _python_block("Algorithm 1")
    assert len([line for line in code.splitlines() if line.strip()]) <= 20
    out = _run(code)
    modes, high_quality = re.search(r"(\d+)/8 modes, ([\d.]+)% high quality", out).groups()
    assert int(modes) == 8 and float(high_quality) >= 50.0, out


def test_ci_runs_the_readme_test_command():
    commands = re.search(r"```bash\n(.*?)```", README.read_text(), re.DOTALL).group(1)
    test_line = [line for line in commands.splitlines() if "pytest" in line][0]
    pytest_command = test_line.split("&&")[-1].strip()
    ci = (README.parent / ".ci" / "run").read_text()
    assert pytest_command in ci, f"{pytest_command!r} is not what .ci/run runs"


def test_main_command_names_a_real_model_and_valid_flags():
    """The README's first command: `minigan train MODEL ...` parses, MODEL exists, and its data extra is installed."""
    from minigan import recipes
    from minigan.cli import build_parser

    commands = re.search(r"```bash\n(.*?)```", README.read_text(), re.DOTALL).group(1)
    line = next(line for line in commands.splitlines() if "minigan train" in line)
    argv = line.split("minigan", 1)[1].split("&&")[0].split()
    args = build_parser().parse_args(argv)
    assert args.model in recipes.all_models()
    assert "'.[data]'" in line or "mnist" not in args.model
