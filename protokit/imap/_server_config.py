"""Configuration of the IMAP server connection."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..errors import LocalProtocolError
from ..sasl import SERVER_MECHANISMS, ServerMechanism, create_server
from ._framer import MAX_MESSAGE, SERVER_MAX_LINE, STREAM_THRESHOLD
from ._grammar import TEXT

__all__ = ["ServerConfig", "default_sasl_factory"]


def default_sasl_factory(name: str, channel_binding: bytes | None) -> ServerMechanism:
    """The protokit.sasl server mechanism for ``name``.  IMAP cannot carry
    additional data with the tagged OK (RFC 3501 6.2.2, kept by RFC 9051
    6.2.2: the server sends it as a final challenge the client answers with
    an empty line), so SCRAM's server-final message goes as a challenge."""
    return create_server(name, channel_binding=channel_binding, success_data_as_challenge=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    """What the server connection offers and its limits.

    ``capabilities``: advertised as given (the connection adds STARTTLS,
    LOGINDISABLED and AUTH=... by state); IDLE, ENABLE, LITERAL+/-,
    SASL-IR and COMPRESS=DEFLATE are implemented by the connection, the
    rest by the application.  ``mechanisms``: SASL mechanisms offered;
    plaintext-equivalent ones (PLAIN, LOGIN, XOAUTH2, OAUTHBEARER) and LOGIN
    only under TLS unless ``allow_plaintext``.  ``starttls``: TLS can be
    started (the binding holds a certificate).  ``tls_active``: implicit TLS.
    ``preauth``: greet with PREAUTH (the session is authenticated already).
    ``literal_minus``: LITERAL- instead of LITERAL+ (non-synchronizing
    literals of at most 4096 octets, RFC 7888 section 4).
    ``announce_append``: report each APPEND message literal as
    ``AppendAnnounced`` before its octets, for the application to accept or
    refuse (``NO [TRYCREATE]``, over quota ...); otherwise every literal
    within the limits is accepted.
    """

    capabilities: tuple[str, ...] = (
        "IMAP4rev1",
        "LITERAL+",
        "SASL-IR",
        "IDLE",
        "ENABLE",
        "ID",
        "UNSELECT",
        "NAMESPACE",
        "UIDPLUS",
        "MOVE",
    )
    mechanisms: tuple[str, ...] = ("PLAIN",)
    starttls: bool = False
    tls_active: bool = False
    #: Implicit TLS: tls-server-end-point data (enables -PLUS mechanisms) and
    #: whether the client presented a verified certificate (enables EXTERNAL).
    channel_binding: bytes | None = None
    client_certificate_verified: bool = False
    allow_plaintext: bool = False
    preauth: bool = False
    greeting: str = "protokit IMAP server ready"
    #: Put [CAPABILITY ...] in the greeting (saves the client a round trip).
    greeting_capabilities: bool = True
    sasl_factory: Callable[[str, bytes | None], ServerMechanism] = default_sasl_factory
    max_line: int = SERVER_MAX_LINE
    max_literal: int = MAX_MESSAGE
    stream_threshold: int = STREAM_THRESHOLD
    #: Refused commands in a row before the connection is closed.
    max_errors: int = 10
    #: Octets a client may pipeline while the application answers a command
    #: (DESIGN.md: about 1000 queued commands); past it the connection closes.
    max_backlog: int = 1024 * 1024
    announce_append: bool = False

    def __post_init__(self) -> None:
        if TEXT.match(self.greeting.encode("utf-8")) is None:
            raise LocalProtocolError("CR, LF or NUL in the greeting")
        for m in self.mechanisms:
            if m.upper() not in SERVER_MECHANISMS:
                raise LocalProtocolError(f"unknown SASL mechanism: {m!r}")
        if self.max_errors < 1:
            raise ValueError("max_errors must be at least 1")

    @property
    def literal_minus(self) -> bool:
        caps = {c.upper() for c in self.capabilities}
        return "LITERAL-" in caps and "LITERAL+" not in caps
