#!/usr/bin/env bash
# Run every atheris harness for a short fixed budget (default 10 s each).
# Exits non-zero if any harness crashes (any exception but ProtocolError, or
# a broken invariant); the crashing input is left as crash-* in $FUZZ_OUT.
#   usage: bash tests/fuzz/ci.sh [SECONDS [NAME...]]   (default: every harness)
set -u
cd "$(dirname "$0")/../.."
BUDGET="${1:-10}"
shift $(( $# > 0 ? 1 : 0 ))
PY="${PYTHON:-.venv/bin/python}"
OUT="${FUZZ_OUT:-$(mktemp -d)}"
export FUZZ_WORKDIR="${FUZZ_WORKDIR:-$OUT/corpus}"
status=0
NAMES="${*:-$("$PY" tests/fuzz/run.py --list 2>/dev/null)}"
for name in $NAMES; do
    log="$OUT/$name.log"
    if "$PY" tests/fuzz/run.py "$name" -max_total_time="$BUDGET" \
        -artifact_prefix="$OUT/$name-" >"$log" 2>&1; then
        echo "ok    $name $(grep -oE '#[0-9]+[[:space:]]+DONE.*' "$log" | tail -1)"
    else
        echo "CRASH $name (log: $log)"
        grep -A3 "Uncaught Python exception" "$log" | head -8
        status=1
    fi
done
exit $status
