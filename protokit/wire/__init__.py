"""Byte-level machinery shared by every protocol, with no protocol knowledge:
the receive buffer, dot-stuffing, SASL framing and the ``Secret`` wrapper.
Standard library only."""

from ._buffer import ReceiveBuffer as ReceiveBuffer
from ._dotstuff import BareLineEndingPolicy as BareLineEndingPolicy
from ._dotstuff import DotStuffer as DotStuffer
from ._dotstuff import DotUnstuffer as DotUnstuffer
from ._sasl import CANCEL as CANCEL
from ._sasl import Cancel as Cancel
from ._sasl import InvalidBase64Error as InvalidBase64Error
from ._sasl import b64decode_strict as b64decode_strict
from ._sasl import b64encode as b64encode
from ._sasl import format_initial_response as format_initial_response
from ._sasl import format_response as format_response
from ._sasl import parse_challenge as parse_challenge
from ._sasl import parse_initial_response as parse_initial_response
from ._sasl import parse_response as parse_response
from ._secret import Secret as Secret

__all__ = [
    "CANCEL",
    "BareLineEndingPolicy",
    "Cancel",
    "DotStuffer",
    "DotUnstuffer",
    "InvalidBase64Error",
    "ReceiveBuffer",
    "Secret",
    "b64decode_strict",
    "b64encode",
    "format_initial_response",
    "format_response",
    "parse_challenge",
    "parse_initial_response",
    "parse_response",
]
