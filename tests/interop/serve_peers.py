"""``protokit serve`` as a subprocess for end-to-end tests: a data directory
with accounts (cheap password hashing, so that logins are fast), a free
port offset, a wait for every port with a deadline, a stop by SIGTERM with
the exit code checked, and runners for the real clients with timeouts."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from protokit.server import Store

#: Every listener's standard port, by name.
STANDARD_PORTS = {
    "smtp": 25,
    "submission": 587,
    "submissions": 465,
    "imap": 143,
    "imaps": 993,
    "pop3": 110,
    "pop3s": 995,
}
ROOT = Path(__file__).resolve().parents[2]
START_DEADLINE = 30.0
CLIENT_TIMEOUT = 30.0


def make_data_dir(directory: Path, users: dict[str, str]) -> Path:
    with Store.open(directory, password_iterations=1000, scram_iterations=64) as store:
        for address, password in users.items():
            store.add_account(address, password)
    return directory


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_offset() -> int:
    """An offset at which every listener's port is free now."""
    rng = random.Random()
    for _ in range(200):
        offset = rng.randrange(20000, 60000)
        if all(_bindable(p + offset) for p in STANDARD_PORTS.values()):
            return offset
    raise RuntimeError("no free port offset found")


def wait_for_ports(ports: list[int], proc: subprocess.Popen[Any], deadline: float) -> None:
    for port in ports:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"protokit serve exited with {proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"port {port} not listening in time") from None
                time.sleep(0.05)


@dataclass
class Served:
    proc: subprocess.Popen[str]
    data_dir: Path
    offset: int

    def port(self, name: str) -> int:
        return STANDARD_PORTS[name] + self.offset

    @property
    def cafile(self) -> Path:
        return self.data_dir / "tls-cert.pem"

    def stop(self) -> tuple[int, str, str]:
        """SIGTERM, then the exit code and the output (killed after 15 s)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, err = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate(timeout=15)
        return self.proc.returncode, out, err


def protokit_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "protokit.cli", *args]


def start_serve(
    data_dir: Path,
    *extra: str,
    offset: int | None = None,
    ports: dict[str, int] | None = None,
) -> Served:
    """Start the server; ``ports`` are the listeners a configuration file
    moved away from the offset."""
    offset = free_offset() if offset is None else offset
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        protokit_command(
            "serve", "--data-dir", str(data_dir), "--port-offset", str(offset), *extra
        ),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    served = Served(proc, data_dir, offset)
    try:
        moved = ports or {}
        wanted = [moved.get(name, served.port(name)) for name in STANDARD_PORTS]
        wait_for_ports(wanted, proc, time.monotonic() + START_DEADLINE)
    except BaseException:
        served.proc.kill()
        served.proc.communicate(timeout=15)
        raise
    return served


@contextmanager
def serving(data_dir: Path, *extra: str, ports: dict[str, int] | None = None) -> Iterator[Served]:
    served = start_serve(data_dir, *extra, ports=ports)
    try:
        yield served
    finally:
        if served.proc.poll() is None:
            served.proc.kill()
            served.proc.communicate(timeout=15)


@contextmanager
def serving_accounts(
    directory: Path, users: dict[str, str], *, secrets: tuple[str, ...] = ()
) -> Iterator[Served]:
    """``protokit serve`` on a new data directory with these accounts
    (address -> password).  Leaving the block stops it: it must exit 0, with
    no traceback and neither a password nor any of ``secrets`` in its log."""
    with serving(make_data_dir(directory, users)) as served:
        yield served
        code, _, err = served.stop()
        assert code == 0, err
        assert "Traceback" not in err, err
        for secret in (*users.values(), *secrets):
            assert secret not in err


def run(argv: list[str], *, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """A client run to completion (bounded by CLIENT_TIMEOUT, reaped)."""
    return subprocess.run(
        argv,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT,
        check=False,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )
