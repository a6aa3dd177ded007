"""Mechanism names to classes, the client's preference order, and the
server-side factory."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any, Final

from ._anonymous import AnonymousClient, AnonymousServer
from ._base import ClientMechanism, SASLError, ServerMechanism
from ._cram_md5 import CramMD5Client, CramMD5Server
from ._external import ExternalClient, ExternalServer
from ._login import LoginClient, LoginServer
from ._oauthbearer import OAuthBearerClient, OAuthBearerServer
from ._plain import PlainClient, PlainServer
from ._scram import (
    ScramSHA1Client,
    ScramSHA1PlusClient,
    ScramSHA1PlusServer,
    ScramSHA1Server,
    ScramSHA256Client,
    ScramSHA256PlusClient,
    ScramSHA256PlusServer,
    ScramSHA256Server,
)
from ._xoauth2 import XOAuth2Client, XOAuth2Server

__all__ = [
    "CLIENT_MECHANISMS",
    "MECHANISM_PREFERENCE",
    "SERVER_MECHANISMS",
    "UnknownMechanism",
    "choose_mechanism",
    "create_server",
]

CLIENT_MECHANISMS: Final[Mapping[str, type[ClientMechanism]]] = {
    cls.name: cls
    for cls in (
        ScramSHA256PlusClient,
        ScramSHA256Client,
        ScramSHA1PlusClient,
        ScramSHA1Client,
        OAuthBearerClient,
        XOAuth2Client,
        CramMD5Client,
        PlainClient,
        LoginClient,
        ExternalClient,
        AnonymousClient,
    )
}

SERVER_MECHANISMS: Final[Mapping[str, type[ServerMechanism]]] = {
    cls.name: cls
    for cls in (
        ScramSHA256PlusServer,
        ScramSHA256Server,
        ScramSHA1PlusServer,
        ScramSHA1Server,
        OAuthBearerServer,
        XOAuth2Server,
        CramMD5Server,
        PlainServer,
        LoginServer,
        ExternalServer,
        AnonymousServer,
    )
}

#: What a client picks first, strongest first.  EXTERNAL and ANONYMOUS are
#: never picked automatically.
MECHANISM_PREFERENCE: Final = (
    "SCRAM-SHA-256-PLUS",
    "SCRAM-SHA-256",
    "SCRAM-SHA-1-PLUS",
    "SCRAM-SHA-1",
    "OAUTHBEARER",
    "XOAUTH2",
    "CRAM-MD5",
    "PLAIN",
    "LOGIN",
)
_TOKEN_MECHANISMS: Final = frozenset({"OAUTHBEARER", "XOAUTH2"})

# RFC 4422 section 3.1: sasl-mech = 1*20mech-char ; mech-char = UPPER-ALPHA / DIGIT / "-" / "_"
_MECH_NAME: Final = re.compile(r"[A-Z0-9\-_]{1,20}")

# Keyword options each server class takes besides the common ones.
_SERVER_OPTIONS: Final[Mapping[str, frozenset[str]]] = {
    "LOGIN": frozenset({"prompt_style"}),
    "CRAM-MD5": frozenset({"hostname", "challenge"}),
    "XOAUTH2": frozenset({"error"}),
    "OAUTHBEARER": frozenset({"host", "port", "error"}),
    **dict.fromkeys(
        ("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-1"),
        frozenset({"channel_binding_type", "nonce", "fake_key", "fake_iterations"}),
    ),
}
_COMMON_OPTIONS: Final = frozenset({"max_steps", "success_data_as_challenge"})
_ALL_OPTIONS: Final = _COMMON_OPTIONS.union(*_SERVER_OPTIONS.values())


class UnknownMechanism(SASLError):
    """The client asked for a mechanism this server does not offer.
    ``mechanism`` is the name asked for, when it is a well-formed one."""

    def __init__(self, message: str, *, mechanism: str | None = None) -> None:
        super().__init__(message)
        self.mechanism = mechanism


def create_server(
    name: str,
    *,
    channel_binding: bytes | None = None,
    allowed: Collection[str] | None = None,
    **options: Any,
) -> ServerMechanism:
    """A new server mechanism for ``name`` (case-insensitive).

    ``channel_binding`` is this connection's tls-server-end-point data, or
    ``None`` without TLS: the -PLUS variants need it, and the plain SCRAM
    variants use it to detect a downgrade.  ``allowed`` limits the names to
    those the server advertised.  ``options`` go to the mechanisms that take
    them (``hostname`` to CRAM-MD5, ``error`` to the token mechanisms, ...)
    and are ignored by the others, so one call site serves every name; an
    option no mechanism takes is a ``TypeError``.

    Raises :class:`UnknownMechanism` for a name that is unknown, not allowed,
    or a -PLUS variant without channel binding data.
    """
    unknown = set(options) - _ALL_OPTIONS
    if unknown:
        raise TypeError(f"create_server: unknown options {sorted(unknown)}")
    key = name.upper() if isinstance(name, str) else ""
    if not _MECH_NAME.fullmatch(key):
        raise UnknownMechanism("SASL: malformed mechanism name")
    if key not in SERVER_MECHANISMS or (
        allowed is not None and key not in {a.upper() for a in allowed}
    ):
        raise UnknownMechanism(f"SASL: mechanism {key} is not available", mechanism=key)
    if key.endswith("-PLUS") and channel_binding is None:
        raise UnknownMechanism(
            f"SASL: mechanism {key} is not available without channel binding", mechanism=key
        )
    accepted = _COMMON_OPTIONS | _SERVER_OPTIONS.get(key, frozenset())
    kwargs = {k: v for k, v in options.items() if k in accepted}
    if key.startswith("SCRAM-"):
        kwargs["channel_binding"] = channel_binding
    return SERVER_MECHANISMS[key](**kwargs)


def choose_mechanism(
    offered: Iterable[str],
    *,
    have_password: bool,
    have_token: bool,
    tls: bool,
    channel_binding_available: bool,
    allow_plaintext: bool = False,
) -> str | None:
    """The strongest mechanism in ``offered`` (case-insensitive) that the
    client can use, or ``None``.

    -PLUS needs ``channel_binding_available``; password mechanisms need
    ``have_password``, token ones ``have_token``; mechanisms that reveal a
    reusable secret (the ``plaintext`` flag: PLAIN, LOGIN, and bearer tokens)
    need ``tls`` unless ``allow_plaintext``.
    """
    names = {o.upper() for o in offered}
    for name in MECHANISM_PREFERENCE:
        if name not in names:
            continue
        if name.endswith("-PLUS") and not (channel_binding_available and tls):
            continue
        if name in _TOKEN_MECHANISMS:
            if not have_token:
                continue
        elif not have_password:
            continue
        if CLIENT_MECHANISMS[name].plaintext and not (tls or allow_plaintext):
            continue
        return name
    return None
