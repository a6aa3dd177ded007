"""Values of the SMTP codec: replies, extensions, MAIL/RCPT parameters,
capabilities and the two configuration objects."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import LocalProtocolError, RemoteProtocolError
from ..wire import BareLineEndingPolicy
from . import _grammar as g

if TYPE_CHECKING:
    from ..sasl._base import ServerMechanism

__all__ = [
    "Body",
    "Capabilities",
    "ClientConfig",
    "Extension",
    "MailParams",
    "Notify",
    "RcptParams",
    "Reply",
    "Ret",
    "ServerConfig",
    "xtext_decode",
    "xtext_encode",
]

_FORBIDDEN = ("\r", "\n", "\x00")


class Extension(enum.Enum):
    """The service extensions a server may advertise in its EHLO reply."""

    __hash__ = object.__hash__  # identity hash in C: checked on every command

    SIZE = "SIZE"  # RFC 1870
    EIGHTBITMIME = "8BITMIME"  # RFC 6152
    SMTPUTF8 = "SMTPUTF8"  # RFC 6531
    PIPELINING = "PIPELINING"  # RFC 2920
    CHUNKING = "CHUNKING"  # RFC 3030
    BINARYMIME = "BINARYMIME"  # RFC 3030
    DSN = "DSN"  # RFC 3461
    ENHANCEDSTATUSCODES = "ENHANCEDSTATUSCODES"  # RFC 2034
    STARTTLS = "STARTTLS"  # RFC 3207
    AUTH = "AUTH"  # RFC 4954
    REQUIRETLS = "REQUIRETLS"  # RFC 8689


class Body(enum.Enum):
    """MAIL FROM's BODY= value (RFC 6152, RFC 3030)."""

    SEVEN_BIT = "7BIT"
    EIGHT_BIT_MIME = "8BITMIME"
    BINARYMIME = "BINARYMIME"


class Ret(enum.Enum):
    """MAIL FROM's RET= value (RFC 3461 4.3)."""

    FULL = "FULL"
    HDRS = "HDRS"


class Notify(enum.Enum):
    """One value of RCPT TO's NOTIFY= list (RFC 3461 4.1)."""

    NEVER = "NEVER"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    DELAY = "DELAY"


def _check_text(text: str, what: str) -> None:
    for ch in _FORBIDDEN:
        if ch in text:
            raise LocalProtocolError(f"{what} must not contain CR, LF or NUL")


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """One SMTP reply: a three-digit code, an optional enhanced status code
    (RFC 3463, e.g. ``"2.1.0"``) and one or more text lines.

    Built by a user, it is validated: no CR, LF or NUL in any text, the
    enhanced code's class matching the reply's.  Built by the parser, it holds
    what the peer sent.
    """

    code: int
    enhanced: str | None = None
    lines: tuple[str, ...] = ("",)

    def __post_init__(self) -> None:
        if not isinstance(self.code, int) or not 200 <= self.code <= 599:
            raise LocalProtocolError(f"reply code must be 200-599, not {self.code!r}")
        lines: object = self.lines
        if isinstance(lines, str):  # Reply(code=250, lines="OK") is allowed
            object.__setattr__(self, "lines", (lines,))
        if not self.lines:
            raise LocalProtocolError("a reply has at least one line")
        for line in self.lines:
            _check_text(line, "reply text")
        if self.enhanced is not None:
            m = g.ENHANCED_CODE.fullmatch(self.enhanced.encode("ascii", "replace"))
            if m is None or int(m.group(1)) != self.code // 100:
                raise LocalProtocolError(
                    f"enhanced status code {self.enhanced!r} does not fit reply {self.code}"
                )

    @property
    def text(self) -> str:
        """The text lines joined with newlines."""
        return "\n".join(self.lines)

    @property
    def is_positive(self) -> bool:
        return self.code < 400

    @property
    def is_transient(self) -> bool:
        return 400 <= self.code < 500

    def to_bytes(self, *, enhanced: bool = True) -> bytes:
        """The reply on the wire.  ``enhanced=False`` leaves the enhanced code out."""
        prefix = b"%d" % self.code
        esc = f"{self.enhanced} " if enhanced and self.enhanced else ""
        lines = self.lines
        out = []
        last = len(lines) - 1
        for i, line in enumerate(lines):
            for ch in _FORBIDDEN:  # the writer checks again: parser-built replies too
                if ch in line:
                    raise LocalProtocolError("reply text must not contain CR, LF or NUL")
            text = (esc + line).rstrip(" ") if line or esc else ""
            sep = b" " if i == last else b"-"
            if text:
                out.append(prefix + sep + text.encode("utf-8") + b"\r\n")
            else:
                out.append(prefix + (b"\r\n" if i == last else b"-\r\n"))
        return b"".join(out)


def make_reply(code: int, enhanced: str | None, lines: tuple[str, ...]) -> Reply:
    """Build a reply without validation (the parser's path)."""
    r = object.__new__(Reply)
    object.__setattr__(r, "code", code)
    object.__setattr__(r, "enhanced", enhanced)
    object.__setattr__(r, "lines", lines)
    return r


# -- xtext (RFC 3461 4) ---------------------------------------------------------


def xtext_encode(value: str) -> str:
    """Encode ``value`` as xtext: "+" "=" and bytes outside 33-126 become +XX."""
    out = []
    for b in value.encode("utf-8"):
        if 33 <= b <= 126 and b not in (0x2B, 0x3D):
            out.append(chr(b))
        else:
            out.append(f"+{b:02X}")
    return "".join(out)


