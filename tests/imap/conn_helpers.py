"""Helpers for the connection tests: drain events, feed bytes three ways,
and a client wired to a server with a scripted application."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from protokit import NEED_DATA
from protokit.imap import (
    ClientConnection,
    CommandReceived,
    ConnectionClosed,
    SaslAuthenticated,
    SaslRequest,
    ServerConfig,
    ServerConnection,
)

Conn = ClientConnection | ServerConnection


def events(conn: Conn) -> list[Any]:
    """Every event available now (up to ConnectionClosed, which repeats)."""
    out: list[Any] = []
    while True:
        ev = conn.next_event()
        if ev is NEED_DATA:
            return out
        out.append(ev)
        if isinstance(ev, ConnectionClosed):
            return out


def feed(conn: Conn, chunks: Iterable[bytes]) -> list[Any]:
    """Feed each chunk and collect the events after each."""
    out: list[Any] = []
    for chunk in chunks:
        conn.receive_data(chunk)
        out.extend(events(conn))
    return out


def three_ways(data: bytes, trailing: bytes = b"") -> list[tuple[str, list[bytes]]]:
    """Whole, byte by byte, and whole followed by ``trailing`` data."""
    return [
        ("whole", [data]),
        ("bytewise", [data[i : i + 1] for i in range(len(data))]),
        ("trailing", [data + trailing]),
    ]


def greeted_client(caps: str = "IMAP4rev1", **kwargs: Any) -> ClientConnection:
    c = ClientConnection(**kwargs)
    c.receive_data(b"* OK [CAPABILITY " + caps.encode() + b"] ready\r\n")
    events(c)
    return c


def greeted_server(**kwargs: Any) -> ServerConnection:
    s = ServerConnection(ServerConfig(**kwargs))
    s.data_to_send()
    return s


App = Callable[[ServerConnection, Any], None]


def default_app(server: ServerConnection, ev: Any) -> None:
    """Answers every request positively: passwords are right, commands OK."""
    if isinstance(ev, SaslRequest):
        server.answer_sasl(True)
    elif isinstance(ev, SaslAuthenticated) or (
        isinstance(ev, CommandReceived) and type(ev.command).__name__ != "Idle"
    ):
        server.complete("OK")


class Pair:
    """A client wired to a server; ``app`` answers the server's events."""

    def __init__(
        self,
        client: ClientConnection | None = None,
        server: ServerConnection | None = None,
        app: App = default_app,
    ) -> None:
        self.client = client if client is not None else ClientConnection(allow_plaintext=True)
        self.server = (
            server if server is not None else ServerConnection(ServerConfig(allow_plaintext=True))
        )
        self.app = app
        self.client_events: list[Any] = []
        self.server_events: list[Any] = []
        self.wire: list[tuple[str, bytes]] = []

    def pump(self, rounds: int = 50) -> None:
        """Move bytes both ways until neither side has anything to say."""
        for _ in range(rounds):
            moved = False
            data = self.server.data_to_send()
            if data:
                moved = True
                self.wire.append(("S", data))
                self.client.receive_data(data)
            self.client_events.extend(events(self.client))
            data = self.client.data_to_send()
            if data:
                moved = True
                self.wire.append(("C", data))
                self.server.receive_data(data)
            while True:
                ev = self.server.next_event()
                if ev is NEED_DATA:
                    break
                self.server_events.append(ev)
                if isinstance(ev, ConnectionClosed):
                    break
                self.app(self.server, ev)
                moved = True
            if not moved:
                return
        raise AssertionError("the pair did not settle")

    def take(self) -> list[Any]:
        out, self.client_events = self.client_events, []
        return out


def authed_client(caps: str = "IMAP4rev1", **kwargs: Any) -> ClientConnection:
    """A client greeted with PREAUTH (authenticated state)."""
    c = ClientConnection(**kwargs)
    c.receive_data(b"* PREAUTH [CAPABILITY " + caps.encode() + b"] ready\r\n")
    events(c)
    return c
