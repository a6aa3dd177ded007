from __future__ import annotations

import anyio
import pytest

from tests.interop.clients import run_client, run_client_async


def test_run_client_captures_and_closes_stdin() -> None:
    out = run_client(["curl", "--version"])
    assert out.returncode == 0
    assert out.stdout.startswith(b"curl ")


def test_run_client_times_out() -> None:
    import subprocess

    with pytest.raises(subprocess.TimeoutExpired):
        run_client(["sleep", "30"], timeout=0.5)


async def test_run_client_async_on_both_backends() -> None:
    out = await run_client_async(["openssl", "version"])
    assert out.returncode == 0
    assert out.stdout.startswith(b"OpenSSL")


async def test_run_client_async_times_out() -> None:
    with pytest.raises(TimeoutError):
        await run_client_async(["sleep", "30"], timeout=0.5)
    await anyio.sleep(0)
