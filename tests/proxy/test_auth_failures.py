"""Failed local logins at the proxy, byte for byte on IMAP, POP3 and SMTP:
``[limits] max_auth_failures`` closes a connection with the protocol's own
closing reply, ``auth_failure_delay`` holds each failure's reply back (that
connection only), ``max_concurrent_unlocks`` bounds the password checks
running at once over the whole proxy; and the three keys in proxy.toml.

The upstreams are real (Dovecot for IMAP and POP3, aiosmtpd for SMTP); the
token source is a test double of the proxy's own TokenSource seam.
"""

from __future__ import annotations

import base64
import ssl
import textwrap
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import anyio
import pytest
from anyio.streams.tls import TLSStream

from protokit.net import InMemorySMTPBackend, Listener, TLSMode, serve_smtp
from protokit.oauth import AccessToken
from protokit.proxy import ConfigError, ProxyLimits, _config, load_config
from protokit.proxy._config import AccountConfig
from protokit.smtp import ServerConfig as SmtpServerConfig
from protokit.wire import Secret
from tests.interop.oauth_provider import Provider
from tests.interop.peers import Dovecot, make_cert

from .conftest import (
    LOCAL_PASSWORD,
    LOCAL_USER,
    GrantTokens,
    Peer,
    fresh_user,
    imap_account,
    running_proxy,
)
from .pop3_smtp_helpers import ProviderTokens, SmtpUpstream, account, smtp_upstream
from .pop3_smtp_helpers import running_proxy as running_single

SMTP_GREETING = b"220 localhost ESMTP protokit proxy ready\r\n"
# aiosmtpd's keywords as the proxy relays them (no ENHANCEDSTATUSCODES: the
# proxy's own replies go without enhanced codes, RFC 2034)
SMTP_EHLO = (
    b"250-localhost Hello c\r\n250-SIZE 33554432\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
    b"250 AUTH PLAIN LOGIN\r\n"
)
IMAP_NO = b"NO [AUTHENTICATIONFAILED] Authentication failed\r\n"
IMAP_BYE = b"* BYE Too many failed logins\r\n"
POP3_ERR = b"-ERR [AUTH] authentication failed\r\n"
SMTP_535 = b"535 Authentication credentials invalid\r\n"
SMTP_421 = b"421 Too many failed authentications\r\n"


def plain(authcid: str, password: str, authzid: str = "") -> bytes:
    return base64.b64encode(f"{authzid}\0{authcid}\0{password}".encode())


async def connect(port: int) -> Peer:
    return Peer(await anyio.connect_tcp("127.0.0.1", port))


@pytest.fixture(scope="module")
def smtp_up(
    provider: Provider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SmtpUpstream]:
    """aiosmtpd (plaintext on loopback) for the module's SMTP tests."""
    with smtp_upstream(provider, tmp_path_factory.mktemp("up"), tls=TLSMode.PLAIN) as up:
        yield up


def pop3_account(provider: Provider, d: Dovecot, user: str) -> AccountConfig:
    return account(
        "pop3", provider, upstream_port=d.pop3s, upstream_tls=TLSMode.IMPLICIT, cafile=d.cert,
        upstream_user=user,
    )  # fmt: skip


def smtp_account(provider: Provider, up: SmtpUpstream) -> AccountConfig:
    return account("smtp", provider, upstream_port=up.port, upstream_tls=TLSMode.PLAIN)


# -- the limit ------------------------------------------------------------------------


