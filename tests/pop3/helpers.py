"""POP3 test helpers: readers fed three ways, a client/server pair, and a
scripted application that answers the server's events."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from protokit import NEED_DATA
from protokit.pop3 import (
    ApopLogin,
    ClientConfig,
    ClientConnection,
    ConnectionClosed,
    MaildropEntry,
    MessageRequested,
    PasswordLogin,
    SaslAuthenticated,
    SaslRequest,
    ServerConfig,
    ServerConnection,
    UpdateRequested,
    octet_count,
)
from protokit.sasl import VerifyPassword


def three_ways(data: bytes, trailing: bytes = b"") -> Iterator[tuple[str, list[bytes]]]:
    """(label, chunks): whole, one byte at a time, and whole followed by
    ``trailing`` bytes in the same segment."""
    yield "whole", [data]
    yield "bytewise", [data[i : i + 1] for i in range(len(data))]
    yield "trailing", [data + trailing]


def drain(conn: Any) -> list[Any]:
    """Every event ``conn`` has now."""
    out = []
    while (ev := conn.next_event()) is not NEED_DATA:
        out.append(ev)
        if isinstance(ev, ConnectionClosed):
            break
    return out


def feed(conn: Any, chunks: Sequence[bytes]) -> list[Any]:
    """Feed each chunk and collect events after each."""
    events = []
    for c in chunks:
        conn.receive_data(c)
        events.extend(drain(conn))
    return events


def merge_data(events: list[Any]) -> list[Any]:
    """Join adjacent MessageData events (chunking differs between feeds)."""
    from protokit.pop3 import MessageData

    out: list[Any] = []
    for ev in events:
        if isinstance(ev, MessageData) and out and isinstance(out[-1], MessageData):
            out[-1] = MessageData(data=out[-1].data + ev.data)
        else:
            out.append(ev)
    return out


class MailApp:
    """A server application: users with passwords, one maildrop, message
    bytes streamed in ``chunk``-sized pieces."""

    def __init__(
        self,
        messages: Sequence[bytes] = (),
        *,
        users: dict[str, str] | None = None,
        chunk: int = 4096,
        uids: Sequence[str] | None = None,
    ) -> None:
        self.messages = list(messages)
        self.users = {"alice": "wonderland"} if users is None else users
        self.chunk = chunk
        self.uids = list(uids) if uids else [f"uid{i}" for i in range(len(self.messages))]
        self.deleted: tuple[int, ...] | None = None
        self.events: list[Any] = []

    def maildrop(self) -> list[MaildropEntry]:
        return [
            MaildropEntry(size=octet_count(m), uid=u)
            for m, u in zip(self.messages, self.uids, strict=True)
        ]

    def handle(self, server: ServerConnection, ev: Any) -> None:
        self.events.append(ev)
        if isinstance(ev, PasswordLogin):
            if self.users.get(ev.username) == ev.password.expose():
                server.accept_login(self.maildrop())
            else:
                server.reject_login()
        elif isinstance(ev, ApopLogin):
            pw = self.users.get(ev.username)
            if pw is not None and ev.verify(pw):
                server.accept_login(self.maildrop())
            else:
                server.reject_login()
        elif isinstance(ev, SaslRequest):
            req = ev.request
            assert isinstance(req, VerifyPassword)
            ok = self.users.get(req.authcid) == req.password.expose()
            server.answer_sasl(ok and req.authzid in (None, req.authcid))
        elif isinstance(ev, SaslAuthenticated):
            server.accept_login(self.maildrop())
        elif isinstance(ev, MessageRequested):
            data = self.messages[ev.number - 1]
            for i in range(0, len(data), self.chunk):
                if not server.message_wanted:
                    break
                server.send_message_data(data[i : i + self.chunk])
            server.end_message()
        elif isinstance(ev, UpdateRequested):
            self.deleted = ev.deleted
            server.finish_update()


class Pair:
    """Our client against our server, pumped in memory."""

    def __init__(
        self,
        app: MailApp | None = None,
        *,
        server_config: ServerConfig | None = None,
        client_config: ClientConfig | None = None,
        handle: Callable[[ServerConnection, Any], None] | None = None,
    ) -> None:
        self.app = app if app is not None else MailApp()
        self.server = ServerConnection(
            server_config if server_config is not None else ServerConfig(allow_plaintext_auth=True)
        )
        self.client = ClientConnection(
            client_config if client_config is not None else ClientConfig(allow_plaintext_auth=True)
        )
        self.handle = handle if handle is not None else self.app.handle
        self.wire_c2s = bytearray()
        self.wire_s2c = bytearray()
        self.server_closed = False
        self.client_closed = False

    def pump(self, max_rounds: int = 10_000) -> list[Any]:
        """Move bytes both ways until neither side has anything to say;
        return the client's events."""
        events: list[Any] = []
        for _ in range(max_rounds):
            moved = False
            s2c = self.server.data_to_send()
            if s2c:
                moved = True
                self.wire_s2c += s2c
                self.client.receive_data(s2c)
            if not self.client_closed:
                evs = drain(self.client)
                self.client_closed = any(isinstance(e, ConnectionClosed) for e in evs)
                events.extend(evs)
            c2s = self.client.data_to_send()
            if c2s:
                moved = True
                self.wire_c2s += c2s
                self.server.receive_data(c2s)
            while not self.server_closed and (ev := self.server.next_event()) is not NEED_DATA:
                moved = True
                self.handle(self.server, ev)
                self.server_closed = isinstance(ev, ConnectionClosed)
            if not moved:
                return events
        raise AssertionError("pump did not settle")
