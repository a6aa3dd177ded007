"""The README's fuzz-over-loopback example runs, quickly, and stops by itself."""

from __future__ import annotations

import time
from pathlib import Path

EXAMPLE = Path(__file__).with_name("readme_fuzz_example.py")


def test_readme_fuzz_example_runs() -> None:
    start = time.monotonic()
    exec(compile(EXAMPLE.read_text(), str(EXAMPLE), "exec"), {})
    assert time.monotonic() - start < 30