async def test_imap_third_failure_gets_its_no_then_bye_and_the_close(
    provider: Provider, upstream: Dovecot, tmp_path: Path
) -> None:
    tokens = GrantTokens(provider, {"work": provider.issue(fresh_user())})
    acct = imap_account(provider, upstream, fresh_user())
    async with (
        running_proxy(acct, tokens, tmp_path) as info,
        await connect(info.port("work")) as c,
    ):
        assert (await c.line()).endswith(b"] protokit proxy ready\r\n")
        # 1: a wrong password
        await c.send(b"a1 LOGIN me wrong\r\n")
        assert await c.line() == b"a1 " + IMAP_NO
        # a cancelled exchange is not a failure (RFC 9051 6.2.2: BAD), however often
        for tag in (b"c1", b"c2", b"c3"):
            await c.send(tag + b" AUTHENTICATE PLAIN\r\n")
            assert await c.line() == b"+ \r\n"
            await c.send(b"*\r\n")
            assert await c.line() == tag + b" BAD Authentication cancelled\r\n"
        # 2: an unknown user with the right password
        await c.send(b"a2 LOGIN nobody " + LOCAL_PASSWORD.encode() + b"\r\n")
        assert await c.line() == b"a2 " + IMAP_NO
        # 3: SASL PLAIN asking for another identity: refused, the last one allowed
        await c.send(
            b"a3 AUTHENTICATE PLAIN " + plain(LOCAL_USER, LOCAL_PASSWORD, "boss") + b"\r\n"
        )
        assert await c.line() == b"a3 " + IMAP_NO
        assert await c.line() == IMAP_BYE
        assert await c.closed()
    assert tokens.calls == 0  # nothing went upstream


async def test_imap_sasl_wrong_password_is_counted_and_limit_is_configurable(
    provider: Provider, upstream: Dovecot, tmp_path: Path
) -> None:
    tokens = GrantTokens(provider, {"work": provider.issue(fresh_user())})
    acct = imap_account(provider, upstream, fresh_user())
    async with (
        running_proxy(acct, tokens, tmp_path, max_auth_failures=1) as info,
        await connect(info.port("work")) as c,
    ):
        await c.line()
        # a continuation-answered exchange, pipelined commands behind it never run
        await c.send(b"a1 AUTHENTICATE PLAIN\r\n")
        assert await c.line() == b"+ \r\n"
        await c.send(plain(LOCAL_USER, "wrong") + b"\r\na2 LOGIN me " + b"local-pw\r\n")
        assert await c.line() == b"a1 " + IMAP_NO
        assert await c.line() == IMAP_BYE
        assert await c.closed()
    assert tokens.calls == 0


