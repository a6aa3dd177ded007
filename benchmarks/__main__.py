"""``python -m benchmarks [NAME [options]]``: list the benchmarks, or run one."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def available() -> list[str]:
    here = Path(__file__).parent
    return sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules([str(here)])
        if m.name.startswith("bench_")
    )


def main(argv: list[str]) -> int:
    names = available()
    if not argv or argv[0] in ("-h", "--help", "list"):
        print("usage: python -m benchmarks NAME [--quick] [--rounds N] [--seed S]")
        print("       python -m benchmarks all [--quick]")
        print("benchmarks: " + ", ".join(names))
        return 0
    name, rest = argv[0], argv[1:]
    todo = names if name == "all" else [name]
    for n in todo:
        if n not in names:
            print(f"unknown benchmark {n!r}; available: {', '.join(names)}", file=sys.stderr)
            return 2
        module = importlib.import_module(f"benchmarks.bench_{n}")
        module.main(rest)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
