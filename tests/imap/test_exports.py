"""protokit.imap's public names: exactly __all__, each importable, and the
core imports nothing outside the standard library."""

from __future__ import annotations

import subprocess
import sys

import protokit.imap as imap


def test_all_names_exist_and_are_public() -> None:
    for name in imap.__all__:
        assert hasattr(imap, name), name
    public = {n for n in vars(imap) if not n.startswith("_")}
    assert set(imap.__all__) == public
    assert len(imap.__all__) == len(set(imap.__all__))


def test_imports_only_the_standard_library() -> None:
    code = (
        "import sys\n"
        "for m in ('anyio', 'trio', 'h11', 'cryptography', 'sniffio'): sys.modules[m] = None\n"
        "import protokit.imap\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "ok\n"
