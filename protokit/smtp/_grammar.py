"""Every regular expression of the SMTP codec, with the RFC rule it implements.

Patterns work on bytes.  Every repetition is bounded; the line-length limits
bound them again from outside.  Deliberate leniencies are noted beside the
pattern they widen.
"""

from __future__ import annotations

import re

__all__ = [
    "ADDRESS_LITERAL",
    "DOMAIN",
    "ENHANCED_CODE",
    "ESMTP_PARAM",
    "HELO_ARG",
    "MAIL_FROM",
    "MAILBOX",
    "RCPT_TO",
    "REPLY_LINE",
    "XTEXT",
    "AUTH_ARGS",
    "BDAT_ARGS",
    "EHLO_KEYWORD",
    "HTTP_REQUEST",
]

# RFC 5321 4.1.2 / RFC 6531 3.3 (UTF8-non-ascii allowed in atext, qtext and
# sub-domains; the server refuses non-ASCII unless SMTPUTF8 was given):
#   atext = ALPHA / DIGIT / "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-"
#           / "/" / "=" / "?" / "^" / "_" / "`" / "{" / "|" / "}" / "~"
_ATEXT = rb"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\x80-\xff]"
#   Atom = 1*atext ;  Dot-string = Atom *("." Atom)
_DOT_STRING = _ATEXT + rb"{1,64}(?:\." + _ATEXT + rb"{1,64}){0,63}"
#   Quoted-string = DQUOTE *QcontentSMTP DQUOTE
#   QcontentSMTP = qtextSMTP / quoted-pairSMTP
#   qtextSMTP = %d32-33 / %d35-91 / %d93-126 ;  quoted-pairSMTP = %d92 %d32-126
_QUOTED = rb'"(?:[\x20\x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\x20-\x7e]){0,128}"'
#   Local-part = Dot-string / Quoted-string
_LOCAL_PART = rb"(?:" + _DOT_STRING + rb"|" + _QUOTED + rb")"
#   sub-domain = Let-dig [Ldh-str] ;  Ldh-str = *( ALPHA / DIGIT / "-" ) Let-dig
_LET_DIG = rb"[A-Za-z0-9\x80-\xff]"
_SUB_DOMAIN = _LET_DIG + rb"(?:[A-Za-z0-9\-\x80-\xff]{0,61}" + _LET_DIG + rb")?"
#   Domain = sub-domain *("." sub-domain)
_DOMAIN = _SUB_DOMAIN + rb"(?:\." + _SUB_DOMAIN + rb"){0,127}"
#   address-literal = "[" ( IPv4-address-literal / IPv6-address-literal /
#                     General-address-literal ) "]"
#   General-address-literal = Standardized-tag ":" 1*dcontent
#   dcontent = %d33-90 / %d94-126
# The three forms are all made of dcontent; one bounded class covers them.
_ADDRESS_LITERAL = rb"\[[\x21-\x5a\x5e-\x7e]{1,253}\]"
#   Mailbox = Local-part "@" ( Domain / address-literal )
_MAILBOX = _LOCAL_PART + rb"@(?:" + _DOMAIN + rb"|" + _ADDRESS_LITERAL + rb")"
#   At-domain = "@" Domain ;  A-d-l = At-domain *( "," At-domain )
_ADL = rb"@" + _DOMAIN + rb"(?:,@" + _DOMAIN + rb"){0,15}"
#   Path = "<" [ A-d-l ":" ] Mailbox ">"
# The source route (A-d-l) is parsed and discarded, as 4.1.2 requires.
# Leniency: "<Postmaster>" (4.5.1) is a Path here for RCPT; the server checks.
_PATH = rb"<(?:" + _ADL + rb":)?(" + _MAILBOX + rb"|[Pp][Oo][Ss][Tt][Mm][Aa][Ss][Tt][Ee][Rr])>"

DOMAIN = re.compile(_DOMAIN)
ADDRESS_LITERAL = re.compile(_ADDRESS_LITERAL)
MAILBOX = re.compile(_MAILBOX)

