"""``protokit proxy``'s SMTP side against no proxy at all: smtplib sending
messages to aiosmtpd through the proxy (local AUTH PLAIN; XOAUTH2 upstream,
checked by introspection at the fake OAuth provider) and to aiosmtpd
directly (no AUTH), in the same run.  The client and aiosmtpd each run in
a subprocess, so neither shares a GIL with the proxy; plaintext on loopback
for both paths.  The proxy relays MAIL, RCPT and DATA one command per round
trip upstream.  Reported: messages/s and the ratio (proxy / direct).
``--quick``: 50 messages, one round.  Only 127.0.0.1;
everything stops at the end.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from functools import partial
from pathlib import Path

import anyio.from_thread

from ._corpus import rng, text_body
from ._harness import parse_args

ROOT = Path(__file__).resolve().parent.parent
MESSAGE_SIZE = 10_000

CLIENT = r"""
import smtplib, sys, time
port, user, password, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
body = sys.stdin.buffer.read()
c = smtplib.SMTP("127.0.0.1", port, timeout=60)
c.ehlo("bench.client")
if user:
    c.login(user, password)
t0 = time.perf_counter()
for i in range(n):
    c.sendmail("bench@client.example", ["rcpt@server.example"], body)
elapsed = time.perf_counter() - t0
c.quit()
print(elapsed)
"""


SERVER = r"""
import sys, types
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from protokit.net import TLSMode
from tests.proxy.pop3_smtp_helpers import smtp_upstream
provider = types.SimpleNamespace(introspect_url=sys.argv[1])
with smtp_upstream(provider, Path(sys.argv[2]), tls=TLSMode.PLAIN) as up:
    print(up.port, flush=True)
    sys.stdin.read()
"""


def start_upstream(introspect_url: str, directory: Path) -> tuple[subprocess.Popen[bytes], int]:
    """aiosmtpd with the introspecting OAuth hooks, in a subprocess; its port."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, introspect_url, str(directory), str(ROOT)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        proc.wait(timeout=10)
        raise SystemExit("aiosmtpd did not start")
    return proc, int(line)


def stop(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def send_all(port: int, user: str, password: str, count: int, body: bytes) -> float:
    out = subprocess.run(
        [sys.executable, "-c", CLIENT, str(port), user, password, str(count)],
        input=body, capture_output=True, timeout=600, check=True,
    )  # fmt: skip
    return float(out.stdout)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv, description=__doc__ or "")
    count = 50 if args.quick else 500
    sys.path.insert(0, str(ROOT))
    from protokit.net import TLSMode
    from protokit.proxy import ProxyConfig, serve_proxy
    from tests.interop.oauth_provider import oauth_provider
    from tests.proxy.pop3_smtp_helpers import (
        LOCAL_PASSWORD,
        LOCAL_USER,
        ProviderTokens,
        account,
    )

    head = b"From: bench@client.example\r\nTo: rcpt@server.example\r\nSubject: bench\r\n\r\n"
    body = (head + text_body(rng(args.seed), MESSAGE_SIZE))[:MESSAGE_SIZE]
    body = body[: body.rfind(b"\r\n") + 2]
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="protokit-bench-")))
        provider = stack.enter_context(oauth_provider(user="alice"))
        proc, up_port = start_upstream(provider.introspect_url, tmp)
        stack.callback(stop, proc)
        acct = account(
            "smtp", provider, upstream_port=up_port, upstream_tls=TLSMode.PLAIN, name="bench"
        )
        tokens = ProviderTokens(provider, provider.issue("alice"))
        config = ProxyConfig(accounts=(acct,), state_dir=tmp / "proxy")
        portal = stack.enter_context(anyio.from_thread.start_blocking_portal())
        future, info = portal.start_task(partial(serve_proxy, config, tokens=tokens))
        stack.callback(future.cancel)
        paths = {
            "proxy": (info.addresses["bench"][1], LOCAL_USER, LOCAL_PASSWORD),
            "direct": (up_port, "", ""),
        }
        for port, user, password in paths.values():  # warm up
            send_all(port, user, password, min(count, 10), body)
        samples: dict[str, list[float]] = {name: [] for name in paths}
        for r in range(args.rounds):
            order = list(paths.items())
            if r % 2:
                order.reverse()
            for name, (port, user, password) in order:
                samples[name].append(send_all(port, user, password, count, body))
    print(
        f"== SMTP: smtplib sending {count:,} messages of {len(body):,} bytes to aiosmtpd through "
        f"protokit proxy (XOAUTH2 upstream) vs directly "
        f"({args.rounds} round{'s' if args.rounds != 1 else ''}, medians, wall clock)"
    )
    rates = {name: count / statistics.median(runs) for name, runs in samples.items()}
    for name, rate in rates.items():
        print(f"   {name:<8} {rate:10,.0f} msg/s")
    # The harness's ratio line (benchmarks/_harness.py), which every report carries.
    print(f"   ratio: proxy is {rates['proxy'] / rates['direct']:.2f}x the speed of direct")
    print()


if __name__ == "__main__":
    main()
