"""Issue 11's benchmark: fetching 2,000 messages through ``protokit proxy``
against fetching them from Dovecot directly, in the same run.

The upstream is a private Dovecot whose oauth2 passdb introspects every
bearer token at the fake OAuth provider (tests/interop/oauth_provider.py).
2,000 messages of 2-50 KB (seeded) are delivered into its Maildir before
timing.  The proxy runs as a user runs it, ``protokit proxy --config FILE``
in its own process (plain listener on 127.0.0.1, implicit TLS upstream to
Dovecot's 993 role), its tokens authorized beforehand in its encrypted
storage.  Both paths are driven by the same client, protokit's ``open_imap``:
through the proxy it logs in with LOGIN and the local password (the proxy
then authenticates upstream with XOAUTH2); directly it connects to Dovecot's
implicit-TLS port and authenticates with XOAUTH2 itself.  Each pass is one
session: connect, log in, EXAMINE INBOX, ``UID FETCH (UID FLAGS
BODY.PEEK[])`` in batches of 250 UIDs, every body read whole and counted,
LOGOUT (through the proxy the login includes unlocking the stored tokens,
scrypt, about 0.1-0.2 s: it dominates ``--quick``).  Rounds alternate which
path goes first.  The ratio is the proxy's
throughput over the direct one (issue 11's target: at least 0.8).

``--quick``: 20 messages, one round.  Only 127.0.0.1; the proxy process,
Dovecot and the provider are stopped at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import anyio

from protokit.imap import FetchBody
from protokit.net import IMAPClient, TLSMode, client_ssl_context, open_imap
from protokit.oauth import StoredTokens, TokenStorage
from protokit.sasl import XOAuth2Client
from protokit.wire import Secret

from ._corpus import rng, text_body
from ._harness import Case, parse_args, run_cases

BATCH = 250
ITEMS = ["UID", "FLAGS", FetchBody(peek=True)]
USER = "bench@example.com"
LOCAL_USER = "me"
LOCAL_PASSWORD = "bench-local-pw"
ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 30.0


def _batches(uids: Sequence[int]) -> list[Sequence[int]]:
    return [uids[i : i + BATCH] for i in range(0, len(uids), BATCH)]


async def _fetch_all(client: IMAPClient, uids: Sequence[int]) -> int:
    await client.examine("INBOX")
    total = 0
    for batch in _batches(uids):
        async for msg in client.fetch(batch, ITEMS):
            total += len(await msg.read())
    return total


def through_proxy(port: int, uids: Sequence[int]) -> int:
    async def run() -> int:
        async with open_imap("127.0.0.1", port, tls=TLSMode.PLAIN, allow_plaintext_auth=True) as c:
            await c.login(LOCAL_USER, LOCAL_PASSWORD)
            return await _fetch_all(c, uids)

    return anyio.run(run)


def direct(port: int, cafile: str, token: str, uids: Sequence[int]) -> int:
    async def run() -> int:
        async with open_imap(
            "127.0.0.1",
            port,
            tls=TLSMode.IMPLICIT,
            ssl_context=client_ssl_context(cafile=cafile),
            server_hostname="localhost",
        ) as c:
            await c.authenticate(XOAuth2Client(USER, Secret(token)))
            return await _fetch_all(c, uids)

    return anyio.run(run)


def _config(directory: Path, port: int, provider_url: str, imaps: int, cafile: Path) -> Path:
    from tests.interop.oauth_provider import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

    path = directory / "proxy.toml"
    path.write_text(
        f'state_dir = "{directory / "state"}"\n'
        "[accounts.bench]\n"
        'protocol = "imap"\n'
        f"listen_port = {port}\n"
        f'local_user = "{LOCAL_USER}"\n'
        'upstream_host = "127.0.0.1"\n'
        f"upstream_port = {imaps}\n"
        'upstream_tls = "implicit"\n'
        f'upstream_cafile = "{cafile}"\n'
        'upstream_server_hostname = "localhost"\n'
        f'upstream_user = "{USER}"\n'
        "[accounts.bench.provider]\n"
        f'token_endpoint = "{provider_url}"\n'
        f'client_id = "{DEFAULT_CLIENT_ID}"\n'
        f'client_secret = "{DEFAULT_CLIENT_SECRET}"\n'
    )
    return path


def _start_proxy(config: Path, stack: ExitStack) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "protokit.cli", "proxy", "--config", str(config),
         "--log-level", "warning"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT,
    )  # fmt: skip

    def stop() -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)
        assert proc.stdout is not None
        proc.stdout.close()

    stack.callback(stop)
    assert proc.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("protokit proxy: ready"):
            return
        if not line and proc.poll() is not None:
            break
    raise SystemExit(f"bench_proxy: the proxy did not start (exit {proc.poll()})")


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(list(argv) if argv is not None else None, __doc__ or "")
    count = 20 if args.quick else 2_000
    rounds = args.rounds or (1 if args.quick else 5)
    r = rng(args.seed)
    messages = [
        b"Subject: message %d\r\n\r\n" % i + text_body(r, r.randint(2 * 1024, 50 * 1024))
        for i in range(count)
    ]
    expected = sum(map(len, messages))

    from tests.interop.oauth_provider import oauth_provider
    from tests.interop.peers import dovecot, free_port, peer_directory
    from tests.interop.pop3_peers import deliver_maildir

    with ExitStack() as stack:
        provider = stack.enter_context(oauth_provider())
        try:
            d = stack.enter_context(dovecot(introspection_url=provider.dovecot_introspect_url))
        except BaseException as exc:  # pytest's Skipped (no Dovecot) is a BaseException
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            msg = f"bench_proxy needs Dovecot (tests/run.sh installs it): {exc}"
            raise SystemExit(msg) from None
        deliver_maildir(d, USER, messages)
        grant = provider.issue(USER)
        assert grant.refresh_token is not None
        directory = stack.enter_context(peer_directory("bench-proxy"))
        TokenStorage(directory / "state").create(
            "bench",
            Secret(LOCAL_PASSWORD),
            StoredTokens(refresh_token=Secret(grant.refresh_token)),
        )
        port = free_port()
        _start_proxy(_config(directory, port, provider.token_url, d.imaps, d.cert), stack)
        token = provider.access_token(grant)
        uids = list(range(1, count + 1))
        cafile = str(d.cert)
        # Correctness, and Dovecot's index and cache warmed for both.
        assert through_proxy(port, uids) == direct(d.imaps, cafile, token, uids) == expected
        run_cases(
            "OAuth2 proxy: IMAP through protokit proxy vs Dovecot directly",
            [
                Case(
                    f"UID FETCH (UID FLAGS BODY.PEEK[]) x {count} (2-50 KB)",
                    lambda: through_proxy(port, uids),
                    lambda: direct(d.imaps, cafile, token, uids),
                    nbytes=expected,
                    items=count,
                    subject_label="through protokit proxy",
                    baseline_label="Dovecot directly",
                )
            ],
            rounds=rounds,
        )
