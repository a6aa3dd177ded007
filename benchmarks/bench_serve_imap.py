"""Issue 9's benchmark: messages submitted through 587 (STARTTLS, AUTH
PLAIN, MAIL/RCPT/DATA pipelined) and read back through IMAP (STARTTLS,
FETCH BODY.PEEK[] of every message submitted, checked against what was
sent), at 1 and 50 concurrent clients, against the stack a user would
otherwise set up on localhost, in the same run: a private Postfix
(submission with STARTTLS and SASL through Dovecot's auth socket, delivery
to Maildir) and Dovecot serving that Maildir over IMAP.

Both stacks are driven by the same client, protokit's own anyio clients
(``open_smtp``, ``open_imap``) on asyncio, all clients in this process.
protokit serve runs as a subprocess on its SQLite store (WAL,
synchronous=FULL): a 250 means the message is on disk and readable.
Postfix's 250 means queued; its delivery to the Maildir follows, so the
report gives submission (to the last 250), delivery (to the last message in
the Maildir: immediate for protokit) and IMAP read-back rates, and the end
to end rate over all three.  Server CPU per message is the CPU time of
every server process (protokit serve; Postfix's and Dovecot's daemons and
all their children, reaped ones included), over submission plus delivery,
and over read-back.  Each round uses fresh recipients.  Passwords are
stored cheaply on both sides (Dovecot: {PLAIN}; protokit: PBKDF2 with 1000
iterations instead of its default) so that logins do not dominate.
``--quick``: 20 messages, 1 and 5 clients, one round.  Only 127.0.0.1;
everything started is stopped and removed at the end.
"""

from __future__ import annotations

import shutil
import ssl
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path

import anyio

from protokit.imap import FetchBody
from protokit.net import TLSMode, open_imap, open_smtp

from ._corpus import rng, text_body
from ._harness import parse_args
from ._postfix_peer import MailStack, mail_stack, process_tree_cpu

SENDER = "sender@example.com"
PASSWORD = "bench-pw"
MESSAGE_SIZE = 10 * 1024
DELIVERY_TIMEOUT = 120.0
PHASE_TIMEOUT = 300.0


@dataclass
class Target:
    """One stack as the driver sees it."""

    name: str
    submission: int
    imap: int
    context: ssl.SSLContext
    cpu: Callable[[], float]
    delivered: Callable[[str], int]


@dataclass
class Sample:
    submit: float
    deliver: float
    read: float
    submit_cpu: float
    read_cpu: float


def build_messages(tag: str, count: int, seed: int) -> list[bytes]:
    body = text_body(rng(seed), MESSAGE_SIZE - 300)
    date = formatdate(localtime=False).encode()
    return [
        b"From: %s\r\nTo: rcpt@example.com\r\nSubject: bench %d\r\nDate: %s\r\n"
        b"Message-ID: <%s.%d@client.example>\r\nX-Bench-Seq: %d\r\n\r\n"
        % (SENDER.encode(), n, date, tag.encode(), n, n)
        + body
        for n in range(count)
    ]


def _shares(count: int, clients: int) -> list[range]:
    per, extra = divmod(count, clients)
    out, start = [], 0
    for c in range(clients):
        size = per + (c < extra)
        out.append(range(start, start + size))
        start += size
    return [r for r in out if r]


async def _submit(target: Target, rcpt: str, messages: list[bytes], clients: int) -> None:
    async def one(share: range) -> None:
        async with open_smtp(
            "127.0.0.1", target.submission, tls=TLSMode.STARTTLS, ssl_context=target.context
        ) as smtp:
            await smtp.login(SENDER, PASSWORD, mechanisms=["PLAIN"])
            for n in share:
                result = await smtp.send_message(
                    messages[n], sender=SENDER, recipients=[rcpt], chunking=False
                )
                if result.accepted != [rcpt]:
                    raise SystemExit(f"{target.name} refused message {n}: {result}")

    with anyio.fail_after(PHASE_TIMEOUT):
        async with anyio.create_task_group() as tg:
            for share in _shares(len(messages), clients):
                tg.start_soon(one, share)


async def _read(target: Target, rcpt: str, messages: list[bytes], clients: int) -> None:
    """Every message, fetched by sequence number in one FETCH per client,
    must end with the bytes submitted (Postfix prepends its trace headers)."""
    got: dict[int, bytes] = {}

    async def one(share: range) -> None:
        async with open_imap(
            "127.0.0.1", target.imap, tls=TLSMode.STARTTLS, ssl_context=target.context
        ) as imap:
            await imap.login(rcpt, PASSWORD)
            await imap.examine("INBOX")
            spec = f"{share.start + 1}:{share.stop}"
            async for msg in imap.fetch(spec, [FetchBody(peek=True)], uid=False):
                data = await msg.read()
                seq = data.partition(b"X-Bench-Seq: ")[2].partition(b"\r\n")[0]
                got[int(seq)] = data

    with anyio.fail_after(PHASE_TIMEOUT):
        async with anyio.create_task_group() as tg:
            for share in _shares(len(messages), clients):
                tg.start_soon(one, share)
    if sorted(got) != list(range(len(messages))):
        raise SystemExit(f"{target.name}: read back {len(got)} of {len(messages)} messages")
    for n, data in got.items():
        if not data.endswith(messages[n]):
            raise SystemExit(f"{target.name}: message {n} came back different")


