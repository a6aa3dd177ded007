"""RFC example sessions (spec/pop3/traces) replayed both ways: the server fed
the C: lines sends exactly the S: lines, and the client fed the S: lines
sends exactly the C: lines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from protokit import NEED_DATA
from protokit.errors import RemoteProtocolError
from protokit.pop3 import (
    Apop,
    ApopLogin,
    Auth,
    ClientConfig,
    ClientConnection,
    ConnectionClosed,
    Err,
    MaildropEntry,
    MessageData,
    MessageRequested,
    Pass,
    PasswordLogin,
    SaslAuthenticated,
    SaslFailed,
    SaslRequest,
    ServerConfig,
    ServerConnection,
    StartTLS,
    UpdateRequested,
    UserReceived,
    parse_command,
)
from protokit.sasl import PlainClient, SASLError, VerifyPassword

from .helpers import merge_data, three_ways

TRACES = Path(__file__).parents[2] / "spec" / "pop3" / "traces"
TIMESTAMP = "<1896.697170952@dbc.mtview.ca.us>"
PASSWORDS = {"mrose": "tanstaaf"}
TLS = "-- TLS --"


@dataclass
class Trace:
    steps: list[tuple[str, str]]  # ("C"|"S"|"TLS", line)
    maildrop: list[MaildropEntry]
    messages: dict[int, bytes]


def load(name: str) -> Trace:
    steps: list[tuple[str, str]] = []
    maildrop: list[MaildropEntry] = []
    for raw in (TRACES / name).read_text("utf-8").splitlines():
        if raw.startswith("#! maildrop "):
            size, uid = raw.split()[2:]
            maildrop.append(MaildropEntry(size=int(size), uid=uid))
        elif raw.startswith("#") or not raw:
            continue
        elif raw == TLS:
            steps.append(("TLS", ""))
        else:
            assert raw[:2] in ("C:", "S:"), raw
            steps.append((raw[0], raw[3:]))
    # The messages are the bodies of the RETR replies, unstuffed.
    messages: dict[int, bytes] = {}
    for i, (who, line) in enumerate(steps):
        if who == "C" and line.startswith("RETR "):
            n = int(line.split()[1])
            body = []
            for _, reply in steps[i + 2 :]:
                if reply == ".":
                    break
                body.append(reply[1:] if reply.startswith(".") else reply)
            messages[n] = "".join(x + "\r\n" for x in body).encode("utf-8")
    return Trace(steps, maildrop, messages)


def groups(trace: Trace) -> list[tuple[str, list[str]]]:
    """Consecutive lines of the same side, in order."""
    out: list[tuple[str, list[str]]] = []
    for who, line in trace.steps:
        if out and out[-1][0] == who and who != "TLS":
            out[-1][1].append(line)
        else:
            out.append((who, [line]))
    return out


def wire(lines: list[str]) -> bytes:
    return "".join(x + "\r\n" for x in lines).encode("utf-8")


Answer = Callable[[ServerConnection, Any], None]


@dataclass
class Setup:
    config: ServerConfig
    answers: list[Answer] = field(default_factory=list)
    mechanisms: list[Any] = field(default_factory=list)


def _accept(text: str) -> Answer:
    return lambda s, ev: s.accept_login(ev.maildrop, text=text)


class NoInitialResponse(PlainClient):
    client_first = False


class Cancelling(PlainClient):
    client_first = False

    def respond(self, challenge: bytes) -> bytes:
        raise SASLError("this client gives up")


DEWEY = {"hostname": "dewey", "allow_plaintext_auth": True}
BLURDY = {
    "greeting": "pop.example.com BlurdyBlurp POP3 server ready",
    "capabilities": {"SASL", "STLS", "IMPLEMENTATION"},
    "sasl_mechanisms": ("PLAIN", "DIGEST-MD5", "GSSAPI", "ANONYMOUS"),
    "implementation": "BlurdyBlurp POP3 server",
    "capa_text": "List of capabilities follows",
}

SETUPS: dict[str, Setup] = {
    "rfc1939-section10-session.txt": Setup(
        ServerConfig(**DEWEY, apop=True, apop_timestamp=lambda: TIMESTAMP)  # type: ignore[arg-type]
    ),
    "rfc1939-authorization.txt": Setup(
        ServerConfig(**DEWEY, check_user=True),  # type: ignore[arg-type]
        answers=[
            lambda s, ev: s.reject_user("sorry, no mailbox for frated here"),
            lambda s, ev: s.accept_user("mrose is a real hoopy frood"),
            lambda s, ev: s.reject_login("maildrop already locked", code=None),
            lambda s, ev: s.accept_user("mrose is a real hoopy frood"),
        ],
    ),
    "rfc1939-authorization-quit.txt": Setup(ServerConfig(**DEWEY)),  # type: ignore[arg-type]
    "rfc1939-apop.txt": Setup(
        ServerConfig(**DEWEY, apop=True, apop_timestamp=lambda: TIMESTAMP),  # type: ignore[arg-type]
        answers=[_accept("maildrop has 1 message (369 octets)")],
    ),
    "rfc1939-transaction.txt": Setup(ServerConfig(**DEWEY)),  # type: ignore[arg-type]
    "rfc2449-capa.txt": Setup(
        ServerConfig(
            allow_plaintext_auth=True,
            capabilities={
                "TOP",
                "USER",
                "SASL",
                "RESP-CODES",
                "LOGIN-DELAY",
                "PIPELINING",
                "EXPIRE",
                "UIDL",
                "IMPLEMENTATION",
            },
            sasl_mechanisms=("CRAM-MD5", "KERBEROS_V4"),
            login_delay=900,
            expire="60",
            implementation="Shlemazle-Plotz-v302",
        )
    ),
    "rfc5034-auth-plain-ir.txt": Setup(
        ServerConfig(
            **BLURDY,  # type: ignore[arg-type]
            tls_available=True,
            stls_text="Begin TLS negotiation now",
        ),
        answers=[_accept("Maildrop locked and ready")],
        mechanisms=[PlainClient("test", "test", authzid="test")],
    ),
    "rfc5034-auth-plain.txt": Setup(
        ServerConfig(**BLURDY, tls_active=True),  # type: ignore[arg-type]
        answers=[_accept("Maildrop locked and ready")],
        mechanisms=[NoInitialResponse("test", "test", authzid="test")],
    ),
    "rfc5034-auth-failure.txt": Setup(
        ServerConfig(
            **{**BLURDY, "capabilities": {"SASL", "RESP-CODES", "AUTH-RESP-CODE"}},  # type: ignore[arg-type]
            tls_active=True,
        ),
        mechanisms=[PlainClient("test", "wrong", authzid="test"), Cancelling("test", "test")],
    ),
    "rfc2595-stls.txt": Setup(ServerConfig(tls_available=True)),
}


def test_every_trace_has_a_setup() -> None:
    assert sorted(p.name for p in TRACES.glob("*.txt")) == sorted(SETUPS)


class TraceApp:
    def __init__(self, trace: Trace, setup: Setup) -> None:
        self.trace = trace
        self.answers = list(setup.answers)
        self.maildrop = trace.maildrop

    def handle(self, server: ServerConnection, ev: Any) -> None:
        if isinstance(ev, (UserReceived, PasswordLogin, ApopLogin, SaslAuthenticated)):
            if self.answers:
                ev = _WithMaildrop(ev, self.maildrop)
                self.answers.pop(0)(server, ev)
                return
            if isinstance(ev, PasswordLogin):
                assert ev.password.expose() == "secret"
            if isinstance(ev, ApopLogin):
                assert ev.verify(PASSWORDS[ev.username])
            server.accept_login(self.maildrop)
        elif isinstance(ev, SaslRequest):
            req = ev.request
            assert isinstance(req, VerifyPassword)
            server.answer_sasl(req.password.expose() == "test")
        elif isinstance(ev, MessageRequested):
            data = self.trace.messages[ev.number]
            # In two chunks split mid-line, to show the stuffing spans them.
            server.send_message_data(data[:7])
            server.send_message_data(data[7:])
            server.end_message()
        elif isinstance(ev, UpdateRequested):
            server.finish_update()
        elif isinstance(ev, StartTLS):
            server.tls_established()
        elif isinstance(ev, SaslFailed):
            assert ev.mechanism == "PLAIN"
        else:
            assert isinstance(ev, ConnectionClosed), ev


class _WithMaildrop:
    def __init__(self, ev: Any, maildrop: list[MaildropEntry]) -> None:
        self.ev = ev
        self.maildrop = maildrop


@pytest.mark.parametrize("name", sorted(SETUPS))
def test_server_replay(name: str) -> None:
    trace, setup = load(name), SETUPS[name]
    app = TraceApp(trace, setup)
    server = ServerConnection(setup.config)
    sent = b""
    for who, lines in groups(trace):
        if who == "S":
            sent += server.data_to_send()
            assert sent == wire(lines)
            sent = b""
            continue
        if who == "TLS":
            continue  # the server resumed on its StartTLS event
        for line in lines:
            server.receive_data(wire([line]))
            while (ev := server.next_event()) is not NEED_DATA:
                app.handle(server, ev)
                if isinstance(ev, ConnectionClosed):
                    break
    assert server.data_to_send() == b""
    assert not app.answers


@pytest.mark.parametrize("name", sorted(SETUPS))
def test_client_replay(name: str) -> None:
    trace, setup = load(name), SETUPS[name]
    mechanisms = list(setup.mechanisms)
    client = ClientConnection(ClientConfig(allow_plaintext_auth=True))
    events: list[Any] = []
    for who, lines in groups(trace):
        if who == "S":
            for line in lines:
                client.receive_data(wire([line]))
                while (ev := client.next_event()) is not NEED_DATA:
                    events.append(ev)
                    if isinstance(ev, ConnectionClosed):
                        break
            continue
        if who == "TLS":
            assert isinstance(events[-1], StartTLS)
            client.tls_established()
            continue
        for line in lines:
            pending = client.data_to_send()
            if not pending:
                cmd = parse_command(line.encode("utf-8"))
                if isinstance(cmd, Apop):
                    client.apop(cmd.name, PASSWORDS[cmd.name])
                elif isinstance(cmd, Auth) and cmd.mechanism is not None:
                    client.auth(mechanisms.pop(0))
                elif isinstance(cmd, Pass):
                    client.pass_(cmd.password)
                else:
                    client.send(cmd)
                pending = client.data_to_send()
            assert pending == wire([line])
    assert client.data_to_send() == b""
    assert not mechanisms
    # The session's replies were all understood: the last event answers the
    # last command, and failures are Err events, never exceptions.
    assert events
    if name == "rfc5034-auth-failure.txt":
        assert [e.code for e in events if isinstance(e, Err)] == ["AUTH", None]


BATCHABLE = [
    "rfc1939-section10-session.txt",
    "rfc1939-authorization.txt",
    "rfc1939-authorization-quit.txt",
    "rfc1939-apop.txt",
    "rfc1939-transaction.txt",
    "rfc2449-capa.txt",
]


@pytest.mark.parametrize("name", BATCHABLE)
def test_client_reads_the_whole_session_three_ways(name: str) -> None:
    """All commands queued up front, then every server byte fed whole, one
    byte at a time, and with trailing data: the same events and the same
    bytes sent, in order, one command per reply (no PIPELINING offered)."""
    trace = load(name)
    greeting = wire([trace.steps[0][1]])
    replies = wire([line for who, line in trace.steps[1:] if who == "S"])
    commands = [line for who, line in trace.steps if who == "C"]
    results = []
    for label, chunks in three_ways(replies, trailing=b"+OK unsolicited\r\n"):
        client = ClientConnection(ClientConfig(allow_plaintext_auth=True))
        client.receive_data(greeting)
        events: list[Any] = [client.next_event()]
        for line in commands:
            cmd = parse_command(line.encode("utf-8"))
            if isinstance(cmd, Apop):
                client.apop(cmd.name, PASSWORDS[cmd.name])
            else:
                client.send(cmd)
        sent = client.data_to_send()
        assert sent == wire(commands[:1]), label
        unsolicited = label == "trailing" and commands[-1] != "QUIT"
        for chunk in chunks:
            client.receive_data(chunk)
            try:
                while (ev := client.next_event()) is not NEED_DATA:
                    events.append(ev)
                    if isinstance(ev, ConnectionClosed):
                        break
            except RemoteProtocolError as exc:
                # A reply nobody asked for (after QUIT, it is never read).
                message = exc.message
                assert unsolicited, message
                assert message == "reply with no command outstanding"
                unsolicited = False
            sent += client.data_to_send()
        assert not unsolicited, label
        assert sent == wire(commands), label
        results.append(merge_data(events))
    assert results[0] == results[1] == results[2]
    assert not any(isinstance(e, MessageData) and not e.data for e in results[0])
