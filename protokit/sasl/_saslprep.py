"""SASLprep (RFC 4013), the stringprep profile SCRAM applies to passwords,
built on the standard library's :mod:`stringprep` tables."""

from __future__ import annotations

import stringprep
import unicodedata

from ..errors import LocalProtocolError

__all__ = ["SASLprepError", "saslprep"]


class SASLprepError(LocalProtocolError):
    """The string contains a character SASLprep prohibits."""


_PROHIBITED = (
    stringprep.in_table_c12,  # non-ASCII space characters
    stringprep.in_table_c21_c22,  # control characters
    stringprep.in_table_c3,  # private use
    stringprep.in_table_c4,  # non-character code points
    stringprep.in_table_c5,  # surrogate codes
    stringprep.in_table_c6,  # inappropriate for plain text
    stringprep.in_table_c7,  # inappropriate for canonical representation
    stringprep.in_table_c8,  # change display properties / deprecated
    stringprep.in_table_c9,  # tagging characters
)


def saslprep(value: str, *, allow_unassigned: bool = False) -> str:
    """Prepare ``value`` per RFC 4013.  ``allow_unassigned`` is for queries
    (RFC 3454 section 7); stored strings refuse unassigned code points.

    Raises :class:`SASLprepError` (the message never contains ``value``).
    """
    if value.isascii() and value.isprintable():
        # The common case: printable ASCII is unchanged by every step.
        return value
    # Section 2.1: map non-ASCII spaces to SPACE, "commonly mapped to nothing" to nothing.
    mapped = "".join(
        " " if stringprep.in_table_c12(c) else c for c in value if not stringprep.in_table_b1(c)
    )
    # Section 2.2: normalisation form KC.
    out = unicodedata.normalize("NFKC", mapped)
    if not out:
        return out
    for c in out:
        if any(table(c) for table in _PROHIBITED):
            raise SASLprepError("SASLprep: prohibited character")
        if not allow_unassigned and stringprep.in_table_a1(c):
            raise SASLprepError("SASLprep: unassigned code point")
    # Section 2.4 / RFC 3454 section 6: bidirectional characters.
    if any(stringprep.in_table_d1(c) for c in out):
        if any(stringprep.in_table_d2(c) for c in out):
            raise SASLprepError("SASLprep: mixes right-to-left and left-to-right text")
        if not (stringprep.in_table_d1(out[0]) and stringprep.in_table_d1(out[-1])):
            raise SASLprepError("SASLprep: right-to-left text must start and end so")
    return out
