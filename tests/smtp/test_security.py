"""Every SMTP line of SECURITY.md: STARTTLS command and response injection,
stripping, DATA smuggling, BDAT drain, argument injection, SASL bounds,
secrets kept out of reprs, cross-protocol requests."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protokit import NEED_DATA, LocalProtocolError, ProtocolError, RemoteProtocolError
from protokit.sasl import Challenge, PlainClient, ServerMechanism, Step
from protokit.smtp import (
    AuthFailed,
    ClientConfig,
    ClientConnection,
    Event,
    MailFrom,
    MailParams,
    MessageData,
    MessageEnd,
    MessageRejected,
    Noop,
    RcptParams,
    Reply,
    ServerConfig,
    ServerConnection,
    StartTLS,
    State,
)
from protokit.wire import BareLineEndingPolicy

from .helpers import chunkings, ehlo_server, run_server

MAIL = b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\n"

# -- STARTTLS command injection (CVE-2011-0411) -------------------------------------------


def test_starttls_command_injection_at_every_split() -> None:
    data = b"STARTTLS\r\nNOOP\r\n"
    for cut in range(len(data) + 1):
        conn = ehlo_server(starttls=True)
        seen: list[Event] = []

        def feed(conn: ServerConnection = conn, seen: list[Event] = seen, cut: int = cut) -> None:
            for part in (data[:cut], data[cut:]):
                if part:
                    conn.receive_data(part)
                while (ev := conn.next_event()) is not NEED_DATA:
                    seen.append(ev)
            conn.start_tls_done()  # the binding's hand-off after the 220

        with pytest.raises(RemoteProtocolError) as info:
            feed()
        assert not any(isinstance(e, Noop) for e in seen), cut
        assert conn.state is State.ERROR
        assert info.value.reply is not None
        assert info.value.reply.startswith(b"421 4.7.0 localhost ")
        assert b"NOOP" not in info.value.reply


def test_starttls_injection_in_one_segment_gets_no_220() -> None:
    conn = ehlo_server(starttls=True)
    conn.receive_data(b"STARTTLS\r\nNOOP\r\n")
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert info.value.reply == (
        b"421 4.7.0 localhost Commands pipelined after STARTTLS, closing connection\r\n"
    )
    # The 421 is queued (a binding flushes, then closes); no 220 precedes it.
    assert conn.data_to_send() == info.value.reply
    with pytest.raises(RemoteProtocolError):
        conn.next_event()


def test_discard_mode_drops_the_injected_plaintext() -> None:
    conn = ehlo_server(starttls=True, discard_after_starttls=True)
    run = run_server([b"STARTTLS\r\nNOOP\r\n"], conn)
    assert run.events == [StartTLS()]
    assert run.output == b"220 2.0.0 Ready to start TLS\r\n"
    conn.start_tls_done()
    assert run_server([b"EHLO c\r\n"], conn).output.startswith(b"250-localhost Hello c")


# -- STARTTLS response injection and stripping (client) -----------------------------------


def tls_client(**config: object) -> ClientConnection:
    c = ClientConnection(ClientConfig(**config))  # type: ignore[arg-type]
    c.receive_data(b"220 mx\r\n")
    c.next_event()
    c.ehlo()
    c.receive_data(b"250-mx\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n")
    c.next_event()
    c.starttls()
    c.data_to_send()
    return c


def test_response_injection_at_every_split() -> None:
    data = b"220 go ahead\r\n250 fake\r\n"
    for cut in range(len(data) + 1):
        c = tls_client()

        def feed(c: ClientConnection = c, cut: int = cut) -> None:
            for part in (data[:cut], data[cut:]):
                if part:
                    c.receive_data(part)
                while c.next_event() is not NEED_DATA:
                    pass
            c.start_tls_done()

        with pytest.raises(RemoteProtocolError):
            feed()
        assert not c.tls_active, cut


def test_stripping_is_a_hard_failure_before_credentials() -> None:
    c = ClientConnection(ClientConfig(require_tls=True))
    c.receive_data(b"220 mx\r\n")
    c.next_event()
    c.ehlo()
    c.receive_data(b"250-mx\r\n250 AUTH PLAIN\r\n")  # no STARTTLS offered
    c.next_event()
    c.data_to_send()
    with pytest.raises(LocalProtocolError):
        c.starttls()
    with pytest.raises(LocalProtocolError):
        c.auth(PlainClient("u", "p"))
    with pytest.raises(LocalProtocolError):
        c.mail_from("a@b.example")
    assert c.data_to_send() == b""
    refused = tls_client(require_tls=True)
    refused.receive_data(b"454 4.7.0 TLS not available\r\n")
    with pytest.raises(RemoteProtocolError):
        refused.next_event()


def test_capabilities_before_tls_do_not_survive_it() -> None:
    c = tls_client()
    c.receive_data(b"220 go\r\n")
    c.next_event()
    c.start_tls_done()
    assert c.capabilities is None
    with pytest.raises(LocalProtocolError):
        c.auth(PlainClient("u", "p"))


# -- DATA smuggling (CVE-2023-51764/51765/51766) -------------------------------------------

SMUGGLE = [b"\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r.\n", b"\r\n\x00.\r\n", b"\n.\r"]
SECOND = b"MAIL FROM:<evil@attacker.example>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\nforged\r\n"


@pytest.mark.parametrize("policy", list(BareLineEndingPolicy))
@pytest.mark.parametrize("seq", SMUGGLE, ids=[repr(s) for s in SMUGGLE])
def test_smuggling_sequences_never_end_data(seq: bytes, policy: BareLineEndingPolicy) -> None:
    session = MAIL + b"DATA\r\nSubject: x\r\n\r\nbody" + seq + SECOND + b".\r\nNOOP\r\n"
    for label, chunks in chunkings(session):
        run = run_server(chunks, ehlo_server(bare_line_ending=policy))
        mails = [e for e in run.events if isinstance(e, MailFrom)]
        ends = [e for e in run.events if isinstance(e, (MessageEnd, MessageRejected))]
        assert len(mails) == 1 and mails[0].sender == "a@example.com", label
        assert len(ends) == 1, label
        assert isinstance(run.events[-1], Noop), label
        bare = seq != b"\r\n\x00.\r\n"
        if bare and policy is BareLineEndingPolicy.REJECT:
            assert isinstance(ends[0], MessageRejected), label
            assert run.output.endswith(
                b"550 5.6.0 Message contains bare CR or LF\r\n250 2.0.0 OK\r\n"
            )
        else:
            assert isinstance(ends[0], MessageEnd), label
            ctx = b"y" + seq + b"M"  # the bytes around the sequence
            expected = ctx.count(b"\r") + ctx.count(b"\n") - 2 * ctx.count(b"\r\n")
            assert ends[0].bare_line_endings == expected, label
            body = b"".join(e.data for e in run.events if isinstance(e, MessageData))
            assert b"evil@attacker.example" in body  # delivered as text, not run


def test_outbound_writer_never_ends_data_early() -> None:
    c = ClientConnection()
    c.receive_data(b"220 mx\r\n")
    c.next_event()
    c.ehlo()
    c.receive_data(b"250 mx\r\n")
    c.next_event()
    c.mail_from("a@b.example")
    c.receive_data(b"250 ok\r\n")
    c.next_event()
    c.rcpt_to("x@y.example")
    c.receive_data(b"250 ok\r\n")
    c.next_event()
    c.data()
    c.receive_data(b"354 go\r\n")
    c.next_event()
    c.data_to_send()
    for seq in [*SMUGGLE, b"\r\n.\r\n", b"\r\n.", b".\r\n"]:
        for byte in seq:
            c.send_data(bytes([byte]))
    c.end_data()
    wire = c.data_to_send()
    assert wire.endswith(b"\r\n.\r\n")
    assert wire.count(b"\r\n.\r\n") == 1
    assert wire.replace(b"\r\n", b"").count(b"\r") == 0
    assert wire.replace(b"\r\n", b"").count(b"\n") == 0


# -- BDAT drain ----------------------------------------------------------------------------


def test_bdat_octets_of_a_refused_chunk_are_never_commands() -> None:
    payload = b"RSET\r\nMAIL FROM:<evil@x.example>\r\n"
    session = b"BDAT %d LAST\r\n" % len(payload) + payload + b"NOOP\r\n"
    for label, chunks in chunkings(session):
        run = run_server(chunks, ehlo_server())  # no MAIL: refused with 503
        assert run.output == b"503 5.5.1 Bad sequence of commands\r\n250 2.0.0 OK\r\n", label
        assert [type(e).__name__ for e in run.events] == ["BadCommand", "Noop"], label


# -- argument injection ----------------------------------------------------------------------

NASTY = st.sampled_from(["\r", "\n", "\x00", "\r\n", "\r\n.\r\n", " ", ">", "<"])
TEXT = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x7F), max_size=12)


@st.composite
def injected(draw: st.DrawFn) -> str:
    return draw(TEXT) + draw(NASTY) + draw(TEXT)


def _client_after_ehlo() -> ClientConnection:
    c = ClientConnection()
    c.receive_data(b"220 mx\r\n")
    c.next_event()
    c.ehlo()
    c.receive_data(b"250-mx\r\n250-PIPELINING\r\n250-DSN\r\n250 SMTPUTF8\r\n")
    c.next_event()
    c.data_to_send()
    return c


@given(value=injected())
def test_writers_refuse_cr_lf_nul_in_every_argument(value: str) -> None:
    c = _client_after_ehlo()
    calls = [
        lambda: c.mail_from(value),
        lambda: c.mail_from("a@b.example", MailParams(extra=(("X", value),))),
        lambda: c.mail_from("a@b.example", MailParams(extra=((value, None),))),
        lambda: c.ehlo(value),
        lambda: c.vrfy(value),
        lambda: c.help(value),
    ]
    for call in calls:
        try:
            call()
        except LocalProtocolError:
            continue
        finally:
            c = _client_after_ehlo() if c.data_to_send() else c
    # ENVID and ORCPT are xtext-encoded: never a raw control character.
    c.mail_from("a@b.example", MailParams(envid=value))
    c.rcpt_to("x@y.example", RcptParams(orcpt=("rfc822", value)))
    wire = c.data_to_send()
    assert wire.count(b"\r\n") == 2 and wire.endswith(b"\r\n")
    assert b"\x00" not in wire and wire.replace(b"\r\n", b"").find(b"\n") < 0


@given(value=injected())
def test_accepted_arguments_never_break_the_line(value: str) -> None:
    c = _client_after_ehlo()
    for call in (lambda: c.vrfy(value), lambda: c.help(value), lambda: c.ehlo(value)):
        try:
            call()
        except LocalProtocolError:
            continue
    wire = c.data_to_send()
    assert b"\x00" not in wire and b"\r" not in wire.replace(b"\r\n", b"")
    assert b"\n" not in wire.replace(b"\r\n", b"")


def test_reply_texts_refuse_cr_lf_nul() -> None:
    for bad in ("x\r\n250 fake", "x\n", "x\x00"):
        with pytest.raises(LocalProtocolError):
            Reply(code=250, lines=(bad,))
        with pytest.raises(LocalProtocolError):
            ServerConfig(hostname=bad)
        with pytest.raises(LocalProtocolError):
            ClientConfig(local_hostname=bad)


# -- authentication --------------------------------------------------------------------------


class EndlessChallenges(ServerMechanism):
    name = "X-ENDLESS"

    def _start(self, initial: bytes | None) -> Step:
        return Challenge(data=b"more")

    def _receive(self, response: bytes) -> Step:
        return Challenge(data=b"more")


def test_sasl_exchange_steps_are_bounded() -> None:
    conn = ehlo_server(
        auth_mechanisms=("X-ENDLESS",), sasl_factory=lambda name, **kw: EndlessChallenges()
    )
    run = run_server([b"AUTH X-ENDLESS\r\n" + b"AAAA\r\n" * 11], conn)
    assert run.output.count(b"334 bW9yZQ==\r\n") == 11
    assert run.output.endswith(b"535 5.7.8 Authentication credentials invalid\r\n")
    assert isinstance(run.events[-1], AuthFailed)
    assert "too many steps" in run.events[-1].reason


def test_secrets_stay_out_of_reprs_and_errors() -> None:
    c = ClientConnection(tls_active=True)
    c.receive_data(b"220 mx\r\n")
    c.next_event()
    c.ehlo()
    c.receive_data(b"250-mx\r\n250 AUTH PLAIN\r\n")
    c.next_event()
    c.auth(PlainClient("alice", "hunter2-secret"))
    texts = [repr(c), repr(c._sent), repr(c._queue), repr(c._buf)]
    c.receive_data(b"500 nope\r\nunexpected\r\n")
    try:
        while c.next_event() is not NEED_DATA:
            pass
    except ProtocolError as exc:
        texts += [str(exc), repr(exc)]
    for text in texts:
        assert "hunter2" not in text
        assert "aHVudGVyMi" not in text  # its base64


# -- cross-protocol --------------------------------------------------------------------------


def test_an_http_request_is_closed_on_without_reflection() -> None:
    conn = ServerConnection()
    conn.data_to_send()
    conn.receive_data(b"GET /<script>evil</script> HTTP/1.1\r\nHost: x\r\n\r\n")
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert info.value.reply == (b"421 4.7.0 localhost Not an SMTP client, closing connection\r\n")
    assert conn.data_to_send() == info.value.reply  # nothing of the request reflected


def test_too_many_bad_commands_close_the_session() -> None:
    conn = ehlo_server(max_bad_commands=3)
    conn.receive_data(b"FOO\r\n" * 5)

    def drain() -> None:
        while conn.next_event() is not NEED_DATA:
            pass

    with pytest.raises(RemoteProtocolError) as info:
        drain()
    assert info.value.reply is not None
    assert conn.data_to_send() == b"500 5.5.1 Command unrecognized\r\n" * 3 + info.value.reply
    assert info.value.reply == b"421 4.7.0 localhost Too many errors, closing connection\r\n"
