"""Every benchmark runs end to end on a tiny corpus (a smoke test; timings are
never asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.__main__ import available

ROOT = Path(__file__).resolve().parent.parent


def test_benchmarks_are_discovered() -> None:
    assert "wire" in available()


@pytest.mark.parametrize("name", available())
def test_benchmark_runs_quick(name: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks", name, "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "ratio:" in out.stdout


def test_unknown_benchmark_is_an_error() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks", "no-such-thing"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "unknown benchmark" in out.stderr
