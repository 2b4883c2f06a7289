#!/usr/bin/env bash
# Regenerates the Go client (openpactv1/*.pb.go) from proto/openpact/v1/*.proto, and the wrapper's
# per-code error sentinels (openpact/codes_gen.go) from the generated Code enum.
#
# Run through ./scripts/gen-clients, which sets PROTOC (a protoc with the well-known types) and
# PROTO_DIR (the repository's proto/ directory). The protoc plugins are pinned and installed from
# the Go module proxy into clients/go/.bin, so the output is byte-for-byte reproducible.
set -euo pipefail
: "${PROTOC:?PROTOC is not set: run ./scripts/gen-clients from the repository root}"
: "${PROTO_DIR:?PROTO_DIR is not set: run ./scripts/gen-clients from the repository root}"
PROTO_DIR=$(cd "$PROTO_DIR" && pwd)
cd "$(dirname "${BASH_SOURCE[0]}")"
here=$PWD

PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2
module=github.com/openpact/openpact/clients/go
pkg=$module/openpactv1

# One directory per pinned pair, so bumping a version never reuses a stale binary.
bin=$here/.bin/go-$PROTOC_GEN_GO_VERSION-grpc-$PROTOC_GEN_GO_GRPC_VERSION
if [ ! -x "$bin/protoc-gen-go" ] || [ ! -x "$bin/protoc-gen-go-grpc" ]; then
    echo "installing protoc-gen-go $PROTOC_GEN_GO_VERSION, protoc-gen-go-grpc $PROTOC_GEN_GO_GRPC_VERSION into $bin"
    mkdir -p "$bin"
    GOBIN=$bin go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
    GOBIN=$bin go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
fi

# The protos carry no go_package: M options map each file to the package.
protos=()
maps=()
while IFS= read -r f; do
    protos+=("$f")
    maps+=("M$f=$pkg")
done < <(cd "$PROTO_DIR" && find openpact/v1 -name '*.proto' | LC_ALL=C sort)

go_opts=("module=$module")
for m in "${maps[@]}"; do go_opts+=("$m"); done
join() { local IFS=,; echo "$*"; }

rm -f openpactv1/*.pb.go
# PROTOC is a command (it may carry arguments), hence unquoted.
# shellcheck disable=SC2086
$PROTOC -I "$PROTO_DIR" \
    --plugin=protoc-gen-go="$bin/protoc-gen-go" \
    --plugin=protoc-gen-go-grpc="$bin/protoc-gen-go-grpc" \
    --go_out=. --go_opt="$(join "${go_opts[@]}")" \
    --go-grpc_out=. --go-grpc_opt="$(join "${go_opts[@]}")" \
    "${protos[@]}"

# Sentinels from the enum just generated, so no wire code lacks one.
go run ./internal/gencodes > openpact/codes_gen.go.tmp
mv openpact/codes_gen.go.tmp openpact/codes_gen.go
