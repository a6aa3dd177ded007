"""A scripted answerer for SASL server requests, shared by the fuzz entry
points: one user "user" with the password "pw-5ecr3t-fuzz" and the token
"tok-5ecr3t-fuzz"."""

from __future__ import annotations

from functools import cache
from typing import Final

from ..sasl import (
    AllowAnonymous,
    LookupPassword,
    LookupScramCredentials,
    Request,
    ScramCredentials,
    TokenResult,
    ValidateToken,
    VerifyExternal,
    VerifyPassword,
    derive_scram_credentials,
)

__all__ = ["PASSWORD", "TOKEN", "USER", "answer_request"]

USER: Final = "user"
PASSWORD: Final = "pw-5ecr3t-fuzz"  # noqa: S105 (a test fixture)
TOKEN: Final = "tok-5ecr3t-fuzz"  # noqa: S105
_SALT: Final = b"protokit-fuzz-salt"


@cache
def _scram(hash_name: str) -> ScramCredentials:
    return derive_scram_credentials(hash_name, PASSWORD, salt=_SALT, iterations=4096)


def answer_request(request: Request, mechanism: str = "") -> object:
    """The answer a server application gives ``request`` (from ``mechanism``)
    for the one user."""
    if isinstance(request, VerifyPassword):
        return request.authcid == USER and request.password.expose() == PASSWORD
    if isinstance(request, LookupPassword):
        return PASSWORD if request.authcid == USER else None
    if isinstance(request, LookupScramCredentials):
        return (
            _scram("SHA-1" if "SHA-1" in mechanism.upper() else "SHA-256")
            if request.authcid == USER
            else None
        )
    if isinstance(request, ValidateToken):
        ok = request.token.expose() == TOKEN and request.user in (None, USER)
        return TokenResult(valid=ok, identity=USER if ok else None)
    if isinstance(request, VerifyExternal):
        return USER if request.authzid in (None, USER) else None
    if isinstance(request, AllowAnonymous):
        return True
    return None
