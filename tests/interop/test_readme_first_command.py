"""README's first set-up command, as written, on a fresh clone: it creates a
virtualenv, installs protokit with the server extra from the package index,
and starts ``protokit serve``, which prints its banner with every listener.

The one addition is ``--port-offset`` on the final command, so that a
server a developer already runs on the default ports does not collide with
this test.  The clone is of the committed HEAD (uncommitted edits are not in
it, as on a user's machine)."""

from __future__ import annotations

import os
import re
import selectors
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.interop.serve_peers import STANDARD_PORTS, free_offset

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
#: pip downloads anyio, cryptography and h11: generous, but bounded.
INSTALL_AND_START_TIMEOUT = 420.0


def first_command() -> str:
    blocks = re.findall(r"^```\n(.*?)^```", README, re.DOTALL | re.MULTILINE)
    assert blocks, "README has no plain ``` blocks"
    command = blocks[0].strip()
    assert command.endswith("protokit serve")
    return command


def test_the_first_command_installs_and_starts_the_server_on_a_fresh_clone(
    tmp_path: Path,
) -> None:
    if shutil.which("git") is None:
        pytest.fail("git is needed to make a fresh clone")
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=60, capture_output=True
    )
    offset = free_offset()
    command = first_command() + f" --port-offset {offset}"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    proc = subprocess.Popen(
        ["bash", "-c", command],
        cwd=clone,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    assert proc.stdout is not None
    banner = b""
    deadline = time.monotonic() + INSTALL_AND_START_TIMEOUT
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            # The banner ends with its last listener's line; wait for all of them.
            while b"pop3s" not in banner or not banner.endswith(b"\n"):
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"no banner within {INSTALL_AND_START_TIMEOUT} s"
                if not sel.select(timeout=remaining):
                    continue
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                    pytest.fail(f"exited before its banner: {err[-3000:]}")
                banner += chunk
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        proc.stdout.close()
        if proc.stderr is not None:
            proc.stderr.close()
    text = banner.decode()
    for name, port in STANDARD_PORTS.items():
        assert re.search(rf"\b{name}\b.*127\.0\.0\.1:{port + offset}\b", text), (name, text)
    assert (clone / ".venv" / "bin" / "protokit").exists()
    assert (clone / "protokit-data" / "tls-cert.pem").exists()
    # SIGTERM is a clean stop.
    assert proc.returncode == 0
