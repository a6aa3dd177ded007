"""Every ```python block in README.md runs, and the core import line it gives works."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, code) for every fenced block, in order."""
    blocks: list[tuple[str, str]] = []
    lang: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith("```"):
            if lang is None:
                lang, lines = line[3:].strip(), []
            else:
                blocks.append((lang, "\n".join(lines) + "\n"))
                lang = None
        elif lang is not None:
            lines.append(line)
    assert lang is None, "an unclosed fence"
    return blocks


BLOCKS = [code for lang, code in fenced_blocks(README) if lang == "python"]


def test_readme_has_examples() -> None:
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_example_runs(code: str) -> None:
    exec(compile(code, "README.md", "exec"), {})


def test_readme_gives_the_test_command_ci_runs() -> None:
    commands = [code.strip() for lang, code in fenced_blocks(README) if lang == ""]
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