def client_context(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


async def test_imap_refusals_because_tls_is_required_are_not_counted(
    provider: Provider, upstream: Dovecot, tmp_path: Path
) -> None:
    cert, key = make_cert(tmp_path)
    tokens = GrantTokens(provider, {"work": provider.issue(fresh_user())})
    acct = imap_account(
        provider, upstream, fresh_user(), listen_tls=TLSMode.STARTTLS, cert_file=cert,
        key_file=key,
    )  # fmt: skip
    async with (
        running_proxy(acct, tokens, tmp_path, max_auth_failures=1) as info,
        await connect(info.port("work")) as c,
    ):
        await c.line()
        for tag in (b"a1", b"a2", b"a3"):
            await c.send(tag + b" LOGIN me wrong\r\n")
            assert (
                await c.line() == tag + b" NO [PRIVACYREQUIRED] LOGIN is disabled without TLS\r\n"
            )
        await c.send(b"s STARTTLS\r\n")
        assert await c.line() == b"s OK Begin TLS negotiation now\r\n"
        t = Peer(
            await TLSStream.wrap(c.stream, hostname="localhost", ssl_context=client_context(cert))
        )
        # under TLS the first failure is the last allowed (max_auth_failures = 1)
        await t.send(b"b1 LOGIN me wrong\r\n")
        assert await t.line() == b"b1 " + IMAP_NO
        assert await t.line() == IMAP_BYE
        assert await t.closed()


async def test_pop3_third_failure_gets_its_err_then_the_close(
    provider: Provider, upstream: Dovecot, tmp_path: Path
) -> None:
    user = fresh_user("pop")
    tokens = ProviderTokens(provider, provider.issue(user))
    async with (
        running_single(pop3_account(provider, upstream, user), tokens, tmp_path) as port,
        await connect(port) as c,
    ):
        assert await c.line() == b"+OK POP3 proxy ready\r\n"
        # 1: USER/PASS, a wrong password
        await c.send(b"USER me\r\n")
        assert (await c.line()).startswith(b"+OK")
        await c.send(b"PASS wrong\r\n")
        assert await c.line() == POP3_ERR
        # a cancelled exchange is not a failure
        for _ in range(3):
            await c.send(b"AUTH PLAIN\r\n")
            assert await c.line() == b"+ \r\n"
            await c.send(b"*\r\n")
            assert await c.line() == b"-ERR authentication cancelled\r\n"
        # 2: an unknown user
        await c.send(b"USER nobody\r\n")
        assert (await c.line()).startswith(b"+OK")
        await c.send(b"PASS " + LOCAL_PASSWORD.encode() + b"\r\n")
        assert await c.line() == POP3_ERR
        # 3: SASL PLAIN with a wrong password: its -ERR is the last line
        await c.send(b"AUTH PLAIN " + plain(LOCAL_USER, "wrong") + b"\r\nCAPA\r\n")
        assert await c.line() == POP3_ERR
        assert await c.closed()
    assert tokens.requests == 0


async def test_smtp_third_failure_gets_its_535_then_421_and_the_close(
    provider: Provider, smtp_up: SmtpUpstream, tmp_path: Path
) -> None:
    tokens = ProviderTokens(provider, provider.issue("alice"))
    async with (
        running_single(smtp_account(provider, smtp_up), tokens, tmp_path) as port,
        await connect(port) as c,
    ):
        await c.send(b"EHLO c\r\n")
        assert await c.exactly(len(SMTP_GREETING + SMTP_EHLO)) == SMTP_GREETING + SMTP_EHLO
        # 1: a wrong password
        await c.send(b"AUTH PLAIN " + plain(LOCAL_USER, "wrong") + b"\r\n")
        assert await c.line() == SMTP_535
        # a cancelled exchange is not a failure
        for _ in range(3):
            await c.send(b"AUTH LOGIN\r\n")
            assert await c.line() == b"334 VXNlcm5hbWU6\r\n"
            await c.send(b"*\r\n")
            assert await c.line() == b"501 Authentication cancelled\r\n"
        # 2: an unknown user, through LOGIN's challenges
        await c.send(b"AUTH LOGIN\r\n")
        assert await c.line() == b"334 VXNlcm5hbWU6\r\n"
        await c.send(base64.b64encode(b"nobody") + b"\r\n")
        assert await c.line() == b"334 UGFzc3dvcmQ6\r\n"
        await c.send(base64.b64encode(LOCAL_PASSWORD.encode()) + b"\r\n")
        assert await c.line() == SMTP_535
        # 3: another identity asked for: the 535, then 421, then the close
        await c.send(b"AUTH PLAIN " + plain(LOCAL_USER, LOCAL_PASSWORD, "boss") + b"\r\nNOOP\r\n")
        assert await c.line() == SMTP_535
        assert await c.line() == SMTP_421
        assert await c.closed()
    assert tokens.requests == 0
    assert smtp_up.mechanisms == []


async def test_smtp_closing_reply_has_its_enhanced_code_when_the_ehlo_offers_them(
    provider: Provider, tmp_path: Path
) -> None:
    # protokit's own SMTP server as the upstream offers ENHANCEDSTATUSCODES
    # (aiosmtpd does not); no login reaches it here.
    upstream_config = SmtpServerConfig(
        hostname="upstream.test", auth_mechanisms=("XOAUTH2",), allow_plaintext_auth=True
    )
    tokens = ProviderTokens(provider, provider.issue("alice"))
    async with anyio.create_task_group() as tg:
        up = await tg.start(
            partial(
                serve_smtp,
                InMemorySMTPBackend(),
                [Listener(port=0, name="up")],
                config=upstream_config,
            )
        )
        acct = account("smtp", provider, upstream_port=up.port("up"), upstream_tls=TLSMode.PLAIN)
        async with (
            running_single(acct, tokens, tmp_path, max_auth_failures=2) as port,
            await connect(port) as c,
        ):
            await c.send(b"EHLO c\r\n")
            ehlo = [await c.line(), await c.line()]
            while not ehlo[-1].startswith(b"250 "):
                ehlo.append(await c.line())
            assert b"250-ENHANCEDSTATUSCODES\r\n" in ehlo
            await c.send(b"AUTH PLAIN " + plain(LOCAL_USER, "wrong") + b"\r\n")
            assert await c.line() == b"535 5.7.8 Authentication credentials invalid\r\n"
            await c.send(b"AUTH PLAIN " + plain("nobody", "wrong") + b"\r\n")
            assert await c.line() == b"535 5.7.8 Authentication credentials invalid\r\n"
            assert await c.line() == b"421 4.7.0 Too many failed authentications\r\n"
            assert await c.closed()
        tg.cancel_scope.cancel()
    assert tokens.requests == 0


# -- the delay --------------------------------------------------------------------------

DELAY = 0.3


async def test_imap_failures_are_answered_after_the_delay(
    provider: Provider, upstream: Dovecot, tmp_path: Path
) -> None:
    tokens = GrantTokens(provider, {"work": provider.issue(fresh_user())})
    acct = imap_account(provider, upstream, fresh_user())
    async with (
        running_proxy(acct, tokens, tmp_path, auth_failure_delay=DELAY) as info,
        await connect(info.port("work")) as c,
    ):
        await c.line()
        start = anyio.current_time()
        await c.send(b"a1 LOGIN me wrong\r\n")
        assert await c.line() == b"a1 " + IMAP_NO
        assert anyio.current_time() - start >= DELAY
        start = anyio.current_time()
        await c.send(b"a2 AUTHENTICATE PLAIN " + plain(LOCAL_USER, "wrong") + b"\r\n")
        assert await c.line() == b"a2 " + IMAP_NO
        assert anyio.current_time() - start >= DELAY
        # a cancel is not delayed either way; nothing to measure, it is answered
        await c.send(b"c AUTHENTICATE PLAIN\r\n")
        assert await c.line() == b"+ \r\n"
        await c.send(b"*\r\n")
        assert await c.line() == b"c BAD Authentication cancelled\r\n"
        start = anyio.current_time()
        await c.send(b"a3 LOGIN nobody wrong\r\n")
        assert await c.line() == b"a3 " + IMAP_NO
        assert await c.line() == IMAP_BYE
        assert anyio.current_time() - start >= DELAY


async def test_pop3_failures_are_answered_after_the_delay(
    provider: Provider, upstream: Dovecot, tmp_path: Path
) -> None:
    user = fresh_user("pop")
    tokens = ProviderTokens(provider, provider.issue(user))
    acct = pop3_account(provider, upstream, user)
    async with (
        running_single(acct, tokens, tmp_path, auth_failure_delay=DELAY) as port,
        await connect(port) as c,
    ):
        await c.line()
        await c.send(b"USER me\r\n")
        await c.line()
        start = anyio.current_time()
        await c.send(b"PASS wrong\r\n")
        assert await c.line() == POP3_ERR
        assert anyio.current_time() - start >= DELAY
        start = anyio.current_time()
        await c.send(b"AUTH PLAIN " + plain(LOCAL_USER, "wrong") + b"\r\n")
        assert await c.line() == POP3_ERR
        assert anyio.current_time() - start >= DELAY


async def test_smtp_failures_are_answered_after_the_delay(
    provider: Provider, smtp_up: SmtpUpstream, tmp_path: Path
) -> None:
    tokens = ProviderTokens(provider, provider.issue("alice"))
    async with (
        running_single(
            smtp_account(provider, smtp_up), tokens, tmp_path, auth_failure_delay=DELAY
        ) as port,
        await connect(port) as c,
    ):
        await c.send(b"EHLO c\r\n")
        await c.exactly(len(SMTP_GREETING + SMTP_EHLO))
        start = anyio.current_time()
        await c.send(b"AUTH PLAIN " + plain(LOCAL_USER, "wrong") + b"\r\n")
        assert await c.line() == SMTP_535
        assert anyio.current_time() - start >= DELAY


async def test_imap_a_waiting_failure_delays_neither_a_success_nor_another_connection(
    provider: Provider, upstream: Dovecot, tmp_path: Path
) -> None:
    user = fresh_user()
    tokens = GrantTokens(provider, {"work": provider.issue(user)})
    acct = imap_account(provider, upstream, user)
    async with (
        running_proxy(acct, tokens, tmp_path, auth_failure_delay=30.0) as info,
        await connect(info.port("work")) as failing,
        await connect(info.port("work")) as c,
    ):
        await failing.line()
        await failing.send(b"a LOGIN me wrong\r\n")
        await c.line()
        # the failing connection now waits 30 s; this one logs in meanwhile
        with anyio.fail_after(5):
            await c.send(b"b LOGIN me " + LOCAL_PASSWORD.encode() + b"\r\n")
            assert (await c.line()).startswith(b"b OK [CAPABILITY IMAP4rev1 ")
        await failing.nothing_within(0.1)


async def test_pop3_and_smtp_successes_are_not_delayed(
    provider: Provider, upstream: Dovecot, smtp_up: SmtpUpstream, tmp_path: Path
) -> None:
    user = fresh_user("pop")
    tokens = ProviderTokens(provider, provider.issue(user))
    async with (
        running_single(
            pop3_account(provider, upstream, user), tokens, tmp_path, auth_failure_delay=30.0
        ) as port,
        await connect(port) as c,
    ):
        await c.line()
        with anyio.fail_after(5):
            await c.send(b"AUTH PLAIN " + plain(LOCAL_USER, LOCAL_PASSWORD) + b"\r\n")
            assert (await c.line()).startswith(b"+OK")
    tokens = ProviderTokens(provider, provider.issue("alice"))
    async with (
        running_single(
            smtp_account(provider, smtp_up), tokens, tmp_path, auth_failure_delay=30.0
        ) as port,
        await connect(port) as c,
    ):
        await c.send(b"EHLO c\r\n")
        await c.exactly(len(SMTP_GREETING + SMTP_EHLO))
        with anyio.fail_after(5):
            await c.send(b"AUTH PLAIN " + plain(LOCAL_USER, LOCAL_PASSWORD) + b"\r\n")
            assert await c.line() == b"235 Authentication successful\r\n"


# -- concurrent unlocks ----------------------------------------------------------------


class RecordingTokens:
    """A TokenSource double recording how many unlocks run at once.  Each
    unlock waits (up to ``patience`` s) until ``together`` are running, so
    that unlocks allowed to overlap do overlap whatever the machine's load."""

    def __init__(self, together: int, patience: float) -> None:
        self.together = together
        self.patience = patience
        self.running = 0
        self.peak = 0
        self.unlocks = 0
        self.all_in = anyio.Event()

    async def unlock(self, grant: str, password: Secret[str]) -> bool:
        self.unlocks += 1
        self.running += 1
        self.peak = max(self.peak, self.running)
        if self.running >= self.together:
            self.all_in.set()
        try:
            with anyio.move_on_after(self.patience):
                await self.all_in.wait()
        finally:
            self.running -= 1
        return password == Secret(LOCAL_PASSWORD)

    async def access_token(self, grant: str) -> AccessToken:
        raise AssertionError("no login succeeds here")


@pytest.mark.parametrize(
    ("limit", "patience", "peak"),
    [(1, 0.5, 1), (2, 10.0, 2)],
    ids=["limit-1-never-overlap", "limit-2-do-overlap"],
)
async def test_unlocks_at_once_over_all_accounts_are_bounded(
    provider: Provider,
    upstream: Dovecot,
    tmp_path: Path,
    limit: int,
    patience: float,
    peak: int,
) -> None:
    tokens = RecordingTokens(together=2, patience=patience)
    accounts = (
        imap_account(provider, upstream, fresh_user(), name="work"),
        imap_account(provider, upstream, fresh_user(), name="other"),
    )
    async with (
        running_proxy(accounts, tokens, tmp_path, max_concurrent_unlocks=limit) as info,
        await connect(info.port("work")) as a,
        await connect(info.port("other")) as b,
    ):
        await a.line()
        await b.line()
        await a.send(b"a LOGIN me wrong\r\n")
        await b.send(b"b LOGIN me wrong\r\n")
        assert await a.line() == b"a " + IMAP_NO
        assert await b.line() == b"b " + IMAP_NO
    assert tokens.unlocks == 2
    assert tokens.peak == peak


# -- the configuration --------------------------------------------------------------------

CONFIG = """\
state_dir = "state"
[accounts.work]
protocol = "imap"
listen_port = 1143
local_user = "me"
upstream_host = "imap.example.com"
upstream_port = 993
upstream_user = "me@example.com"
[accounts.work.provider]
token_endpoint = "https://oauth2.example.com/token"
client_id = "c"
"""


def load(tmp_path: Path, limits: str) -> ProxyLimits:
    path = tmp_path / "proxy.toml"
    path.write_text(CONFIG + "[limits]\n" + limits)
    return load_config(path).limits


def test_the_limits_documented_in_the_module_are_the_defaults(tmp_path: Path) -> None:
    doc = _config.__doc__ or ""
    block = textwrap.dedent(doc[doc.index("    [limits]\n") :].split("\n\n")[0])
    path = tmp_path / "proxy.toml"
    path.write_text(CONFIG + block)
    assert load_config(path).limits == ProxyLimits()
    assert "max_concurrent_unlocks = 2" in block


def test_defaults() -> None:
    limits = ProxyLimits()
    assert (limits.max_auth_failures, limits.auth_failure_delay) == (3, 2.0)
    assert limits.max_concurrent_unlocks == 2


def test_the_three_keys_load(tmp_path: Path) -> None:
    assert load(tmp_path, "") == ProxyLimits()
    text = "max_auth_failures = 5\nauth_failure_delay = 0\nmax_concurrent_unlocks = 4\n"
    assert load(tmp_path, text) == ProxyLimits(
        max_auth_failures=5, auth_failure_delay=0.0, max_concurrent_unlocks=4
    )
    assert load(tmp_path, "auth_failure_delay = 0.5\n").auth_failure_delay == 0.5


WHOLE = "must be a whole number, at least 1"
SECONDS = "must be 0 or more seconds (finite)"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("max_auth_failures = 0", f"limits.max_auth_failures {WHOLE}"),
        ("max_auth_failures = -3", f"limits.max_auth_failures {WHOLE}"),
        ("max_auth_failures = 2.5", f"limits.max_auth_failures {WHOLE}"),
        ("max_auth_failures = true", f"limits.max_auth_failures {WHOLE}"),
        ('max_auth_failures = "3"', f"limits.max_auth_failures {WHOLE}"),
        ("auth_failure_delay = -0.1", f"limits.auth_failure_delay {SECONDS}"),
        ("auth_failure_delay = inf", f"limits.auth_failure_delay {SECONDS}"),
        ("auth_failure_delay = nan", f"limits.auth_failure_delay {SECONDS}"),
        ('auth_failure_delay = "2"', "limits.auth_failure_delay must be a number of seconds"),
        ("auth_failure_delay = false", "limits.auth_failure_delay must be a number of seconds"),
        ("max_concurrent_unlocks = 0", f"limits.max_concurrent_unlocks {WHOLE}"),
        ("max_concurrent_unlocks = 1.0", f"limits.max_concurrent_unlocks {WHOLE}"),
        ("max_auth_failure = 3", "unknown setting(s) limits.max_auth_failure"),
    ],
)  # fmt: skip
def test_bad_values_name_the_key(tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(ConfigError) as failed:
        load(tmp_path, line + "\n")
    assert str(failed.value) == f"{tmp_path / 'proxy.toml'}: {message}"
