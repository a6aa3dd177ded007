from __future__ import annotations

import hmac
from typing import Any, Generic, TypeVar, final

__all__ = ["Secret"]

_T = TypeVar("_T", str, bytes)


@final
class Secret(Generic[_T]):
    """A password, token or key that must never reach a log, repr or message.

    ``repr()``, ``str()`` and ``format()`` print ``[REDACTED]``; the value is
    read only by calling :meth:`expose`, which makes every use greppable.
    Equality compares in constant time.  Pickling is refused, so a secret does
    not leave the process by accident.
    """

    __slots__ = ("_value",)

    def __init__(self, value: _T) -> None:
        if not isinstance(value, (str, bytes)):
            raise TypeError("Secret holds str or bytes")
        self._value: _T = value

    def expose(self) -> _T:
        """Return the secret value.  Call this only where the value is used."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('[REDACTED]')"

    def __str__(self) -> str:
        return "[REDACTED]"

    def __format__(self, spec: str) -> str:
        return "[REDACTED]"

    def __len__(self) -> int:
        return len(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        a: Any = self._value
        b: Any = other._value
        if type(a) is not type(b):
            return False
        if isinstance(a, str):
            a, b = a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass")
        return hmac.compare_digest(a, b)

    def __hash__(self) -> int:
        raise TypeError("Secret is not hashable: its hash would leak information")

    def __reduce__(self) -> Any:
        raise TypeError("Secret cannot be pickled")
