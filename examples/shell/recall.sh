#!/bin/sh
# Recalls the pact's knowledge, newest first: recall.sh [TOPIC]
# Prints {"entries":[...],"cursor","has_more"} (at most 50 entries; the topic matches exactly).
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

case $# in
0) op_call GET /knowledge ;;
1) op_call GET /knowledge -G --data-urlencode "topic=$1" ;;
*) op_usage "recall.sh [TOPIC]" ;;
esac
