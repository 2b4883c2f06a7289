# Sourced by the other scripts: finds the daemon, its token and the pact, and calls the REST API.
#
# Environment (all optional):
#   OPENPACT_URL       the daemon's base URL; default http://127.0.0.1:<port in daemon.json>,
#                      or :7666 when daemon.json has no port
#   OPENPACT_TOKEN     the bearer token; default apiToken in daemon.json
#   OPENPACT_PACT      the pact (alias or 64-hex id); default the current pact in daemon.json
#   OPENPACT_DATA_DIR  where daemon.json lives; default ~/.openpact
#
# Every call prints the daemon's JSON answer on stdout. A failure prints one line on stderr (the
# daemon's error envelope, or what to do next) and exits 1; a usage error exits 2.

op_data_dir=${OPENPACT_DATA_DIR:-$HOME/.openpact}
op_daemon_json=$op_data_dir/daemon.json

op_die() {
    printf '%s\n' "$*" >&2
    exit 1
}

op_usage() {
    printf 'Usage: %s\n' "$*" >&2
    exit 2
}

# op_setting SED_SCRIPT: what the sed script prints from daemon.json ("" when it is missing).
# daemon.json is JSON, one key a line; the values read here (hex, digits, an alias) need no
# unescaping, so sed does.
op_setting() {
    [ -r "$op_daemon_json" ] || return 0
    sed -n "$1" "$op_daemon_json" | head -n 1
}

op_port=$(op_setting 's/.*"port" *: *\([0-9][0-9]*\).*/\1/p')
op_url=${OPENPACT_URL:-http://127.0.0.1:${op_port:-7666}}
op_url=${op_url%/}
op_token=${OPENPACT_TOKEN:-$(op_setting 's/.*"apiToken" *: *"\([0-9a-f]*\)".*/\1/p')}
op_pact=${OPENPACT_PACT:-$(op_setting 's/.*"currentAlias" *: *"\([^"]*\)".*/\1/p')}

op_tab=$(printf '\t')
op_cr=$(printf '\r')

# op_json_string TEXT: TEXT as a JSON string, quotes included. Escapes backslash, quote, tab, CR
# and newline (a trailing newline is dropped); other control characters make the daemon answer
# 400 BAD_REQUEST.
op_json_string() {
    printf '%s' "$1" |
        sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e "s/$op_tab/\\\\t/g" -e "s/$op_cr/\\\\r/g" |
        awk 'BEGIN { printf "%s", "\"" } NR > 1 { printf "%s", "\\n" } { printf "%s", $0 } END { printf "%s", "\"" }'
}

# op_call METHOD PATH [CURL_ARGS...]: one request to the daemon; prints the answer.
# PATH is relative to the pact (/knowledge, /tasks/ID/claim, ...).
op_call() {
    op_method=$1
    op_path=$2
    shift 2
    [ -n "$op_token" ] ||
        op_die "No OpenPact token: $op_daemon_json is missing. Start the daemon with \`openpact start\` (or set OPENPACT_DATA_DIR)."
    [ -n "$op_pact" ] ||
        op_die "No current pact. Seal one with \`openpact init\`, or set OPENPACT_PACT to a pact's alias."
    # The token goes to curl on stdin (as a config line), so it never shows in `ps`.
    if op_answer=$(printf 'header = "Authorization: Bearer %s"\n' "$op_token" |
        curl -s --fail-with-body --connect-timeout 5 -K - -X "$op_method" "$@" \
            "$op_url/v1/pacts/$op_pact$op_path"); then
        printf '%s\n' "$op_answer"
        return 0
    else
        op_rc=$?
    fi
    case $op_rc in
    22) op_die "$op_answer" ;; # the daemon's {"error","message","status"}
    7) op_die "OpenPact daemon is not running at $op_url. Start it with \`openpact start\`." ;;
    28) op_die "OpenPact daemon at $op_url did not answer in time." ;;
    *) op_die "curl failed (exit $op_rc) talking to the OpenPact daemon at $op_url." ;;
    esac
}

# op_send_json METHOD PATH JSON: a request with a JSON body.
op_send_json() {
    op_call "$1" "$2" -H 'Content-Type: application/json' --data-binary "$3"
}
