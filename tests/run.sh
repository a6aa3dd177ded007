#!/usr/bin/env bash
# Installs everything the tests need into .venv and runs them: lint, format,
# types, the core's no-dependency import check, then pytest with coverage.
# This is the command README.md gives, and the one .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
# (this machine's pip configuration names local wheel folders that may be
# absent; pip warns about each, which is noise here)
quiet_pip() { .venv/bin/python -m pip "$@" 2> >(grep -v "^WARNING: Location" >&2); }
quiet_pip install -q --disable-pip-version-check --upgrade pip
quiet_pip install -q --disable-pip-version-check -e ".[test]"

echo "== ruff"
.venv/bin/ruff check protokit tests benchmarks
.venv/bin/ruff format --check protokit tests benchmarks
echo "== mypy --strict"
.venv/bin/mypy
echo "== the core imports only the standard library"
.venv/bin/python - <<'PY'
import sys
for name in ("anyio", "trio", "h11", "cryptography", "sniffio"):
    sys.modules[name] = None  # any import of these now fails
import protokit, protokit.wire  # noqa: E401,F401
import pkgutil, importlib
for pkg in ("protokit.wire", "protokit.sasl", "protokit.smtp", "protokit.pop3", "protokit.imap"):
    try:
        importlib.import_module(pkg)
    except ModuleNotFoundError as exc:
        if exc.name != pkg:
            raise
print("ok")
PY
echo "== pytest"
.venv/bin/python -m pytest -p no:cacheprovider --cov --cov-report=term "$@"
