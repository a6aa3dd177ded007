"""README's "Try the server" block, run as written against a real
``protokit serve``: what a newcomer types sends a message with swaks and reads
it back with poplib, imaplib and curl.

The only rewrites are the ones a fresh checkout makes unnecessary: the
``.venv/bin`` programs become this interpreter, and the 3000 offset becomes a
free one (the server runs at its default data directory, ``./protokit-data``,
in a scratch working directory)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.interop.peers import require_program
from tests.interop.serve_peers import STANDARD_PORTS, start_serve

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SCRIPT_TIMEOUT = 120
SWAKS_BODY = "This is a test mailing"


def try_block() -> str:
    section = README[README.index("## Try the server") :]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match is not None, "README's 'Try the server' has no ```sh block"
    return match.group(1)


def localized(script: str, offset: int) -> str:
    programs = {"protokit": f"{sys.executable} -m protokit.cli", "python": sys.executable}
    script = re.sub(
        r"(?<![\w/])\.venv/bin/(protokit|python)\b", lambda m: programs[m.group(1)], script
    )
    for port in STANDARD_PORTS.values():
        script = re.sub(rf"\b{3000 + port}\b", str(port + offset), script)
    return script


def test_the_try_block_uses_the_default_ports() -> None:
    # The rewrite below is only honest if the block names the real defaults.
    block = try_block()
    for expected in ("127.0.0.1:3587", '"127.0.0.1", 3110', '"127.0.0.1", 3143', "1:3143/"):
        assert expected in block


def test_a_newcomer_sends_with_swaks_and_reads_with_poplib_imaplib_and_curl(
    tmp_path: Path,
) -> None:
    require_program("swaks")
    require_program("curl")
    served = start_serve(tmp_path / "protokit-data")
    try:
        script = localized(try_block(), served.offset)
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=SCRIPT_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    finally:
        served.stop()
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    # swaks's conversation (on stdout, "<~" for what it read under TLS): the
    # message was accepted after DATA.
    assert "<~  250 2.0.0 Message accepted" in out, out[-3000:]
    # poplib's RETR, imaplib's FETCH and curl's FETCH each print the message
    # swaks sent (swaks shows its own copy too).
    assert out.count(SWAKS_BODY) == 4, out[-3000:]
    assert "From: alice@localhost" in out.split("-> QUIT")[-1]
    # The last line is the bearer token (its expiry goes to stderr).
    assert out.rstrip().splitlines()[-1].startswith("pkdev_")
