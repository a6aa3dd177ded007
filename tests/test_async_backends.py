"""The suite's contract: every async test runs once on asyncio and once on trio."""

from __future__ import annotations

import sniffio

seen: list[str] = []


async def test_runs_on_each_backend() -> None:
    # No anyio marker and no anyio_backend argument here: conftest.py must
    # still run this once per backend.
    seen.append(sniffio.current_async_library())


def test_both_backends_ran() -> None:
    # Runs after the parametrised test above (definition order).
    assert sorted(seen) == ["asyncio", "trio"]
