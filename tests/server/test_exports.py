"""protokit.server's public names: every name in __all__ exists, every
public name of the private modules' __all__ is re-exported or private on
purpose, and the server imports nothing from protokit.net yet (its brief)."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import protokit.server as server

# Helpers the package uses internally but does not promise.
_INTERNAL = {
    "AccountsMixin",
    "LabelsMixin",
    "Pop3Mixin",
    "MailboxesMixin",
    "MessagesMixin",
    "Database",
    "Listener",
    "migrate",
    "schema_version",
    "mailbox_row",
    "normalize_mailbox_name",
    "DELIMITER",
    "BODY_CHUNK",
    "parse_header_fields",
    "CERT_FILENAME",
    "KEY_FILENAME",
    "SYSTEM_FLAGS",
    "run_serve",
}


def test_all_names_exist_and_are_unique() -> None:
    assert len(set(server.__all__)) == len(server.__all__)
    for name in server.__all__:
        assert hasattr(server, name), name


def test_private_modules_are_re_exported() -> None:
    for info in pkgutil.iter_modules(server.__path__):
        module = importlib.import_module(f"protokit.server.{info.name}")
        for name in getattr(module, "__all__", ()):
            assert name in server.__all__ or name in _INTERNAL, f"{info.name}.{name}"


def test_the_core_stays_free_of_the_server() -> None:
    # protokit.server is an application: it may import protokit.net, but the
    # core must never import either of them back.
    code = (
        "import sys; import protokit.wire, protokit.sasl, protokit.smtp, protokit.pop3, "
        "protokit.imap; assert not [m for m in sys.modules "
        "if m.startswith(('protokit.server', 'protokit.net'))]"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
