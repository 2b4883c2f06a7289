#!/usr/bin/env bash
# Builds @openpact/client and runs its tests: node:test (through tsx) against real daemons started
# by the tests (OPENPACT_BIN, default <repo>/target/release/openpact), and the gRPC-web path in
# headless Chromium (Debian's /usr/bin/chromium, installed from apt when missing).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
repo=$(cd ../.. && pwd)
export OPENPACT_BIN="${OPENPACT_BIN:-$repo/target/release/openpact}"
# The daemons these tests start listen for peers on loopback only, on a free port.
export OPENPACT_P2P_HOST=127.0.0.1 OPENPACT_P2P_PORT=0

# npm ci when package-lock.json changed since the last install (or nothing is installed).
stamp=node_modules/.openpact-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "== npm ci"
    npm ci --no-audit --no-fund --loglevel=error
    echo "$want" > "$stamp"
fi

echo "== build (tsc)"
npm run --silent build
echo "== typecheck the tests"
npx tsc -p tsconfig.test.json

if [ ! -x "$OPENPACT_BIN" ]; then
    echo "== unit tests only"
    node --import tsx --test --test-reporter=spec test/unit.test.ts
    echo "SKIP: the daemon tests need the openpact binary; $OPENPACT_BIN does not exist (build it with cargo build --release, or set OPENPACT_BIN)."
    exit 0
fi

if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
    echo "== chromium (for the browser test)"
    ../../scripts/apt-install chromium
fi

echo "== tests (daemon: $OPENPACT_BIN)"
node --import tsx --test --test-reporter=spec test/*.test.ts
