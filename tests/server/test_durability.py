"""Durability: a process writing messages is SIGKILLed mid-stream; after
reopening, every message whose commit returned is intact, and no
half-written message exists (DESIGN.md: "a crash loses nothing that was
acknowledged and keeps nothing half-written")."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from protokit.server import Store

_WRITER = textwrap.dedent(
    """
    import sys, time
    from protokit.server import Store

    def body(i):
        head = b"Subject: m%d\\r\\nX-Seq: %d\\r\\n\\r\\n" % (i, i)
        return head + bytes([i % 251]) * (50_000 + 37_000 * (i % 7))

    store = Store(sys.argv[1], password_iterations=1000, scram_iterations=64)
    phase = sys.argv[2]
    if phase == "group":
        # 20 concurrent clients through AsyncStore's group commit
        import anyio
        from protokit.server import AsyncStore

        astore = AsyncStore(store)

        async def client(k):
            for i in range(k, 10_000, 20):
                w = store.new_message()
                w.write(body(i))
                d = await astore.deliver(["a@example.com", "b@example.com"], w)
                print("ok", i, d["a@example.com"].gm_msgid, flush=True)

        async def main():
            async with anyio.create_task_group() as tg:
                for k in range(20):
                    tg.start_soon(client, k)

        anyio.run(main)
        sys.exit(0)
    for i in range(10_000):
        data = body(i)
        w = store.new_message()
        print("writing", i, flush=True)
        for k in range(0, len(data), 8192):
            w.write(data[k : k + 8192])
            if phase == "write":
                time.sleep(0.0005)
        print("commit", i, flush=True)
        d = store.deliver(["a@example.com", "b@example.com"], w)
        print("ok", i, d["a@example.com"].gm_msgid, flush=True)
    """
)


def expected(i: int) -> bytes:
    head = b"Subject: m%d\r\nX-Seq: %d\r\n\r\n" % (i, i)
    return head + bytes([i % 251]) * (50_000 + 37_000 * (i % 7))


@pytest.mark.parametrize(
    ("phase", "kill_after"), [("write", 4), ("commit", 6), ("commit", 9), ("group", 45)]
)
def test_sigkill_keeps_every_acknowledged_message(
    tmp_path: Path, phase: str, kill_after: int
) -> None:
    path = tmp_path / "store.sqlite3"
    with Store(path, password_iterations=1000, scram_iterations=64) as s:
        s.add_account("a@example.com", "pw")
        s.add_account("b@example.com", "pw")
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path), phase],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert proc.stdout is not None
    acked: dict[int, int] = {}
    try:
        for raw in proc.stdout:
            words = raw.split()
            if words[0] == b"ok":
                acked[int(words[1])] = int(words[2])
            # kill inside the write loop, or just as the transaction starts
            if len(acked) >= kill_after and (
                phase == "group" or words[0] == (b"writing" if phase == "write" else b"commit")
            ):
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert len(acked) >= kill_after

    with Store(path) as store:
        db = store._db.db
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        a = store.require_account("a@example.com")
        b = store.require_account("b@example.com")
        for i, gm_msgid in acked.items():
            assert b"".join(store.read_message(a.id, gm_msgid)) == expected(i)
        rows = db.execute(
            "SELECT g.id, g.account_id, g.size, b.sha256, b.size FROM messages g"
            " JOIN bodies b ON b.id = g.body_id ORDER BY g.id"
        ).fetchall()
        seqs = set()
        for gm_msgid, account_id, size, digest, body_size in rows:
            data = b"".join(store.read_message(account_id, gm_msgid))
            assert len(data) == size == body_size
            assert hashlib.sha256(data).digest() == digest
            seq = int(data.split(b"X-Seq: ")[1].split(b"\r\n")[0])
            assert data == expected(seq)
            seqs.add(seq)
        # both recipients got each committed message, in one transaction
        assert len(rows) == 2 * len(seqs)
        # at most the one in flight (a batch, with group commit) committed
        # without its "ok" reaching us
        assert set(acked) <= seqs
        assert len(seqs - set(acked)) <= (20 if phase == "group" else 1)
        assert store.mailbox(a.id, "INBOX").uidnext == len(seqs) + 1
        assert store.mailbox(b.id, "INBOX").uidnext == len(seqs) + 1
        # and the store keeps working
        w = store.new_message()
        w.write(b"after")
        assert store.deliver("a@example.com", w)["a@example.com"].uid == len(seqs) + 1
