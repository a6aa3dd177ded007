"""Run one atheris harness: ``python tests/fuzz/run.py NAME [libFuzzer options]``.

NAME is a key of ``protokit.testing.fuzz.ENTRY_POINTS`` (``--list`` prints
them).  The seed corpus is built from spec/ into ``$FUZZ_WORKDIR/NAME``
(default ``/tmp/protokit-fuzz``), which also keeps what the fuzzer finds;
protokit is instrumented for coverage.  A crash (any exception other than
protokit's ProtocolError, or a broken invariant) is written as
``crash-<sha1>`` in the current directory and exits non-zero: turn it into a
regression test in tests/fuzz/test_regressions.py.

Example: ``python tests/fuzz/run.py smtp_server -max_total_time=600``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        raise SystemExit(2)
    import atheris  # type: ignore[import-untyped]

    with atheris.instrument_imports(include=["protokit"]):
        from protokit.testing.fuzz import ENTRY_POINTS

    if argv[1] == "--list":
        print("\n".join(ENTRY_POINTS))
        return
    name = argv[1]
    if name not in ENTRY_POINTS:
        raise SystemExit(f"unknown entry point {name!r}; try --list")
    from tests.fuzz.corpus import write

    workdir = Path(os.environ.get("FUZZ_WORKDIR", "/tmp/protokit-fuzz"))
    write(workdir, [name])
    corpus = str(workdir / name)
    args = [argv[0], *argv[2:], corpus]
    if not any(a.startswith("-max_len") for a in args):
        args.insert(1, "-max_len=4096")
    atheris.Setup(args, ENTRY_POINTS[name])
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
