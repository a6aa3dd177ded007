"""``protokit proxy``'s POP3 side against no proxy at all: poplib RETRieving
every message of a maildrop from Dovecot through the proxy (local USER/PASS;
XOAUTH2 upstream, checked by Dovecot's introspection at the fake OAuth
provider) and from Dovecot directly (USER/PASS), in the same run.  The
client runs in a subprocess so it never shares a GIL with the proxy;
Dovecot's POP3 port is plaintext on loopback for both paths, so the
difference is the proxy's relay.  Reported: messages/s, MB/s and the ratio
(proxy / direct).  ``--quick``: 100 messages, one round.  Only 127.0.0.1;
Dovecot, the provider and the proxy stop at the end.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from functools import partial
from pathlib import Path

import anyio.from_thread

from ._corpus import rng, text_body
from ._harness import parse_args

ROOT = Path(__file__).resolve().parent.parent
MESSAGE_SIZE = 10_000
USER = "bench"
PASSWORD = "bench-pw"

CLIENT = r"""
import poplib, sys, time
port, user, password, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
c = poplib.POP3("127.0.0.1", port, timeout=60)
c.user(user)
c.pass_(password)
t0 = time.perf_counter()
total = 0
for i in range(1, n + 1):
    total += c.retr(i)[2]
elapsed = time.perf_counter() - t0
c.quit()
print(elapsed, total)
"""


def fetch_all(port: int, user: str, password: str, count: int) -> tuple[float, int]:
    """Seconds poplib takes to RETR ``count`` messages, and the octets read."""
    out = subprocess.run(
        [sys.executable, "-c", CLIENT, str(port), user, password, str(count)],
        capture_output=True, timeout=600, check=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    seconds, octets = out.stdout.split()
    return float(seconds), int(octets)


def build_messages(seed: int, count: int) -> list[bytes]:
    r = rng(seed)
    head = b"From: bench@client.example\r\nTo: bench@server.example\r\nSubject: bench\r\n\r\n"
    out = []
    for _ in range(count):
        data = (head + text_body(r, MESSAGE_SIZE))[:MESSAGE_SIZE]
        out.append(data[: data.rfind(b"\r\n") + 2])
    return out


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv, description=__doc__ or "")
    count = 100 if args.quick else 2000
    sys.path.insert(0, str(ROOT))
    from protokit.net import TLSMode
    from protokit.proxy import ProxyConfig, serve_proxy
    from tests.interop.oauth_provider import oauth_provider
    from tests.interop.peers import dovecot
    from tests.interop.pop3_peers import deliver_maildir
    from tests.proxy.pop3_smtp_helpers import (
        LOCAL_PASSWORD,
        LOCAL_USER,
        ProviderTokens,
        account,
    )

    messages = build_messages(args.seed, count)
    with ExitStack() as stack:
        provider = stack.enter_context(oauth_provider(user=USER))
        d = stack.enter_context(
            dovecot({USER: PASSWORD}, introspection_url=provider.dovecot_introspect_url)
        )
        deliver_maildir(d, USER, messages)
        acct = account(
            "pop3", provider, upstream_port=d.pop3, upstream_tls=TLSMode.PLAIN,
            upstream_user=USER, name="bench",
        )  # fmt: skip
        tokens = ProviderTokens(provider, provider.issue(USER))
        config = ProxyConfig(accounts=(acct,), state_dir=Path(d.directory) / "proxy")
        portal = stack.enter_context(anyio.from_thread.start_blocking_portal())
        future, info = portal.start_task(partial(serve_proxy, config, tokens=tokens))
        stack.callback(future.cancel)
        proxy_port = info.addresses["bench"][1]
        paths = {
            "proxy": (proxy_port, LOCAL_USER, LOCAL_PASSWORD),
            "direct": (d.pop3, USER, PASSWORD),
        }
        for port, user, password in paths.values():  # warm up
            fetch_all(port, user, password, min(count, 20))
        samples: dict[str, list[tuple[float, int]]] = {name: [] for name in paths}
        for r in range(args.rounds):
            order = list(paths.items())
            if r % 2:
                order.reverse()
            for name, (port, user, password) in order:
                samples[name].append(fetch_all(port, user, password, count))
    print(
        f"== POP3 RETR of {count:,} messages of ~{MESSAGE_SIZE:,} bytes with poplib: through "
        f"protokit proxy (XOAUTH2 upstream) vs Dovecot directly "
        f"({args.rounds} round{'s' if args.rounds != 1 else ''}, medians, wall clock)"
    )
    rates = {}
    for name, runs in samples.items():
        seconds = statistics.median(s for s, _ in runs)
        octets = runs[0][1]
        rates[name] = count / seconds
        print(f"   {name:<8} {count / seconds:10,.0f} msg/s  {octets / seconds / 1e6:8.1f} MB/s")
    # The harness's ratio line (benchmarks/_harness.py), which every report carries.
    print(f"   ratio: proxy is {rates['proxy'] / rates['direct']:.2f}x the speed of direct")
    print()


if __name__ == "__main__":
    main()
