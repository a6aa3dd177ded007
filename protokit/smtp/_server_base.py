"""The server connection's state and the helpers every part of it shares."""

from __future__ import annotations

from collections import deque
from typing import NoReturn

from ..errors import RemoteProtocolError
from ..sasl._base import ServerMechanism
from ..wire import DotUnstuffer, ReceiveBuffer
from ._events import BadCommand, Event
from ._replies import CONSTANT_IDS, WIRE_CACHE, r
from ._state import State
from ._types import Extension, MailParams, Reply, ServerConfig

__all__ = ["ServerBase"]


class ServerBase:
    """State shared by :class:`~protokit.smtp.ServerConnection` and its parts."""

    def __init__(self, config: ServerConfig | None = None, *, tls_active: bool = False) -> None:
        self.config = cfg = config or ServerConfig()
        self.tls_active = tls_active
        self.state = State.GREETING
        self.helo: str | None = None
        self.esmtp = False
        self.authenticated: str | None = None
        self.channel_binding: bytes | None = None
        self._buf = ReceiveBuffer()
        self._out: list[bytes] = []
        self._queued = 0
        self._events: deque[Event] = deque()
        self._pending: Event | None = None
        self._pending_count = 0
        self._question: Event | None = None
        self._question_count = 0
        self._eof = False
        self._closed_reported = False
        self._skipping = False
        self._errors = 0
        self._esc = Extension.ENHANCEDSTATUSCODES in cfg.extensions
        self._greeted = False
        # The transaction.
        self._mail: MailParams | None = None
        self._sender: str | None = None
        self._recipients: list[str] = []
        self._rcpt_count = 0
        # Message reading.
        self._unstuffer: DotUnstuffer | None = None
        self._size = 0
        self._rejected: Reply | None = None
        self._reject_reason = ""
        self._line_len = 0
        self._bdat_left = 0
        self._bdat_last = False
        self._bdat_drain = False
        self._bdat_started = False
        self._after_drain = State.READY
        # SASL.
        self._mech: ServerMechanism | None = None
        self._mech_name = ""

    def _emit(self, reply: Reply) -> None:
        # The server's own replies are constants: encode each once.
        key = (id(reply), self._esc)
        wire = WIRE_CACHE.get(key)
        if wire is None:
            wire = reply.to_bytes(enhanced=self._esc)
            if id(reply) in CONSTANT_IDS:
                WIRE_CACHE[key] = wire
        self._out.append(wire)
        self._queued += 1

    def _bad(self, reply: Reply, reason: str | None = None) -> BadCommand:
        self._errors += 1
        if self._errors > self.config.max_bad_commands:
            self._fatal("too many bad commands", "Too many errors")
        self._emit(reply)
        return BadCommand(reply=reply, reason=reason or reply.lines[0])

    def _fatal(self, message: str, text: str) -> NoReturn:
        """A violation that ends the session: queue the 421, then raise with it.

        As in every protokit server connection, the closing reply is already
        in ``data_to_send()``; ``.reply`` repeats it for the record.  A binding
        flushes, then closes.
        """
        self.state = State.ERROR
        closing = r(421, "4.7.0", f"{self.config.hostname} {text}, closing connection")
        wire = closing.to_bytes(enhanced=self._esc)
        self._out.append(wire)
        raise RemoteProtocolError(message, reply=wire)

    def _ask(self, ev: Event, count: int = 1) -> Event:
        self._question = ev
        self._question_count = count
        return ev

    def _reset_transaction(self) -> None:
        self._mail = None
        self._sender = None
        self._recipients = []
        self._rcpt_count = 0
        self._unstuffer = None
        self._size = 0
        self._rejected = None
        self._bdat_started = False
        if self.state not in (State.GREETING, State.REFUSED, State.CLOSED, State.TLS):
            self.state = State.READY if self.helo is not None else State.GREETING
