"""The POP3 state table: every (state, transition) pair, by hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protokit.errors import LocalProtocolError
from protokit.pop3._state import COMMANDS, KEYWORDS, TRANSITIONS, SessionState, State, Transition


@given(st.sampled_from(State), st.sampled_from(Transition))
def test_every_pair_follows_the_table_or_errors(state: State, transition: Transition) -> None:
    s = SessionState()
    s.state = state
    expected = TRANSITIONS.get((state, transition))
    if expected is None:
        with pytest.raises(LocalProtocolError):
            s.fire(transition)
        assert s.state is State.ERROR
    else:
        assert s.fire(transition) is expected
        assert s.state is expected


@given(st.lists(st.sampled_from(Transition), max_size=20))
def test_any_sequence_ends_in_a_known_state(transitions: list[Transition]) -> None:
    s = SessionState()
    for t in transitions:
        try:
            s.fire(t)
        except LocalProtocolError:
            assert s.state is State.ERROR
    assert s.state in State


def test_the_rfc_paths() -> None:
    s = SessionState()
    assert s.state is State.AUTHORIZATION
    assert s.fire(Transition.STLS_ACCEPTED) is State.STARTING_TLS
    assert s.fire(Transition.TLS_ESTABLISHED) is State.AUTHORIZATION
    assert s.fire(Transition.AUTHENTICATED) is State.TRANSACTION
    assert s.fire(Transition.QUIT) is State.UPDATE
    assert s.fire(Transition.UPDATE_DONE) is State.CLOSED


def test_commands_per_state() -> None:
    assert COMMANDS[State.AUTHORIZATION] == {
        "USER", "PASS", "APOP", "AUTH", "CAPA", "STLS", "QUIT", "UTF8"
    }  # fmt: skip
    assert COMMANDS[State.TRANSACTION] == {
        "STAT", "LIST", "RETR", "TOP", "UIDL", "DELE", "RSET", "NOOP", "QUIT", "CAPA"
    }  # fmt: skip
    for st_ in (State.STARTING_TLS, State.UPDATE, State.CLOSED, State.ERROR):
        assert COMMANDS[st_] == frozenset()
    assert len(KEYWORDS) == 16
    s = SessionState()
    assert s.allows("USER") and not s.allows("STAT")
    assert repr(s) == "<SessionState AUTHORIZATION>"


def test_stls_and_auth_are_not_valid_after_login() -> None:
    # "No second AUTH after success"; STLS only before authentication.
    assert "AUTH" not in COMMANDS[State.TRANSACTION]
    assert "STLS" not in COMMANDS[State.TRANSACTION]
    s = SessionState()
    s.fire(Transition.AUTHENTICATED)
    with pytest.raises(LocalProtocolError):
        s.fire(Transition.AUTHENTICATED)
