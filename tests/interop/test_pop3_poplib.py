"""Python's poplib against our POP3 server (its blocking calls run in a
worker thread while the server runs in the test's event loop): plain, STLS
and POP3_SSL; USER/PASS and APOP; LIST, UIDL, RETR, TOP, DELE, RSET, QUIT."""

from __future__ import annotations

import poplib
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import anyio
import pytest

from protokit.net import InMemoryPOP3Backend
from protokit.pop3 import ServerConfig
from tests.interop.pop3_peers import OurServer, our_pop3_server

T = TypeVar("T")

MSG1 = b"Subject: one\r\n\r\nfirst line\r\n.starts with a dot\r\nlast\r\n"
MSG2 = b"Subject: two\r\n\r\nbody\r\n"


def make_backend() -> InMemoryPOP3Backend:
    b = InMemoryPOP3Backend()
    b.add_user("alice", "alicepw")
    b.deliver("alice", MSG1, uid="uid-1")
    b.deliver("alice", MSG2, uid="uid-2")
    return b


async def in_thread(fn: Callable[[], T]) -> T:
    with anyio.fail_after(30):
        return await anyio.to_thread.run_sync(fn)


def connect(srv: OurServer, mode: str) -> poplib.POP3:
    ctx = srv.client_context()
    if mode == "ssl":
        return poplib.POP3_SSL("127.0.0.1", srv.implicit, context=ctx, timeout=10)
    p = poplib.POP3("127.0.0.1", srv.plain, timeout=10)
    if mode == "stls":
        assert p.stls(context=ctx).startswith(b"+OK")
    return p


def session(srv: OurServer, mode: str, login: str) -> list[object]:
    p = connect(srv, mode)
    seen: list[object] = [p.getwelcome().split(b" <")[0]]
    if login == "apop":
        seen.append(p.apop("alice", "alicepw"))
    else:
        seen.append(p.user("alice"))
        seen.append(p.pass_("alicepw"))
    seen.append(p.stat())
    seen.append(p.list())
    seen.append(p.uidl(2))
    seen.append(p.retr(1))
    seen.append(p.top(1, 1))
    seen.append(p.dele(1))
    seen.append(p.rset())
    seen.append(p.dele(2))
    seen.append(p.quit())
    return seen


@pytest.mark.parametrize(
    ("mode", "login"), [("plain", "user"), ("stls", "user"), ("ssl", "apop"), ("plain", "apop")]
)
async def test_poplib_session(tmp_path: Path, mode: str, login: str) -> None:
    backend = make_backend()
    config = ServerConfig(allow_plaintext_auth=mode == "plain", apop=True)
    async with our_pop3_server(tmp_path, backend, config) as srv:
        seen = await in_thread(lambda: session(srv, mode, login))
    logged_in = b"+OK alice's maildrop has 2 messages (76 octets)"
    assert seen == [
        b"+OK POP3 server ready",
        *([logged_in] if login == "apop" else [b"+OK send PASS", logged_in]),
        (2, 76),
        (b"+OK 2 messages (76 octets)", [b"1 54", b"2 22"], 12),
        b"+OK 2 uid-2",
        (
            b"+OK 54 octets",
            [b"Subject: one", b"", b"first line", b".starts with a dot", b"last"],
            54,
        ),
        (b"+OK", [b"Subject: one", b"", b"first line"], 28),
        b"+OK message 1 deleted",
        b"+OK maildrop has 2 messages (76 octets)",
        b"+OK message 2 deleted",
        b"+OK localhost POP3 server signing off (1 message left)",
    ]
    assert backend.messages("alice") == [MSG1]


async def test_poplib_wrong_password_and_plaintext_refusal(tmp_path: Path) -> None:
    async with our_pop3_server(tmp_path, make_backend(), ServerConfig(apop=True)) as srv:

        def run() -> list[str]:
            errors = []
            p = poplib.POP3("127.0.0.1", srv.plain, timeout=10)
            calls: list[Callable[[], bytes]] = [
                lambda: p.user("alice"),
                lambda: p.apop("alice", "wrong"),
            ]
            for call in calls:
                try:
                    call()
                except poplib.error_proto as exc:
                    errors.append(str(exc))
            p.quit()
            p = poplib.POP3_SSL(
                "127.0.0.1", srv.implicit, context=srv.client_context(), timeout=10
            )
            p.user("alice")
            try:
                p.pass_("wrong")
            except poplib.error_proto as exc:
                errors.append(str(exc))
            p.quit()
            return errors

        assert await in_thread(run) == [
            "b'-ERR USER/PASS needs TLS: use STLS first'",
            "b'-ERR [AUTH] authentication failed'",
            "b'-ERR [AUTH] authentication failed'",
        ]
