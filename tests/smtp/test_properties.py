"""Properties: whatever bytes arrive, the server answers with replies or
raises our error; what our client sends through our server arrives
byte-identical; every split of a session gives the same events."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from protokit import NEED_DATA, ProtocolError
from protokit.sasl import PlainClient
from protokit.smtp import (
    AuthRequest,
    Body,
    ClientConfig,
    ClientConnection,
    Event,
    MailParams,
    MessageData,
    MessageEnd,
    ServerConfig,
    ServerConnection,
)
from protokit.smtp._parse import ReplyReader
from protokit.wire import BareLineEndingPolicy, ReceiveBuffer, b64encode

from .helpers import Pair, merge_data

CONFIG = ServerConfig(
    starttls=True, auth_mechanisms=("PLAIN", "LOGIN"), allow_plaintext_auth=True, max_chunk=7
)

PIECES = [
    b"EHLO x\r\n", b"HELO x\r\n", b"MAIL FROM:<a@b.c>\r\n",
    b"MAIL FROM:<> SIZE=9 BODY=8BITMIME\r\n",
    b"RCPT TO:<d@e.f>\r\n", b"RCPT TO:<d@e.f> NOTIFY=NEVER\r\n", b"DATA\r\n", b".\r\n",
    b"\r\n.\r\n", b"BDAT 3\r\n", b"BDAT 2 LAST\r\n", b"BDAT 0 LAST\r\n", b"RSET\r\n",
    b"NOOP\r\n", b"VRFY x\r\n", b"HELP\r\n", b"QUIT\r\n", b"AUTH PLAIN\r\n",
    b"AUTH PLAIN " + b64encode(b"\x00u\x00p") + b"\r\n", b"AUTH LOGIN\r\n", b"=\r\n", b"*\r\n",
    b"STARTTLS\r\n", b"\r\n", b"\n", b"\r", b".", b"\x00", b"x" * 600 + b"\r\n", b"\xff\xfe",
]  # fmt: skip

SESSION_BYTES = st.lists(st.sampled_from(PIECES) | st.binary(max_size=20), max_size=25).map(
    b"".join
)


def answer(conn: ServerConnection, ev: Event) -> None:
    if isinstance(ev, AuthRequest):
        conn.answer_auth(False)
    while conn.pending is not None and conn.pending != "AuthRequest":
        conn.reply()


def run(conn: ServerConnection, chunks: list[bytes]) -> tuple[list[Event], bytes, str | None]:
    events: list[Event] = []
    out = bytearray(conn.data_to_send())
    try:
        for chunk in chunks:
            conn.receive_data(chunk)
            while (ev := conn.next_event()) is not NEED_DATA:
                events.append(ev)
                answer(conn, ev)
            out += conn.data_to_send()
    except ProtocolError as exc:  # the only exception allowed out
        out += conn.data_to_send()
        return merge_data(events), bytes(out), type(exc).__name__
    return merge_data(events), bytes(out), None


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, prev = [], 0
    for p in points:
        out.append(data[prev:p])
        prev = p
    out.append(data[prev:])
    return [c for c in out if c]


@given(data=SESSION_BYTES, cuts=st.lists(st.integers(min_value=0), max_size=6))
def test_any_input_gives_replies_or_our_error(data: bytes, cuts: list[int]) -> None:
    _, out, _ = run(ServerConnection(CONFIG), split(data, cuts))
    # Everything written parses as well-formed replies.
    buf = ReceiveBuffer(out)
    reader = ReplyReader()
    while reader.read(buf) is not None:
        pass
    assert not buf


@given(data=SESSION_BYTES, cuts=st.lists(st.integers(min_value=0), max_size=6))
def test_every_split_gives_the_same_events(data: bytes, cuts: list[int]) -> None:
    whole = run(ServerConnection(CONFIG), [data] if data else [])
    assert run(ServerConnection(CONFIG), split(data, cuts)) == whole


LINE = st.binary(max_size=80).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
BODY = st.lists(LINE, max_size=30).map(lambda lines: b"".join(x + b"\r\n" for x in lines))


@given(
    bodies=st.lists(BODY, min_size=1, max_size=4),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=8),
    chunked=st.booleans(),
)
def test_messages_through_client_and_server_arrive_identical(
    bodies: list[bytes], cuts: list[int], chunked: bool
) -> None:
    sent: list[bytes] = []

    def body(c: ClientConnection) -> None:
        payload = sent[-1]
        for piece in split(payload, cuts):
            c.send_data(piece)
        c.end_data()

    p = Pair(
        ClientConnection(ClientConfig(allow_plaintext_auth=True)),
        ServerConnection(
            ServerConfig(max_chunk=100, bare_line_ending=BareLineEndingPolicy.REJECT)
        ),
        body=body,
    )
    p.greet()
    for i, payload in enumerate(bodies):
        sent.append(payload)
        p.client.mail_from(
            f"s{i}@example.com", MailParams(body=Body.BINARYMIME if chunked else None)
        )
        p.client.rcpt_to("r@example.org")
        if chunked:
            for piece in split(payload, cuts):
                p.client.bdat(piece)
            p.client.bdat(b"", last=True)
        else:
            p.client.data()
        p.pump()
    got: list[bytes] = []
    current = bytearray()
    for ev in p.server_events:
        if isinstance(ev, MessageData):
            current += ev.data
        elif isinstance(ev, MessageEnd):
            got.append(bytes(current))
            current = bytearray()
    assert got == bodies


@given(raw=st.binary(max_size=400), cuts=st.lists(st.integers(min_value=0), max_size=8))
def test_binary_bdat_is_byte_identical(raw: bytes, cuts: list[int]) -> None:
    p = Pair()
    p.greet()
    p.client.mail_from("a@example.com", MailParams(body=Body.BINARYMIME))
    p.client.rcpt_to("b@example.org")
    for piece in split(raw, cuts):
        p.client.bdat(piece)
    p.client.bdat(b"", last=True)
    p.pump()
    data = b"".join(e.data for e in p.server_events if isinstance(e, MessageData))
    assert data == raw


@given(user=st.text(min_size=1, max_size=30).filter(lambda s: "\x00" not in s))
def test_auth_round_trips_any_identity(user: str) -> None:
    seen: list[str] = []

    def app(conn: ServerConnection, ev: Event) -> None:
        if isinstance(ev, AuthRequest):
            seen.append(ev.request.authcid)  # type: ignore[attr-defined]
            conn.answer_auth(True)
            return
        while conn.pending is not None and conn.pending != "AuthRequest":
            conn.reply()

    p = Pair(
        ClientConnection(ClientConfig(allow_plaintext_auth=True)),
        ServerConnection(ServerConfig(auth_mechanisms=("PLAIN",), allow_plaintext_auth=True)),
        app,
    )
    p.greet()
    try:
        mech = PlainClient(user, "pw")
    except ProtocolError:
        return
    p.client.auth(mech)
    p.pump()
    assert seen in ([user], [])  # SASLprep may refuse some identities


@given(
    lengths=st.lists(st.integers(min_value=0, max_value=1100), min_size=1, max_size=12),
    cuts=st.lists(st.integers(min_value=0), max_size=6),
)
@example(lengths=[0, 999], cuts=[])
@example(lengths=[0, 998], cuts=[])
@example(lengths=[3, 998, 999, 4], cuts=[])
@example(lengths=[998] * 5 + [999], cuts=[])
@example(lengths=[999, 0], cuts=[])
@example(lengths=[40] * 30 + [1000] + [40] * 30, cuts=[])
def test_text_line_limit_matches_a_reference(lengths: list[int], cuts: list[int]) -> None:
    body = b"".join(b"x" * n + b"\r\n" for n in lengths)
    too_long = any(n + 2 > 1000 for n in lengths)  # RFC 5321 4.5.3.1.6, CRLF included
    session = b"EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<a@b.example>\r\nDATA\r\n" + body + b".\r\n"
    _, out, error = run(ServerConnection(), split(session, cuts))
    assert error is None
    assert out.endswith(
        b"550 5.6.0 Message contains a line longer than allowed\r\n"
        if too_long
        else b"250 2.0.0 Message accepted for delivery\r\n"
    )
