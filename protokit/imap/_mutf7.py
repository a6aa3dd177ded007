"""Modified UTF-7 for mailbox names (RFC 3501 section 5.1.3), both ways."""

from __future__ import annotations

import base64
import binascii

from ._grammar import MUTF7_RUN

__all__ = ["decode_mutf7", "encode_mutf7"]


def encode_mutf7(name: str) -> bytes:
    """Encode a mailbox name: printable US-ASCII stands for itself ("&" as
    "&-"), every other run is UTF-16BE in modified base64 between "&" and "-"."""
    out = bytearray()
    run: list[str] = []

    def flush() -> None:
        if run:
            raw = "".join(run).encode("utf-16-be", "surrogatepass")
            out.extend(b"&" + base64.b64encode(raw, b"+,").rstrip(b"=") + b"-")
            run.clear()

    for ch in name:
        if "\x20" <= ch <= "\x7e":
            flush()
            out.extend(b"&-" if ch == "&" else ch.encode("ascii"))
        else:
            run.append(ch)
    flush()
    return bytes(out)


def decode_mutf7(raw: bytes) -> str:
    """Decode a modified UTF-7 mailbox name; ``ValueError`` if it is not one.

    Strict: a run must decode to whole UTF-16 units with zero padding bits,
    must not encode printable ASCII, and "&" must be followed by a run or "-".
    """
    if 38 not in raw:  # "&" (as an int: memchr)
        if not raw.isascii():
            raise ValueError("8-bit byte in a modified UTF-7 name")
        return raw.decode("ascii")
    parts: list[str] = []
    pos = 0
    while True:
        amp = raw.find(b"&", pos)
        if amp < 0:
            tail = raw[pos:]
            if not tail.isascii():
                raise ValueError("8-bit byte in a modified UTF-7 name")
            parts.append(tail.decode("ascii"))
            return "".join(parts)
        head = raw[pos:amp]
        if not head.isascii():
            raise ValueError("8-bit byte in a modified UTF-7 name")
        parts.append(head.decode("ascii"))
        m = MUTF7_RUN.match(raw, amp)
        if m is None:
            raise ValueError("unterminated modified base64 run")
        b64 = m.group(1)
        if not b64:
            parts.append("&")
        else:
            pad = -len(b64) % 4
            if pad == 3:
                raise ValueError("bad modified base64 length")
            try:
                data = base64.b64decode(b64 + b"=" * pad, b"+,", validate=True)
            except binascii.Error:
                raise ValueError("bad modified base64") from None
            if len(data) % 2 or base64.b64encode(data, b"+,").rstrip(b"=") != b64:
                raise ValueError("bad modified base64 padding")
            text = data.decode("utf-16-be", "surrogatepass")
            try:
                text.encode("utf-16-be")
            except UnicodeEncodeError:
                raise ValueError("unpaired surrogate in modified UTF-7") from None
            if any("\x20" <= ch <= "\x7e" for ch in text):
                raise ValueError("printable ASCII encoded in modified base64")
            parts.append(text)
        pos = m.end()
