#!/usr/bin/env bash
# Checks and tests the Go client: go vet, gofmt, then `go test ./...`, whose TestMain starts a
# real daemon (binary from OPENPACT_BIN, default <repo>/target/release/openpact) on a temp dir.
# Skips (exit 0) only when that binary does not exist.
set -euo pipefail
case "${OPENPACT_BIN:-}" in
    "" | /*) ;;
    *) OPENPACT_BIN="$PWD/$OPENPACT_BIN" ;;
esac
cd "$(dirname "${BASH_SOURCE[0]}")"
root=$(cd ../.. && pwd)
export OPENPACT_BIN="${OPENPACT_BIN:-$root/target/release/openpact}"
# The daemons these tests start listen for peers on loopback only, on a free port.
export OPENPACT_P2P_HOST=127.0.0.1 OPENPACT_P2P_PORT=0

if [ ! -e "$OPENPACT_BIN" ]; then
    echo "SKIP clients/go: no daemon binary at $OPENPACT_BIN (build it with \`cargo build --release\`, or set OPENPACT_BIN)."
    exit 0
fi
if ! command -v go >/dev/null; then
    echo "clients/go: \`go\` is not on PATH; install Go 1.26 or later." >&2
    exit 1
fi

echo "== clients/go: go mod download"
go mod download
echo "== clients/go: go vet"
go vet ./...
echo "== clients/go: gofmt"
unformatted=$(gofmt -l openpact openpactv1 internal)
if [ -n "$unformatted" ]; then
    echo "These files need gofmt -w: $unformatted" >&2
    exit 1
fi

# The race detector needs cgo; use it when the machine has a C compiler.
race=()
if [ "$(go env CGO_ENABLED)" = 1 ] && command -v "$(go env CC)" >/dev/null 2>&1; then
    race=(-race)
fi
echo "== clients/go: go test ${race[*]} ./... (daemon: $OPENPACT_BIN)"
go test "${race[@]}" -count=1 -timeout 5m ./...
