#!/bin/sh
# Records a piece of knowledge in the pact: record.sh TOPIC CONTENT
# Prints the new entry (JSON). Settings: see common.sh.
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

[ $# -eq 2 ] || op_usage "record.sh TOPIC CONTENT"
op_send_json POST /knowledge "{\"topic\":$(op_json_string "$1"),\"content\":$(op_json_string "$2")}"
