"""The server's configuration: limits, capabilities offered, reply texts."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Final

from ..sasl._base import ServerMechanism
from ..sasl._registry import SERVER_MECHANISMS
from . import _grammar as g

__all__ = ["DEFAULT_CAPABILITIES", "MechanismFactory", "ServerConfig", "default_timestamp"]

#: The optional capabilities a server offers unless told otherwise.
DEFAULT_CAPABILITIES: Final = frozenset(
    {
        "TOP",
        "UIDL",
        "USER",
        "SASL",
        "RESP-CODES",
        "PIPELINING",
        "EXPIRE",
        "LOGIN-DELAY",
        "IMPLEMENTATION",
        "STLS",
        "UTF8",
        "AUTH-RESP-CODE",
    }
)

#: Every mechanism whose class is flagged ``plaintext`` (as SMTP's server uses).
PLAINTEXT_MECHANISMS: Final = frozenset(
    name for name, cls in SERVER_MECHANISMS.items() if cls.plaintext
) | {"PLAIN", "LOGIN"}

MechanismFactory = Callable[[str, "bytes | None"], "ServerMechanism | None"]


def default_timestamp(hostname: str) -> str:
    # RFC 1939 section 7: "<process-ID.clock@hostname>", unique per greeting.
    return f"<{os.getpid()}.{time.time_ns()}.{secrets.randbelow(10**9)}@{hostname}>"


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    """How a :class:`ServerConnection` behaves.  Every field has a default."""

    #: Used in the QUIT reply and the default APOP timestamp.
    hostname: str = "localhost"
    #: The greeting's text (the APOP timestamp is appended when APOP is on).
    greeting: str = "POP3 server ready"
    #: Longest command line accepted, without CRLF (RFC 2449 4: 255 with it;
    #: we accept 255 plus CRLF).
    max_command_line: int = 255
    #: Longest SASL continuation line, without CRLF.
    max_auth_line: int = 12 * 1024
    #: Commands that may sit buffered while the application answers.
    max_pipelined: int = 1000
    #: Refused commands tolerated before the connection is closed.
    max_errors: int = 20
    #: USER/PASS and plaintext SASL mechanisms without TLS.
    allow_plaintext_auth: bool = False
    #: Offer STLS (the binding has a certificate).
    tls_available: bool = False
    #: The connection is already under TLS (the 995 role).
    tls_active: bool = False
    #: Offer APOP (puts a timestamp in the greeting).
    apop: bool = False
    #: Makes the APOP timestamp; default "<pid.clock.random@hostname>".
    apop_timestamp: Callable[[], str] | None = None
    #: SASL mechanisms offered, in CAPA order.
    sasl_mechanisms: tuple[str, ...] = ("PLAIN",)
    #: Mechanisms that reveal a reusable secret (passwords, and the bearer
    #: tokens of XOAUTH2 and OAUTHBEARER, which RFC 7628 puts under TLS):
    #: only under TLS unless ``allow_plaintext_auth``.
    plaintext_mechanisms: frozenset[str] = PLAINTEXT_MECHANISMS
    #: Creates the server mechanism for a name and channel binding data;
    #: default ``protokit.sasl.create_server``.
    mechanism_factory: MechanismFactory | None = None
    #: Ask the application about USER names (``UserReceived``); otherwise
    #: USER is always accepted, so unknown users and bad passwords look alike.
    check_user: bool = False
    #: Optional capabilities offered (see DEFAULT_CAPABILITIES).
    capabilities: Collection[str] = DEFAULT_CAPABILITIES
    #: LOGIN-DELAY seconds and EXPIRE value ("NEVER" or days), when set.
    login_delay: int | None = None
    expire: str | None = None
    implementation: str = "protokit"
    #: Texts of the replies that have no fixed wording.
    capa_text: str = "Capability list follows"
    stls_text: str = "Begin TLS negotiation"
    user_text: str = "send PASS"

    def __post_init__(self) -> None:
        if self.max_command_line < 253 or self.max_auth_line < self.max_command_line:
            raise ValueError("line limits below the RFC minimum")
        if self.max_pipelined < 1 or self.max_errors < 1:
            raise ValueError("max_pipelined and max_errors must be >= 1")
        for name in self.sasl_mechanisms:
            if not g.MECHANISM.fullmatch(name.encode("ascii", "replace")):
                raise ValueError("invalid SASL mechanism name")
        texts = [self.hostname, self.greeting, self.implementation, self.capa_text]
        texts += [self.stls_text, self.user_text]
        if any(not t.isprintable() for t in texts) or not self.hostname:
            raise ValueError("reply texts must be printable, one line")
        # RFC 2449 6.7: EXPIRE 0 / n days / NEVER, optionally " USER".
        if self.expire is not None and not g.EXPIRE_VALUE.fullmatch(self.expire):
            raise ValueError("EXPIRE is NEVER or a number of days, optionally with USER")
        if self.login_delay is not None and not 0 <= self.login_delay < 10**9:
            raise ValueError("LOGIN-DELAY is a number of seconds")
