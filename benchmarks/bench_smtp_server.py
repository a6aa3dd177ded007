"""Our serve_smtp (in-memory backend) against aiosmtpd (a handler that
stores each message in memory), each in its own subprocess on 127.0.0.1 so
that its CPU time is read exactly (/proc/<pid>/stat before and after), driven
by the same client: a tight raw-socket pipelining client in this process
(non-blocking sockets, one selector) that sends N messages of 10 KB.

Per message the client sends the previous message's body and "." together
with the next MAIL, RCPT and DATA (RFC 2920: DATA ends a group), so every
message costs one round trip.  Two loads: one connection, and 50 concurrent
connections sharing the same number of messages.  Reported: messages/s and
server CPU per message for both, and the ratios (targets: >= 2x messages/s,
<= 1/3 of aiosmtpd's CPU per message).  ``--quick``: 50 messages, 5
connections.  The servers run on asyncio (anyio's default backend).
"""

from __future__ import annotations

import os
import selectors
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._corpus import rng, text_body
from ._harness import parse_args

ROOT = Path(__file__).resolve().parent.parent
MESSAGE_SIZE = 10 * 1024
#: The servers keep at most this many messages (the oldest are dropped), so
#: that memory stays bounded however many rounds run.
KEEP = 1000
START_TIMEOUT = 20.0
RUN_TIMEOUT = 120.0

# -- the servers (each in its own process) ------------------------------------------


def _serve_protokit() -> None:
    import collections

    import anyio

    from protokit.net import Listener
    from protokit.net._smtp_backend import InMemorySMTPBackend
    from protokit.net._smtp_server import serve_smtp
    from protokit.smtp import ServerConfig

    backend = InMemorySMTPBackend()
    backend.messages = collections.deque(maxlen=KEEP)  # type: ignore[assignment]

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            info = await tg.start(
                lambda task_status: serve_smtp(
                    backend,
                    [Listener(name="bench")],
                    config=ServerConfig(hostname="bench.protokit"),
                    task_status=task_status,
                )
            )
            print(info.port("bench"), flush=True)

    anyio.run(main)


def _serve_aiosmtpd() -> None:
    import asyncio
    import collections
    import logging

    from aiosmtpd.smtp import SMTP

    logging.getLogger("mail.log").setLevel(logging.WARNING)

    class Handler:
        def __init__(self) -> None:
            self.messages: collections.deque[tuple[str, list[str], bytes]] = collections.deque(
                maxlen=KEEP
            )

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            self.messages.append(
                (envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
            )
            return "250 2.0.0 Message accepted"

    handler = Handler()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: SMTP(handler, hostname="bench.aiosmtpd", data_size_limit=None),
            "127.0.0.1",
            0,
        )
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


SERVERS = {"protokit": _serve_protokit, "aiosmtpd": _serve_aiosmtpd}


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rpartition(")")[2].split()
        # After "pid (comm)": state is field 3, utime 14 and stime 15 (1-based).
        utime, stime = int(fields[11]), int(fields[12])
        return (utime + stime) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def start_server(name: str) -> Server:
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bench_smtp_server", "--serve", name],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    ready = sel.select(START_TIMEOUT)
    sel.close()
    if not ready:
        proc.kill()
        proc.wait(timeout=10)
        raise SystemExit(f"{name} did not start within {START_TIMEOUT:g} s")
    line = proc.stdout.readline()
    try:
        port = int(line)
    except ValueError:
        proc.kill()
        proc.wait(timeout=10)
        raise SystemExit(f"{name} did not report its port: {line!r}") from None
    return Server(name, proc, port)


# -- the client ------------------------------------------------------------------------------


def build_message(seed: int) -> bytes:
    body = text_body(rng(seed), MESSAGE_SIZE - 60)
    head = b"From: bench@client.example\r\nTo: rcpt@server.example\r\nSubject: bench\r\n\r\n"
    data = (head + body)[:MESSAGE_SIZE]
    data = data[: data.rfind(b"\r\n") + 2]
    return data.replace(b"\r\n.", b"\r\n..")  # dot-stuffed once, sent as is


ENVELOPE = b"MAIL FROM:<bench@client.example>\r\nRCPT TO:<rcpt@server.example>\r\nDATA\r\n"


@dataclass
class _Conn:
    sock: socket.socket
    todo: int
    out: memoryview = field(default_factory=lambda: memoryview(b""))
    inbuf: bytearray = field(default_factory=bytearray)
    #: final reply lines still expected for what was sent
    expect: int = 1
    phase: str = "greeting"
    sent: int = 0
    done: bool = False


def _final_lines(buf: bytearray) -> tuple[int, int]:
    """(complete final reply lines in buf, bytes they span); raise on errors."""
    count = 0
    pos = 0
    while True:
        end = buf.find(b"\r\n", pos)
        if end < 0:
            return count, pos
        if end - pos >= 4 and buf[pos + 3] == 0x20:  # "250 " ends a reply
            if buf[pos] not in b"23":
                raise RuntimeError(f"server refused: {bytes(buf[pos:end])!r}")
            count += 1
        pos = end + 2


