"""The public API of protokit.pop3: explicit, consistent, stdlib-only."""

from __future__ import annotations

import subprocess
import sys

import protokit.pop3 as pop3


def test_all_is_exactly_the_public_names() -> None:
    public = {n for n in vars(pop3) if not n.startswith("_")}
    # Submodules are attributes of a package once imported; they are not API.
    public -= {
        "_body",
        "_client",
        "_events",
        "_grammar",
        "_parse",
        "_server",
        "_server_config",
        "_state",
        "_write",
    }
    assert set(pop3.__all__) == public
    assert len(pop3.__all__) == len(set(pop3.__all__))
    for name in pop3.__all__:
        assert getattr(pop3, name) is not None


def test_core_imports_only_the_standard_library() -> None:
    code = (
        "import sys\n"
        "for m in ('anyio', 'trio', 'h11', 'cryptography', 'sniffio'): sys.modules[m] = None\n"
        "import protokit.pop3\n"
        "c = protokit.pop3.ClientConnection(); s = protokit.pop3.ServerConnection()\n"
        "print(s.data_to_send().decode().strip())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "+OK POP3 server ready"
