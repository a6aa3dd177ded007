"""The POP3 session states and their transitions, as data (RFC 1939 section 3).

Shared by the client and the server; it knows nothing of bytes or of which
side is "us".  An illegal (state, transition) pair moves to ERROR and raises.
"""

from __future__ import annotations

import enum
from typing import Final

from ..errors import LocalProtocolError

__all__ = ["COMMANDS", "TRANSITIONS", "SessionState", "State", "Transition"]


class State(enum.Enum):
    AUTHORIZATION = "AUTHORIZATION"
    #: STLS accepted; nothing is read or written until TLS is up.
    STARTING_TLS = "STARTING_TLS"
    TRANSACTION = "TRANSACTION"
    #: QUIT received in TRANSACTION: deletions are being applied.
    UPDATE = "UPDATE"
    CLOSED = "CLOSED"
    ERROR = "ERROR"


class Transition(enum.Enum):
    STLS_ACCEPTED = "STLS_ACCEPTED"
    TLS_ESTABLISHED = "TLS_ESTABLISHED"
    AUTHENTICATED = "AUTHENTICATED"
    QUIT = "QUIT"
    UPDATE_DONE = "UPDATE_DONE"
    PEER_CLOSED = "PEER_CLOSED"
    FAILED = "FAILED"


_S = State
_T = Transition

TRANSITIONS: Final[dict[tuple[State, Transition], State]] = {
    # RFC 2595 section 4: STLS only in AUTHORIZATION; the session restarts
    # in AUTHORIZATION under TLS.
    (_S.AUTHORIZATION, _T.STLS_ACCEPTED): _S.STARTING_TLS,
    (_S.STARTING_TLS, _T.TLS_ESTABLISHED): _S.AUTHORIZATION,
    # RFC 1939 section 4: USER/PASS, APOP (and AUTH, RFC 5034) succeed.
    (_S.AUTHORIZATION, _T.AUTHENTICATED): _S.TRANSACTION,
    # RFC 1939 section 4: QUIT in AUTHORIZATION ends without UPDATE;
    # section 6: QUIT in TRANSACTION enters UPDATE.
    (_S.AUTHORIZATION, _T.QUIT): _S.CLOSED,
    (_S.TRANSACTION, _T.QUIT): _S.UPDATE,
    (_S.UPDATE, _T.UPDATE_DONE): _S.CLOSED,
    # Section 6: a session that ends without QUIT does not enter UPDATE.
    (_S.AUTHORIZATION, _T.PEER_CLOSED): _S.CLOSED,
    (_S.STARTING_TLS, _T.PEER_CLOSED): _S.CLOSED,
    (_S.TRANSACTION, _T.PEER_CLOSED): _S.CLOSED,
    (_S.UPDATE, _T.PEER_CLOSED): _S.CLOSED,
    (_S.CLOSED, _T.PEER_CLOSED): _S.CLOSED,
    **{(s, _T.FAILED): _S.ERROR for s in State},
}

#: The command keywords valid in each state (RFC 1939 section 9, RFC 2449
#: section 5 for CAPA, RFC 2595 for STLS, RFC 5034 for AUTH, RFC 6856 for UTF8).
COMMANDS: Final[dict[State, frozenset[str]]] = {
    _S.AUTHORIZATION: frozenset({"USER", "PASS", "APOP", "AUTH", "CAPA", "STLS", "QUIT", "UTF8"}),
    _S.STARTING_TLS: frozenset(),
    _S.TRANSACTION: frozenset(
        {"STAT", "LIST", "RETR", "TOP", "UIDL", "DELE", "RSET", "NOOP", "QUIT", "CAPA"}
    ),
    _S.UPDATE: frozenset(),
    _S.CLOSED: frozenset(),
    _S.ERROR: frozenset(),
}

#: Every keyword either side knows.
KEYWORDS: Final = frozenset().union(*COMMANDS.values())


class SessionState:
    """The current state of one POP3 session."""

    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state = State.AUTHORIZATION

    def __repr__(self) -> str:
        return f"<SessionState {self.state.value}>"

    def fire(self, transition: Transition) -> State:
        """Apply ``transition``; an illegal one moves to ERROR and raises."""
        new = TRANSITIONS.get((self.state, transition))
        if new is None:
            old = self.state
            self.state = State.ERROR
            raise LocalProtocolError(f"{transition.value} is not valid in state {old.value}")
        self.state = new
        return new

    def allows(self, keyword: str) -> bool:
        return keyword in COMMANDS[self.state]
