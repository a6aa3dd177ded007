"""The server's state table: every (state, verb) pair, and random command
sequences checked against the table as a model (as h2's state tests do)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protokit import NEED_DATA
from protokit.sasl import VerifyPassword
from protokit.smtp import (
    AuthRequest,
    Event,
    ServerConfig,
    ServerConnection,
    State,
    Verb,
)
from protokit.smtp._state import COMMAND_STATES, TRANSITIONS, transition
from protokit.wire import b64encode

PLAIN = b"AUTH PLAIN " + b64encode(b"\x00u\x00p") + b"\r\n"
CONFIG = ServerConfig(starttls=True, auth_mechanisms=("PLAIN",), allow_plaintext_auth=True)

# One valid instance of each verb; DATA and BDAT with their message.
LINES = {
    Verb.EHLO: b"EHLO c.example\r\n",
    Verb.HELO: b"HELO c.example\r\n",
    Verb.LHLO: b"LHLO c.example\r\n",
    Verb.MAIL: b"MAIL FROM:<a@b.example>\r\n",
    Verb.RCPT: b"RCPT TO:<d@e.example>\r\n",
    Verb.DATA: b"DATA\r\n",
    Verb.BDAT: b"BDAT 1 LAST\r\n",
    Verb.RSET: b"RSET\r\n",
    Verb.NOOP: b"NOOP\r\n",
    Verb.QUIT: b"QUIT\r\n",
    Verb.VRFY: b"VRFY x\r\n",
    Verb.HELP: b"HELP\r\n",
    Verb.STARTTLS: b"STARTTLS\r\n",
    Verb.AUTH: b"AUTH PLAIN\r\n",
}

RECIPES = {
    State.GREETING: b"",
    State.READY: b"EHLO c\r\n",
    State.MAIL: b"EHLO c\r\nMAIL FROM:<>\r\n",
    State.RCPT: b"EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<x@y.example>\r\n",
    State.CHUNKING: b"EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<x@y.example>\r\nBDAT 1\r\nx",
}


def answer(conn: ServerConnection, ev: Event) -> None:
    if isinstance(ev, AuthRequest):
        assert isinstance(ev.request, VerifyPassword)
        conn.answer_auth(True)
    while conn.pending is not None and conn.pending != "AuthRequest":
        conn.reply()


def feed(conn: ServerConnection, data: bytes) -> list[Event]:
    conn.receive_data(data)
    out = []
    while (ev := conn.next_event()) is not NEED_DATA:
        out.append(ev)
        answer(conn, ev)
    return out


def in_state(state: State) -> ServerConnection:
    if state is State.REFUSED:
        conn = ServerConnection(ServerConfig(defer_greeting=True))
        conn.refuse()
    else:
        conn = ServerConnection(CONFIG)
        if RECIPES[state]:
            feed(conn, RECIPES[state])
    conn.data_to_send()
    assert conn.state is state
    return conn


def test_the_table_is_total_and_closed() -> None:
    for (state, verb), new in TRANSITIONS.items():
        assert state in COMMAND_STATES and isinstance(verb, Verb) and isinstance(new, State)
    assert transition(State.REFUSED, Verb.EHLO) is None
    assert transition(State.REFUSED, Verb.QUIT) is State.CLOSED
    # Every command state can be left by QUIT, and only by the table.
    for state in COMMAND_STATES:
        assert transition(state, Verb.QUIT) is State.CLOSED


@pytest.mark.parametrize("verb", list(Verb), ids=[v.value for v in Verb])
@pytest.mark.parametrize("state", sorted(COMMAND_STATES, key=lambda s: s.value), ids=str)
def test_every_pair(state: State, verb: Verb) -> None:
    conn = in_state(state)
    feed(conn, LINES[verb])
    out = conn.data_to_send()
    new = transition(state, verb)
    if verb is Verb.LHLO:
        assert out == b"500 5.5.1 Command unrecognized\r\n"
    elif new is None:
        assert out == b"503 5.5.1 Bad sequence of commands\r\n"
        if verb is Verb.BDAT:
            feed(conn, b"x")  # the refused chunk's octet is drained
        assert conn.state is state
    else:
        assert not out.startswith(b"503")
        assert conn.state is new


@pytest.mark.parametrize("state", [State.DATA, State.BDAT, State.AUTH, State.TLS, State.CLOSED])
def test_outside_command_states_no_line_is_a_command(state: State) -> None:
    conn = ServerConnection(CONFIG)
    prefix = {
        State.DATA: b"EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<x@y.example>\r\nDATA\r\n",
        State.BDAT: b"EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<x@y.example>\r\nBDAT 9999 LAST\r\n",
        State.AUTH: b"EHLO c\r\nAUTH PLAIN\r\n",
        State.TLS: b"EHLO c\r\nSTARTTLS\r\n",
        State.CLOSED: b"QUIT\r\n",
    }[state]
    feed(conn, prefix)
    assert conn.state is state
    conn.data_to_send()
    if state is State.TLS:
        return  # any byte here is an injection: see test_security
    # In AUTH only the next line is the exchange's; elsewhere every line is data.
    verbs = [Verb.NOOP] if state is State.AUTH else list(Verb)
    for verb in verbs:
        events = feed(conn, LINES[verb])
        assert not [e for e in events if type(e).__name__ in ("Hello", "MailFrom", "Quit", "Noop")]


def model(state: State, verb: Verb, authed: bool, tls: bool) -> tuple[State, bool, bool]:
    """The state after ``verb`` when the application accepts everything."""
    new = transition(state, verb)
    if verb is Verb.LHLO or new is None:
        return state, authed, tls
    if (verb is Verb.STARTTLS and tls) or (verb is Verb.AUTH and authed):
        return state, authed, tls
    if verb is Verb.STARTTLS:
        return State.GREETING, False, True  # after start_tls_done()
    if verb is Verb.AUTH:
        return State.READY, True, tls
    if verb in (Verb.DATA, Verb.BDAT):
        return State.READY, authed, tls  # the message is sent and accepted
    return new, authed, tls


WHOLE = {
    **LINES,
    Verb.DATA: b"DATA\r\nbody\r\n.\r\n",
    Verb.BDAT: b"BDAT 1 LAST\r\nx",
    Verb.AUTH: PLAIN,
}


@given(st.lists(st.sampled_from(list(Verb)), max_size=14))
def test_random_sessions_follow_the_table(verbs: list[Verb]) -> None:
    conn = ServerConnection(CONFIG)
    conn.data_to_send()
    state, authed, tls = State.GREETING, False, False
    for verb in verbs:
        events = feed(conn, WHOLE[verb])
        if conn.state is State.TLS:
            conn.start_tls_done()
        state, authed, tls = model(state, verb, authed, tls)
        assert conn.state is state, (verb, events)
        assert (conn.authenticated is not None) == authed
        assert conn.tls_active == tls
        if state is State.CLOSED:
            break
