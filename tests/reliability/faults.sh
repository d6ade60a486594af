#!/usr/bin/env bash
# Faults (issue 13, item 5): the release binary when its upstreams die, when
# its disk fills up during a store write, and when it is killed with SIGKILL
# at random moments while updates are in flight.
#
# Usage: tests/reliability/faults.sh [upstream|disk|kill]...   (default: all)
#
#   upstream  A front lanseal caches FAULT_NAMES names (TTL 2 s) from an
#             upstream lanseal, which is then killed with SIGKILL. Once the
#             TTLs have run out, every one of those names must still be
#             answered (NOERROR, the address, serve_stale's TTL of 30 s) and
#             the stale_served counter must grow by exactly FAULT_NAMES; a
#             fresh name must get SERVFAIL within FAULT_SERVFAIL_MS (default
#             5000, the upstream timeouts being at most 1.5 s a try).
#   disk      In a private mount namespace (unshare -m as root, unshare -Urm
#             otherwise; skipped with a message if neither works), state_dir
#             on a 1 MiB tmpfs. A record is added through the local API and a
#             delegate TXT value set; then the tmpfs is filled. Runtime records
#             are added until one is refused, and a delegate update is sent:
#             each refusal must be a JSON error with a 5xx status (the store's
#             own words, logged as an error). Then: the records acked before
#             are still served, lanseal restarts on the still-full disk and
#             the store opens with every acked record and the acked TXT value;
#             once the disk has room again a write succeeds.
#   kill      FAULT_RUNS runs (default 50) of: start lanseal (dns, api,
#             delegate) on one state_dir, a client adding and deleting
#             runtime records and updating a delegate TXT value as fast as
#             the API answers, SIGKILL after a random 0.3 to 2 s. The next
#             start must open the store (lanseal listens and logs no store
#             error), serve every record whose add was acknowledged (and not
#             its acked delete), none whose delete was acknowledged, and the
#             last acknowledged TXT value.
#
# The certs role's half (a full disk under a certificate's dir during a
# renewal, SIGKILL across renewals and in the middle of deploys) needs Pebble
# and the Rust fixtures: tests/certs_faults.rs, run by `cargo test`
# (CERT_FAULT_RUNS, default 20).
#
# Environment (all optional): LANSEAL_BIN (default: cargo build --release),
# FAULT_PORT (first of four ports, default 16253), FAULT_RUNS, FAULT_NAMES
# (default 50), FAULT_SERVFAIL_MS, FAULT_KEEP=1 (keep the temp dir).
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$PWD

PORT0=${FAULT_PORT:-16253}
RUNS=${FAULT_RUNS:-50}
NAMES=${FAULT_NAMES:-50}
SERVFAIL_MS=${FAULT_SERVFAIL_MS:-5000}
ADDR=127.0.0.1 # loopback only: never point this anywhere else
DNS_PORT=$PORT0
UP_PORT=$((PORT0 + 1))
API_PORT=$((PORT0 + 2))
DELEGATE_PORT=$((PORT0 + 3))

log() { printf '[faults] %s\n' "$*" >&2; }
die() { printf '[faults] FAIL: %s\n' "$*" >&2; exit 1; }
for tool in dig curl jq python3; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (tests/run.sh installs it)"
done
if [[ -z ${LANSEAL_BIN:-} ]]; then
    log "cargo build --release"
    cargo build --release --quiet
    LANSEAL_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/lanseal
fi
[[ -x $LANSEAL_BIN ]] || die "lanseal binary not found: $LANSEAL_BIN"
export LANSEAL_BIN ADDR DNS_PORT UP_PORT API_PORT DELEGATE_PORT

# shellcheck source=tests/common/processes.sh
. "$(dirname "${BASH_SOURCE[0]}")/../common/processes.sh"
scratch_dir faults "${FAULT_KEEP:-0}"

api() { # api STATE METHOD PATH [BODY]
    local state=$1 method=$2 path=$3 body=${4:-}
    curl -sS --max-time 10 -X "$method" -H "Authorization: Bearer $(cat "$state/api.token")" \
        ${body:+-H 'Content-Type: application/json' --data "$body"} "http://$ADDR:$API_PORT$path"
}
wait_api() {
    for _ in $(seq 200); do
        [[ -s $1/api.token ]] && api "$1" GET /api/v1/status >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "the API did not answer"
}
ms() { echo $(($(date +%s%N) / 1000000)); }

