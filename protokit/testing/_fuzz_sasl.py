"""Fuzz entry points for the SASL server mechanisms: ``fuzz_sasl_server_<mech>``.

An input is an exchange: after the two header octets (as every entry point
has; here the first picks whether the client sends an initial response), the
payload is a list of client messages, each one length octet and its bytes.
Invariants: only protokit's protocol errors escape; every step is a
Challenge, Request, Success or Failure and nothing follows the end; no step,
reason or repr ever shows the password or the token; the exchange ends
within ``max_steps`` responses."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Final

from ..errors import ProtocolError
from ..sasl import Challenge, Failure, Request, Step, Success, create_server
from ..wire import Secret
from ._harness import InvariantViolation, split_input
from ._sasl_app import answer_request

__all__ = [
    "SASL_ENTRY_POINTS",
    "SASL_MECHANISMS",
    "fuzz_sasl_server",
    "fuzz_sasl_server_any",
    "messages",
]

SASL_MECHANISMS: Final = (
    "PLAIN",
    "LOGIN",
    "CRAM-MD5",
    "SCRAM-SHA-1",
    "SCRAM-SHA-256",
    "SCRAM-SHA-256-PLUS",
    "XOAUTH2",
    "OAUTHBEARER",
    "EXTERNAL",
    "ANONYMOUS",
)
_CHANNEL_BINDING: Final = b"\x01" * 32


_REDACTED = repr(Secret(""))


def messages(payload: bytes) -> list[bytes]:
    """Cut a payload into length-prefixed messages (the last may be short)."""
    out: list[bytes] = []
    i = 0
    while i < len(payload):
        n = payload[i]
        out.append(payload[i + 1 : i + 1 + n])
        i += 1 + n
    return out


def _check_step(name: str, seen: list[str], step: object) -> Step:
    """A step is one of the four kinds, and never shows a secret: a Secret
    field's value is redacted in its repr (unless the same text is also in a
    public field), and no Failure reason repeats a secret seen earlier."""
    if not isinstance(step, Challenge | Request | Success | Failure):
        raise InvariantViolation(f"{name}: step of type {type(step).__name__}")
    # The redaction marker itself is not a leak (a secret such as "ecre" is
    # a substring of "Secret('[REDACTED]')").
    text = repr(step).replace(_REDACTED, "")
    public = ""
    if dataclasses.is_dataclass(step):
        for f in dataclasses.fields(step):
            value = getattr(step, f.name)
            if isinstance(value, Secret):
                exposed = value.expose()
                if isinstance(exposed, str) and exposed:
                    seen.append(exposed)
            else:
                public += repr(value)
    if isinstance(step, Failure):
        text += step.reason.replace(_REDACTED, "")
    for secret in seen:
        if len(secret) >= 4 and secret in text and secret not in public:
            raise InvariantViolation(f"{name}: a secret shows in {type(step).__name__}")
    return step


def fuzz_sasl_server(mechanism: str, data: bytes) -> None:
    """Run one server exchange of ``mechanism`` on the client messages in ``data``."""
    sizes, payload = split_input(data)
    mech = create_server(
        mechanism, channel_binding=_CHANNEL_BINDING, success_data_as_challenge=sizes[0] & 2 == 2
    )
    msgs = messages(payload)
    initial = msgs.pop(0) if msgs and sizes[0] & 1 else None
    seen: list[str] = []
    try:
        step = _check_step(mechanism, seen, mech.start(initial))
        responses = 0
        while True:
            while isinstance(step, Request):
                step = _check_step(mechanism, seen, mech.answer(answer_request(step, mechanism)))
            if isinstance(step, Success | Failure):
                if not mech.done:
                    raise InvariantViolation(f"{mechanism}: ended but not done")
                return
            if not msgs:
                mech.cancel()
                return
            responses += 1
            if responses > mech.max_steps + 1:
                raise InvariantViolation(f"{mechanism}: more than {mech.max_steps} steps")
            step = _check_step(mechanism, seen, mech.receive(msgs.pop(0)))
    except ProtocolError:
        return


def _entry(mechanism: str) -> Callable[[bytes], None]:
    def entry(data: bytes) -> None:
        fuzz_sasl_server(mechanism, data)

    entry.__name__ = "fuzz_sasl_server_" + mechanism.lower().replace("-", "_")
    entry.__qualname__ = entry.__name__
    entry.__doc__ = f"The {mechanism} server mechanism (see :func:`fuzz_sasl_server`)."
    return entry


def fuzz_sasl_server_any(data: bytes) -> None:
    """Every mechanism in one harness: the third octet picks it."""
    if len(data) < 3:
        return
    fuzz_sasl_server(SASL_MECHANISMS[data[2] % len(SASL_MECHANISMS)], data[:2] + data[3:])


SASL_ENTRY_POINTS: Final[dict[str, Callable[[bytes], None]]] = {
    **{"sasl_server_" + m.lower().replace("-", "_"): _entry(m) for m in SASL_MECHANISMS},
    "sasl_server_any": fuzz_sasl_server_any,
}
"""``fuzz_sasl_server_<mech>`` by harness name."""
