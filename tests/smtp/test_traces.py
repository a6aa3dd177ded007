"""RFC example sessions from spec/smtp/traces, replayed both ways.

Server: fed the C: lines (whole, byte by byte, in threes) it must write
exactly the S: lines; the application answers each question with the reply
the trace shows next.  Client: driven by the commands the C: lines name and
fed the S: lines, it must have written exactly the C: lines before each S:
line, no more and no less.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from protokit import NEED_DATA
from protokit.sasl import PlainClient
from protokit.smtp import (
    AuthRequest,
    ClientConfig,
    ClientConnection,
    DataReply,
    Event,
    Extension,
    MessageEnd,
    Reply,
    ServerConfig,
    ServerConnection,
)
from protokit.smtp._parse import ReplyReader, parse_mail, parse_rcpt
from protokit.wire import ReceiveBuffer, b64decode_strict

from .helpers import chunkings

TRACES = Path(__file__).parents[2] / "spec" / "smtp" / "traces"
FILES = sorted(TRACES.glob("*.txt"))


@dataclass
class Trace:
    name: str
    header: dict[str, str] = field(default_factory=dict)
    lines: list[tuple[str, bytes]] = field(default_factory=list)

    def side(self, who: str) -> bytes:
        return b"".join(line + b"\r\n" for w, line in self.lines if w == who)

    def server_config(self) -> ServerConfig:
        h = self.header
        exts = frozenset(Extension(e) for e in h.get("extensions", "").split())
        return ServerConfig(
            hostname=h["hostname"],
            greeting=h.get("greeting"),
            extensions=exts,
            max_message_size=int(h.get("size", 64 * 1024 * 1024)),
            lmtp=h.get("lmtp") == "yes",
            starttls=h.get("starttls") == "yes",
            auth_mechanisms=tuple(h.get("auth", "").split()),
            allow_plaintext_auth=h.get("plaintext") == "yes",
        )

    def segments(self, who: str) -> list[bytes]:
        """The side's bytes, cut where the TLS handshake ("T:") happens."""
        out = [b""]
        for w, line in self.lines:
            if w == "T":
                out.append(b"")
            elif w == who:
                out[-1] += line + b"\r\n"
        return out


def load(path: Path) -> Trace:
    trace = Trace(path.stem)
    for raw in path.read_text("utf-8").splitlines():
        if raw.startswith("#") or not raw.strip():
            continue
        if raw.startswith("! "):
            key, _, value = raw[2:].partition(":")
            trace.header[key.strip()] = value.strip()
            continue
        who, sep, rest = raw.partition(":")
        assert who in ("C", "S", "T") and sep, raw
        trace.lines.append((who, rest[1:].encode("utf-8")))
    return trace


def test_every_trace_is_found() -> None:
    names = {p.stem for p in FILES}
    assert {
        "rfc5321-d1-typical",
        "rfc2920-pipelining",
        "rfc3030-chunking",
        "rfc2033-lmtp",
    } <= names
    assert len(FILES) >= 10


def _parse_reply(data: bytes) -> Reply:
    r = ReplyReader().read(ReceiveBuffer(data))
    assert r is not None, "the trace has no reply here"
    return Reply(code=r.code, enhanced=r.enhanced, lines=r.lines)


def replay_server(trace: Trace, segments: list[list[bytes]]) -> tuple[bytes, list[Event]]:
    """Feed each TLS segment's chunks; hand off TLS between segments."""
    expected = trace.side("S")
    conn = ServerConnection(trace.server_config())
    out = bytearray(conn.data_to_send())
    events: list[Event] = []
    for i, chunks in enumerate(segments):
        if i:
            conn.start_tls_done()
        for chunk in chunks:
            conn.receive_data(chunk)
            while (ev := conn.next_event()) is not NEED_DATA:
                events.append(ev)
                while conn.pending is not None:
                    out += conn.data_to_send()
                    if isinstance(ev, AuthRequest):
                        conn.answer_auth(True)  # the trace's password is right
                        continue
                    # The application answers with the reply the trace shows next.
                    conn.reply(_parse_reply(expected[len(out) :]))
                out += conn.data_to_send()
    return bytes(out), events


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_server_replay(path: Path) -> None:
    trace = load(path)
    expected = trace.side("S")
    results = []
    for label in ("whole", "bytewise", "threes"):
        segments = [dict(chunkings(seg))[label] for seg in trace.segments("C")]
        out, events = replay_server(trace, segments)
        assert out == expected, label
        results.append([type(e).__name__ for e in events if type(e).__name__ != "MessageData"])
    assert results[0] == results[1] == results[2]
    assert "Quit" in results[0]


