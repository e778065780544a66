"""The README's example runs as printed, and its two commands are the ones CI uses."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_learns():
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.DOTALL).group(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    accuracy = float(re.search(r"accuracy ([\d.]+)%", out.getvalue()).group(1))
    assert accuracy > 95.0, out.getvalue()


def test_ci_runs_the_readme_test_command():
    commands = re.search(r"```bash\n(.*?)```", README.read_text(), re.DOTALL).group(1)
    test_line = [line for line in commands.splitlines() if "pytest" in line][0]
    pytest_command = test_line.split("&&")[-1].strip()
    ci = (README.parent / ".ci" / "run").read_text()
    assert pytest_command in ci, f"{pytest_command!r} is not what .ci/run runs"
