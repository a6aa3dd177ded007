"""Helpers of the IMAP client interop tests: a session with a private
Dovecot in each TLS mode, and the three ways of logging in."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from protokit.net import IMAPClient, TLSMode, client_ssl_context, open_imap
from tests.interop.oauth import make_jwt
from tests.interop.peers import Dovecot

__all__ = ["login", "session"]


def session(
    d: Dovecot, mode: TLSMode, *, idle_renew: float | None = None
) -> AbstractAsyncContextManager[IMAPClient]:
    """Our client connected to ``d`` in ``mode`` (Dovecot's certificate trusted)."""
    port = d.imaps if mode is TLSMode.IMPLICIT else d.imap
    extra = {} if idle_renew is None else {"idle_renew": idle_renew}
    return open_imap(
        "127.0.0.1",
        port,
        tls=mode,
        ssl_context=client_ssl_context(cafile=str(d.cert)),
        server_hostname="localhost",
        allow_plaintext_auth=mode is TLSMode.PLAIN,
        **extra,  # type: ignore[arg-type]
    )


async def login(
    c: IMAPClient, how: str, key: bytes | None, user: str = "alice", password: str = "alicepw"
) -> None:
    """LOGIN, AUTHENTICATE PLAIN, or AUTHENTICATE XOAUTH2 with a JWT signed by ``key``."""
    if how == "LOGIN":
        await c.login(user, password)
    elif how == "PLAIN":
        assert await c.auth(user, password=password, mechanisms=["PLAIN"]) == "PLAIN"
    else:
        assert key is not None
        token = make_jwt(key, user)
        assert await c.auth(user, token=lambda: token, mechanisms=["XOAUTH2"]) == "XOAUTH2"