def drive(port: int, connections: int, messages: int, body: bytes) -> int:
    """Send ``messages`` over ``connections`` concurrent pipelining
    connections; returns the number of messages the server accepted."""
    sel = selectors.DefaultSelector()
    per = [messages // connections + (i < messages % connections) for i in range(connections)]
    conns = []
    for n in per:
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        c = _Conn(s, n)
        conns.append(c)
        sel.register(s, selectors.EVENT_READ, c)
    accepted = 0
    tail = body + b".\r\n"
    deadline = time.monotonic() + RUN_TIMEOUT
    pending = len(conns)
    try:
        while pending:
            if time.monotonic() > deadline:
                raise SystemExit("the benchmark client timed out")
            for key, mask in sel.select(5):
                c: _Conn = key.data
                if mask & selectors.EVENT_WRITE:
                    n = c.sock.send(c.out)
                    c.out = c.out[n:]
                    if not c.out:
                        sel.modify(c.sock, selectors.EVENT_READ, c)
                if not mask & selectors.EVENT_READ:
                    continue
                data = c.sock.recv(65536)
                if not data:
                    raise SystemExit("the server closed a connection")
                c.inbuf += data
                got, used = _final_lines(c.inbuf)
                if not got:
                    continue
                del c.inbuf[:used]
                c.expect -= got
                if c.expect > 0:
                    continue
                # Every reply to what was sent is in: send the next group.
                if c.phase == "greeting":
                    nxt, c.expect, c.phase = b"EHLO client.example\r\n", 1, "ehlo"
                elif c.phase == "ehlo":
                    nxt, c.expect, c.phase = ENVELOPE, 3, "data"
                elif c.phase == "data":
                    if c.sent:
                        accepted += 1
                    c.sent += 1
                    if c.sent < c.todo:
                        nxt, c.expect = tail + ENVELOPE, 4
                    else:
                        nxt, c.expect, c.phase = tail + b"QUIT\r\n", 2, "quit"
                else:
                    accepted += 1
                    c.done = True
                    pending -= 1
                    sel.unregister(c.sock)
                    continue
                n = c.sock.send(nxt)
                if n < len(nxt):
                    c.out = memoryview(nxt)[n:]
                    sel.modify(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
    finally:
        sel.close()
        for c in conns:
            c.sock.close()
    return accepted


# -- the measurement ---------------------------------------------------------------------------


@dataclass
class Sample:
    seconds: float
    cpu: float


def measure(server: Server, connections: int, messages: int, body: bytes) -> Sample:
    cpu0 = server.cpu_seconds()
    t0 = time.perf_counter()
    accepted = drive(server.port, connections, messages, body)
    elapsed = time.perf_counter() - t0
    # The server may still be closing the sessions: let its CPU settle.
    time.sleep(0.05)
    cpu = server.cpu_seconds() - cpu0
    if accepted != messages:
        raise SystemExit(f"{server.name} accepted {accepted} of {messages} messages")
    return Sample(elapsed, cpu)


def report(
    title: str, messages: int, ours: Sequence[Sample], theirs: Sequence[Sample]
) -> tuple[float, float]:
    def rate(samples: Sequence[Sample]) -> float:
        return messages / statistics.median(s.seconds for s in samples)

    def cpu_us(samples: Sequence[Sample]) -> float:
        return statistics.median(s.cpu for s in samples) / messages * 1e6

    r_ours, r_theirs = rate(ours), rate(theirs)
    c_ours, c_theirs = cpu_us(ours), cpu_us(theirs)
    speed = r_ours / r_theirs
    cpu_ratio = c_ours / c_theirs if c_theirs else float("nan")
    print(f"-- {title}")
    print(f"   {'protokit serve_smtp':<22} {r_ours:10,.0f} msg/s  {c_ours:8,.0f} us CPU/msg")
    print(f"   {'aiosmtpd':<22} {r_theirs:10,.0f} msg/s  {c_theirs:8,.0f} us CPU/msg")
    print(f"   ratio: protokit is {speed:.2f}x the speed of aiosmtpd (target >= 2x)")
    print(f"   ratio: protokit uses {cpu_ratio:.2f}x aiosmtpd's CPU per message (target <= 0.33)")
    return speed, cpu_ratio


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--serve"]:
        SERVERS[argv[1]]()
        return
    args = parse_args(argv, description=__doc__ or "")
    messages = 50 if args.quick else 2000
    wide = 5 if args.quick else 50
    body = build_message(args.seed)
    servers = {name: start_server(name) for name in SERVERS}
    try:
        for s in servers.values():  # warm up: imports, first connections
            measure(s, min(wide, 5), 10, body)
        loads = [("one pipelining connection", 1), (f"{wide} concurrent connections", wide)]
        samples: dict[tuple[str, str], list[Sample]] = {}
        for r in range(args.rounds):
            for title, conns in loads:
                order = list(servers.values())
                if r % 2:
                    order.reverse()
                for s in order:
                    samples.setdefault((title, s.name), []).append(
                        measure(s, conns, messages, body)
                    )
        print(
            f"== SMTP server: {messages:,} messages of {len(body):,} bytes over loopback "
            f"({args.rounds} round{'s' if args.rounds != 1 else ''}, medians; "
            "server CPU from /proc)"
        )
        for title, _ in loads:
            report(
                f"{title}, {messages:,} messages",
                messages,
                samples[(title, "protokit")],
                samples[(title, "aiosmtpd")],
            )
        print()
    finally:
        for s in servers.values():
            s.stop()


if __name__ == "__main__":
    main()
