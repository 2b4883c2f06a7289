#!/usr/bin/env bash
# Tests the Python client against real daemons: makes .venv, installs the package with its test
# extras, checks types (mypy --strict) and runs pytest. The daemon binary is $OPENPACT_BIN
# (default <repo>/target/release/openpact); without it the tests are skipped (exit 0).
#
#   clients/python/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
repo=$(cd ../.. && pwd)

export OPENPACT_BIN="${OPENPACT_BIN:-$repo/target/release/openpact}"
# The daemons these tests start listen for peers on loopback only, on a free port.
export OPENPACT_P2P_HOST=127.0.0.1 OPENPACT_P2P_PORT=0
if [ ! -x "$OPENPACT_BIN" ]; then
    echo "clients/python: SKIPPED: no daemon binary at $OPENPACT_BIN (build it with" \
        "\`cargo build --release\`, or set OPENPACT_BIN)"
    exit 0
fi

"$repo/scripts/make-venv" .venv
pip=(.venv/bin/python -m pip --quiet --disable-pip-version-check)
"${pip[@]}" install "hatchling>=1.27,<2"
# A real install (not editable; pip rebuilds a local directory every time): the tests import
# the package as users get it.
"${pip[@]}" install --no-build-isolation ".[test]"

echo "== mypy --strict (clients/python)"
.venv/bin/python -m mypy

echo "== pytest (clients/python, daemon $OPENPACT_BIN)"
exec .venv/bin/python -m pytest "$@"
