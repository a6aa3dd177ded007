"""The IMAP session states and their transitions, as data (RFC 9051 section 3,
RFC 3501 section 3).

Shared by the client and the server connection; it knows nothing of bytes or
of which side is "us".  An illegal (state, transition) pair moves to ERROR and
raises :class:`LocalProtocolError`.
"""

from __future__ import annotations

import enum
from typing import Final

from ..errors import LocalProtocolError
from ._commands import (
    Append,
    Authenticate,
    CapabilityCommand,
    Check,
    Close,
    Command,
    Compress,
    Copy,
    Create,
    Delete,
    Done,
    Enable,
    Examine,
    ExpungeCommand,
    FetchCommand,
    GenericCommand,
    GetQuota,
    GetQuotaRoot,
    IdCommand,
    Idle,
    List,
    Login,
    Logout,
    Lsub,
    Move,
    NamespaceCommand,
    Noop,
    Rename,
    SearchCommand,
    Select,
    SetQuota,
    SortCommand,
    StartTLS,
    StatusCommand,
    Store,
    Subscribe,
    ThreadCommand,
    Unselect,
    Unsubscribe,
)

__all__ = [
    "COMMANDS",
    "TRANSITIONS",
    "SessionState",
    "State",
    "Transition",
    "command_name",
    "transition_for",
]


class State(enum.Enum):
    #: Connected, no greeting yet.
    GREETING = "GREETING"
    NOT_AUTHENTICATED = "NOT_AUTHENTICATED"
    AUTHENTICATED = "AUTHENTICATED"
    SELECTED = "SELECTED"
    #: BYE sent or received; nothing more but the connection closing.
    LOGOUT = "LOGOUT"
    #: STARTTLS accepted: nothing is read or written until TLS is up.
    STARTING_TLS = "STARTING_TLS"
    CLOSED = "CLOSED"
    ERROR = "ERROR"


class Transition(enum.Enum):
    GREETING_OK = "GREETING_OK"
    GREETING_PREAUTH = "GREETING_PREAUTH"
    BYE = "BYE"
    STARTTLS_OK = "STARTTLS_OK"
    TLS_ESTABLISHED = "TLS_ESTABLISHED"
    #: LOGIN or AUTHENTICATE completed with OK.
    AUTHENTICATED = "AUTHENTICATED"
    #: SELECT or EXAMINE completed with OK.
    SELECTED = "SELECTED"
    #: SELECT or EXAMINE completed with NO or BAD.
    SELECT_FAILED = "SELECT_FAILED"
    #: CLOSE or UNSELECT completed with OK.
    UNSELECTED = "UNSELECTED"
    PEER_CLOSED = "PEER_CLOSED"
    FAILED = "FAILED"


_S = State
_T = Transition

TRANSITIONS: Final[dict[tuple[State, Transition], State]] = {
    # RFC 9051 section 7.1.1 (OK), 7.1.4 (PREAUTH), 7.1.5 (BYE) greetings.
    (_S.GREETING, _T.GREETING_OK): _S.NOT_AUTHENTICATED,
    (_S.GREETING, _T.GREETING_PREAUTH): _S.AUTHENTICATED,
    # RFC 9051 section 6.2.1: STARTTLS only in not authenticated state; the
    # session restarts there under TLS (capabilities discarded).
    (_S.NOT_AUTHENTICATED, _T.STARTTLS_OK): _S.STARTING_TLS,
    (_S.STARTING_TLS, _T.TLS_ESTABLISHED): _S.NOT_AUTHENTICATED,
    # Section 6.2.2 / 6.2.3: AUTHENTICATE and LOGIN.
    (_S.NOT_AUTHENTICATED, _T.AUTHENTICATED): _S.AUTHENTICATED,
    # Section 6.3.2: a successful SELECT/EXAMINE selects (closing any selected
    # mailbox); a failed one leaves no mailbox selected.
    (_S.AUTHENTICATED, _T.SELECTED): _S.SELECTED,
    (_S.SELECTED, _T.SELECTED): _S.SELECTED,
    (_S.AUTHENTICATED, _T.SELECT_FAILED): _S.AUTHENTICATED,
    (_S.SELECTED, _T.SELECT_FAILED): _S.AUTHENTICATED,
    # Section 6.4.1 CLOSE, RFC 3691 UNSELECT.
    (_S.SELECTED, _T.UNSELECTED): _S.AUTHENTICATED,
    # Section 3.4: any state may move to logout (LOGOUT, or the server's BYE).
    **{
        (s, _T.BYE): _S.LOGOUT
        for s in (_S.GREETING, _S.NOT_AUTHENTICATED, _S.AUTHENTICATED, _S.SELECTED, _S.LOGOUT)
    },
    **{(s, _T.PEER_CLOSED): _S.CLOSED for s in State if s is not _S.ERROR},
    **{(s, _T.FAILED): _S.ERROR for s in State},
}

