# Sourced by the shell benches and reliability scripts: a scratch directory and
# the processes a script starts, both cleaned up however the script ends.
#
#   scratch_dir NAME KEEP   TMP=/tmp/lanseal-NAME.XXXXXX; PIDS=() are stopped on
#                           exit; KEEP=1 keeps TMP (the caller's `log` says so)
#   stop PID                SIGTERM, up to 5 s, then SIGKILL; reaped
#   start CONFIG NAME [WRAPPER...]
#                           $LANSEAL_BIN run -c CONFIG (behind WRAPPER, e.g.
#                           `taskset -c 0`), its log in $TMP/NAME.log; waits up
#                           to 30 s until it listens; its pid in STARTED
# shellcheck shell=bash

scratch_dir() {
    TMP=$(mktemp -d "/tmp/lanseal-$1.XXXXXX")
    PIDS=()
    SCRATCH_KEEP=$2
    trap scratch_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

stop() {
    local p=$1
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
}

scratch_cleanup() {
    local p
    for p in "${PIDS[@]}"; do stop "$p"; done
    if [[ $SCRATCH_KEEP == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}

start() {
    local config=$1 name=$2
    "${@:3}" "$LANSEAL_BIN" run -c "$config" 2>"$TMP/$name.log" &
    local pid=$!
    PIDS+=("$pid")
    for _ in $(seq 300); do
        grep -q "listening on" "$TMP/$name.log" 2>/dev/null && break
        kill -0 "$pid" 2>/dev/null || die "$name exited: $(cat "$TMP/$name.log")"
        sleep 0.1
    done
    grep -q "listening on" "$TMP/$name.log" || die "$name did not start"
    # shellcheck disable=SC2034 # read by the caller
    STARTED=$pid
}