#   esmtp-param = esmtp-keyword ["=" esmtp-value]
#   esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
#   esmtp-value = 1*(%d33-60 / %d62-126)   ; RFC 6531 adds UTF8-non-ascii
ESMTP_PARAM = re.compile(
    rb"([A-Za-z0-9][A-Za-z0-9\-]{0,63})(?:=([\x21-\x3c\x3e-\x7e\x80-\xff]{1,500}))?"
)
_PARAMS = rb"((?: [\x21-\xff]{1,500}){0,32})"

#   mail = "MAIL FROM:" Reverse-path [SP Mail-parameters] CRLF
#   Reverse-path = Path / "<>"
# Leniency: one space after the colon, which many clients send.
MAIL_FROM = re.compile(rb"MAIL FROM: ?(?:<>|" + _PATH + rb")" + _PARAMS, re.IGNORECASE)
#   rcpt = "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" /
#          Forward-path ) [SP Rcpt-parameters] CRLF
RCPT_TO = re.compile(rb"RCPT TO: ?" + _PATH + _PARAMS, re.IGNORECASE)

#   ehlo = "EHLO" SP ( Domain / address-literal ) CRLF
# Leniency: "_" is accepted in the name (Windows host names carry it).
HELO_ARG = re.compile(
    rb"(?:[A-Za-z0-9_\x80-\xff][A-Za-z0-9_\-\x80-\xff]{0,62}(?:\.[A-Za-z0-9_\-\x80-\xff]{1,63}){0,127}\.?"
    rb"|" + _ADDRESS_LITERAL + rb")"
)

#   bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ] CRLF     (RFC 3030)
#   chunk-size = 1*DIGIT ;  end-marker = "LAST"
# At most 18 digits: the value fits an int64 and is checked against SIZE.
BDAT_ARGS = re.compile(rb"([0-9]{1,18})(?: (LAST))?", re.IGNORECASE)

#   auth-command = "AUTH" SP sasl-mech [SP initial-response]     (RFC 4954)
#   sasl-mech = 1*20mech-char ;  mech-char = UPPER-ALPHA / DIGIT / HYPHEN / UNDERSCORE
#   initial-response = base64 / "="
AUTH_ARGS = re.compile(rb"([A-Za-z0-9\-_]{1,20})(?: ([A-Za-z0-9+/]{1,12280}={0,2}|=))?")

#   xtext = *( xchar / hexchar )    (RFC 3461 4)
#   xchar = any ASCII CHAR between "!" (33) and "~" (126) inclusive, except "+" and "=".
#   hexchar = "+" 2(%x30-39 / %x41-46)
XTEXT = re.compile(rb"(?:[\x21-\x2a\x2c-\x3c\x3e-\x7e]|\+[0-9A-F]{2}){0,500}")

#   Reply-line = *( Reply-code "-" [ textstring ] CRLF )
#                Reply-code [ SP textstring ] CRLF          (RFC 5321 4.2)
#   Reply-code = %x32-35 %x30-35 %x30-39
# Leniency: the second digit is read as 0-9 (servers use 6-9 rarely, but do).
REPLY_LINE = re.compile(rb"([2-5][0-9][0-9])(?:([ \-])(.*))?", re.DOTALL)

#   status-code = class "." subject "." detail            (RFC 3463 2)
#   class = "2" / "4" / "5" ;  subject = 1*3digit ;  detail = 1*3digit
ENHANCED_CODE = re.compile(rb"([245])\.([0-9]{1,3})\.([0-9]{1,3})(?: |$)")

#   ehlo-line = ehlo-keyword *( SP / "=" ehlo-param )       (RFC 5321 4.1.1.1)
#   ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
# "=" is the old form of AUTH ("AUTH=PLAIN") that some servers still send.
EHLO_KEYWORD = re.compile(rb"([A-Za-z0-9][A-Za-z0-9\-]{0,63})(?:[ =](.*))?", re.DOTALL)

#   request-line = method SP request-target SP HTTP-version   (RFC 9112 3)
# Recognised only to close the connection (cross-protocol attacks, ALPACA).
HTTP_REQUEST = re.compile(rb"[A-Z]{3,10} [\x21-\x7e]{1,400} HTTP/[0-9]\.[0-9]")
