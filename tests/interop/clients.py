"""Run the real command-line clients (curl, swaks, fetchmail ...) against our
servers: always with a timeout, stdin closed (swaks otherwise prompts), and
the process reaped."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from tests.interop.peers import require_program

CLIENT_TIMEOUT = 60.0


def run_client(
    argv: Sequence[str],
    *,
    input: bytes | None = None,
    timeout: float = CLIENT_TIMEOUT,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv`` (its program looked up with :func:`require_program`) and
    return the completed process; never waits past ``timeout``."""
    program = require_program(argv[0])
    return subprocess.run(
        [program, *argv[1:]],
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        env=env,
        check=False,
    )


async def run_client_async(
    argv: Sequence[str],
    *,
    input: bytes | None = None,
    timeout: float = CLIENT_TIMEOUT,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """:func:`run_client` from async code, on asyncio or trio, so our server
    keeps running in the same event loop while the client talks to it."""
    import anyio

    program = require_program(argv[0])
    with anyio.fail_after(timeout):
        return await anyio.run_process([program, *argv[1:]], input=input, check=False, env=env)
