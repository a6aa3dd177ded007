"""Every POP3 pattern in one place, with the RFC rule it implements above it.

RFC 1939 gives the commands in prose; RFC 2449 section 3 restates the general
grammar in ABNF, quoted below.  Every repetition is bounded.  Deliberate
leniencies are named beside the pattern they widen.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "APOP_DIGEST",
    "CAPA_LINE",
    "COMMAND",
    "EXPIRE_VALUE",
    "GREETING_TIMESTAMP",
    "HTTP_REQUEST",
    "MECHANISM",
    "MSG_NUMBER",
    "PARAM",
    "RESP_CODE",
    "SCAN_LISTING",
    "STATUS_LINE",
    "STAT_TEXT",
    "UIDL_LISTING",
    "UNIQUE_ID",
]

# RFC 2449 section 4: "The maximum length of a command is increased from 47
# characters ... to 255 octets, including the terminating CRLF."
COMMAND_LINE_MAX: Final = 255
# RFC 2449 section 4: "the maximum length of the first line of a response
# [is] increased to 512 octets, including the terminating CRLF."
RESPONSE_LINE_MAX: Final = 512

#   keyword = 3*4VCHAR
#   param   = 1*VCHAR
#   command = keyword *(SP param) CRLF
# Keywords are matched as letters and digits (all POP3 keywords are; the rest
# of VCHAR would only ever yield "unknown command").  The parameters are split
# by the parser, which knows each command's arity; PASS takes the rest of the line
# (RFC 1939 section 7: "a POP3 server may treat spaces in the argument as part
# of the password").
COMMAND: Final = re.compile(rb"([A-Za-z0-9]{3,4})(?: (.*))?", re.DOTALL)

#   param = 1*VCHAR      (VCHAR = %x21-7E; UTF-8 octets %x80-FF after UTF8,
#                         RFC 6856 section 2)
PARAM: Final = re.compile(rb"[\x21-\x7e\x80-\xff]{1,253}")

# RFC 1939 section 3: "... a message-number ... which is always a positive
# integer" (the first message is 1).  Ten digits: 4,294,967,295 messages.
MSG_NUMBER: Final = re.compile(rb"[0-9]{1,10}")

#   status      = "+OK" / "-ERR"
#   single-line = status [SP text] CRLF
# Leniency: a status followed by nothing, or by SP and any text at all (the
# text may hold octets outside the RFC's schar; many servers send 8-bit text).
STATUS_LINE: Final = re.compile(rb"(\+OK|-ERR)(?: (.*))?", re.DOTALL)

#   resp-code  = "[" resp-level *("/" resp-level) "]"
#   resp-level = 1*rchar
#   rchar      = %x21-2E / %x30-5C / %x5E-7F
#                ; printable ASCII, excluding "/" and "]"
#   text       = *schar / resp-code *CHAR
_RCHAR: Final = rb"[\x21-\x2e\x30-\x5c\x5e-\x7f]"
_RESP_LEVEL: Final = _RCHAR + rb"{1,64}"
RESP_CODE: Final = re.compile(
    rb"\[(" + _RESP_LEVEL + rb"(?:/" + _RESP_LEVEL + rb"){0,7})\] ?(.*)", re.DOTALL
)
RESP_CODE_VALUE: Final = re.compile(_RESP_LEVEL + rb"(?:/" + _RESP_LEVEL + rb"){0,7}")

#   capability = capa-tag *(SP param) CRLF   ;512 octets maximum
#   capa-tag   = 1*cchar
#   cchar      = %x21-2D / %x2F-7F  ; printable ASCII, excluding "."
# Leniency: parameters are any run of non-space octets, separated by one or
# more spaces (servers pad).
CAPA_LINE: Final = re.compile(
    rb"([\x21-\x2d\x2f-\x7f][\x21-\x7f]{0,63})((?: +[^ ]{1,510}){0,64}) *"
)

# RFC 1939 section 5 (LIST): "... scan listing ... consists of the
# message-number of the message, followed by a single space and the exact
# size of the message in octets.  ... a POP3 server may ... follow the
# message size with ... additional information" (hence the optional tail).
SCAN_LISTING: Final = re.compile(rb"([0-9]{1,10}) ([0-9]{1,20})(?: .*)?", re.DOTALL)

# RFC 1939 section 5 (STAT): "+OK" SP number-of-messages SP size-in-octets,
# optionally followed by more text.
STAT_TEXT: Final = re.compile(rb"([0-9]{1,10}) ([0-9]{1,20})(?: .*)?", re.DOTALL)

# RFC 1939 section 7 (UIDL): "The unique-id of a message is an arbitrary
# server-determined string, consisting of one to 70 characters in the range
# 0x21 to 0x7E".
UNIQUE_ID: Final = re.compile(rb"[\x21-\x7e]{1,70}")
UIDL_LISTING: Final = re.compile(rb"([0-9]{1,10}) ([\x21-\x7e]{1,70})")

# RFC 1939 section 7 (APOP): "the digest ... is ... 16-octet value ... sent
# in hexadecimal format, using lower-case ASCII characters".  Leniency: upper
# case is accepted and folded.
APOP_DIGEST: Final = re.compile(rb"[0-9a-fA-F]{32}")

# RFC 1939 section 7: the greeting's timestamp "MUST be different each time
# ... the syntax of a msg-id as in RFC 822"; we take the first "<...>" holding
# printable ASCII without "<" or ">", which every msg-id is.
GREETING_TIMESTAMP: Final = re.compile(rb"<[\x21-\x3b\x3d\x3f-\x7e]{1,250}>")

# RFC 2449 section 6.7: "EXPIRE" SP ("NEVER" / 1*DIGIT) ["USER"] (the USER
# tag only before login).  Days, bounded to 5 digits.
EXPIRE_VALUE: Final = re.compile(r"(?:NEVER|[0-9]{1,5})(?: USER)?")

# RFC 4422 section 3.1: sasl-mech = 1*20mech-char
#                       mech-char = UPPER-ALPHA / DIGIT / HYPHEN / UNDERSCORE
# Leniency: lower case is accepted from clients and folded (RFC 5034's AUTH
# argument is case-insensitive like every POP3 keyword in practice).
MECHANISM: Final = re.compile(rb"[A-Za-z0-9_-]{1,20}")

#   request-line = method SP request-target SP HTTP-version   (RFC 9112 3)
# Recognised only to close the connection (cross-protocol attacks, ALPACA).
# POP3 commands are 3-4 letters, but none is followed by " HTTP/x.y".
HTTP_REQUEST: Final = re.compile(rb"[A-Z]{3,10} [\x21-\x7e]{1,200} HTTP/[0-9]\.[0-9]")
