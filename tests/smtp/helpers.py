"""Helpers for the SMTP tests: feeding bytes three ways, an application that
answers a server, and a client wired to a server."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from protokit import NEED_DATA
from protokit.smtp import (
    ClientConnection,
    DataReply,
    Event,
    MessageData,
    Reply,
    ServerConnection,
)

TRAILING = b"NOOP\r\n"


def chunkings(data: bytes) -> Iterator[tuple[str, list[bytes]]]:
    """(label, chunks): whole, one byte at a time, and in 3-byte pieces."""
    yield "whole", [data]
    yield "bytewise", [data[i : i + 1] for i in range(len(data))]
    yield "threes", [data[i : i + 3] for i in range(0, len(data), 3)]


def merge_data(events: Iterable[Event]) -> list[Event]:
    """Join consecutive MessageData events, so chunkings compare equal."""
    out: list[Event] = []
    for ev in events:
        if isinstance(ev, MessageData) and out and isinstance(out[-1], MessageData):
            out[-1] = MessageData(data=out[-1].data + ev.data)
        else:
            out.append(ev)
    return out


Answer = Callable[[ServerConnection, Event], None]


def accept_all(conn: ServerConnection, ev: Event) -> None:
    while conn.pending is not None and conn.pending != "AuthRequest":
        conn.reply()


@dataclass
class ServerRun:
    events: list[Event] = field(default_factory=list)
    output: bytes = b""


def run_server(
    chunks: Iterable[bytes],
    conn: ServerConnection | None = None,
    answer: Answer = accept_all,
) -> ServerRun:
    """Feed ``chunks`` to a server, answering each question with ``answer``."""
    conn = conn or ServerConnection()
    run = ServerRun()
    out = bytearray(conn.data_to_send())
    for chunk in chunks:
        conn.receive_data(chunk)
        while (ev := conn.next_event()) is not NEED_DATA:
            run.events.append(ev)
            answer(conn, ev)
        out += conn.data_to_send()
    run.events = merge_data(run.events)
    run.output = bytes(out)
    return run


def server_output(data: bytes, **kw: object) -> bytes:
    """The server's replies after the greeting, for ``data`` fed whole."""
    conn = ServerConnection(**kw)  # type: ignore[arg-type]
    conn.data_to_send()
    return run_server([data], conn).output


def ehlo_server(**config: object) -> ServerConnection:
    """A server that has greeted and seen EHLO (both drained)."""
    from protokit.smtp import ServerConfig

    conn = ServerConnection(ServerConfig(**config))  # type: ignore[arg-type]
    run_server([b"LHLO c.example\r\n" if config.get("lmtp") else b"EHLO c.example\r\n"], conn)
    return conn


class Pair:
    """A client wired to a server; ``pump()`` moves bytes until both are idle."""

    def __init__(
        self,
        client: ClientConnection | None = None,
        server: ServerConnection | None = None,
        answer: Answer = accept_all,
        body: Callable[[ClientConnection], None] | None = None,
    ) -> None:
        self.client = client or ClientConnection()
        self.server = server or ServerConnection()
        self.answer = answer
        self.body = body
        self.server_events: list[Event] = []
        self.client_events: list[Event] = []

    def pump(self) -> list[Event]:
        """Run until quiet; return the client events of this pump."""
        start = len(self.client_events)
        for _ in range(10_000):
            moved = False
            data = self.client.data_to_send()
            if data:
                moved = True
                self.server.receive_data(data)
            while (ev := self.server.next_event()) is not NEED_DATA:
                self.server_events.append(ev)
                self.answer(self.server, ev)
            data = self.server.data_to_send()
            if data:
                moved = True
                self.client.receive_data(data)
            while (cev := self.client.next_event()) is not NEED_DATA:
                self.client_events.append(cev)
                if isinstance(cev, DataReply) and cev.proceed and self.body is not None:
                    self.body(self.client)
            if not moved:
                break
        self.server_events = merge_data(self.server_events)
        return self.client_events[start:]

    def greet(self) -> None:
        self.pump()
        self.client.ehlo("client.example")
        self.pump()


def reply(code: int, enhanced: str | None = None, text: str = "x") -> Reply:
    return Reply(code=code, enhanced=enhanced, lines=(text,))