def xtext_decode(value: bytes) -> str:
    """Decode xtext; raise :class:`RemoteProtocolError` if it is malformed."""
    if g.XTEXT.fullmatch(value) is None:
        raise RemoteProtocolError("malformed xtext")
    out = bytearray()
    i = 0
    n = len(value)
    while i < n:
        c = value[i]
        if c == 0x2B:
            out.append(int(value[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(c)
            i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise RemoteProtocolError("xtext is not UTF-8") from None


# -- MAIL and RCPT parameters ------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class MailParams:
    """MAIL FROM parameters, typed where an extension defines them.

    ``extra`` holds every parameter no enabled extension defines, in order,
    keyword upper-cased, value raw (``None`` when absent): the application
    decides about those.
    """

    size: int | None = None
    body: Body | None = None
    smtputf8: bool = False
    ret: Ret | None = None
    envid: str | None = None
    auth: str | None = None
    requiretls: bool = False
    extra: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class RcptParams:
    """RCPT TO parameters: DSN's NOTIFY and ORCPT typed, the rest in ``extra``.

    ``orcpt`` is (address type, decoded address), e.g. ``("rfc822", "a@b")``.
    """

    notify: frozenset[Notify] | None = None
    orcpt: tuple[str, str] | None = None
    extra: tuple[tuple[str, str | None], ...] = ()


# -- capabilities (client side) ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a server advertised in its EHLO/LHLO reply.

    ``entries`` maps each upper-cased keyword to its parameters.  Servers that
    send both "AUTH PLAIN" and "AUTH=LOGIN" lines get the union of both.
    """

    entries: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __contains__(self, keyword: object) -> bool:
        if isinstance(keyword, Extension):
            keyword = keyword.value
        return isinstance(keyword, str) and keyword.upper() in self.entries

    def params(self, keyword: str) -> tuple[str, ...]:
        return self.entries.get(keyword.upper(), ())

    @property
    def size(self) -> int | None:
        """The SIZE limit, ``None`` when absent or unstated, 0 for "no limit"."""
        p = self.entries.get("SIZE")
        if not p:
            return None
        try:
            return int(p[0]) if p[0].isdigit() else None
        except ValueError:
            return None

    @property
    def auth_mechanisms(self) -> frozenset[str]:
        return frozenset(m.upper() for m in self.entries.get("AUTH", ()))


# -- configuration ---------------------------------------------------------------

DEFAULT_EXTENSIONS = frozenset(
    {
        Extension.SIZE,
        Extension.EIGHTBITMIME,
        Extension.SMTPUTF8,
        Extension.PIPELINING,
        Extension.CHUNKING,
        Extension.BINARYMIME,
        Extension.DSN,
        Extension.ENHANCEDSTATUSCODES,
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    """How a :class:`~protokit.smtp.ServerConnection` behaves.

    ``extensions`` lists what EHLO advertises; STARTTLS is added when
    ``starttls`` is true (the binding must be able to wrap TLS), AUTH when
    ``auth_mechanisms`` is non-empty, REQUIRETLS only once TLS is active.
    Plaintext mechanisms (PLAIN, LOGIN) are offered only under TLS unless
    ``allow_plaintext_auth``.  ``sasl_factory`` builds a server mechanism by
    name; the default is :func:`protokit.sasl.create_server`.
    """

    hostname: str = "localhost"
    greeting: str | None = None
    #: True: nothing is sent until the application calls greet() or refuse().
    defer_greeting: bool = False
    lmtp: bool = False
    extensions: frozenset[Extension] = DEFAULT_EXTENSIONS
    starttls: bool = False
    auth_mechanisms: tuple[str, ...] = ()
    sasl_factory: Callable[..., ServerMechanism] | None = None
    require_tls: bool = False
    auth_required: bool = False
    allow_plaintext_auth: bool = False
    requiretls: bool = False
    bare_line_ending: BareLineEndingPolicy = BareLineEndingPolicy.REJECT
    max_command_line: int = 512
    max_text_line: int = 1000
    max_auth_line: int = 12288
    max_message_size: int = 64 * 1024 * 1024
    max_recipients: int = 1000
    max_pipelined: int = 1000
    #: Refused commands tolerated in one session before 421 and close.
    max_bad_commands: int = 100
    max_chunk: int = 65536
    #: Plaintext pipelined after STARTTLS: False closes with an error (the
    #: default); True discards it and goes on with the TLS hand-off.
    discard_after_starttls: bool = False

    def __post_init__(self) -> None:
        for text in (self.hostname, self.greeting or ""):
            _check_text(text, "hostname and greeting")
        if self.max_text_line < 1000:
            raise LocalProtocolError("max_text_line may only be raised above 1000")
        if self.max_command_line < 512 or self.max_auth_line < self.max_command_line:
            raise LocalProtocolError("command line limits below RFC 5321's 512")


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientConfig:
    """How a :class:`~protokit.smtp.ClientConnection` behaves.

    ``require_tls`` refuses to authenticate or send mail before STARTTLS
    succeeded (stripping protection); plaintext SASL mechanisms need TLS
    unless ``allow_plaintext_auth``.
    """

    local_hostname: str = "localhost"
    lmtp: bool = False
    require_tls: bool = False
    allow_plaintext_auth: bool = False
    max_reply_line: int = 2048
    max_reply_lines: int = 256
    max_command_line: int = 512
    max_initial_response_line: int = 512

    def __post_init__(self) -> None:
        _check_text(self.local_hostname, "local hostname")
        if g.HELO_ARG.fullmatch(self.local_hostname.encode("utf-8")) is None:
            raise LocalProtocolError("local_hostname is not a domain or address literal")
