#!/usr/bin/env bash
# Regenerates src/gen/ from proto/openpact/v1/*.proto with @protobuf-ts/plugin (pinned in
# package.json / package-lock.json). Called by scripts/gen-clients, which sets PROTOC (protoc with
# the well-known types) and PROTO_DIR (the include root). Writes only inside clients/ts/.
#
# Plugin options, chosen on purpose:
#   long_type_number    64-bit fields (ms times, TTLs, positions, arrival numbers, byte counts) are
#                       plain numbers: every value the daemon sends stays far below 2^53, numbers
#                       compare with Date.now() and survive JSON.stringify (bigint does neither).
#   optimize_code_size  messages use the runtime's reflection codec instead of generated
#                       read/write code: the browser bundle is about half the size, and the control
#                       plane carries small messages at human rates, so speed does not matter.
#   (default) client_generic: the clients take any RpcTransport (grpc-js in Node, gRPC-web in a
#                       browser), which is what lets one wrapper serve both.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

: "${PROTOC:?set PROTOC to a protoc command (scripts/gen-clients does)}"
: "${PROTO_DIR:?set PROTO_DIR to the proto include root (scripts/gen-clients does)}"

# npm ci when package-lock.json changed since the last install (or nothing is installed); the
# plugin and its runtime come pinned from there.
stamp=node_modules/.openpact-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -x node_modules/.bin/protoc-gen-ts ]; then
    npm ci --no-audit --no-fund --loglevel=error
    echo "$want" > "$stamp"
fi

rm -rf src/gen
mkdir -p src/gen
protos=$(cd "$PROTO_DIR" && ls openpact/v1/*.proto | LC_ALL=C sort)
# shellcheck disable=SC2086 # the proto list is word-split on purpose
$PROTOC -I "$PROTO_DIR" \
    --plugin=protoc-gen-ts=./node_modules/.bin/protoc-gen-ts \
    --ts_out=src/gen \
    --ts_opt=long_type_number,optimize_code_size \
    $protos

# Node's ESM loader needs file extensions on relative imports; protobuf-ts writes none.
find src/gen -name '*.ts' -print0 | LC_ALL=C sort -z | xargs -0 sed -i -E \
    's#^(import (type )?\{[^}]*\} from "\./[^"]+)";$#\1.js";#'

# One error class per wire code, written from the Code enum of common.proto.
node scripts/gen-errors.mjs "$PROTO_DIR/openpact/v1/common.proto" > src/gen/errors.ts
