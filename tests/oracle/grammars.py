"""Reference grammars built with pyparsing, transcribed from the RFC ABNF
restated in spec/*/grammar.md (a test-only oracle, written for readability,
not speed).  Each ``parse_*`` function returns a plain parse tree (tuples,
str, int), raises :class:`Reject` when the input is not in the language, or
:class:`Inconclusive` when the input is outside the subset the oracle covers
or over its own resource limits.
"""

from __future__ import annotations

import base64

import pyparsing as pp

pp.ParserElement.set_default_whitespace_chars("")  # whitespace is grammar here

MAX_INPUT = 2000  # the oracle's own limit: longer inputs are inconclusive


class Reject(Exception):
    """Not in the language."""


class Inconclusive(Exception):
    """Outside what the oracle covers."""


def _run(element: pp.ParserElement, text: str) -> pp.ParseResults:
    if len(text) > MAX_INPUT:
        raise Inconclusive("over the oracle's input limit")
    try:
        return element.parse_string(text, parse_all=True)
    except pp.ParseException as exc:
        raise Reject(str(exc)) from None
    except RecursionError:  # pragma: no cover - the oracle's own limit
        raise Inconclusive("oracle recursion limit") from None


def _chars(lo: int, hi: int, exclude: str = "") -> str:
    return "".join(chr(c) for c in range(lo, hi + 1) if chr(c) not in exclude)


ALPHA = pp.alphas
DIGIT = pp.nums
SP = pp.Literal(" ")

# -- SMTP: RFC 5321 section 4.1.2 --------------------------------------------------------------

