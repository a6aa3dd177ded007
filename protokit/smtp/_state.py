"""The SMTP server's session state machine, as data (RFC 5321 4.1.4, 3.3;
RFC 3030; RFC 3207; RFC 4954).  No bytes here: the server looks up
``TRANSITIONS[(state, verb)]`` for the state a *successful* command leads to;
a missing pair is a bad sequence (503).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["COMMAND_STATES", "TRANSITIONS", "State", "Verb", "transition"]


class State(enum.Enum):
    # Members are singletons: hash by identity in C, not by Enum's Python-level
    # __hash__ (the command reader looks states and verbs up on every line).
    __hash__ = object.__hash__

    GREETING = "greeting"  # greeted (or about to), no EHLO/HELO yet
    READY = "ready"  # EHLO/HELO done, no transaction
    MAIL = "mail"  # MAIL accepted, no recipient yet
    RCPT = "rcpt"  # at least one recipient accepted
    CHUNKING = "chunking"  # between BDAT chunks of one message
    DATA = "data"  # reading a DATA body
    BDAT = "bdat"  # reading BDAT octets (or draining a refused chunk)
    AUTH = "auth"  # inside a SASL exchange
    TLS = "tls"  # STARTTLS accepted; waiting for the TLS hand-off
    REFUSED = "refused"  # greeted with 554: only QUIT (RFC 5321 3.1)
    CLOSED = "closed"  # QUIT answered or the peer closed
    ERROR = "error"  # a fatal protocol violation


class Verb(enum.Enum):
    __hash__ = object.__hash__

    EHLO = "EHLO"
    HELO = "HELO"
    LHLO = "LHLO"
    MAIL = "MAIL"
    RCPT = "RCPT"
    DATA = "DATA"
    BDAT = "BDAT"
    RSET = "RSET"
    NOOP = "NOOP"
    QUIT = "QUIT"
    VRFY = "VRFY"
    HELP = "HELP"
    STARTTLS = "STARTTLS"
    AUTH = "AUTH"


#: The states in which the server reads a command line.
COMMAND_STATES = frozenset(
    {State.GREETING, State.READY, State.MAIL, State.RCPT, State.CHUNKING, State.REFUSED}
)

_SESSION = (State.GREETING, State.READY, State.MAIL, State.RCPT, State.CHUNKING)
_GREETED = (State.READY, State.MAIL, State.RCPT, State.CHUNKING)

_table: dict[tuple[State, Verb], State] = {}
for _s in _SESSION:
    # EHLO/HELO/LHLO at any time start a new session (RFC 5321 4.1.4).
    for _v in (Verb.EHLO, Verb.HELO, Verb.LHLO):
        _table[_s, _v] = State.READY
    # RSET clears the transaction; before EHLO there is none to clear.
    _table[_s, Verb.RSET] = State.GREETING if _s is State.GREETING else State.READY
    for _v in (Verb.NOOP, Verb.VRFY, Verb.HELP):
        _table[_s, _v] = _s
    _table[_s, Verb.QUIT] = State.CLOSED
_table[State.REFUSED, Verb.QUIT] = State.CLOSED
# MAIL opens a transaction; RCPT adds to it; DATA/BDAT need a recipient.
_table[State.READY, Verb.MAIL] = State.MAIL
_table[State.MAIL, Verb.RCPT] = State.RCPT
_table[State.RCPT, Verb.RCPT] = State.RCPT
_table[State.RCPT, Verb.DATA] = State.DATA
_table[State.RCPT, Verb.BDAT] = State.BDAT
_table[State.CHUNKING, Verb.BDAT] = State.BDAT
# STARTTLS and AUTH only after EHLO and outside a transaction (RFC 3207 4,
# RFC 4954 4).
_table[State.READY, Verb.STARTTLS] = State.TLS
_table[State.READY, Verb.AUTH] = State.AUTH

TRANSITIONS: Mapping[tuple[State, Verb], State] = MappingProxyType(_table)
del _table


def transition(state: State, verb: Verb) -> State | None:
    """The state after ``verb`` succeeds in ``state``; ``None`` = bad sequence."""
    return TRANSITIONS.get((state, verb))
