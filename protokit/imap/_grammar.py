"""Every regular expression of the IMAP codec, with the RFC rule it implements.

Rules are quoted from RFC 9051 section 9 (and RFC 3501 section 9 where rev1
differs).  Every repetition is bounded.  Deliberate leniencies towards real
servers are named ``LENIENT-*`` beside the pattern that implements them; the
writer never produces any of them.

The parser works in two steps: a message's lines are first cut into a tree of
generic values by one master regex (:data:`TOKEN`) and an explicit stack
(``_tokens.py``); typed builders then read that tree.  The patterns below that
validate single values (tags, atoms, sequence sets, dates) are used both by
the builders and by the constructors of the types, so that "valid by
construction" and "what the parser accepts" are the same rule.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

# Longest atom or number we tokenize in one piece.  A longer run is split by
# the regex engine into two adjacent atoms, which the tokenizer rejects as a
# missing separator: so the bound is enforced without a special case.
MAX_ATOM: Final = 4096
MAX_QUOTED: Final = 1 << 20

# atom            = 1*ATOM-CHAR
# ATOM-CHAR       = <any CHAR except atom-specials>
# atom-specials   = "(" / ")" / "{" / SP / CTL / list-wildcards /
#                   quoted-specials / resp-specials
# list-wildcards  = "%" / "*"
# quoted-specials = DQUOTE / "\"
# resp-specials   = "]"
ATOM_CHARS: Final = rb"!#$&'+,\-./0-9:;<=>?@A-Z\[^_`a-z|}~"
ATOM: Final = re.compile(rb"[" + ATOM_CHARS + rb"]{1,%d}\Z" % MAX_ATOM)

# ASTRING-CHAR    = ATOM-CHAR / resp-specials
# What the writer sends as a bare astring: ASTRING-CHARs but "[", which a
# reader may take for the start of a section (and which this parser's
# tokenizer only accepts as one); a value with "[" is quoted instead.
ASTRING_ATOM: Final = re.compile(rb"[!#$&'+,\-./0-9:;<=>?@A-Z^_`a-z|}~\]]{1,%d}\Z" % MAX_ATOM)

# list-mailbox    = 1*list-char / string
# list-char       = ATOM-CHAR / list-wildcards / resp-specials
# (written bare when possible; "[" excluded as for ASTRING_ATOM)
LIST_ATOM: Final = re.compile(rb"[!#$%&'*+,\-./0-9:;<=>?@A-Z^_`a-z|}~\]]{1,4096}\Z")

# tag             = 1*<any ASTRING-CHAR except "+">
TAG: Final = re.compile(rb"[!#$&',\-./0-9:;<=>?@A-Z\[\]^_`a-z|}~]{1,%d}\Z" % 256)

# flag-keyword    = "$MDNSent" / "$Forwarded" / ... / atom
# flag-extension  = "\" atom
# flag-perm       = flag / "\*"
FLAG: Final = re.compile(rb"(?:\\?[" + ATOM_CHARS + rb"]{1,%d}|\\\*)\Z" % MAX_ATOM)

# The master token of the data grammar, used for every argument list of a
# command and every data part of a response.  Each match is one token with
# the single space that precedes it, if any: an atom-like word, a quoted
# string (quotes included), or one other character ("(", ")", or an error).
# The tokenizer dispatches on the token's first byte, so the regex has no
# groups (findall then returns plain bytes, the fastest shape).
# The word is deliberately wider than ATOM-CHAR: it takes "\" (flags), "%"
# and "*" (list wildcards, sequence sets), "]" (ASTRING-CHAR) and a
# trailing section "[...]" with an optional partial "<n.m>", so that
# BODY[HEADER.FIELDS (From To)]<0.100> is one word; the builders then check
# each word against the rule of its position.
#   quoted          = DQUOTE *QUOTED-CHAR DQUOTE
#   QUOTED-CHAR     = <any TEXT-CHAR except quoted-specials> / "\" quoted-specials
#                     (RFC 9051 also allows UTF8-2/3/4 here)
#   section         = "[" [section-spec] "]"
#   partial         = "<" number64 "." nz-number ">"
# LENIENT-8BIT-QUOTED: 8-bit bytes are accepted in quoted strings whatever
# the UTF8 state (rev1 servers send raw Latin-1 in ENVELOPE subjects).
# Known limit: a "]" inside a quoted header-field name of a section is not
# supported (no server has been seen sending one).
# The repetitions here are written "*"/"+" rather than bounded: the framer
# has already bounded the line (max_line), every class is a single character
# set (linear, no backtracking), and Python's engine runs bounded repeats of
# these about 1.5x slower on the parser's hottest path.  Quoted strings are
# tried first: they are the most frequent token of FETCH data.
WORD_CHARS: Final = rb"!#$%&'*+,\-./0-9:;<=>?@A-Z\\\]^_`a-z|}~"
TOKEN: Final = re.compile(
    rb' ?(?:"[^"\\\r\n\x00]*(?:\\["\\][^"\\\r\n\x00]*)*"'
    rb"|[" + WORD_CHARS + rb"]+"
    rb"(?:\[[^\]\x00-\x1f\x7f-\xff]*\](?:<[0-9]{1,20}(?:\.[0-9]{1,20})?>)?)?"
    rb"|[\s\S])"
)

# A quoted-string escape, for unescaping the body of group 3 above.
QUOTED_ESCAPE: Final = re.compile(rb"\\([\"\\])")

# literal         = "{" number64 ["+"] "}" CRLF *CHAR8
# literal8        = "~{" number64 "}" CRLF *OCTET
# The announcement ends every line of a Message but the last (the framer
# checked it); the parser reads the literal's kind from it.
LITERAL_ANNOUNCEMENT: Final = re.compile(rb"(~?)\{([0-9]{1,20})([+-]?)\}\Z")

# sequence-set    = (seq-number / seq-range) ["," sequence-set] / "$"
# seq-range       = seq-number ":" seq-number
# seq-number      = nz-number / "*"
SEQUENCE_SET: Final = re.compile(
    rb"(?:\$|(?:[1-9][0-9]{0,9}|\*)(?::(?:[1-9][0-9]{0,9}|\*))?"
    rb"(?:,(?:[1-9][0-9]{0,9}|\*)(?::(?:[1-9][0-9]{0,9}|\*))?){0,100000})\Z"
)

# number          = 1*DIGIT   (unsigned 32-bit)
# number64        = 1*DIGIT   (unsigned 63-bit)
NUMBER: Final = re.compile(rb"[0-9]{1,20}\Z")

# date-time       = DQUOTE date-day-fixed "-" date-month "-" date-year
#                   SP time SP zone DQUOTE
# date-day-fixed  = (SP DIGIT) / 2DIGIT
# zone            = ("+" / "-") 4DIGIT
# LENIENT-DATE-DAY: a single digit day without the leading space is accepted.
DATE_TIME: Final = re.compile(
    rb"( ?[0-9]{1,2})-([A-Za-z]{3})-([0-9]{4}) "
    rb"([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})\Z"
)

# date            = date-text / DQUOTE date-text DQUOTE
# date-text       = date-day "-" date-month "-" date-year
DATE: Final = re.compile(rb"([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4})\Z")

# The start of every response line.
#   response-tagged = tag SP resp-cond-state CRLF
#   resp-cond-state = ("OK" / "NO" / "BAD") SP resp-text
#   continue-req    = "+" SP (resp-text / base64) CRLF
#   response-data   = "*" SP (resp-cond-state / resp-cond-bye /
#                     mailbox-data / message-data / capability-data /
#                     enable-data) CRLF
# LENIENT-LOWERCASE: status words and response names are matched without
# regard to case.
# LENIENT-TRAILING-SPACE: a space at the end of a line is ignored.
RESPONSE_START: Final = re.compile(
    rb"(?:(\+)(?: |\Z)"
    rb"|(\*) ([0-9]{1,10} )?([A-Za-z][A-Za-z0-9.\-]{0,63})(?: |\Z)"
    rb"|([!#$&',\-./0-9:;<=>?@A-Z\[\]^_`a-z|}~]{1,256}) ([A-Za-z]{2,3})(?: |\Z))"
)
# what RESPONSE_START matches for a numbered FETCH as servers write it
# (the same number and the same end)
FETCH_START: Final = re.compile(rb"\* ([0-9]{1,10}) FETCH (?=\()")

# resp-text       = ["[" resp-text-code "]" SP] [text]
# resp-text-code  = atom [SP 1*<any TEXT-CHAR except "]">] / ...
# LENIENT-CODE-NO-TEXT: "[code]" may end the line with no text (and no SP).
# The code's arguments may contain quoted strings (BADCHARSET ("UTF-8")),
# whose bodies may hold "]".
RESP_CODE: Final = re.compile(
    rb"\[([A-Za-z0-9.\-]{1,64})"
    rb'(?: ((?:[^\]"\r\n]|"(?:[^"\\\r\n]|\\["\\]){0,4096}"){0,65536}))?\](?: |\Z)'
)

# tag of a command, for recovering it from a bad command
COMMAND_START: Final = re.compile(
    rb"([!#$&',\-./0-9:;<=>?@A-Z\[\]^_`a-z|}~]{1,256}) ([A-Za-z][A-Za-z0-9\-]{0,63})(?: |\Z)"
)
RECOVER_TAG: Final = re.compile(rb"([!#$&',\-./0-9:;<=>?@A-Z\[\]^_`a-z|}~]{1,256})(?: |\Z)")

# text            = 1*TEXT-CHAR
# TEXT-CHAR       = <any CHAR except CR and LF>
# (RFC 9051 allows UTF-8 in text; NUL is never allowed.)
TEXT: Final = re.compile(rb"[^\r\n\x00]{0,1048576}\Z")

# section-spec    = section-msgtext / (section-part ["." section-text])
# section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list / "TEXT"
# section-part    = nz-number *("." nz-number)
# section-text    = section-msgtext / "MIME"
SECTION: Final = re.compile(
    rb"((?:[1-9][0-9]{0,9})(?:\.[1-9][0-9]{0,9}){0,63})?"
    rb"(?:(?:^|\.)(HEADER\.FIELDS\.NOT|HEADER\.FIELDS|HEADER|TEXT|MIME)(?: \((.{0,4096})\))?)?\Z",
    re.I | re.S,
)

# A fetch item name with its optional section and partial:
#   "BODY" ["." "PEEK"] section [partial]; "BINARY" [".PEEK"] section-binary
#   [partial]; "BINARY.SIZE" section-binary
FETCH_ITEM: Final = re.compile(
    rb"([A-Za-z0-9.\-]{1,64})(?:\[([^\]]{0,4096})\](?:<([0-9]{1,20})(?:\.([0-9]{1,20}))?>)?)?\Z"
)

# mailbox names in modified UTF-7: "&" starts a base64 run ended by "-"
MUTF7_RUN: Final = re.compile(rb"&([A-Za-z0-9+,]{0,65536})-")

# header-fld-name = astring, and RFC 5322's
# field-name      = 1*ftext; ftext = %d33-57 / %d59-126
# Restricted further to characters that are safe as an atom inside a section
# (no "]", quote, backslash or parenthesis), which every real header name is.
HEADER_FIELD: Final = re.compile(rb"[!#$&'*+\-.0-9;<=>?@A-Z^_`a-z|}~]{1,256}\Z")

# The name of a parameter in select-param, create-param, fetch-modifier,
# list-return-opt ...: an atom starting with a letter.  A token that is not
# one is the preceding parameter's value.
PARAM_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9.\-]{0,63}\Z")


# -- the FETCH fast path (_fastfetch.py) ----------------------------------------
# Each pattern accepts a subset of what the generic tokenizer accepts, in the
# exact form servers send (upper-case names, NIL, single spaces); anything
# else fails to match and the message takes the generic path.  The fast path
# first inlines each literal as a quoted string, so a string here is always
# quoted.  Most groups capture a value ready to use: the content of a quoted
# string (its escapes are undone afterwards, only in a message that has any),
# ``None`` for NIL; the rarer structures are captured raw and read apart.
class FastPatterns(NamedTuple):
    """The fast path's patterns, in one of two variants (see
    :func:`_fast_patterns`)."""

    item: re.Pattern[bytes]
    prefix: re.Pattern[bytes]
    address: re.Pattern[bytes]
    pair: re.Pattern[bytes]
    quoted: re.Pattern[bytes]
    dsp: re.Pattern[bytes]
    body_leaf: re.Pattern[bytes]
    body_two: re.Pattern[bytes]
    body_tail: re.Pattern[bytes]
    mpart_ext: re.Pattern[bytes]


def _fast_patterns(escapes: bool) -> FastPatterns:
    """The patterns with quoted strings that may hold escapes (``\\"`` and
    ``\\\\``), or that hold none.  A message is read with the second set
    first: the escape loop is most of the cost of matching a quoted string in
    ``re`` (about 40% of an ENVELOPE's), and without an escape both sets
    match the same text the same way.  The loop is possessive: the text
    after a quoted string's plain run is an escape or the closing quote, so
    backtracking into it never finds another match.

    Every repeated or optional group is possessive too: each starts with an
    octet that cannot follow it (a space, a flag's first octet or "(" where
    ")" or the end follows), so giving back what it matched never makes a
    match, and ``re`` need not save its state for that (which, with this
    many groups, is most of the cost of a repeat)."""
    if escapes:
        fq = rb'"[^"\\\r\n\x00]*(?:\\["\\][^"\\\r\n\x00]*)*+"'
        fqc = rb'"([^"\\\r\n\x00]*(?:\\["\\][^"\\\r\n\x00]*)*+)"'
    else:
        # Any octet but the quote: ``re`` counts a run of one excluded octet
        # several times faster than a run of a set.  This alone would accept
        # a backslash, CR, LF or NUL inside a string, so the caller uses these
        # patterns only on a message that has no CR, LF or NUL at all, and
        # refuses what they matched if it holds a backslash anywhere but in
        # FLAGS (which holds no string): with neither, "[^"]" and
        # '[^"\\\r\n\x00]' match the same text the same way.
        # (possessive: what follows a run is its closing quote, never in it)
        fq = rb'"[^"]*+"'
        fqc = rb'"([^"]*+)"'
    fns = rb"(?:NIL|" + fq + rb")"
    fnsc = rb"(?:NIL|" + fqc + rb")"
    faddr = rb"\(" + fns + rb" " + fns + rb" " + fns + rb" " + fns + rb"\)"
    # an address list: the fields of its first address as content (groups
    # 1-4) and the other addresses raw (5; empty for the usual list of one,
    # None for NIL)
    falist = (
        rb"(?:NIL|\(\(" + fnsc + rb" " + fnsc + rb" " + fnsc + rb" " + fnsc
        + rb"\)((?:" + faddr + rb"){0,999}+)\))"
    )  # fmt: skip
    fpair = fq + rb" " + fq
    fparams = rb"NIL|\(" + fpair + rb"(?: " + fpair + rb"){0,1000}+\)"
    # body-fld-param other than a list of one pair: NIL, or two pairs and more
    fparams_2 = rb"NIL|\(" + fpair + rb"(?: " + fpair + rb"){1,1000}+\)"
    # body-fld-param as two groups for a list of one pair (key and value as
    # content), else a third (raw)
    fparams_1 = rb"(?:\(" + fqc + rb" " + fqc + rb"\)|(" + fparams_2 + rb"))"
    fdsp = rb"NIL|\(" + fq + rb" (?:" + fparams + rb")\)"
    flang = rb"NIL|" + fq + rb"|\(" + fq + rb"(?: " + fq + rb"){0,1000}+\)"
    # envelope = "(" env-date SP env-subject SP env-from SP env-sender SP
    #            env-reply-to SP env-to SP env-cc SP env-bcc SP env-in-reply-to SP
    #            env-message-id ")"
    # sender and reply-to are most often the very text of from: a
    # backreference matches that (an empty group noting it), and their own
    # groups are then left unset
    fsame = rb"(?:(?P=env_from)()|" + falist + rb")"
    fenv = (
        rb"(ENVELOPE \(" + fnsc + rb" " + fnsc + rb" (?P<env_from>" + falist + rb") "
        + fsame + rb" " + fsame + rb" " + rb" ".join([falist] * 3)
        + rb" " + fnsc + rb" " + fnsc + rb"\))"
    )  # fmt: skip
    # msg-att items as servers send them: groups 1 UID, 2 FLAGS (its
    # content), 3 INTERNALDATE (the whole item: its fields are sliced from
    # it), 4 RFC822.SIZE, 5 MODSEQ, 6 X-GM-MSGID, 7 X-GM-THRID, 8 ENVELOPE
    # (the whole item, so that it is the match's lastindex; 9-45 its fields:
    # 9 date and 10 subject as content, 11 from (raw) and its five groups, 17
    # a sender that is from's text (empty, else unset) and sender's five, the
    # same for reply-to at 23, to, cc and bcc at 29, 34 and 39, 44
    # in-reply-to and 45 message-id as content).  Every group costs each
    # groups() call a string: none is kept that the reader does not use.
    items = [
        rb"UID ([0-9]{1,10})",
        rb"FLAGS \(((?:\\?[!#$&'+,\-./0-9:;<=>?@A-Z^_`a-z|}~]{1,256}+"
        rb"(?: \\?[!#$&'+,\-./0-9:;<=>?@A-Z^_`a-z|}~]{1,256}+){0,1000}+)?+)\)",
        rb'(INTERNALDATE " ?[0-9]{1,2}-[A-Za-z]{3}-[0-9]{4} '
        rb'[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}")',
        rb"RFC822\.SIZE ([0-9]{1,19})",
        rb"MODSEQ \(([0-9]{1,19})\)",
        rb"X-GM-MSGID ([0-9]{1,19})",
        rb"X-GM-THRID ([0-9]{1,19})",
        fenv,
    ]

    def fleaf(text: int) -> bytes:
        """body-type-basic / body-type-text with body-ext-1part up to
        body-fld-loc, its groups numbered from ``text``: +0 set (empty) for
        a text part, +1 type, +2 subtype (content), +3-4 the key and value of a
        body-fld-param of one pair (content), +5 any other body-fld-param
        (NIL, or two pairs and more; raw), +6 id, +7 description, +8
        encoding (content), +9 size, +10 lines, +11 the extension data, raw
        (often one of a few constants such as " NIL NIL NIL NIL"), and its
        parts: +12 md5 (raw), +13 disposition (raw), +14 its type (content),
        +15-16 its parameters' one pair (content), +17 its other parameters
        (raw), +18 language (raw), +19 location (raw).  All in one call: a
        multipart's boundary and an attachment's file name differ in every
        message, so a cache of parameter lists read apart would miss on
        them."""
        return (
            # a type of "MESSAGE" (message/rfc822 and the like) is for the
            # generic path; one of "TEXT" (any case) is noted by the first
            # group and must have the lines that no other type has
            rb'\("(?!(?i:MESSAGE)")(?=(?:(?i:TEXT)"())?+)'
            + fqc[1:]
            + rb" "
            + fqc
            + rb" "
            + fparams_1
            + rb" "
            + fnsc
            + rb" "
            + fnsc
            + rb" "
            + fqc
            + rb" ([0-9]{1,20})(?(%d) ([0-9]{1,20}))" % text
            + rb"((?: ("
            + fns
            + rb")(?: (NIL|\("
            + fqc
            + rb" "
            + fparams_1
            + rb"\))(?: ("
            + flang
            + rb")(?: ("
            + fns
            + rb"))?+)?+)?+)?+)\)"
        )

    ftail = (
        rb" "
        + fqc
        + rb"(?: (\("
        + fqc
        + rb" "
        + fqc
        + rb"\)|"
        + fparams_2
        + rb")((?: (?:"
        + fdsp
        + rb")(?: (?:"
        + flang
        + rb")(?: "
        + fns
        + rb")?+)?+)?+))?+\)"
    )
    return FastPatterns(
        # one item: the groups above, then 46 BODY (before the body's own
        # "("; the fast path knows BODYSTRUCTURE, the usual last item, by
        # its name alone)
        item=re.compile(rb"(?:" + rb"|".join(items) + rb"|(BODY) (?=\())"),
        # the same items in this order, each there or not, each followed by
        # a space or by the closing ")" (not taken): most servers send the
        # items of a FETCH in this order, and one call reads them all (the
        # groups are numbered as in ``item``).  Each item starts with its
        # name, so none can take the text of the next: possessive.
        prefix=re.compile(rb"".join(rb"(?:" + i + rb"(?: |(?=\))))?+" for i in items)),
        # one address of a list: name, adl, mailbox, host as content / None
        address=re.compile(rb"\(" + fnsc + rb" " + fnsc + rb" " + fnsc + rb" " + fnsc + rb"\)"),
        # body-fld-param's pairs, as content
        pair=re.compile(fqc + rb" " + fqc),
        quoted=re.compile(fqc),
        # body-fld-dsp = "(" string SP body-fld-param ")": type as content,
        # params raw
        dsp=re.compile(rb"\(" + fqc + rb" (" + fparams + rb")\)\Z"),
        # body-type-basic / body-type-text with body-ext-1part up to
        # body-fld-loc: see ``fleaf``
        body_leaf=re.compile(fleaf(1)),
        # a multipart of two such parts (the usual text/plain and text/html
        # alternative), read in one match instead of three: groups 1-20 and
        # 21-40 the parts' as in ``body_leaf``, 41-45 the end's as in
        # ``body_tail``.  Each part is atomic, so that it matches as
        # ``body_leaf`` would match it alone.
        body_two=re.compile(rb"\((?>" + fleaf(1) + rb")(?>" + fleaf(21) + rb")" + ftail),
        # the end of body-type-mpart: SP media-subtype [SP body-ext-mpart]
        # ")", body-ext-mpart up to body-fld-loc: groups 1 subtype (content),
        # 2 params (raw), 3-4 the key and value of params of one pair
        # (content), 5 the rest of the extension data (raw)
        body_tail=re.compile(ftail),
        # that rest read apart: 1 disposition, 2 language, 3 location
        mpart_ext=re.compile(
            rb" (" + fdsp + rb")(?: (" + flang + rb")(?: (" + fns + rb"))?+)?+\Z"
        ),
    )


FAST: Final = _fast_patterns(escapes=True)
FAST_PLAIN: Final = _fast_patterns(escapes=False)
# what needs reading in a line that has any: a quoted-string escape
FAST_ESCAPED: Final = re.compile(rb'\\["\\]')
# what a literal may not hold to be inlined as a quoted string
FAST_NOT_QUOTABLE: Final = re.compile(rb'[\r\n\x00"\\]')
