"""The public strategies generate traffic protokit's own parsers accept: the
IMAP values parse back to themselves, SMTP sessions run through our server
with no refused command, POP3 commands parse back, SASL mechanisms finish
against our server mechanisms."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from protokit import NEED_DATA
from protokit.imap import parse_command, parse_response
from protokit.pop3 import parse_command as pop3_parse
from protokit.sasl import (
    Challenge,
    ClientMechanism,
    Failure,
    PlainServer,
    Request,
    Success,
    create_server,
)
from protokit.smtp import BadCommand, MessageEnd, ServerConfig, ServerConnection
from protokit.testing import strategies as S
from protokit.testing._sasl_app import answer_request
from protokit.testing.fuzz import _frame

from ..fuzz.corpus import seeds  # noqa: F401  (the corpus module imports cleanly)


@settings(max_examples=60)
@given(S.imap_commands)
def test_imap_commands_round_trip(cmd: object) -> None:
    data = S._pieces(__import__("protokit.imap", fromlist=["x"]).write_command(cmd))
    [m] = _frame([data], server=True)[1]
    assert parse_command(m) == cmd


@settings(max_examples=60)
@given(S.imap_response_bytes())
def test_imap_responses_parse(data: bytes) -> None:
    [m] = _frame([data], server=False)[1]
    parse_response(m)


def run_smtp(data: bytes) -> list[object]:
    conn = ServerConnection(ServerConfig())
    conn.data_to_send()
    conn.receive_data(data)
    events: list[object] = []
    while (ev := conn.next_event()) is not NEED_DATA:
        events.append(ev)
        while conn.pending is not None:
            conn.reply()
    return events


@settings(max_examples=40)
@given(S.smtp_sessions())
def test_smtp_sessions_run_clean(data: bytes) -> None:
    events = run_smtp(data)
    assert not any(isinstance(e, BadCommand) for e in events), events
    assert sum(isinstance(e, MessageEnd) for e in events) == data.count(b"DATA\r\n")


@settings(max_examples=60)
@given(S.smtp_commands())
def test_smtp_commands_are_never_refused_as_syntax(line: bytes) -> None:
    events = run_smtp(b"EHLO x\r\n" + line)
    bad = [e for e in events if isinstance(e, BadCommand)]
    assert all(e.reply.code not in (500, 501) for e in bad), (line, bad)


@settings(max_examples=60)
@given(S.pop3_commands)
def test_pop3_commands_round_trip(cmd: object) -> None:
    from protokit.pop3 import write_command

    assert pop3_parse(write_command(cmd)[:-2]) == cmd  # type: ignore[arg-type]


@settings(max_examples=30)
@given(S.pop3_sessions())
def test_pop3_sessions_are_lines(data: bytes) -> None:
    lines = data.split(b"\r\n")
    assert lines[-1] == b""
    assert [pop3_parse(line) for line in lines[:-1]][-1].__class__.__name__ == "Quit"


@settings(max_examples=60)
@given(S.sasl_plain_messages())
def test_plain_messages_reach_verification(message: bytes) -> None:
    step = PlainServer().start(message)
    assert isinstance(step, Request | Failure)


@settings(max_examples=30, deadline=None)
@given(S.sasl_client_mechanisms())
def test_client_mechanisms_run_against_ours(mech: ClientMechanism) -> None:
    server = create_server(mech.name)
    step = server.start(mech.initial_response() if mech.client_first else None)
    for _ in range(12):
        if isinstance(step, Request):
            step = server.answer(answer_request(step, mech.name))
        elif isinstance(step, Challenge):
            step = server.receive(mech.respond(step.data))
        else:
            break
    assert isinstance(step, Success | Failure)


@given(S.sasl_responses())
def test_sasl_responses_are_lines(line: bytes) -> None:
    assert line.endswith(b"\r\n") and b"\r" not in line[:-2]


def test_strategies_module_lists_its_names() -> None:
    for name in S.__all__:
        assert hasattr(S, name)
    st.just(0)