ATEXT = ALPHA + DIGIT + "!#$%&'*+-/=?^_`{|}~"
atom = pp.Word(ATEXT)
dot_string = pp.Combine(atom + pp.ZeroOrMore("." + atom))
qtext_smtp = _chars(32, 33) + _chars(35, 91) + _chars(93, 126)
quoted_pair_smtp = pp.Combine("\\" + pp.Char(_chars(32, 126)))
quoted_string = pp.Combine('"' + pp.ZeroOrMore(pp.Char(qtext_smtp) | quoted_pair_smtp) + '"')
local_part = quoted_string | dot_string
let_dig = ALPHA + DIGIT
# sub-domain = Let-dig [Ldh-str]; Ldh-str = *( ALPHA / DIGIT / "-" ) Let-dig
sub_domain = pp.Regex(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?")
domain = pp.Combine(sub_domain + pp.ZeroOrMore("." + sub_domain))
dcontent = _chars(33, 90) + _chars(94, 126)
snum = pp.Regex(r"25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9]")
ipv4_literal = pp.Combine(snum + ("." + snum) * 3)
general_literal = pp.Combine(
    pp.Regex(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?") + ":" + pp.Word(dcontent)
)
ipv6_literal = pp.Combine(pp.CaselessLiteral("IPv6:") + pp.Word("0123456789abcdefABCDEF:."))
address_literal = pp.Combine("[" + (ipv6_literal | general_literal | ipv4_literal) + "]")
mailbox = pp.Combine(local_part + "@" + (domain | address_literal))
at_domain = pp.Combine("@" + domain)
a_d_l = at_domain + pp.ZeroOrMore("," + at_domain)
path = pp.Suppress("<") + pp.Optional(pp.Suppress(a_d_l + ":")) + mailbox + pp.Suppress(">")
reverse_path = path | pp.Literal("<>").set_parse_action(lambda: "")
esmtp_keyword = pp.Regex(r"[A-Za-z0-9][A-Za-z0-9-]*")
esmtp_value = pp.Word(_chars(33, 60) + _chars(62, 126))
esmtp_param = pp.Group(esmtp_keyword + pp.Optional(pp.Suppress("=") + esmtp_value))
parameters = pp.Group(esmtp_param + pp.ZeroOrMore(pp.Suppress(SP) + esmtp_param))
postmaster = pp.Suppress("<") + pp.CaselessLiteral("Postmaster") + pp.Suppress(">")
mail = pp.CaselessLiteral("MAIL FROM:") + reverse_path + pp.Optional(pp.Suppress(SP) + parameters)
rcpt = (
    pp.CaselessLiteral("RCPT TO:")
    + (postmaster | path)
    + pp.Optional(pp.Suppress(SP) + parameters)
)

# Reply-line = *( Reply-code "-" [ textstring ] CRLF ) Reply-code [ SP textstring ] CRLF
reply_code = pp.Regex(r"[2-5][0-9][0-9]")
textstring = pp.Word("\t" + _chars(32, 126))


def _ascii(data: bytes) -> str:
    if not data.isascii():
        raise Inconclusive("8-bit input (RFC 6531) is outside the oracle")
    return data.decode("ascii")


def parse_path_command(line: bytes) -> tuple[str, str, tuple[tuple[str, str | None], ...]]:
    """MAIL FROM / RCPT TO without CRLF: (verb, address, params)."""
    text = _ascii(line)
    grammar = mail if text[:4].upper() == "MAIL" else rcpt
    res = _run(grammar, text)
    verb = "MAIL" if res[0].upper().startswith("MAIL") else "RCPT"
    params: tuple[tuple[str, str | None], ...] = ()
    if len(res) > 2:
        params = tuple((p[0].upper(), p[1] if len(p) > 1 else None) for p in res[2])
    return verb, res[1], params


def parse_reply(data: bytes) -> tuple[int, tuple[str, ...]]:
    """A whole SMTP reply (its lines with CRLF): (code, texts)."""
    text = _ascii(data)
    if not text.endswith("\r\n"):
        raise Reject("a reply ends with CRLF")
    lines = text[:-2].split("\r\n")
    codes, texts = set(), []
    for i, line in enumerate(lines):
        last = i == len(lines) - 1
        sep = " " if last else "-"
        res = _run(reply_code + pp.Optional(pp.Literal(sep) + pp.Optional(textstring)), line)
        codes.add(res[0])
        texts.append(res[2] if len(res) > 2 else "")
    if len(codes) != 1:
        raise Reject("a multi-line reply keeps one code")
    return int(codes.pop()), tuple(texts)


# -- POP3: RFC 1939 sections 3-7, RFC 2449 section 3, RFC 5034 section 4 ------------------------

VCHAR = _chars(0x21, 0x7E)
param = pp.Word(VCHAR)
# RFC 1939 3: a message-number is a positive integer (leading zeros allowed).
msg_number = pp.Regex(r"0*[1-9][0-9]*").set_parse_action(lambda t: int(t[0]))
line_count = pp.Regex(r"[0-9]+").set_parse_action(lambda t: int(t[0]))
mech = pp.Regex(r"[A-Za-z0-9_-]{1,20}")
# initial-response = base64 / "=" (RFC 5034 4): "=" is the empty response.
b64 = pp.Regex(r"=|(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
b64.set_parse_action(
    lambda t: base64.b64decode(t[0], validate=True).decode("latin-1") if t[0] != "=" else ""
)


def _kw(word: str) -> pp.ParserElement:
    return pp.CaselessKeyword(word).set_parse_action(lambda: word)


_a = pp.Suppress(SP)
pop3_command = (
    (_kw("USER") + _a + param)
    | (_kw("PASS") + _a + pp.Regex(r"[^\x00\r\n]+"))
    | (_kw("APOP") + _a + param + _a + pp.Regex(r"[0-9a-fA-F]{32}"))
    | (_kw("LIST") + pp.Optional(_a + msg_number))
    | (_kw("UIDL") + pp.Optional(_a + msg_number))
    | (_kw("RETR") + _a + msg_number)
    | (_kw("DELE") + _a + msg_number)
    | (_kw("TOP") + _a + msg_number + _a + line_count)
    | (_kw("AUTH") + pp.Optional(_a + mech + pp.Optional(_a + b64)))
    | _kw("STAT")
    | _kw("NOOP")
    | _kw("RSET")
    | _kw("QUIT")
    | _kw("CAPA")
    | _kw("STLS")
    | _kw("UTF8")
)


def parse_pop3_command(line: bytes) -> tuple[object, ...]:
    """One POP3 command without CRLF: (KEYWORD, args...)."""
    text = _ascii(line)
    if len(line) > 253:
        raise Inconclusive("over RFC 2449's 255-octet command line")
    res = _run(pop3_command, text)
    return tuple(res)


# -- IMAP: a subset of RFC 9051 section 9 (responses) --------------------------------------------

atom_char = _chars(0x21, 0x7E, '(){ %*"\\]')
imap_atom = pp.Word(atom_char)
tag = pp.Word(_chars(0x21, 0x7E, '(){ %*"\\+'))
number = pp.Regex(r"[0-9]+").set_parse_action(lambda t: int(t[0]))
nz_number = pp.Regex(r"[1-9][0-9]*").set_parse_action(lambda t: int(t[0]))
text = pp.Regex(r"[\x01-\x09\x0b\x0c\x0e-\x7f]+")
flag = pp.Combine(pp.Optional("\\") + imap_atom) | pp.Literal("\\*")
flag_list = pp.Group(
    pp.Suppress("(") + pp.Optional(pp.DelimitedList(flag, " ")) + pp.Suppress(")")
)
capability = pp.Word(atom_char)
cap_data = pp.CaselessKeyword("CAPABILITY").set_parse_action(lambda: "CAPABILITY") + pp.Group(
    pp.OneOrMore(_a + capability)
)
# resp-cond-state = ("OK" / "NO" / "BAD") SP resp-text; resp-text = [code SP] [text]
# (RFC 9051: the SP is required, the text is not; codes are outside the subset)
resp_text = _a + pp.Optional(text)
status_word = pp.one_of("OK NO BAD", caseless=True).set_parse_action(lambda t: t[0].upper())
untagged = pp.Suppress("* ") + (
    (
        pp.one_of("OK NO BAD BYE PREAUTH", caseless=True).set_parse_action(lambda t: t[0].upper())
        + resp_text
    )
    | cap_data
    | (pp.CaselessKeyword("FLAGS").set_parse_action(lambda: "FLAGS") + _a + flag_list)
    | (
        pp.CaselessKeyword("SEARCH").set_parse_action(lambda: "SEARCH")
        + pp.Group(pp.ZeroOrMore(_a + nz_number))
    )
    | (
        number
        + _a
        + pp.one_of("EXISTS EXPUNGE RECENT", caseless=True).set_parse_action(
            lambda t: t[0].upper()
        )
    )
)
tagged = tag + _a + status_word + resp_text
imap_response = untagged | tagged


def parse_imap_response(line: bytes) -> tuple[object, ...]:
    """One IMAP response line without CRLF, in the covered subset."""
    text_ = _ascii(line)
    if "[" in text_ or "{" in text_ or '"' in text_:
        raise Inconclusive("response codes, literals and quoted strings are outside the subset")
    head = text_.split(" ", 3)
    covered = {"OK", "NO", "BAD", "BYE", "PREAUTH", "CAPABILITY", "FLAGS", "SEARCH",
               "EXISTS", "EXPUNGE", "RECENT"}  # fmt: skip
    if not any(h.upper() in covered for h in head[1:3]):
        raise Inconclusive("response type outside the subset")
    return tuple(_run(imap_response, text_).as_list())
