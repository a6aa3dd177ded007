"""Hypothesis strategies for valid mail-protocol traffic.

Use them to fuzz your own servers and clients with well-formed input (and
mutate it from there).  Values are protokit objects; ``*_bytes`` strategies
give their wire form, written by protokit's own writers, so every example is
something protokit itself parses back to the same value.

- IMAP: :data:`imap_commands`, :data:`imap_responses` (values),
  :func:`imap_command_bytes`, :func:`imap_response_bytes`,
  :func:`imap_sessions` (a client's command stream).
- SMTP: :data:`smtp_addresses`, :func:`smtp_commands` (one command line),
  :func:`smtp_sessions` (a whole client session with bodies), :func:`smtp_replies`.
- POP3: :data:`pop3_commands` (values), :func:`pop3_command_bytes`,
  :func:`pop3_sessions`.
- SASL: :func:`sasl_plain_messages`, :func:`sasl_client_mechanisms` (a
  mechanism ready to run), :func:`sasl_responses` (base64 lines as the
  protocols frame them).

Needs hypothesis (a test dependency); :mod:`protokit.testing.fuzz` does not.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from .. import Secret
from ..imap import LinePiece, LiteralPiece, write_command, write_response
from ..pop3 import (
    Apop,
    Capa,
    Dele,
    List,
    Noop,
    Pass,
    Quit,
    Retr,
    Rset,
    Stat,
    Top,
    Uidl,
    User,
)
from ..pop3 import write_command as pop3_write_command
from ..sasl import (
    AnonymousClient,
    ClientMechanism,
    CramMD5Client,
    ExternalClient,
    LoginClient,
    OAuthBearerClient,
    PlainClient,
    ScramSHA1Client,
    ScramSHA256Client,
    XOAuth2Client,
)
from ..smtp import Body, MailParams, Notify, RcptParams, Reply
from ..smtp._write import mail_line, rcpt_line
from ..wire import DotStuffer, b64encode, format_response
from ._imap_strategies import commands as imap_commands
from ._imap_strategies import responses as imap_responses

__all__ = [
    "imap_command_bytes",
    "imap_commands",
    "imap_response_bytes",
    "imap_responses",
    "imap_sessions",
    "pop3_command_bytes",
    "pop3_commands",
    "pop3_sessions",
    "sasl_client_mechanisms",
    "sasl_plain_messages",
    "sasl_responses",
    "smtp_addresses",
    "smtp_commands",
    "smtp_replies",
    "smtp_sessions",
]

_ALPHA = "abcdefghijklmnopqrstuvwxyz"
_LDH = _ALPHA + "0123456789"
_ATEXT = _LDH + "!#$%&'*+-/=?^_`{|}~"

# -- IMAP -------------------------------------------------------------------------------


def _pieces(pieces: list[Any]) -> bytes:
    return b"".join(p.data for p in pieces if isinstance(p, LinePiece | LiteralPiece))


def imap_command_bytes(*, literal_plus: bool = True) -> st.SearchStrategy[bytes]:
    """One IMAP command on the wire (literals inline: send each after "+"
    unless ``literal_plus``)."""
    return imap_commands.map(lambda c: _pieces(write_command(c, literal_plus=literal_plus)))


def imap_response_bytes() -> st.SearchStrategy[bytes]:
    """One IMAP response (untagged, tagged or continuation) on the wire."""
    return imap_responses.map(write_response)


def imap_sessions(max_commands: int = 10) -> st.SearchStrategy[list[bytes]]:
    """A client's stream: LOGIN first, then commands, LOGOUT last."""
    login = b"a0 LOGIN user pw-5ecr3t-fuzz\r\n"
    return st.lists(imap_command_bytes(), max_size=max_commands).map(
        lambda cs: [login, *cs, b"z9 LOGOUT\r\n"]
    )


# -- SMTP --------------------------------------------------------------------------------

_labels = st.text(_LDH, min_size=1, max_size=10)
smtp_domains = st.lists(_labels, min_size=1, max_size=3).map(".".join)
_local = st.text(_ATEXT, min_size=1, max_size=12).filter(lambda s: ".." not in s)
smtp_addresses = st.builds(lambda lp, d: f"{lp}@{d}", _local, smtp_domains)
"""RFC 5321 Mailbox values (dot-atom local parts, plain domains)."""

_xtext_chars = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=10)

_mail_params = st.builds(
    MailParams,
    size=st.none() | st.integers(0, 10**9),
    body=st.none() | st.sampled_from(list(Body)),
    envid=st.none() | _xtext_chars,
)
_rcpt_params = st.builds(
    RcptParams,
    notify=st.none()
    | st.just(frozenset({Notify.NEVER}))
    | st.sets(st.sampled_from([Notify.SUCCESS, Notify.FAILURE, Notify.DELAY]), min_size=1).map(
        frozenset
    ),
)


def smtp_commands() -> st.SearchStrategy[bytes]:
    """One valid SMTP command line, CRLF included."""
    return st.one_of(
        smtp_domains.map(lambda d: b"EHLO " + d.encode() + b"\r\n"),
        smtp_domains.map(lambda d: b"HELO " + d.encode() + b"\r\n"),
        st.builds(mail_line, st.just("") | smtp_addresses, _mail_params),
        st.builds(rcpt_line, smtp_addresses, _rcpt_params),
        st.sampled_from([b"DATA\r\n", b"RSET\r\n", b"NOOP\r\n", b"QUIT\r\n", b"HELP\r\n"]),
        _local.map(lambda u: b"VRFY " + u.encode() + b"\r\n"),
    )


