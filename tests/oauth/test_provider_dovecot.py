"""The fake provider as Dovecot's introspection endpoint, in each of Dovecot's
``introspection_mode``s (auth, get, post) and as an authenticated RFC 7662
endpoint (client credentials in the URL's userinfo, sent as Basic): imaplib
logs in with XOAUTH2 for a live token and is refused once it is revoked."""

from __future__ import annotations

import imaplib

import pytest

from tests.interop.oauth_provider import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    Provider,
    oauth_provider,
)
from tests.interop.peers import dovecot


def xoauth2(user: str, token: str) -> bytes:
    return f"user={user}\x01auth=Bearer {token}\x01\x01".encode()


def url_for(provider: Provider, form: str) -> tuple[str, str]:
    if form == "rfc7662":
        creds = f"{DEFAULT_CLIENT_ID}:{DEFAULT_CLIENT_SECRET}@"
        return provider.introspect_url.replace("http://", f"http://{creds}"), "post"
    if form == "get":
        return provider.dovecot_introspect_url + "?token=", "get"
    return provider.dovecot_introspect_url, form


@pytest.mark.parametrize("form", ["auth", "get", "post", "rfc7662"])
def test_dovecot_introspects_at_the_fake_provider(form: str) -> None:
    with oauth_provider(user="alice") as provider:
        url, mode = url_for(provider, form)
        grant = provider.issue()
        token = next(iter(grant.access_tokens))
        with dovecot(introspection_url=url, introspection_mode=mode) as d:
            client = imaplib.IMAP4("127.0.0.1", d.imap, timeout=10)
            try:
                typ, _ = client.authenticate("XOAUTH2", lambda _: xoauth2("alice", token))
                assert typ == "OK"
            finally:
                client.logout()
            provider.revoke(grant)
            client = imaplib.IMAP4("127.0.0.1", d.imap, timeout=10)
            try:
                with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
                    client.authenticate("XOAUTH2", lambda _: xoauth2("alice", token))
            finally:
                client.shutdown()
        assert provider.introspections == 2
        if form == "rfc7662":
            assert [e.status for e in provider.entries() if e.path == "/introspect"] == [200, 200]
