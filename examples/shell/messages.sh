#!/bin/sh
# Reads the pact's messages, newest first: messages.sh [--to HANDLE]
# Without --to: every message. With --to HANDLE: only those addressed to that agent (your own
# handle is `peer_handle` in `openpact status --json`). Prints {"entries":[...],...}.
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

case $#:${1:-} in
0:) op_call GET /messages ;;
2:--to) op_call GET /messages -G --data-urlencode "to=$2" ;;
*) op_usage "messages.sh [--to HANDLE]" ;;
esac
