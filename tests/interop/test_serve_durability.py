"""Durability through the server: ``protokit serve`` is SIGKILLed while
smtplib clients submit (over the MX listener and over 465 with AUTH PLAIN);
after a restart, every message that got its 250 is present and intact, and
every message present is one of those sent, whole (none half-present).
Read back with poplib in recent mode through the restarted server."""

from __future__ import annotations

import hashlib
import poplib
import signal
import smtplib
import ssl
import threading
from pathlib import Path

from tests.interop.serve_peers import Served, make_data_dir, serving

USERS = {"alice@example.com": "alice-pw", "bob@example.com": "bob-pw"}
CLIENTS = 6
#: Acknowledged messages before the kill.
KILL_AFTER = 60


def message(name: str) -> bytes:
    """A message whose body is derived from its name (sizes 1-40 KB)."""
    seed = hashlib.sha256(name.encode()).digest()
    size = 1000 + int.from_bytes(seed[:2], "big") % 40000
    line = seed.hex().encode()
    body = b"\r\n".join(line[: 60 + i % 7] for i in range(size // 70))
    return f"Subject: {name}\r\nFrom: alice@example.com\r\n\r\n".encode() + body + b"\r\n"


class Submitter(threading.Thread):
    def __init__(self, served: Served, index: int, acked: list[str], lock: threading.Lock):
        super().__init__(daemon=True)
        self.served = served
        self.index = index
        self.acked = acked
        self.lock = lock
        self.stop = threading.Event()

    def connect(self) -> smtplib.SMTP:
        if self.index % 2:
            ctx = ssl.create_default_context(cafile=str(self.served.cafile))
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                "127.0.0.1", self.served.port("submissions"), context=ctx, timeout=20
            )
            smtp.login("alice@example.com", "alice-pw")
            return smtp
        return smtplib.SMTP("127.0.0.1", self.served.port("smtp"), timeout=20)

    def run(self) -> None:
        try:
            smtp = self.connect()
            n = 0
            while not self.stop.is_set():
                name = f"c{self.index}-m{n}"
                n += 1
                smtp.sendmail("alice@example.com", ["bob@example.com"], message(name))
                # sendmail returned: the 250 arrived.
                with self.lock:
                    self.acked.append(name)
        except (OSError, smtplib.SMTPException):
            return  # the server was killed mid-session


def read_recent(served: Served) -> dict[str, bytes]:
    ctx = ssl.create_default_context(cafile=str(served.cafile))
    pop = poplib.POP3_SSL("127.0.0.1", served.port("pop3s"), context=ctx, timeout=20)
    try:
        pop.user("recent:bob@example.com")
        pop.pass_("bob-pw")
        count, _ = pop.stat()
        out = {}
        for n in range(1, count + 1):
            data = b"\r\n".join(pop.retr(n)[1]) + b"\r\n"
            subject = data.split(b"\r\n", 1)[0].removeprefix(b"Subject: ").decode()
            out[subject] = data
        return out
    finally:
        pop.quit()


def test_sigkill_while_submitting_loses_no_acknowledged_message(tmp_path: Path) -> None:
    data = make_data_dir(tmp_path / "data", USERS)
    acked: list[str] = []
    lock = threading.Lock()
    with serving(data) as served:
        clients = [Submitter(served, i, acked, lock) for i in range(CLIENTS)]
        for c in clients:
            c.start()
        enough = threading.Event()

        def watch() -> None:
            while not enough.is_set():
                with lock:
                    if len(acked) >= KILL_AFTER:
                        enough.set()
                        return
                if not any(c.is_alive() for c in clients):
                    return
                enough.wait(0.005)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        watcher.join(timeout=60)
        assert enough.is_set(), f"only {len(acked)} messages acknowledged"
        served.proc.send_signal(signal.SIGKILL)
        served.proc.communicate(timeout=15)
        assert served.proc.returncode == -signal.SIGKILL
        for c in clients:
            c.stop.set()
            c.join(timeout=30)
            assert not c.is_alive()
    with lock:
        acknowledged = list(acked)
    # Both paths got 250s: MX delivery (even clients) and submission (odd).
    assert {int(name[1:].split("-")[0]) % 2 for name in acknowledged} == {0, 1}
    with serving(data) as again:
        present = read_recent(again)
        code, _, err = again.stop()
        assert code == 0, err
    missing = [name for name in acknowledged if name not in present]
    assert missing == []
    for name, data_read in present.items():
        assert data_read == message(name), f"{name} is not intact"
    assert len(present) >= len(acknowledged) >= KILL_AFTER
