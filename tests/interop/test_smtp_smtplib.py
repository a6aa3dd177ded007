"""Python's smtplib against serve_smtp on the in-memory backend (smtplib runs
in a worker thread, our server in the test's event loop): plain, STARTTLS,
SMTP_SSL, login, send_message with Bcc, SMTPUTF8, BDAT-free DATA with
dot-stuffing, refused recipients, and LMTP via smtplib.LMTP."""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from email.message import EmailMessage
from typing import TypeVar

import anyio
import pytest

from protokit.smtp import ServerConfig
from tests.interop.smtp_peers import make_backend, our_smtp_server

CONFIG = ServerConfig(hostname="mx.test", auth_mechanisms=("PLAIN", "LOGIN", "CRAM-MD5"))
T = TypeVar("T")


async def in_thread(fn: Callable[[], T]) -> T:
    with anyio.fail_after(30):
        return await anyio.to_thread.run_sync(fn)


def message() -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "alice@client.example"
    msg["To"] = "bob@mx.test"
    msg["Bcc"] = "hidden@mx.test"
    msg["Subject"] = "smtplib"
    msg.set_content(".first line\nsecond\n")
    return msg


async def test_plain_session_every_command() -> None:
    backend = make_backend(local_recipients=["bob@mx.test"])
    async with our_smtp_server(backend, CONFIG) as srv:

        def session() -> tuple[object, ...]:
            with smtplib.SMTP("127.0.0.1", srv.plain, "client.example", timeout=10) as s:
                ehlo = s.ehlo()
                auth_before_tls = s.has_extn("auth")
                noop = s.noop()
                vrfy = s.verify("bob")
                refused = s.sendmail(
                    "alice@client.example",
                    ["bob@mx.test", "nobody@mx.test"],
                    b"Subject: raw\r\n\r\n.dot\r\n",
                )
                rset = s.rset()
                return ehlo[0], auth_before_tls, noop, vrfy, refused, rset

        ehlo, auth_before_tls, noop, vrfy, refused, rset = await in_thread(session)
    assert ehlo == 250
    assert auth_before_tls  # CRAM-MD5 is offered in plaintext; PLAIN/LOGIN are not
    assert noop == (250, b"2.0.0 OK")
    assert vrfy[0] == 252
    assert refused == {"nobody@mx.test": (550, b"5.1.1 No such user here")}
    assert rset == (250, b"2.0.0 Reset state")
    [m] = backend.messages
    assert (m.recipients, m.data) == (("bob@mx.test",), b"Subject: raw\r\n\r\n.dot\r\n")


async def test_starttls_login_send_message() -> None:
    backend = make_backend()
    async with our_smtp_server(backend, CONFIG) as srv:

        def session() -> dict[str, tuple[int, bytes]]:
            with smtplib.SMTP("127.0.0.1", srv.plain, timeout=10) as s:
                s.starttls(context=srv.client_context())
                s.login("alice", "alicepw")
                return s.send_message(message())

        assert await in_thread(session) == {}
    [m] = backend.messages
    assert (m.sender, m.recipients, m.user, m.tls) == (
        "alice@client.example",
        ("bob@mx.test", "hidden@mx.test"),
        "alice",
        True,
    )
    assert b"hidden" not in m.data
    assert m.data.endswith(b"\r\n\r\n.first line\r\nsecond\r\n")


async def test_smtp_ssl_login_and_bad_password() -> None:
    backend = make_backend()
    async with our_smtp_server(backend, CONFIG) as srv:

        def session() -> tuple[object, ...]:
            with smtplib.SMTP_SSL(
                "127.0.0.1", srv.implicit, timeout=10, context=srv.client_context()
            ) as s:
                try:
                    s.login("alice", "wrong")
                except smtplib.SMTPAuthenticationError as exc:
                    bad = (exc.smtp_code, exc.smtp_error)
                s.login("bob", "bobpw")
                s.sendmail("bob@client.example", ["alice@mx.test"], b"Subject: ssl\r\n\r\nx\r\n")
                return (bad,)

        (bad,) = await in_thread(session)
    assert bad == (535, b"5.7.8 Authentication credentials invalid")
    [m] = backend.messages
    assert (m.user, m.tls, m.data) == ("bob", True, b"Subject: ssl\r\n\r\nx\r\n")


async def test_smtputf8_sendmail() -> None:
    backend = make_backend()
    async with our_smtp_server(backend, CONFIG) as srv:

        def session() -> dict[str, tuple[int, bytes]]:
            with smtplib.SMTP("127.0.0.1", srv.plain, timeout=10) as s:
                return s.sendmail(
                    "jörg@client.example",
                    ["zoë@mx.test"],
                    "Subject: ü\r\n\r\nü\r\n".encode(),
                    mail_options=["SMTPUTF8", "BODY=8BITMIME"],
                )

        assert await in_thread(session) == {}
    [m] = backend.messages
    assert (m.sender, m.recipients) == ("jörg@client.example", ("zoë@mx.test",))
    assert m.mail_params.smtputf8


async def test_lmtp_with_smtplib() -> None:
    backend = make_backend()
    backend.full_mailboxes.add("full@mx.test")
    async with our_smtp_server(backend, ServerConfig(hostname="lmtp.test", lmtp=True)) as srv:

        def session() -> dict[str, tuple[int, bytes]]:
            s = smtplib.LMTP("127.0.0.1", srv.plain, timeout=10)
            try:
                return s.sendmail(
                    "a@client.example",
                    ["bob@mx.test", "full@mx.test"],
                    b"Subject: lmtp\r\n\r\nx\r\n",
                )
            finally:
                s.quit()

        # smtplib's sendmail reads one reply after DATA (it does not know
        # LMTP's one-per-recipient): the first recipient's.
        assert await in_thread(session) == {}
    [m] = backend.messages
    assert m.recipients == ("bob@mx.test",)


async def test_lmtp_rejects_ehlo_from_smtplib() -> None:
    async with our_smtp_server(make_backend(), ServerConfig(lmtp=True)) as srv:

        def session() -> object:
            with smtplib.SMTP("127.0.0.1", srv.plain, timeout=10) as s:
                return s.ehlo()

        code, _ = await in_thread(session)  # type: ignore[misc]
    assert code == 500


@pytest.mark.parametrize("mechanism", ["CRAM-MD5", "LOGIN", "PLAIN"])
async def test_smtplib_each_mechanism_under_tls(mechanism: str) -> None:
    backend = make_backend()
    async with our_smtp_server(backend, CONFIG) as srv:

        def session() -> tuple[int, bytes]:
            with smtplib.SMTP("127.0.0.1", srv.plain, timeout=10) as s:
                s.starttls(context=srv.client_context())
                s.ehlo()
                s.user, s.password = "alice", "alicepw"
                auth = getattr(s, "auth_" + mechanism.lower().replace("-", "_"))
                return s.auth(mechanism, auth, initial_response_ok=mechanism != "LOGIN")

        assert await in_thread(session) == (235, b"2.7.0 Authentication successful")
