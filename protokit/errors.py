"""The error family every protokit parser and writer raises.

Whose fault it is decides the class: ``LocalProtocolError`` when *we* were asked
to send something invalid, ``RemoteProtocolError`` when the *peer* sent
something invalid.  Both carry, where the protocol has one, the reply a server
should send back (``tag BAD ...``, ``500 5.5.2 ...``, ``-ERR ...``).  A parser
raises nothing else: any other exception escaping ``next_event()`` is a bug.
"""

from __future__ import annotations

__all__ = [
    "BareLineEndingError",
    "LineTooLongError",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
]


class ProtocolError(Exception):
    """Base class of every protocol error protokit raises.

    ``reply`` is the complete reply to put on the wire (CRLF included) when the
    protocol defines one for this failure, else ``None``.  The message never
    contains secrets: callers pass descriptions, never raw AUTH lines.
    """

    def __init__(self, message: str, *, reply: bytes | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reply = reply

    def __repr__(self) -> str:
        if self.reply is None:
            return f"{type(self).__name__}({self.message!r})"
        return f"{type(self).__name__}({self.message!r}, reply={self.reply!r})"

    def with_reply(self, reply: bytes) -> ProtocolError:
        """Return a copy of this error, of the same class, carrying ``reply``."""
        err = type(self).__new__(type(self))
        err.__dict__.update(self.__dict__)
        ProtocolError.__init__(err, self.message, reply=reply)
        err.__cause__ = self.__cause__
        return err


class LocalProtocolError(ProtocolError):
    """We were asked to send something the protocol does not allow."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol does not allow."""


class LineTooLongError(RemoteProtocolError):
    """A line exceeded its limit.

    ``complete`` tells whether the over-long line (terminator included) was
    consumed; when it is ``False`` the caller decides whether to discard the
    rest with :meth:`protokit.wire.ReceiveBuffer.skip_line` or to close.
    """

    def __init__(
        self, message: str, *, limit: int, complete: bool, reply: bytes | None = None
    ) -> None:
        super().__init__(message, reply=reply)
        self.limit = limit
        self.complete = complete


class BareLineEndingError(RemoteProtocolError):
    """A line ended in, or contained, a CR or LF that was not part of CRLF.

    The offending line has been consumed; ``line`` holds it, terminator
    included, so a lenient caller may still use it.
    """

    def __init__(self, message: str, *, line: bytes, reply: bytes | None = None) -> None:
        super().__init__(message, reply=reply)
        self.line = line
