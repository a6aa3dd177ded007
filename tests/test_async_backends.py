"""The suite's contract: every async test runs once on asyncio and once on trio."""

from __future__ import annotations

import sniffio

seen: list[str] = []


async def test_runs_on_each_backend(anyio_backend: str) -> None:
    assert sniffio.current_async_library() == anyio_backend
    seen.append(anyio_backend)


def test_both_backends_ran() -> None:
    # Runs after the parametrised test above (definition order).
    assert sorted(seen) == ["asyncio", "trio"]