def test_server_replay_reports_the_source_routed_recipient_without_its_route() -> None:
    trace = load(TRACES / "rfc5321-d3-relayed-step1.txt")
    _, events = replay_server(trace, [[trace.side("C")]])
    ends = [e for e in events if isinstance(e, MessageEnd)]
    assert ends == [MessageEnd(size=ends[0].size, recipients=("Jones@XYZ.COM",))]


def test_lmtp_replay_asks_once_per_accepted_recipient() -> None:
    trace = load(TRACES / "rfc2033-lmtp.txt")
    _, events = replay_server(trace, [[trace.side("C")]])
    (end,) = [e for e in events if isinstance(e, MessageEnd)]
    assert end.recipients == ("pat@foo.edu", "green@foo.edu")


class ClientDriver:
    """Turns each C: line into the client call that should write it."""

    ALL = frozenset(Extension)

    def __init__(self, trace: Trace) -> None:
        self.client = ClientConnection(
            ClientConfig(
                local_hostname="unused.example",
                lmtp=trace.header.get("lmtp") == "yes",
                allow_plaintext_auth=trace.header.get("plaintext") == "yes",
            )
        )
        self.body = False
        self.chunk: bytearray | None = None
        self.chunk_size = 0
        self.chunk_last = False
        self.events: list[Event] = []

    def command(self, line: bytes) -> None:
        c = self.client
        if self.chunk is not None:
            self.chunk += line + b"\r\n"
            if len(self.chunk) >= self.chunk_size:
                assert len(self.chunk) == self.chunk_size
                c.bdat(bytes(self.chunk), last=self.chunk_last)
                self.chunk = None
            return
        if self.body:
            if line == b".":
                self.body = False
                c.end_data()
            else:
                c.send_data((line[1:] if line.startswith(b".") else line) + b"\r\n")
            return
        verb, _, arg = line.partition(b" ")
        verb = verb.upper()
        if verb in (b"EHLO", b"LHLO"):
            c.ehlo(arg.decode())
        elif verb == b"HELO":
            c.helo(arg.decode())
        elif verb == b"MAIL":
            sender, params = parse_mail(line, self.ALL, max_size=None, auth=True, requiretls=True)
            c.mail_from(sender, params)
        elif verb == b"RCPT":
            recipient, rparams = parse_rcpt(line, self.ALL, utf8=True)
            c.rcpt_to(recipient, rparams)
        elif verb == b"DATA":
            c.data()
        elif verb == b"BDAT":
            size, _, last = arg.partition(b" ")
            self.chunk = bytearray()
            self.chunk_size = int(size)
            self.chunk_last = last.upper() == b"LAST"
            if self.chunk_size == 0:
                c.bdat(b"", last=self.chunk_last)
                self.chunk = None
        elif verb == b"VRFY":
            c.vrfy(arg.decode())
        elif verb == b"AUTH":
            name, _, ir = arg.partition(b" ")
            assert name == b"PLAIN"
            authzid, authcid, password = b64decode_strict(ir).decode().split("\x00")
            c.auth(PlainClient(authcid, password, authzid or None))
        else:
            getattr(c, verb.decode().lower())()

    def feed(self, data: bytes) -> None:
        self.client.receive_data(data)
        while (ev := self.client.next_event()) is not NEED_DATA:
            self.events.append(ev)
            if isinstance(ev, DataReply) and ev.proceed:
                self.body = True


@pytest.mark.parametrize("bytewise", [False, True], ids=["lines", "bytewise"])
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_client_replay(path: Path, bytewise: bool) -> None:
    trace = load(path)
    if trace.header.get("client") == "skip":
        pytest.skip(f"our client does not write {path.stem} (the file says why)")
    driver = ClientDriver(trace)
    written = bytearray()
    expected = bytearray()
    for who, line in trace.lines:
        if who == "T":
            driver.client.start_tls_done()
        elif who == "C":
            expected += line + b"\r\n"
            driver.command(line)
        else:
            written += driver.client.data_to_send()
            assert written == expected, f"before S: {line!r}"
            data = line + b"\r\n"
            for piece in [data[i : i + 1] for i in range(len(data))] if bytewise else [data]:
                driver.feed(piece)
    written += driver.client.data_to_send()
    assert written == expected
    assert driver.client.closed
    names = [type(e).__name__ for e in driver.events]
    assert names[0] == "Greeting" and names[-1] == "CommandReply"
