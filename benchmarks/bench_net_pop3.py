"""POP3 over loopback, end to end: protokit's async client and server against
poplib and Dovecot, in the same run.

(a) client: fetch every message of a maildrop (10 KB each) from a private
    Dovecot, protokit's ``POP3Client.retr_many`` (pipelined: Dovecot offers
    PIPELINING) against ``poplib.POP3.retr`` one by one.
(b) server: poplib fetching the same maildrop from protokit's ``serve_pop3``
    (in-memory backend, in its own process as Dovecot is) against from Dovecot.

Each pass is one session: connect, USER/PASS, RETR all, close without QUIT
(nothing is deleted).  Without Dovecot (not installed), (a) runs against
``serve_pop3`` and (b) is skipped.  Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.process
import poplib
from collections.abc import Sequence
from contextlib import ExitStack
from multiprocessing.connection import Connection

import anyio

from protokit.net import InMemoryPOP3Backend, Listener, TLSMode, open_pop3, serve_pop3
from protokit.pop3 import ServerConfig

from ._corpus import rng, text_body
from ._harness import Case, parse_args, run_cases

SIZE = 10 * 1024


def ours(port: int, count: int) -> int:
    async def fetch() -> int:
        total = 0
        async with open_pop3("127.0.0.1", port, tls=TLSMode.PLAIN, allow_plaintext_auth=True) as c:
            await c.login("alice", "alicepw")
            async for _, data in c.retr_many(range(1, count + 1)):
                total += len(data)
        return total

    return anyio.run(fetch)


def theirs(port: int, count: int) -> int:
    p = poplib.POP3("127.0.0.1", port, timeout=30)
    try:
        p.user("alice")
        p.pass_("alicepw")
        total = 0
        for i in range(1, count + 1):
            _, lines, _ = p.retr(i)
            total += sum(map(len, lines)) + 2 * len(lines)
        return total
    finally:
        p.close()


def _serve_process(conn: Connection, messages: list[bytes]) -> None:
    backend = InMemoryPOP3Backend()
    backend.add_user("alice", "alicepw")
    for m in messages:
        backend.deliver("alice", m)

    async def serve() -> None:
        config = ServerConfig(allow_plaintext_auth=True)
        async with anyio.create_task_group() as tg:
            info = await tg.start(
                lambda task_status: serve_pop3(
                    backend, [Listener(name="pop3")], config=config, task_status=task_status
                )
            )
            conn.send(info.port("pop3"))

    anyio.run(serve)


def _stop(proc: multiprocessing.process.BaseProcess) -> None:
    proc.terminate()
    proc.join(10)
    if proc.is_alive():
        proc.kill()
        proc.join(10)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(list(argv) if argv is not None else None, __doc__ or "")
    count = 20 if args.quick else 1_000
    rounds = args.rounds or (1 if args.quick else 5)
    r = rng(args.seed)
    # Headers first: Dovecot 2.3.19 does not dot-stuff a message's very first
    # line, so a body starting with "." would differ (poplib hides it).
    messages = [b"Subject: %d\r\n\r\n" % i + text_body(r, SIZE) for i in range(count)]
    expected = sum(map(len, messages))

    with ExitStack() as stack:
        dovecot_port = None
        try:
            from tests.interop.peers import dovecot
            from tests.interop.pop3_peers import deliver_maildir

            d = stack.enter_context(dovecot())
            deliver_maildir(d, "alice", messages)
            dovecot_port = d.pop3
        except BaseException as exc:  # pytest's Skipped is a BaseException
            if isinstance(exc, KeyboardInterrupt):
                raise
            print(f"(Dovecot unavailable: {exc}; client case against serve_pop3)")

        # Our server in its own process, as Dovecot is: in a thread it would
        # share the GIL with the client measuring it.
        parent, child = multiprocessing.Pipe()
        proc = multiprocessing.get_context("fork").Process(
            target=_serve_process, args=(child, messages), daemon=True
        )
        proc.start()
        stack.callback(_stop, proc)
        if not parent.poll(30):
            raise RuntimeError("serve_pop3 did not start")
        our_port = int(parent.recv())

        client_port = dovecot_port or our_port
        assert ours(client_port, count) == theirs(client_port, count) == expected
        peer = "Dovecot" if dovecot_port else "serve_pop3"
        cases = [
            Case(
                f"(a) client: RETR x {count} x 10 KB from {peer}",
                lambda: ours(client_port, count),
                lambda: theirs(client_port, count),
                nbytes=expected,
                items=count,
                subject_label="protokit POP3Client",
                baseline_label="poplib.POP3",
            )
        ]
        if dovecot_port:
            assert theirs(our_port, count) == expected
            cases.append(
                Case(
                    f"(b) server: poplib RETR x {count} x 10 KB",
                    lambda: theirs(our_port, count),
                    lambda: theirs(dovecot_port, count),
                    nbytes=expected,
                    items=count,
                    subject_label="protokit serve_pop3",
                    baseline_label="Dovecot pop3",
                )
            )
        run_cases("POP3 over loopback", cases, rounds=rounds)
