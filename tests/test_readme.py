"""Every ```python block in README.md runs, and the core import line it gives works."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_readme_has_examples() -> None:
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_example_runs(code: str) -> None:
    exec(compile(code, "README.md", "exec"), {})


def test_readme_gives_the_test_command_ci_runs() -> None:
    blocks = re.findall(r"```\n(.*?)```", README, flags=re.S)
    commands = [b.strip() for b in blocks]
    # exactly two set-up commands: the main job, and the tests CI runs
    assert len(commands) == 2
    assert commands[0].endswith(".venv/bin/protokit serve")
    assert "bash tests/run.sh" in commands
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    assert "bash tests/run.sh" in ci


def test_core_import_line_works() -> None:
    line = re.search(r'python -c "(import sys; sys.modules.*?)"', README)
    assert line is not None
    out = subprocess.run([sys.executable, "-c", line.group(1)], capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