_ANY: Final = frozenset({"CAPABILITY", "NOOP", "LOGOUT", "ID"})
_AUTHENTICATED: Final = _ANY | frozenset(
    {
        "SELECT",
        "EXAMINE",
        "CREATE",
        "DELETE",
        "RENAME",
        "SUBSCRIBE",
        "UNSUBSCRIBE",
        "LIST",
        "LSUB",
        "NAMESPACE",
        "STATUS",
        "APPEND",
        "IDLE",  # RFC 2177: authenticated or selected
        "ENABLE",  # RFC 5161 section 3.1: authenticated state only
        "COMPRESS",  # RFC 4978 section 3: authenticated or selected
        "GETQUOTA",
        "GETQUOTAROOT",
        "SETQUOTA",
    }
)

#: The commands valid in each state (RFC 9051 section 6 and the extensions'
#: own sections).  Commands this table does not know (GenericCommand) are the
#: application's to judge, in any state where commands are read.
COMMANDS: Final[dict[State, frozenset[str]]] = {
    _S.GREETING: frozenset(),
    _S.NOT_AUTHENTICATED: _ANY | frozenset({"STARTTLS", "AUTHENTICATE", "LOGIN"}),
    _S.AUTHENTICATED: _AUTHENTICATED,
    _S.SELECTED: (_AUTHENTICATED - {"ENABLE"})
    | frozenset(
        {
            "CHECK",
            "CLOSE",
            "UNSELECT",
            "EXPUNGE",
            "SEARCH",
            "FETCH",
            "STORE",
            "COPY",
            "MOVE",
            "SORT",
            "THREAD",
            "UID EXPUNGE",
            "UID SEARCH",
            "UID FETCH",
            "UID STORE",
            "UID COPY",
            "UID MOVE",
            "UID SORT",
            "UID THREAD",
        }
    ),
    _S.LOGOUT: frozenset(),
    _S.STARTING_TLS: frozenset(),
    _S.CLOSED: frozenset(),
    _S.ERROR: frozenset(),
}

#: Every command name the table knows.
KNOWN: Final = frozenset().union(*COMMANDS.values())

_NAMES: Final[dict[type, str]] = {
    CapabilityCommand: "CAPABILITY",
    Noop: "NOOP",
    Logout: "LOGOUT",
    StartTLS: "STARTTLS",
    Authenticate: "AUTHENTICATE",
    Login: "LOGIN",
    Enable: "ENABLE",
    IdCommand: "ID",
    Compress: "COMPRESS",
    Select: "SELECT",
    Examine: "EXAMINE",
    Create: "CREATE",
    Delete: "DELETE",
    Rename: "RENAME",
    Subscribe: "SUBSCRIBE",
    Unsubscribe: "UNSUBSCRIBE",
    List: "LIST",
    Lsub: "LSUB",
    NamespaceCommand: "NAMESPACE",
    StatusCommand: "STATUS",
    Append: "APPEND",
    Idle: "IDLE",
    Done: "DONE",
    Check: "CHECK",
    Close: "CLOSE",
    Unselect: "UNSELECT",
    SearchCommand: "SEARCH",
    FetchCommand: "FETCH",
    Store: "STORE",
    Copy: "COPY",
    Move: "MOVE",
    SortCommand: "SORT",
    ThreadCommand: "THREAD",
    GetQuota: "GETQUOTA",
    GetQuotaRoot: "GETQUOTAROOT",
    SetQuota: "SETQUOTA",
}


def command_name(cmd: Command) -> str:
    """The command's name as the table knows it ("UID FETCH", "EXPUNGE", ...)."""
    if isinstance(cmd, GenericCommand):
        return cmd.name.upper()
    if isinstance(cmd, ExpungeCommand):
        return "EXPUNGE" if cmd.uids is None else "UID EXPUNGE"
    name = _NAMES[type(cmd)]
    if getattr(cmd, "uid", False):
        return "UID " + name
    return name


def transition_for(name: str, status: str) -> Transition | None:
    """The transition a command's tagged completion causes, if any."""
    ok = status == "OK"
    if name in ("LOGIN", "AUTHENTICATE"):
        return Transition.AUTHENTICATED if ok else None
    if name in ("SELECT", "EXAMINE"):
        return Transition.SELECTED if ok else Transition.SELECT_FAILED
    if name in ("CLOSE", "UNSELECT"):
        return Transition.UNSELECTED if ok else None
    return None


class SessionState:
    """The current state of one IMAP session."""

    __slots__ = ("state",)

    def __init__(self, state: State = State.GREETING) -> None:
        self.state = state

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

    def allows(self, name: str) -> bool:
        """Whether command ``name`` may be sent now; names the table does not
        know are allowed wherever commands are (extensions)."""
        state = self.state
        if name in KNOWN:
            return name in COMMANDS[state]
        return state in (State.NOT_AUTHENTICATED, State.AUTHENTICATED, State.SELECTED)
