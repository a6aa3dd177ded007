"""The public API of protokit.sasl: explicit, consistent, standard library only."""

from __future__ import annotations

import importlib
import subprocess
import sys

import protokit.sasl

MODULES = [
    "_anonymous",
    "_base",
    "_bearer",
    "_channel_binding",
    "_common",
    "_cram_md5",
    "_credentials",
    "_external",
    "_login",
    "_oauthbearer",
    "_plain",
    "_registry",
    "_requests",
    "_saslprep",
    "_scram",
    "_xoauth2",
]

# The names the protocol engineers code against (issue 3).
REQUIRED = {
    "PlainClient", "PlainServer", "LoginClient", "LoginServer", "XOAuth2Client",
    "XOAuth2Server", "OAuthBearerClient", "OAuthBearerServer", "CramMD5Client",
    "CramMD5Server", "ScramClient", "ScramServer", "ScramSHA1Client", "ScramSHA1PlusClient",
    "ScramSHA256Client", "ScramSHA256PlusClient", "ScramSHA1Server", "ScramSHA1PlusServer",
    "ScramSHA256Server", "ScramSHA256PlusServer", "tls_server_end_point", "ExternalClient",
    "ExternalServer", "AnonymousClient", "AnonymousServer", "VerifyPassword", "LookupPassword",
    "LookupScramCredentials", "ValidateToken", "TokenResult", "VerifyExternal", "AllowAnonymous",
    "ScramCredentials", "derive_scram_credentials", "hash_password", "verify_password",
    "CLIENT_MECHANISMS", "SERVER_MECHANISMS", "create_server", "MECHANISM_PREFERENCE",
    "choose_mechanism", "ClientMechanism", "ServerMechanism", "Challenge", "Request",
    "Success", "Failure", "Step", "SASLError", "AuthenticationFailed",
}  # fmt: skip


def test_all_is_explicit_and_complete() -> None:
    exported = set(protokit.sasl.__all__)
    assert len(exported) == len(protokit.sasl.__all__)
    assert exported >= REQUIRED
    for name in exported:
        assert getattr(protokit.sasl, name) is not None
    public = {n for n in vars(protokit.sasl) if not n.startswith("_")}
    assert public - exported == set()


def test_private_modules_declare_all() -> None:
    for name in MODULES:
        module = importlib.import_module(f"protokit.sasl.{name}")
        for item in module.__all__:
            assert hasattr(module, item), (name, item)


def test_requests_are_requests() -> None:
    for name in (
        "VerifyPassword",
        "LookupPassword",
        "LookupScramCredentials",
        "ValidateToken",
        "VerifyExternal",
        "AllowAnonymous",
    ):
        assert issubclass(getattr(protokit.sasl, name), protokit.sasl.Request)


def test_standard_library_only() -> None:
    code = (
        "import sys\n"
        "for m in ('anyio', 'trio', 'h11', 'cryptography', 'sniffio'): sys.modules[m] = None\n"
        "import protokit.sasl\n"
        "mods = {k.split('.')[0] for k, v in sys.modules.items() if v is not None}\n"
        "print(sorted(mods & {'anyio', 'trio', 'h11', 'cryptography', 'hypothesis'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "[]\n"
