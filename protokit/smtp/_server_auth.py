"""The server's AUTH command (RFC 4954) over the protokit.sasl contract."""

from __future__ import annotations

from typing import Any

from .._sentinel import NEED_DATA, NeedData
from ..errors import (
    BareLineEndingError,
    LineTooLongError,
    LocalProtocolError,
    ProtocolError,
)
from ..sasl import SERVER_MECHANISMS, create_server
from ..sasl._base import Challenge, Failure, Request, ServerMechanism, Step, Success
from ..wire import (
    CANCEL,
    InvalidBase64Error,
    b64encode,
    parse_initial_response,
    parse_response,
)
from . import _grammar as g
from ._events import Authenticated, AuthFailed, AuthRequest, Event
from ._replies import (
    AUTH_BAD_B64,
    AUTH_CANCELLED,
    AUTH_FAILED,
    AUTH_LINE_TOO_LONG,
    NOT_IMPLEMENTED,
    r,
)
from ._server_base import ServerBase
from ._state import State
from ._types import Reply

__all__ = ["AuthMixin"]

_PLAINTEXT_MECHANISMS = frozenset(
    name for name, cls in SERVER_MECHANISMS.items() if cls.plaintext
) | {"PLAIN", "LOGIN"}


def _default_sasl_factory(name: str, *, channel_binding: bytes | None = None) -> ServerMechanism:
    return create_server(name, channel_binding=channel_binding)


class AuthMixin(ServerBase):
    """AUTH: create the mechanism, relay its steps, hand requests to the
    application."""

    def answer_auth(self, result: object) -> None:
        """Answer the pending :class:`AuthRequest` (see the request's class)."""
        ev = self._pending
        if not isinstance(ev, AuthRequest) or self._mech is None:
            raise LocalProtocolError("no authentication request is pending")
        self._pending = None
        ev2 = self._auth_step(self._mech.answer(result))
        if ev2 is not NEED_DATA:
            self._events.append(ev2)

    def _offered_mechanisms(self) -> list[str]:
        cfg = self.config
        plain_ok = self.tls_active or cfg.allow_plaintext_auth
        return [
            m.upper()
            for m in cfg.auth_mechanisms
            if plain_ok or m.upper() not in _PLAINTEXT_MECHANISMS
        ]

    def _auth(self, line: bytes, arg: bytes, new: State) -> Event | NeedData:
        cfg = self.config
        if not cfg.auth_mechanisms:
            return self._bad(NOT_IMPLEMENTED)
        if self.authenticated is not None:
            return self._bad(r(503, "5.5.1", "Already authenticated"))
        m = g.AUTH_ARGS.fullmatch(arg)
        if m is None:
            return self._bad(r(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]"))
        name = m.group(1).decode("ascii").upper()
        if name not in (x.upper() for x in cfg.auth_mechanisms):
            return self._bad(r(504, "5.5.4", "Unrecognized authentication type"))
        if name not in self._offered_mechanisms():
            return self._bad(
                r(538, "5.7.11", "Encryption required for requested authentication mechanism")
            )
        try:
            initial = parse_initial_response(m.group(2))
        except InvalidBase64Error:
            return self._bad(AUTH_BAD_B64)
        factory: Any = cfg.sasl_factory or _default_sasl_factory
        try:
            mech: ServerMechanism = factory(name, channel_binding=self.channel_binding)
        except (KeyError, ValueError, ProtocolError):
            return self._bad(r(504, "5.5.4", "Unrecognized authentication type"))
        if mech.plaintext and not (self.tls_active or cfg.allow_plaintext_auth):
            return self._bad(
                r(538, "5.7.11", "Encryption required for requested authentication mechanism")
            )
        # RFC 4954 4: SMTP carries no data with 235; a mechanism's final data
        # (SCRAM's server signature) goes as a last 334 challenge.
        mech.success_data_as_challenge = True
        self._mech = mech
        self._mech_name = name
        self.state = State.AUTH
        return self._auth_step(mech.start(initial))

    def _auth_step(self, step: Step) -> Event | NeedData:
        name = self._mech_name
        if isinstance(step, Challenge):
            self._out.append(b"334 " + b64encode(step.data) + b"\r\n")
            self._queued += 1
            return NEED_DATA
        if isinstance(step, Request):
            return self._ask(AuthRequest(mechanism=name, request=step))
        if isinstance(step, Success):
            return self._ask(
                Authenticated(mechanism=name, authcid=step.authcid, authzid=step.authzid)
            )
        return self._auth_failed(step, AUTH_FAILED)

    def _auth_failed(self, step: Failure, reply: Reply) -> Event:
        self._end_auth()
        self._emit(reply)
        return AuthFailed(mechanism=self._mech_name, reason=step.reason)

    def _end_auth(self) -> None:
        self._mech = None
        if self.state is State.AUTH:
            self.state = State.READY

    def _read_auth(self) -> Event | NeedData:
        mech = self._mech
        assert mech is not None
        try:
            line = self._buf.extract_line(self.config.max_auth_line - 2)
        except LineTooLongError as exc:
            if not exc.complete:
                self._skipping = True
            return self._auth_failed(mech.cancel(), AUTH_LINE_TOO_LONG)
        except BareLineEndingError:
            return self._auth_failed(mech.cancel(), AUTH_BAD_B64)
        if line is None:
            return NEED_DATA
        try:
            response = parse_response(line)
        except InvalidBase64Error:
            return self._auth_failed(mech.cancel(), AUTH_BAD_B64)
        if response is CANCEL:
            return self._auth_failed(mech.cancel(), AUTH_CANCELLED)
        return self._auth_step(mech.receive(response))
