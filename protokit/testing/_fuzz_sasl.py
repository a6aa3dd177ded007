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
from typing import Final, overload

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


def messages(payload: bytes) -> list[bytes]:
    """Cut a payload into length-prefixed messages (the last may be short)."""
    out: list[bytes] = []
    i = 0
    while i < len(payload):
        n = payload[i]
        out.append(payload[i + 1 : i + 1 + n])
        i += 1 + n
    return out


def _sasl_constants() -> frozenset[str]:
    """Every string constant in protokit.sasl's code: the fixed texts a
    Failure reason is made of."""
    import sys
    import types

    found: set[str] = set()
    pending: list[types.CodeType] = []
    for name, module in list(sys.modules.items()):
        if name.startswith("protokit.sasl") and module is not None:
            for value in vars(module).values():
                function = getattr(value, "__func__", value)
                if isinstance(function, types.FunctionType):
                    pending.append(function.__code__)
                elif isinstance(value, type):
                    for member in vars(value).values():
                        member = getattr(member, "__func__", member)
                        member = getattr(member, "fget", member)
                        if isinstance(member, types.FunctionType):
                            pending.append(member.__code__)
    while pending:
        code = pending.pop()
        for const in code.co_consts:
            if isinstance(const, str):
                found.add(const)
            elif isinstance(const, types.CodeType):
                pending.append(const)
    return frozenset(found)


_CONSTANTS: frozenset[str] | None = None


def _explained(secret: str) -> bool:
    global _CONSTANTS
    if _CONSTANTS is None:
        _CONSTANTS = _sasl_constants()
    return any(secret in text for text in _CONSTANTS)


@overload
def _altered(value: str) -> str: ...
@overload
def _altered(value: bytes) -> bytes: ...
def _altered(value: str | bytes) -> str | bytes:
    # Same type, certainly different text: every character changes.
    if isinstance(value, bytes):
        return bytes((b ^ 0x55) or 1 for b in value) + b"~"
    return "".join("q" if c != "q" else "z" for c in value) + "~"


def _check_step(name: str, seen: list[str], step: object) -> Step:
    """A step is one of the four kinds, and never shows a secret.

    Two checks, neither of which can mistake fixed text for a leak (a
    fuzzer steers a token to spell a field name or part of a reason):
    the step's repr must not change when each Secret field's value is
    replaced by a different one (so no secret reaches the repr by any
    path), and a Failure reason must not contain a secret seen earlier in
    the exchange unless that text is part of the mechanisms' own fixed
    messages."""
    if not isinstance(step, Challenge | Request | Success | Failure):
        raise InvariantViolation(f"{name}: step of type {type(step).__name__}")
    if dataclasses.is_dataclass(step):
        changes: dict[str, object] = {}
        for f in dataclasses.fields(step):
            value = getattr(step, f.name)
            if isinstance(value, Secret):
                exposed = value.expose()
                if isinstance(exposed, str):
                    if exposed:
                        seen.append(exposed)
                    changes[f.name] = Secret(_altered(exposed))
                elif isinstance(exposed, bytes):
                    changes[f.name] = Secret(_altered(exposed))
        altered: object = dataclasses.replace(step, **changes) if changes else step  # type: ignore[arg-type]
        if repr(altered) != repr(step):
            raise InvariantViolation(f"{name}: a secret shows in {type(step).__name__}'s repr")
    if isinstance(step, Failure):
        for secret in seen:
            if len(secret) >= 4 and secret in step.reason and not _explained(secret):
                raise InvariantViolation(f"{name}: a secret shows in a Failure reason")
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
