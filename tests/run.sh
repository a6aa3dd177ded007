#!/usr/bin/env bash
# Installs everything the tests need into .venv and runs them: lint, format,
# types, the core's no-dependency import check, then pytest with coverage.
# This is the command README.md gives, and the one .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."

# -- the real peers of tests/interop/ (Debian packages; nothing is started here:
# each test starts its own peer on free loopback ports and stops it)
PEER_PROGRAMS="dovecot smtp-sink swaks curl fetchmail openssl msmtp mbsync mutt"
# (libdigest-hmac-perl: swaks's CRAM-MD5; libsasl2-modules: the Cyrus SASL
# mechanisms mbsync and mutt log in with, SCRAM-SHA-256 among them)
PEER_PACKAGES="dovecot-core dovecot-imapd dovecot-pop3d postfix swaks libnet-ssleay-perl
  libio-socket-ssl-perl libauthen-sasl-perl libdigest-hmac-perl curl openssl fetchmail msmtp isync
  mutt libsasl2-modules ca-certificates"
missing=""
for p in $PEER_PROGRAMS; do
    command -v "$p" >/dev/null || [ -x "/usr/sbin/$p" ] || missing="$missing $p"
done
[ -f /usr/share/perl5/Digest/HMAC_MD5.pm ] || missing="$missing libdigest-hmac-perl"
dpkg -s libsasl2-modules >/dev/null 2>&1 || missing="$missing libsasl2-modules"
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "== installing the interop peers:$missing"
        export DEBIAN_FRONTEND=noninteractive
        created_policy=""
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            # package scripts must not start daemons
            printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
            chmod 755 /usr/sbin/policy-rc.d
            created_policy=1
        fi
        echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
        apt-get update -qq
        # shellcheck disable=SC2086
        apt-get install -y -qq --no-install-recommends $PEER_PACKAGES >/dev/null
        [ -n "$created_policy" ] && rm -f /usr/sbin/policy-rc.d
    else
        echo "the interop peers are missing ($missing); install them as root:" >&2
        echo "  apt-get install $PEER_PACKAGES" >&2
    fi
fi

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
for name in ("anyio", "trio", "h11", "cryptography", "sniffio", "pyparsing", "hypothesis"):
    sys.modules[name] = None  # any import of these now fails
import protokit, protokit.wire, protokit.sasl, protokit.smtp, protokit.pop3, protokit.imap  # noqa
print("ok")
PY
echo "== pytest"
.venv/bin/python -m pytest -p no:cacheprovider --cov --cov-report=term "$@"
echo "== atheris: every fuzz harness for a short fixed budget"
bash tests/fuzz/ci.sh "${FUZZ_SECONDS:-5}"
