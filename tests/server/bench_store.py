"""Benchmark of the store (not collected by pytest): durable deliveries per
second, write and read MB/s, FETCH items/s; the peer is the stdlib's
``mailbox.Maildir`` in the same run, with and without fsync.

    .venv/bin/python -m tests.server.bench_store [--count N]
"""

from __future__ import annotations

import argparse
import mailbox
import os
import tempfile
import time
from pathlib import Path

from protokit.server import Store


def small(i: int) -> bytes:
    return b"Subject: m%d\r\nMessage-ID: <%d@bench>\r\n\r\n" % (i, i) + b"x" * 4000 + b"\r\n"


def bench_store(d: Path, count: int, big: int) -> dict[str, float]:
    out = {}
    with Store(d / "s.sqlite3", password_iterations=1000, scram_iterations=16) as store:
        account = store.add_account("a@example.com", "pw")
        t = time.perf_counter()
        for i in range(count):
            w = store.new_message()
            w.write(small(i))
            store.deliver("a@example.com", w)
        out["deliver 4 KiB msg/s"] = count / (time.perf_counter() - t)
        payload = bytes(range(256)) * 4096  # 1 MiB
        t = time.perf_counter()
        for i in range(big):
            w = store.new_message()
            w.write(b"Subject: big %d\r\n\r\n" % i)
            for _ in range(8):
                w.write(payload)
            store.deliver("a@example.com", w)
        out["deliver 8 MiB MB/s"] = big * 8 * 1.048576 / (time.perf_counter() - t)
        inbox = store.mailbox(account.id, "INBOX").id
        t = time.perf_counter()
        infos = store.fetch(inbox)
        out["fetch items/s"] = len(infos) / (time.perf_counter() - t)
        t = time.perf_counter()
        total = 0
        for info in infos:
            for chunk in store.read_message(account.id, info.gm_msgid):
                total += len(chunk)
        out["read MB/s"] = total / 1e6 / (time.perf_counter() - t)
    return out


def bench_async(d: Path, count: int, clients: int, backend: str) -> float:
    """Durable deliveries per second through AsyncStore.deliver (group commit)
    from ``clients`` tasks."""
    import anyio

    from protokit.server import AsyncStore

    path = d / f"async-{clients}-{backend}.sqlite3"
    store = Store(path, password_iterations=1000, scram_iterations=16)
    store.add_account("a@example.com", "pw")
    astore = AsyncStore(store)

    async def client(n: int) -> None:
        for i in range(n):
            w = store.new_message()
            w.write(small(i))
            await astore.deliver("a@example.com", w)

    async def run() -> float:
        t = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(clients):
                tg.start_soon(client, count // clients)
        return (count // clients) * clients / (time.perf_counter() - t)

    try:
        return anyio.run(run, backend=backend)
    finally:
        store.close()


def bench_maildir(d: Path, count: int, fsync: bool) -> float:
    md = mailbox.Maildir(str(d / ("md-sync" if fsync else "md")), create=True)
    t = time.perf_counter()
    for i in range(count):
        key = md.add(small(i))
        if fsync:
            path = os.path.join(md._path, md._lookup(key))  # type: ignore[attr-defined]
            fd = os.open(path, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
            dfd = os.open(os.path.dirname(path), os.O_RDONLY)
            os.fsync(dfd)
            os.close(dfd)
    return count / (time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--big", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=os.getcwd()) as tmp:
        d = Path(tmp)
        ours = bench_store(d, args.count, args.big)
        peer_sync = bench_maildir(d, args.count, fsync=True)
        peer = bench_maildir(d, args.count, fsync=False)
        concurrent = {
            (n, b): bench_async(d, args.count // 2, n, b)
            for n in (1, 50)
            for b in ("asyncio", "trio")
        }
    for name, value in ours.items():
        print(f"store   {name:24} {value:12.1f}")
    print(f"maildir deliver+fsync msg/s    {peer_sync:12.1f}")
    print(f"maildir deliver (no fsync)     {peer:12.1f}")
    for (n, b), value in concurrent.items():
        print(f"async {b:7} {n:2} clients msg/s   {value:12.1f}")
    ratio = ours["deliver 4 KiB msg/s"] / peer_sync
    print(f"ratio store / maildir+fsync    {ratio:12.2f}")


if __name__ == "__main__":
    main()