# ---------------------------------------------------------------- upstream
fault_upstream() {
    log "upstream: $NAMES names cached, then the upstream is killed"
    cat >"$TMP/up.toml" <<EOF
log_level = "info"
[dns]
listen = ["$ADDR:$UP_PORT"]
threads = 1
rate_limit_qps = 0
resolv_file = ""
[[zone]]
name = "gone.test"
mode = "authoritative"
ttl = 2
records = ["* A 198.18.4.1"]
EOF
    cat >"$TMP/front-up.toml" <<EOF
log_level = "info"
state_dir = "$TMP/front-up"
[dns]
listen = ["$ADDR:$DNS_PORT"]
threads = 1
rate_limit_qps = 0
resolv_file = ""
upstreams = ["$ADDR:$UP_PORT"]
prefetch = false
[api]
listen = "$ADDR:$API_PORT"
EOF
    start "$TMP/up.toml" up
    local up=$STARTED
    start "$TMP/front-up.toml" front-up
    local front=$STARTED
    wait_api "$TMP/front-up"
    local i answer
    for ((i = 1; i <= NAMES; i++)); do
        answer=$(dig @"$ADDR" -p "$DNS_PORT" +short +time=3 +tries=1 "s$i.gone.test" A)
        [[ $answer == 198.18.4.1 ]] || die "s$i.gone.test not forwarded: '$answer'"
    done
    kill -KILL "$up"
    wait "$up" 2>/dev/null || true
    sleep 3 # every cached TTL (2 s) has run out
    local before after stale=0 ttl_bad=0 line
    before=$(api "$TMP/front-up" GET /api/v1/dns/stats | jq .queries.stale_served)
    local t0 t1 worst=0
    for ((i = 1; i <= NAMES; i++)); do
        t0=$(ms)
        line=$(dig @"$ADDR" -p "$DNS_PORT" +noall +answer +comments +time=10 +tries=1 "s$i.gone.test" A)
        t1=$(ms)
        ((t1 - t0 > worst)) && worst=$((t1 - t0))
        echo $((t1 - t0)) >>"$TMP/stale-ms.txt"
        if grep -q 'status: NOERROR' <<<"$line" && grep -qE "^s$i\.gone\.test\.\s+30\s+IN\s+A\s+198\.18\.4\.1" <<<"$line"; then
            stale=$((stale + 1))
        else
            ttl_bad=$((ttl_bad + 1))
            log "not served stale: $line"
        fi
    done
    after=$(api "$TMP/front-up" GET /api/v1/dns/stats | jq .queries.stale_served)
    local median
    median=$(sort -n "$TMP/stale-ms.txt" | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
    ((stale == NAMES)) || die "only $stale of $NAMES expired names were served stale"
    ((after - before == NAMES)) || die "stale_served grew by $((after - before)), $NAMES stale answers were sent"
    local fresh_worst=0 status
    for ((i = 1; i <= 5; i++)); do
        t0=$(ms)
        status=$(dig @"$ADDR" -p "$DNS_PORT" +time=15 +tries=1 "fresh$i.gone.test" A | sed -n 's/.*status: \([A-Z]*\).*/\1/p')
        t1=$(ms)
        [[ $status == SERVFAIL ]] || die "fresh$i.gone.test: $status, not SERVFAIL"
        ((t1 - t0 > fresh_worst)) && fresh_worst=$((t1 - t0))
    done
    ((fresh_worst <= SERVFAIL_MS)) || die "a fresh name took $fresh_worst ms to SERVFAIL (bound $SERVFAIL_MS)"
    stop "$front"
    REPORT+=("upstream killed: $stale/$NAMES expired names served stale (TTL 30, stale_served +$((after - before)), stale answer time median $median ms, slowest $worst ms); 5 fresh names SERVFAIL, slowest $fresh_worst ms (bound $SERVFAIL_MS)")
}

# ---------------------------------------------------------------- disk full
fault_disk() {
    local ns=()
    if [[ $(id -u) -eq 0 ]] && unshare -m true 2>/dev/null; then
        ns=(unshare -m)
    elif unshare -Urm true 2>/dev/null; then
        ns=(unshare -Urm)
    else
        log "disk: SKIPPED (neither unshare -m as root nor unshare -Urm works here)"
        REPORT+=("disk full: SKIPPED (no mount namespace)")
        return 0
    fi
    log "disk: state_dir on a 1 MiB tmpfs (${ns[*]})"
    mkdir -p "$TMP/disk"
    "${ns[@]}" bash "$ROOT/tests/reliability/disk-full.sh" "$TMP/disk" >"$TMP/disk.out" 2>&1 ||
        die "disk full: $(tail -n 30 "$TMP/disk.out")"
    cat "$TMP/disk.out" >&2
    REPORT+=("disk full: $(grep '^RESULT' "$TMP/disk.out" | sed 's/^RESULT //')")
}

# ---------------------------------------------------------------- kill -9
fault_kill() {
    log "kill: $RUNS runs of SIGKILL at a random moment"
    python3 "$ROOT/tests/reliability/kill9.py" "$TMP/kill" "$RUNS" >"$TMP/kill.out" 2>&1 ||
        die "kill -9: $(tail -n 30 "$TMP/kill.out")"
    tail -n 3 "$TMP/kill.out" >&2
    REPORT+=("kill -9: $(grep '^RESULT' "$TMP/kill.out" | sed 's/^RESULT //')")
}

REPORT=()
CASES=("$@")
((${#CASES[@]})) || CASES=(upstream disk kill)
for c in "${CASES[@]}"; do
    case $c in
        upstream) fault_upstream ;;
        disk) fault_disk ;;
        kill) fault_kill ;;
        *) die "unknown case $c (upstream, disk, kill)" ;;
    esac
done
echo "lanseal faults, $(date -u +%Y-%m-%dT%H:%M:%SZ), binary $LANSEAL_BIN"
printf '  %s\n' "${REPORT[@]}"
echo PASS
