"""The IMAP state table: every (state, transition) pair, by hypothesis and
exhaustively, and the command table."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protokit.errors import LocalProtocolError
from protokit.imap import (
    Append,
    AppendMessage,
    ExpungeCommand,
    FetchCommand,
    GenericCommand,
    Login,
    Mailbox,
    SequenceSet,
    Tag,
)
from protokit.imap._state import (
    COMMANDS,
    TRANSITIONS,
    SessionState,
    State,
    Transition,
    command_name,
    transition_for,
)
from protokit.wire import Secret


@given(st.sampled_from(list(State)), st.sampled_from(list(Transition)))
def test_every_pair_moves_by_the_table_or_to_error(state: State, transition: Transition) -> None:
    s = SessionState(state)
    expected = TRANSITIONS.get((state, transition))
    if expected is None:
        with pytest.raises(LocalProtocolError):
            s.fire(transition)
        assert s.state is State.ERROR
    else:
        assert s.fire(transition) is expected
        assert s.state is expected


@given(st.lists(st.sampled_from(list(Transition)), max_size=12))
def test_any_sequence_stays_in_known_states(seq: list[Transition]) -> None:
    s = SessionState()
    for t in seq:
        try:
            s.fire(t)
        except LocalProtocolError:
            assert s.state is State.ERROR
    assert s.state in State


def test_the_rfc_paths() -> None:
    s = SessionState()
    for t, want in [
        (Transition.GREETING_OK, State.NOT_AUTHENTICATED),
        (Transition.STARTTLS_OK, State.STARTING_TLS),
        (Transition.TLS_ESTABLISHED, State.NOT_AUTHENTICATED),
        (Transition.AUTHENTICATED, State.AUTHENTICATED),
        (Transition.SELECTED, State.SELECTED),
        (Transition.SELECT_FAILED, State.AUTHENTICATED),
        (Transition.SELECTED, State.SELECTED),
        (Transition.UNSELECTED, State.AUTHENTICATED),
        (Transition.BYE, State.LOGOUT),
        (Transition.PEER_CLOSED, State.CLOSED),
    ]:
        assert s.fire(t) is want
    assert SessionState().fire(Transition.GREETING_PREAUTH) is State.AUTHENTICATED
    assert SessionState().fire(Transition.BYE) is State.LOGOUT


@pytest.mark.parametrize(
    ("state", "transition"),
    [
        (State.AUTHENTICATED, Transition.STARTTLS_OK),  # STARTTLS after login
        (State.AUTHENTICATED, Transition.AUTHENTICATED),  # a second login
        (State.NOT_AUTHENTICATED, Transition.SELECTED),
        (State.STARTING_TLS, Transition.AUTHENTICATED),
        (State.ERROR, Transition.PEER_CLOSED),
        (State.CLOSED, Transition.GREETING_OK),
    ],
)
def test_illegal_pairs(state: State, transition: Transition) -> None:
    s = SessionState(state)
    with pytest.raises(LocalProtocolError, match=transition.value):
        s.fire(transition)
    assert s.state is State.ERROR


def test_command_table() -> None:
    na = SessionState(State.NOT_AUTHENTICATED)
    assert na.allows("LOGIN") and na.allows("STARTTLS") and not na.allows("SELECT")
    auth = SessionState(State.AUTHENTICATED)
    assert auth.allows("SELECT") and auth.allows("ENABLE") and not auth.allows("FETCH")
    assert not auth.allows("LOGIN") and not auth.allows("AUTHENTICATE")
    sel = SessionState(State.SELECTED)
    assert sel.allows("UID FETCH") and sel.allows("IDLE") and not sel.allows("ENABLE")
    assert not sel.allows("STARTTLS")
    # extensions the table does not know are the application's to judge
    assert sel.allows("XYZZY") and na.allows("XYZZY")
    assert not SessionState(State.LOGOUT).allows("XYZZY")
    for s in (State.GREETING, State.LOGOUT, State.STARTING_TLS, State.CLOSED, State.ERROR):
        assert COMMANDS[s] == frozenset()
    for common in ("CAPABILITY", "NOOP", "LOGOUT"):
        for s in (State.NOT_AUTHENTICATED, State.AUTHENTICATED, State.SELECTED):
            assert common in COMMANDS[s]


def test_command_names_and_completions() -> None:
    t = Tag("a1")
    assert command_name(Login(tag=t, username=b"u", password=Secret(b"p"))) == "LOGIN"
    assert command_name(FetchCommand(tag=t, sequence_set=SequenceSet.of(1), items=("UID",))) == (
        "FETCH"
    )
    uid = FetchCommand(tag=t, sequence_set=SequenceSet.of(1), items=("UID",), uid=True)
    assert command_name(uid) == "UID FETCH"
    assert command_name(ExpungeCommand(tag=t)) == "EXPUNGE"
    assert command_name(ExpungeCommand(tag=t, uids=SequenceSet.of(3))) == "UID EXPUNGE"
    assert command_name(GenericCommand(tag=t, name="xlist")) == "XLIST"
    app = Append(tag=t, mailbox=Mailbox("INBOX"), messages=(AppendMessage(data=b"x"),))
    assert command_name(app) == "APPEND"
    assert transition_for("LOGIN", "OK") is Transition.AUTHENTICATED
    assert transition_for("LOGIN", "NO") is None
    assert transition_for("EXAMINE", "NO") is Transition.SELECT_FAILED
    assert transition_for("UNSELECT", "OK") is Transition.UNSELECTED
    assert transition_for("FETCH", "OK") is None
