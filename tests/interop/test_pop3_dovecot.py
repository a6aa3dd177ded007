"""Our POP3 client against a private Dovecot on loopback, on asyncio and
trio: plain, STLS and implicit TLS, each with USER/PASS, AUTH PLAIN and AUTH
XOAUTH2 (a JWT Dovecot validates itself); the XOAUTH2 failure path; DELE,
RSET and QUIT; a 20 MB message streamed in bounded memory."""

from __future__ import annotations

import hashlib
import tracemalloc

import pytest

from protokit.net import (
    POP3AuthenticationError,
    POP3Client,
    POP3Error,
    TLSMode,
    client_ssl_context,
    open_pop3,
)
from tests.interop.oauth import make_hs256_key, make_jwt
from tests.interop.peers import Dovecot, dovecot
from tests.interop.pop3_peers import deliver_maildir

MESSAGES = [
    b"From: a@example.test\nSubject: one\n\nfirst body\n.a line starting with a dot\n",
    b"From: b@example.test\nSubject: two\n\nsecond body\nline 2\nline 3\n",
    b"From: c@example.test\nSubject: three\n\nthird\n",
]
WIRE = [m.replace(b"\n", b"\r\n") for m in MESSAGES]


def session(d: Dovecot, mode: TLSMode):  # type: ignore[no-untyped-def]
    port = {TLSMode.PLAIN: d.pop3, TLSMode.STARTTLS: d.pop3, TLSMode.IMPLICIT: d.pop3s}[mode]
    return open_pop3(
        "127.0.0.1",
        port,
        tls=mode,
        ssl_context=client_ssl_context(cafile=str(d.cert)),
        server_hostname="localhost",
        allow_plaintext_auth=mode is TLSMode.PLAIN,
    )


async def login(c: POP3Client, how: str, key: bytes) -> None:
    if how == "USER":
        assert await c.login("alice", "alicepw") == "Logged in."
    elif how == "PLAIN":
        assert await c.auth("alice", password="alicepw", mechanisms=["PLAIN"]) == "PLAIN"
    else:
        token = make_jwt(key, "alice")
        assert await c.auth("alice", token=token, mechanisms=["XOAUTH2"]) == "XOAUTH2"


@pytest.mark.parametrize("mode", [TLSMode.PLAIN, TLSMode.STARTTLS, TLSMode.IMPLICIT])
async def test_read_delete_and_reset_with_each_login(mode: TLSMode) -> None:
    key = make_hs256_key()
    with dovecot(oauth_key=key) as d:
        deliver_maildir(d, "alice", MESSAGES)
        sizes = {i: len(w) for i, w in enumerate(WIRE, 1)}
        for how in ("USER", "PLAIN", "XOAUTH2"):
            async with session(d, mode) as c:
                assert c.tls_active is (mode is not TLSMode.PLAIN)
                caps = c.capabilities or await c.capa()
                assert "STLS" in caps if mode is TLSMode.PLAIN else "STLS" not in caps
                assert {"PLAIN", "XOAUTH2", "OAUTHBEARER"} <= set(caps.sasl_mechanisms)
                await login(c, how, key)
                stat = await c.stat()
                assert (stat.count, stat.size) == (3, sum(sizes.values()))
                assert await c.list() == sizes
                assert await c.list(2) == sizes[2]
                uids = await c.uidl()
                assert [u[:8] for u in uids.values()] == ["00000001", "00000002", "00000003"]
                assert await c.uidl(3) == uids[3]
                assert await c.retr_bytes(1) == WIRE[0]
                assert (
                    await c.top_bytes(2, 1)
                    == b"From: b@example.test\r\nSubject: two\r\n\r\nsecond body\r\n"
                )
                async with c.retr(3) as body:
                    assert b"".join([chunk async for chunk in body]) == WIRE[2]
                assert await c.dele(2) == "Marked to be deleted."
                with pytest.raises(POP3Error) as info:
                    await c.retr_bytes(2)
                assert str(info.value) == "RETR: -ERR Message is deleted."
                assert await c.rset() == ""
                assert await c.retr_bytes(2) == WIRE[1]
                await c.dele(2)
                # No QUIT: Dovecot forgets the DELE.
        async with session(d, mode) as c:
            await login(c, "USER", key)
            assert (await c.stat()).count == 3
            await c.dele(2)
            assert await c.quit() == "Logging out, messages deleted."
        async with session(d, mode) as c:
            await login(c, "PLAIN", key)
            assert await c.list() == {1: sizes[1], 2: sizes[3]}
            assert [item async for item in c.retr_many([1, 2])] == [(1, WIRE[0]), (2, WIRE[2])]


async def test_xoauth2_bad_and_expired_tokens_are_refused() -> None:
    key = make_hs256_key()
    with dovecot(oauth_key=key) as d:
        for token in (
            make_jwt(make_hs256_key(), "alice"),  # signed with another key
            make_jwt(key, "alice", ttl=-600),  # expired
            make_jwt(key, "bob"),  # someone else's
        ):
            async with session(d, TLSMode.IMPLICIT) as c:
                with pytest.raises(POP3AuthenticationError) as info:
                    await c.auth("alice", token=token, mechanisms=["XOAUTH2"])
                assert str(info.value) == "AUTH: -ERR [AUTH] Authentication failed."
                assert info.value.sasl_error == {
                    "status": "401",
                    "schemes": "bearer",
                    "scope": "mail",
                }
                # The session goes on: a good token works on the same connection.
                await c.auth("alice", token=make_jwt(key, "alice"), mechanisms=["OAUTHBEARER"])
                assert (await c.stat()).count == 0


async def test_twenty_megabytes_streamed_in_bounded_memory() -> None:
    line = b"0123456789" * 7 + b"abcdef\n"  # 77 octets, 78 on the wire
    count = 20 * 1024 * 1024 // len(line)
    message = b"Subject: big\n\n" + line * count + b".dot\n"
    wire_digest = hashlib.sha256(message.replace(b"\n", b"\r\n")).hexdigest()
    wire_size = len(message) + message.count(b"\n")
    with dovecot() as d:
        deliver_maildir(d, "alice", [message])
        del message
        # Plaintext: the TLS modes are covered above, and tracemalloc's cost
        # grows with every allocation the TLS layer makes.
        async with session(d, TLSMode.PLAIN) as c:
            await c.login("alice", "alicepw")
            assert await c.list(1) == wire_size
            digest = hashlib.sha256()
            largest = 0
            tracemalloc.start()
            try:
                async with c.retr(1) as body:
                    async for chunk in body:
                        digest.update(chunk)
                        largest = max(largest, len(chunk))
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            assert body.size == wire_size
            assert digest.hexdigest() == wire_digest
            assert largest <= 1024 * 1024
            assert peak < 4 * 1024 * 1024, f"peak {peak} bytes while streaming"