def measure(target: Target, rcpt: str, messages: list[bytes], clients: int) -> Sample:
    cpu0 = target.cpu()
    t0 = time.perf_counter()
    anyio.run(_submit, target, rcpt, messages, clients)
    t1 = time.perf_counter()
    deadline = t1 + DELIVERY_TIMEOUT
    while target.delivered(rcpt) < len(messages):
        if time.perf_counter() > deadline:
            raise SystemExit(f"{target.name}: not delivered within {DELIVERY_TIMEOUT:g} s")
        time.sleep(0.002)
    t2 = time.perf_counter()
    time.sleep(0.05)  # let the sessions' ends settle before reading CPU
    cpu1 = target.cpu()
    t3 = time.perf_counter()
    anyio.run(_read, target, rcpt, messages, clients)
    t4 = time.perf_counter()
    time.sleep(0.05)
    cpu2 = target.cpu()
    return Sample(t1 - t0, t2 - t1, t4 - t3, cpu1 - cpu0, cpu2 - cpu1)


def _protokit_target(data_dir: Path, users: dict[str, str]) -> tuple[Target, Callable[[], None]]:
    from protokit.server import Store
    from tests.interop.serve_peers import make_data_dir, start_serve

    make_data_dir(data_dir, users)
    served = start_serve(data_dir, "--log-level", "warning")
    store = Store.open(data_dir)

    def delivered(rcpt: str) -> int:
        account = store.account(rcpt)
        assert account is not None
        return store.mailbox(account.id, "INBOX").messages

    def stop() -> None:
        store.close()
        code, _, err = served.stop()
        if code != 0:
            raise SystemExit(f"protokit serve exited with {code}: {err[-2000:]}")

    target = Target(
        "protokit serve",
        served.port("submission"),
        served.port("imap"),
        ssl.create_default_context(cafile=str(served.cafile)),
        lambda: process_tree_cpu(served.proc.pid),
        delivered,
    )
    return target, stop


def _stack_target(stack: MailStack) -> Target:
    return Target(
        "Postfix + Dovecot",
        stack.submission,
        stack.imap,
        ssl.create_default_context(cafile=str(stack.cert)),
        stack.cpu_seconds,
        stack.delivered,
    )


def _line(name: str, count: int, samples: Sequence[Sample]) -> tuple[float, float, float]:
    def med(key: Callable[[Sample], float]) -> float:
        return statistics.median(key(s) for s in samples)

    submit, deliver, read = (
        med(lambda s: s.submit),
        med(lambda s: s.deliver),
        med(lambda s: s.read),
    )
    total = med(lambda s: s.submit + s.deliver + s.read)
    cpu_in = med(lambda s: s.submit_cpu) / count * 1e6
    cpu_out = med(lambda s: s.read_cpu) / count * 1e6
    print(
        f"   {name:<18} submit {count / submit:7,.0f} msg/s  in mailbox +{deliver * 1e3:6.0f} ms"
        f"  read {count / read:7,.0f} msg/s  end to end {count / total:6,.0f} msg/s"
        f"  | server CPU {cpu_in:6,.0f} us/msg in, {cpu_out:6,.0f} us/msg out"
    )
    return count / (submit + deliver), count / read, count / total


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv, description=__doc__ or "")
    count = 20 if args.quick else 300
    loads = [1, 5 if args.quick else 50]
    recipients = {
        (r, load): f"r{r}c{load}@example.com" for r in range(args.rounds) for load in loads
    }
    users = {SENDER: PASSWORD, "warm@example.com": PASSWORD}
    users.update(dict.fromkeys(recipients.values(), PASSWORD))
    data_dir = Path(tempfile.mkdtemp(prefix="protokit-bench-serve-imap-"))
    stops: list[Callable[[], None]] = []
    try:
        ours, stop = _protokit_target(data_dir / "data", users)
        stops.append(stop)
        with mail_stack(users) as stack:
            theirs = _stack_target(stack)
            targets = [ours, theirs]
            warm = build_messages("warm", 4, args.seed)
            for t in targets:  # imports, first TLS handshakes, Dovecot's first logins
                measure(t, "warm@example.com", warm, 2)
            samples: dict[tuple[int, str], list[Sample]] = {}
            for r in range(args.rounds):
                for load in loads:
                    messages = build_messages(f"r{r}c{load}", count, args.seed + r)
                    order = targets if r % 2 == 0 else targets[::-1]
                    for t in order:
                        sample = measure(t, recipients[(r, load)], messages, load)
                        samples.setdefault((load, t.name), []).append(sample)
            print(
                f"== protokit serve (SQLite store) vs Postfix + Dovecot (Maildir): {count:,} "
                f"messages of ~{MESSAGE_SIZE // 1024} KB submitted through 587 (STARTTLS, "
                f"AUTH PLAIN) and read back through IMAP (STARTTLS, FETCH BODY[]), "
                f"({args.rounds} round{'s' if args.rounds != 1 else ''}, medians)"
            )
            for load in loads:
                print(f"-- {load} concurrent client{'s' if load != 1 else ''}, {count} messages")
                a = _line(ours.name, count, samples[(load, ours.name)])
                b = _line(theirs.name, count, samples[(load, theirs.name)])
                print(
                    f"   ratio: protokit serve is {a[0] / b[0]:.2f}x the speed of Postfix + "
                    f"Dovecot to the mailbox, {a[1] / b[1]:.2f}x reading back, "
                    f"{a[2] / b[2]:.2f}x end to end"
                )
            print()
    finally:
        for stop in reversed(stops):
            stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
