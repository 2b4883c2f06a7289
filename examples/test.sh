#!/usr/bin/env bash
# Smoke-tests the agent recipes (shell, langchain, claude-code, openclaw) against a real daemon:
# makes .venv, installs the Python client, langchain-core and pytest, and runs tests/, which
# start `openpact start --foreground` on a temporary data dir. The daemon binary is
# $OPENPACT_BIN (default <repo>/target/release/openpact); without it the tests are skipped.
#
#   examples/test.sh [pytest args...]
set -euo pipefail
# A relative OPENPACT_BIN names a file from the caller's directory, not from examples/.
if [[ -n "${OPENPACT_BIN:-}" && "$OPENPACT_BIN" != /* ]]; then
    OPENPACT_BIN=$PWD/$OPENPACT_BIN
fi
cd "$(dirname "${BASH_SOURCE[0]}")"
repo=$(cd .. && pwd)

export OPENPACT_BIN="${OPENPACT_BIN:-$repo/target/release/openpact}"
# The daemons these tests start listen for peers on loopback only, on a free port.
export OPENPACT_P2P_HOST=127.0.0.1 OPENPACT_P2P_PORT=0
if [ ! -e "$OPENPACT_BIN" ]; then
    echo "examples: SKIPPED: no daemon binary at $OPENPACT_BIN (build it with" \
        "\`cargo build --release\`, or set OPENPACT_BIN)"
    exit 0
fi

"$repo/scripts/make-venv" .venv

# Install only when the requirements or the client's sources changed: a warm run skips pip.
requirements=("hatchling>=1.27,<2" "langchain-core==1.8.1" "pytest>=9,<10")
client=$repo/clients/python
stamp=$(
    {
        printf '%s\n' "${requirements[@]}"
        find "$client/pyproject.toml" "$client/src" -type f -not -path '*/__pycache__/*' -print0 |
            sort -z | xargs -0 sha256sum
    } | sha256sum | cut -d' ' -f1
)
if [ "$(cat .venv/.installed 2>/dev/null || true)" != "$stamp" ]; then
    echo "== installing the Python client, langchain-core and pytest into examples/.venv"
    pip=(.venv/bin/python -m pip --quiet --disable-pip-version-check)
    "${pip[@]}" install "${requirements[@]}"
    "${pip[@]}" install --no-build-isolation "$client"
    echo "$stamp" >.venv/.installed
fi

echo "== pytest (examples, daemon $OPENPACT_BIN)"
exec .venv/bin/python -m pytest -ra -p no:cacheprovider tests "$@"
