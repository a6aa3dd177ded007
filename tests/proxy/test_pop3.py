"""The POP3 side of the proxy against a real upstream: Dovecot with its
oauth2 passdb introspecting every token at the fake OAuth provider."""

from __future__ import annotations

import poplib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from protokit.net import TLSMode
from protokit.oauth import AccessToken
from protokit.pop3 import Capabilities
from protokit.proxy import AccountConfig
from protokit.proxy._pop3 import local_capabilities
from tests.interop.oauth_provider import Provider
from tests.interop.peers import Dovecot, dovecot
from tests.interop.pop3_peers import deliver_maildir

from .pop3_smtp_helpers import (
    LOCAL_PASSWORD,
    LOCAL_USER,
    ProviderTokens,
    account,
    fresh_user,
    running_proxy,
    token,
)

MESSAGES = [
    b"From: a@example.com\r\nSubject: one\r\n\r\nfirst body\r\n.leading dot\r\n",
    b"From: b@example.com\r\nSubject: two\r\n\r\nsecond\r\n\r\n..\r\nend\r\n",
]


#: The user the module's provider issues grants for (tests/proxy/conftest.py).
PROVIDER_USER = "alice"


@pytest.fixture(scope="module")
def upstream(provider: Provider) -> Iterator[Dovecot]:
    with dovecot(introspection_url=provider.dovecot_introspect_url) as d:
        yield d


def pop3_account(
    provider: Provider, d: Dovecot, user: str, *, tls: TLSMode = TLSMode.IMPLICIT, **kw: Any
) -> AccountConfig:
    port = d.pop3s if tls is TLSMode.IMPLICIT else d.pop3
    return account(
        "pop3", provider, upstream_port=port, upstream_tls=tls, cafile=d.cert,
        upstream_user=user, **kw,
    )  # fmt: skip


async def test_poplib_user_pass_retr_exact_bytes_and_quit_deletes(
    provider: Provider, upstream: Dovecot, tmp_path: Path
) -> None:
    user = fresh_user()
    files = deliver_maildir(upstream, user, MESSAGES)
    tokens = ProviderTokens(provider, provider.issue(user))
    async with running_proxy(pop3_account(provider, upstream, user), tokens, tmp_path) as port:

        def session() -> None:
            c = poplib.POP3("127.0.0.1", port, timeout=10)
            assert c.getwelcome() == b"+OK POP3 proxy ready"
            assert c.capa() == {
                "TOP": [],
                "USER": [],
                "SASL": ["PLAIN"],
                "RESP-CODES": [],
                "PIPELINING": [],
                "UIDL": [],
                "IMPLEMENTATION": ["protokit-proxy"],
                "AUTH-RESP-CODE": [],
            }
            c.user(LOCAL_USER)
            c.pass_(LOCAL_PASSWORD)
            assert c.stat() == (2, sum(len(m) for m in MESSAGES))
            for i, m in enumerate(MESSAGES, 1):
                _resp, lines, _octets = c.retr(i)
                assert b"\r\n".join(lines) + b"\r\n" == m
            c.dele(1)
            c.quit()

        await anyio.to_thread.run_sync(session)
    assert not files[0].exists()
    assert [p.read_bytes() for p in upstream.maildir(user).glob("*/*")] == [MESSAGES[1]]


def test_local_capa_is_rebuilt_from_the_upstreams_parsed_capa() -> None:
    upstream = Capabilities(
        capabilities=(
            ("TOP", ()),
            ("UIDL", ()),
            ("SASL", ("XOAUTH2", "OAUTHBEARER")),
            ("STLS", ()),
            ("PIPELINING", ()),
            ("LOGIN-DELAY", ("900",)),
            ("EXPIRE", ("NEVER",)),
            ("UTF8", ()),
            ("IMPLEMENTATION", ("Dovecot",)),
        )
    )
    caps, delay, expire = local_capabilities(upstream, starttls=False)
    assert caps == {
        "USER", "SASL", "RESP-CODES", "AUTH-RESP-CODE", "IMPLEMENTATION",
        "TOP", "UIDL", "PIPELINING", "LOGIN-DELAY", "EXPIRE",
    }  # fmt: skip
    assert (delay, expire) == (900, "NEVER")
    caps, delay, expire = local_capabilities(None, starttls=True)
    assert caps == {"USER", "SASL", "RESP-CODES", "AUTH-RESP-CODE", "IMPLEMENTATION", "STLS"}
    assert (delay, expire) == (None, None)


class StaleTokens(ProviderTokens):
    """Hands out a token the provider has since revoked (as a cache would)."""

    stale = ""

    async def access_token(self, grant: str) -> AccessToken:
        self.requests += 1
        return token(self.stale)


@pytest.mark.parametrize("mechanism", ["XOAUTH2", "OAUTHBEARER"])
async def test_dovecot_refusing_a_dead_token_gives_err_auth_after_the_error_challenge(
    provider: Provider, upstream: Dovecot, tmp_path: Path, mechanism: str
) -> None:
    user = fresh_user()
    grant = provider.issue(user)
    tokens = StaleTokens(provider, grant)
    tokens.stale = provider.access_token(grant)
    provider.revoke(grant)
    acct = pop3_account(provider, upstream, user, mechanisms=(mechanism,))
    async with running_proxy(acct, tokens, tmp_path) as port:

        def session() -> None:
            c = poplib.POP3("127.0.0.1", port, timeout=10)
            c.user(LOCAL_USER)
            with pytest.raises(poplib.error_proto) as err:
                c.pass_(LOCAL_PASSWORD)
            # Dovecot's own text: it answers only once the proxy has answered
            # its error challenge (empty line for XOAUTH2, AQ== for OAUTHBEARER).
            assert err.value.args[0] == (
                b"-ERR [AUTH] the upstream server refused the access token: Authentication failed."
            )
            c.quit()

        await anyio.to_thread.run_sync(session)
