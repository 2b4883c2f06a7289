#!/bin/sh
# The pact's tasks:
#   tasks.sh add TITLE [DESCRIPTION]   add an open task
#   tasks.sh list [STATUS]             list tasks, newest first (STATUS: open, claimed, complete)
#   tasks.sh claim ID                  claim an open task for this agent
#   tasks.sh complete ID [RESULT]      complete a task (claimed by you, or open)
#   tasks.sh release ID                give a task you claimed back
# Prints the task (or the list) as JSON. A claim someone else won fails with TASK_NOT_OPEN or
# TASK_ALREADY_CLAIMED: pick another task.
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

usage="tasks.sh add TITLE [DESCRIPTION] | list [STATUS] | claim ID | complete ID [RESULT] | release ID"
[ $# -ge 1 ] || op_usage "$usage"
verb=$1
shift
case $verb:$# in
add:1) op_send_json POST /tasks "{\"title\":$(op_json_string "$1")}" ;;
add:2) op_send_json POST /tasks "{\"title\":$(op_json_string "$1"),\"description\":$(op_json_string "$2")}" ;;
list:0) op_call GET /tasks ;;
list:1) op_call GET /tasks -G --data-urlencode "status=$1" ;;
claim:1) op_call PUT "/tasks/$1/claim" ;;
complete:1) op_send_json PUT "/tasks/$1/complete" '{}' ;;
complete:2) op_send_json PUT "/tasks/$1/complete" "{\"result\":$(op_json_string "$2")}" ;;
release:1) op_call PUT "/tasks/$1/release" ;;
*) op_usage "$usage" ;;
esac