_body_lines = st.lists(
    st.binary(max_size=60).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
    max_size=8,
)


def _stuffed(lines: list[bytes]) -> bytes:
    s = DotStuffer()
    return s.write(b"".join(line + b"\r\n" for line in lines)) + s.close()


def smtp_sessions(max_messages: int = 3) -> st.SearchStrategy[bytes]:
    """A whole client session: EHLO, then messages (MAIL, RCPT..., DATA and
    a dot-stuffed body), then QUIT."""
    message = st.builds(
        lambda m, rs, body: m + b"".join(rs) + b"DATA\r\n" + _stuffed(body),
        st.builds(mail_line, st.just("") | smtp_addresses, st.just(MailParams())),
        st.lists(
            st.builds(rcpt_line, smtp_addresses, st.just(RcptParams())), min_size=1, max_size=3
        ),
        _body_lines,
    )
    return st.builds(
        lambda d, ms: b"EHLO " + d.encode() + b"\r\n" + b"".join(ms) + b"QUIT\r\n",
        smtp_domains,
        st.lists(message, max_size=max_messages),
    )


def smtp_replies() -> st.SearchStrategy[bytes]:
    """One SMTP reply (possibly multi-line), as a server writes it."""
    texts = st.lists(
        st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
        min_size=1,
        max_size=3,
    )
    return st.builds(
        lambda code, lines: Reply(code=code, lines=tuple(lines)).to_bytes(enhanced=False),
        st.integers(200, 599),
        texts,
    )


# -- POP3 ---------------------------------------------------------------------------------

_pop3_names = st.text(_LDH, min_size=1, max_size=20)
_msg = st.integers(1, 10**6)
pop3_commands = st.one_of(
    _pop3_names.map(lambda n: User(name=n)),
    _pop3_names.map(lambda p: Pass(password=Secret(p))),
    st.builds(
        lambda n, d: Apop(name=n, digest=Secret(d)),
        _pop3_names,
        st.text("0123456789abcdef", min_size=32, max_size=32),
    ),
    st.sampled_from([Stat(), Capa(), Noop(), Rset(), Quit(), List(), Uidl()]),
    _msg.map(lambda m: List(msg=m)),
    _msg.map(lambda m: Uidl(msg=m)),
    _msg.map(lambda m: Retr(msg=m)),
    _msg.map(lambda m: Dele(msg=m)),
    st.builds(lambda m, n: Top(msg=m, lines=n), _msg, st.integers(0, 10**6)),
)
"""POP3 command values (RFC 1939, RFC 2449)."""


def pop3_command_bytes() -> st.SearchStrategy[bytes]:
    """One POP3 command line, CRLF included."""
    return pop3_commands.map(pop3_write_command)


def pop3_sessions(max_commands: int = 10) -> st.SearchStrategy[bytes]:
    """USER, PASS, then transaction commands, then QUIT."""
    txn = pop3_commands.filter(lambda c: not isinstance(c, User | Pass | Apop | Quit))
    return st.builds(
        lambda u, p, cs: b"".join(
            pop3_write_command(c) for c in [User(name=u), Pass(password=Secret(p)), *cs, Quit()]
        ),
        _pop3_names,
        _pop3_names,
        st.lists(txn, max_size=max_commands),
    )


# -- SASL ----------------------------------------------------------------------------------

_sasl_text = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters=",="),
    min_size=1,
    max_size=20,
)


def sasl_plain_messages() -> st.SearchStrategy[bytes]:
    """RFC 4616 messages: [authzid] NUL authcid NUL passwd."""
    return st.builds(
        lambda z, c, p: (z or "").encode() + b"\x00" + c.encode() + b"\x00" + p.encode(),
        st.none() | _sasl_text,
        _sasl_text,
        _sasl_text,
    )


def sasl_client_mechanisms() -> st.SearchStrategy[ClientMechanism]:
    """A fresh client mechanism of every kind protokit has (no -PLUS)."""
    return st.one_of(
        st.builds(PlainClient, _sasl_text, _sasl_text),
        st.builds(LoginClient, _sasl_text, _sasl_text),
        st.builds(CramMD5Client, _sasl_text, _sasl_text),
        st.builds(ScramSHA1Client, _sasl_text, _sasl_text),
        st.builds(ScramSHA256Client, _sasl_text, _sasl_text),
        st.builds(XOAuth2Client, _sasl_text, _sasl_text),
        st.builds(OAuthBearerClient, _sasl_text, _sasl_text),
        st.just(ExternalClient()),
        st.builds(AnonymousClient, _sasl_text),
    )


def sasl_responses() -> st.SearchStrategy[bytes]:
    """A SASL continuation line as SMTP, POP3 and IMAP send it (base64 or
    "*" to cancel), CRLF included."""
    return st.binary(max_size=100).map(lambda b: format_response(b) + b"\r\n") | st.just(b"*\r\n")


_ = b64encode  # re-exported helpers stay importable for users
