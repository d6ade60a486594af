#!/usr/bin/env bash
# Soak (issue 13, item 5): the release binary with every role that runs on
# loopback, mixed queries at SOAK_QPS for SOAK_SECS while the config, the lease
# file, runtime records and delegate TXT values change under it.
#
# Usage: tests/reliability/soak.sh     (from anywhere; runs in the repo root)
#        SOAK_SECS=60 tests/reliability/soak.sh      (the bounded CI run)
#
# Two lanseal processes on 127.0.0.1:
#   upstream  PORT+1: authoritative for up.test (c<k> names and a wildcard, TTL
#             SOAK_TTL), its own local API on PORT+3. Not measured.
#   front     PORT: [dns] with a local zone soak.test (ip_names = true, a record
#             rewritten at every config reload), a dnsmasq lease file under
#             "lan", forwarding to the upstream (serve_stale, prefetch on:
#             the defaults), rate_limit_qps = 0; [api] on PORT+2 (runtime
#             records in the store); [delegate] zone acme.test with its API on
#             PORT+4 (one account registered at start).
# Load (dnsperf, 127.0.0.1 only):
#   UDP  SOAK_QPS q/s from a query list of QPS × SECS lines (no line repeats
#        its position in a cycle: the list is as long as the run): 40 % local
#        (zone names, IP names, lease names, the delegate's TXT and SOA), 20 %
#        NXDOMAIN in soak.test, 25 % cached (200 up.test names asked again and
#        again), 15 % forwarded (a fresh name under the upstream's wildcard).
#   TCP  SOAK_TCP_QPS q/s of the same list over TCP (dnsperf -m tcp).
# Events, all the time dnsperf runs:
#   every SOAK_HUP_SECS    SIGHUP (the config as it is)
#   every SOAK_RELOAD_SECS the config rewritten (soak.test's `gen` TXT record
#                          changes) and SIGHUP, then the new value checked
#                          with dig, and a `[[blocklist]]` file rewritten
#                          (SOAK_BLOCKLIST=0 leaves the list out)
#   every 5 s              the lease file rewritten (renamed into place, as
#                          dnsmasq does); one lease name moves address
#   every 3 s              a delegate update (POST /update; 20 a minute, under
#                          the API's 30 a minute per client)
#   every 2 s              a runtime record added through the local API, and
#                          the oldest of them deleted once 20 are kept
# Checks (any failure exits 1):
#   - dnsperf "Queries lost" is 0 over UDP and over TCP, and no SERVFAIL;
#   - the counters add up, exactly: over the run (stats before and after,
#     after the forwarder has nothing in flight) received grows by the number
#     of queries dnsperf sent (UDP + TCP) plus the checks' own dig queries,
#     and answered by the same number; acl_dropped, rate_limited, malformed
#     and forward_queue_full stay 0 (nothing is refused on loopback with
#     rate_limit_qps = 0);
#   - RSS stays flat: VmRSS and RssAnon of the front are sampled every
#     SOAK_SAMPLE_SECS; after the warm-up (the first SOAK_WARMUP_SECS, when the
#     cache fills up to cache_entries_max), max - min of RssAnon must stay
#     within SOAK_RSS_GROWTH_KB (default 2048 KiB);
#   - every acknowledged update is there at the end: the last delegate TXT
#     value is served, the runtime records kept are exactly the ones acked and
#     not deleted, reloads happened and none failed.
#
# Environment (all optional):
#   LANSEAL_BIN        the binary (default: cargo build --release, then
#                      $CARGO_TARGET_DIR/release/lanseal or target/release/lanseal)
#   SOAK_SECS          length of the load (default 600)
#   SOAK_QPS           UDP rate (default 5000); SOAK_TCP_QPS TCP rate (default 200)
#   SOAK_WARMUP_SECS   default: a fifth of SOAK_SECS, at most 60
#   SOAK_RSS_GROWTH_KB default 2048
#   SOAK_PORT          first of five ports (default 16153)
#   SOAK_OUT           where the report goes too (default target/soak.txt)
#   SOAK_KEEP=1        keep the temp dir (configs, logs, samples, dnsperf output)
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$PWD

SECS=${SOAK_SECS:-600}
QPS=${SOAK_QPS:-5000}
TCP_QPS=${SOAK_TCP_QPS:-200}
WARMUP=${SOAK_WARMUP_SECS:-$((SECS / 5 < 60 ? SECS / 5 : 60))}
RSS_GROWTH_KB=${SOAK_RSS_GROWTH_KB:-2048}
SAMPLE_SECS=${SOAK_SAMPLE_SECS:-5}
HUP_SECS=${SOAK_HUP_SECS:-10}
RELOAD_SECS=${SOAK_RELOAD_SECS:-30}
TTL=${SOAK_TTL:-20}
PORT0=${SOAK_PORT:-16153}
SOAK_OUT=${SOAK_OUT:-target/soak.txt}
ADDR=127.0.0.1 # loopback only: never point this anywhere else
FRONT_PORT=$PORT0
UP_PORT=$((PORT0 + 1))
FRONT_API=$((PORT0 + 2))
UP_API=$((PORT0 + 3))
DELEGATE_API=$((PORT0 + 4))

log() { printf '[soak] %s\n' "$*" >&2; }
die() { printf '[soak] FAIL: %s\n' "$*" >&2; exit 1; }
for v in SECS QPS TCP_QPS WARMUP RSS_GROWTH_KB SAMPLE_SECS HUP_SECS RELOAD_SECS PORT0; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a number, not '${!v}'"
done
((SECS >= 20)) || die "SOAK_SECS must be at least 20"

for tool in dnsperf dig curl jq python3; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (tests/run.sh installs it)"
done
if [[ -z ${LANSEAL_BIN:-} ]]; then
    log "cargo build --release"
    cargo build --release --quiet
    LANSEAL_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/lanseal
fi
[[ -x $LANSEAL_BIN ]] || die "lanseal binary not found: $LANSEAL_BIN"

# shellcheck source=tests/common/processes.sh
. "$(dirname "${BASH_SOURCE[0]}")/../common/processes.sh"
scratch_dir soak "${SOAK_KEEP:-0}"

# ---------------------------------------------------------------- configs
# Answer data in 198.18.0.0/15 (benchmarking range, not private: rebinding
# protection lets it through); nothing is ever sent there.
cat >"$TMP/up.toml" <<EOF
log_level = "info"
state_dir = "$TMP/up"
[dns]
listen = ["$ADDR:$UP_PORT"]
threads = 1
rate_limit_qps = 0
resolv_file = ""
[api]
listen = "$ADDR:$UP_API"

[[zone]]
name = "up.test"
mode = "authoritative"
ttl = $TTL
records = [
$(for ((k = 1; k <= 200; k++)); do printf '  "c%d A 198.18.1.%d",\n' "$k" $((k % 250 + 1)); done)
  "* A 198.18.2.1",
]
EOF

RELOAD_GEN=0
write_front_config() {
    cat >"$TMP/front.toml.tmp" <<EOF
log_level = "info"
state_dir = "$TMP/front"
[dns]
listen = ["$ADDR:$FRONT_PORT"]
threads = 1
rate_limit_qps = 0
resolv_file = ""
upstreams = ["$ADDR:$UP_PORT"]
leases = ["$TMP/dhcp.leases"]
lease_domain = "lan"
[api]
listen = "$ADDR:$FRONT_API"
[delegate]
zone = "acme.test"
ns = ["ns1.acme.test."]
ns_addresses = ["192.0.2.53"]
api_listen = "$ADDR:$DELEGATE_API"
registration = "open"
# A blocklist, which blocklist_reload below rewrites (the watcher reloads it).
$(if [[ ${SOAK_BLOCKLIST:-1} == 1 ]]; then printf '[[blocklist]]\nname = "soak"\nfiles = ["%s"]\n' "$TMP/block.txt"; fi)

[[zone]]
name = "soak.test"
mode = "authoritative"
ttl = 300
ip_names = true
records = [
$(for ((i = 1; i <= 100; i++)); do printf '  "host%d A 192.168.7.%d",\n' "$i" "$i"; done)
  "www CNAME host1",
  "gen TXT \"reload-$RELOAD_GEN\"",
]
EOF
    mv "$TMP/front.toml.tmp" "$TMP/front.toml"
}
LEASE_GEN=0
write_leases() {
    {
        for ((i = 1; i <= 20; i++)); do
            printf '0 aa:bb:cc:dd:ee:%02x 192.168.8.%d laptop%d *\n' "$i" "$i" "$i"
        done
        printf '0 aa:bb:cc:dd:ee:ff 192.168.9.%d moving *\n' $((LEASE_GEN % 250 + 1))
    } >"$TMP/dhcp.leases.tmp"
    mv "$TMP/dhcp.leases.tmp" "$TMP/dhcp.leases"
}
blocklist_reload() {
    # The list rewritten (renamed into place; the watcher reloads it); the
    # last one is checked at the end.
    printf '0.0.0.0 blocked%d.example\n' "$RELOAD_GEN" >"$TMP/block.txt.tmp"
    mv "$TMP/block.txt.tmp" "$TMP/block.txt"
}
write_front_config
write_leases
if [[ ${SOAK_BLOCKLIST:-1} == 1 ]]; then blocklist_reload; fi
: >"$TMP/dig.count"

# ---------------------------------------------------------------- servers
api() { # api PORT STATE METHOD PATH [BODY]
    local port=$1 state=$2 method=$3 path=$4 body=${5:-}
    curl -sS --max-time 10 -X "$method" -H "Authorization: Bearer $(cat "$state/api.token")" \
        ${body:+-H 'Content-Type: application/json' --data "$body"} "http://$ADDR:$port$path"
}
wait_api() {
    for _ in $(seq 200); do
        [[ -s $2/api.token ]] && api "$1" "$2" GET /api/v1/status >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "the API on port $1 did not answer"
}
# The checks' own queries, one line each in $TMP/dig.count (q runs in command
# substitutions, so a shell variable would not keep the count).
dig_queries() { wc -l <"$TMP/dig.count"; }
q() { # q NAME TYPE: the answer's data, one line per record
    echo >>"$TMP/dig.count"
    dig @"$ADDR" -p "$FRONT_PORT" +short +time=3 +tries=1 "$1" "$2"
}
stats() { api "$FRONT_API" "$TMP/front" GET /api/v1/dns/stats; }

start "$TMP/up.toml" up
start "$TMP/front.toml" front
FRONT_PID=$STARTED
wait_api "$FRONT_API" "$TMP/front"
for _ in $(seq 100); do curl -fsS -o /dev/null "http://$ADDR:$DELEGATE_API/health" 2>/dev/null && break; sleep 0.1; done

ACCOUNT=$(curl -sS --max-time 10 -X POST -d '{}' "http://$ADDR:$DELEGATE_API/register")
USER_NAME=$(jq -r .username <<<"$ACCOUNT")
USER_KEY=$(jq -r .password <<<"$ACCOUNT")
SUBDOMAIN=$(jq -r .subdomain <<<"$ACCOUNT")
FULLDOMAIN=$(jq -r .fulldomain <<<"$ACCOUNT")
[[ -n $FULLDOMAIN && $FULLDOMAIN != null ]] || die "delegate registration failed: $ACCOUNT"

# ---------------------------------------------------------------- query list
LINES=$((QPS * SECS))
python3 - "$LINES" "$FULLDOMAIN" >"$TMP/queries.txt" <<'EOF'
import random, sys
lines, fulldomain = int(sys.argv[1]), sys.argv[2]
rng = random.Random(13)
out = []
for n in range(lines):
    r = rng.random()
    if r < 0.40:
        kind = n % 6
        if kind == 0: out.append(f"host{rng.randint(1, 100)}.soak.test A")
        elif kind == 1: out.append(f"192-168-5-{rng.randint(1, 254)}.soak.test A")
        elif kind == 2: out.append(f"laptop{rng.randint(1, 20)}.lan A")
        elif kind == 3: out.append(f"{fulldomain} TXT")
        elif kind == 4: out.append("www.soak.test A")
        else: out.append("acme.test SOA")
    elif r < 0.60:
        out.append(f"missing{n}.soak.test A")
    elif r < 0.85:
        out.append(f"c{rng.randint(1, 200)}.up.test A")
    else:
        out.append(f"f{n}.up.test A")
sys.stdout.write("\n".join(out) + "\n")
EOF
log "query list: $LINES lines; $SECS s at $QPS q/s UDP + $TCP_QPS q/s TCP"

# Warm the answers the checks rely on.
[[ $(q host1.soak.test A) == 192.168.7.1 ]] || die "local zone not served"
[[ $(q 192-168-5-9.soak.test A) == 192.168.5.9 ]] || die "IP names not served"
[[ $(q laptop3.lan A) == 192.168.8.3 ]] || die "lease names not served"
[[ $(q c1.up.test A) == 198.18.1.2 ]] || die "forwarding does not work"

# ---------------------------------------------------------------- events
EVENTS_LOG=$TMP/events.tsv
: >"$EVENTS_LOG"
event() { printf '%s\t%s\n' "$(date +%s)" "$*" >>"$EVENTS_LOG"; }
RT_ACKED=$TMP/runtime-acked.txt   # id<TAB>record, acked and not deleted
: >"$RT_ACKED"
events() {
    local t=0 rt=0 last_txt="" status body id
    while :; do
        sleep 1
        t=$((t + 1))
        if ((t % HUP_SECS == 0)); then kill -HUP "$FRONT_PID" && event hup; fi
        if ((t % RELOAD_SECS == 0)); then
            RELOAD_GEN=$((RELOAD_GEN + 1))
            write_front_config
            if [[ ${SOAK_BLOCKLIST:-1} == 1 ]]; then blocklist_reload; fi
            kill -HUP "$FRONT_PID"
            event "reload $RELOAD_GEN"
        fi
        if ((t % 5 == 0)); then LEASE_GEN=$((LEASE_GEN + 1)); write_leases; event "leases $LEASE_GEN"; fi
        if ((t % 3 == 0)); then
            last_txt=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32)[:43])')
            status=$(curl -sS --max-time 10 -o "$TMP/update.out" -w '%{http_code}' -X POST \
                -H "X-Api-User: $USER_NAME" -H "X-Api-Key: $USER_KEY" \
                --data "{\"subdomain\": \"$SUBDOMAIN\", \"txt\": \"$last_txt\"}" \
                "http://$ADDR:$DELEGATE_API/update") || status=000
            if [[ $status == 200 ]]; then
                printf '%s\n' "$last_txt" >>"$TMP/txt-acked.txt"
                event "delegate-update ok"
            else
                event "delegate-update $status $(cat "$TMP/update.out" 2>/dev/null)"
            fi
        fi
        if ((t % 2 == 0)); then
            rt=$((rt + 1))
            body=$(api "$FRONT_API" "$TMP/front" POST /api/v1/dns/records \
                "{\"zone\": \"soak.test\", \"record\": \"rt$rt 60 A 198.18.3.$((rt % 250 + 1))\"}") || body=""
            id=$(jq -r '.id // empty' <<<"$body" 2>/dev/null || true)
            if [[ -n $id ]]; then
                printf '%s\trt%d\n' "$id" "$rt" >>"$RT_ACKED"
                event "record-add $id"
            else
                event "record-add failed $body"
            fi
            if (($(wc -l <"$RT_ACKED") > 20)); then
                id=$(head -n 1 "$RT_ACKED" | cut -f1)
                if api "$FRONT_API" "$TMP/front" DELETE "/api/v1/dns/records/$id" >/dev/null; then
                    sed -i 1d "$RT_ACKED"
                    event "record-delete $id"
                else
                    event "record-delete failed $id"
                fi
            fi
        fi
    done
}

sample() {
    local t=0
    while :; do
        awk -v t="$t" '$1 == "VmRSS:" {rss = $2} $1 == "RssAnon:" {anon = $2} END {printf "%d\t%d\t%d\n", t, rss, anon}' \
            "/proc/$FRONT_PID/status" >>"$TMP/rss.tsv" 2>/dev/null || return 0
        sleep "$SAMPLE_SECS"
        t=$((t + SAMPLE_SECS))
    done
}

BEFORE=$(stats)
DIG_BEFORE=$(dig_queries)
: >"$TMP/rss.tsv"
sample &
SAMPLER=$!
PIDS+=("$SAMPLER")
events &
EVENTS=$!
PIDS+=("$EVENTS")
dnsperf -s "$ADDR" -p "$FRONT_PORT" -d "$TMP/queries.txt" -n 1 -l "$SECS" -Q "$QPS" \
    -c 4 -q 200 -t 5 >"$TMP/dnsperf-udp.txt" 2>&1 &
UDP_PERF=$!
dnsperf -m tcp -s "$ADDR" -p "$FRONT_PORT" -d "$TMP/queries.txt" -n 1 -l "$SECS" -Q "$TCP_QPS" \
    -c 4 -q 50 -t 5 >"$TMP/dnsperf-tcp.txt" 2>&1 &
TCP_PERF=$!
wait "$UDP_PERF" || die "dnsperf (UDP) failed: $(cat "$TMP/dnsperf-udp.txt")"
wait "$TCP_PERF" || die "dnsperf (TCP) failed: $(cat "$TMP/dnsperf-tcp.txt")"
stop "$EVENTS"
stop "$SAMPLER"
kill -0 "$FRONT_PID" 2>/dev/null || die "the front died: $(tail -n 20 "$TMP/front.log")"

# ---------------------------------------------------------------- checks
# The counters are read once the forwarder has nothing in flight: a query is
# counted answered when its response is sent.
for _ in $(seq 100); do
    AFTER=$(stats)
    [[ $(jq '.inflight' <<<"$AFTER") == 0 ]] && break
    sleep 0.1
done
AFTER=$(stats)
perf() { awk -v k="$2" '$0 ~ k {print $3; exit}' "$1"; }
UDP_SENT=$(perf "$TMP/dnsperf-udp.txt" "Queries sent:")
UDP_LOST=$(perf "$TMP/dnsperf-udp.txt" "Queries lost:")
# Datagrams the kernel dropped at the front's UDP socket (its receive buffer
# full): the last column of /proc/net/udp, for local port FRONT_PORT.
KERNEL_DROPS=$(awk -v port="$(printf '%04X' "$FRONT_PORT")" 'NR > 1 && $2 ~ ":" port "$" {d += $NF} END {print d + 0}' /proc/net/udp)
TCP_SENT=$(perf "$TMP/dnsperf-tcp.txt" "Queries sent:")
TCP_LOST=$(perf "$TMP/dnsperf-tcp.txt" "Queries lost:")
UDP_RCODES=$(grep -A1 "Response codes:" "$TMP/dnsperf-udp.txt" | head -n 1 | sed 's/.*Response codes: *//')
TCP_RCODES=$(grep "Response codes:" "$TMP/dnsperf-tcp.txt" | sed 's/.*Response codes: *//')
UDP_QPS=$(awk '/Queries per second:/ {print $4}' "$TMP/dnsperf-udp.txt")
delta() { echo $(($(jq "$1" <<<"$AFTER") - $(jq "$1" <<<"$BEFORE"))); }
D_RECEIVED=$(delta .queries.received)
D_ANSWERED=$(delta .queries.answered)
D_FORWARDED=$(delta .queries.forwarded)
DROPS=$(jq '[.queries.acl_dropped, .queries.rate_limited, .queries.tcp_rate_limited, .queries.malformed] | add' <<<"$AFTER")
QUEUE_FULL=$(jq '.limits.dns_forward_queue_full // 0' <<<"$AFTER")
STALE=$(delta .queries.stale_served)
RELOADS=$(delta .process.reloads)
RELOAD_FAILURES=$(jq .process.reload_failures <<<"$AFTER")
HOST_RELOADS=$(delta .process.host_reloads)
EXPECTED=$((UDP_SENT + TCP_SENT + $(dig_queries) - DIG_BEFORE))

FAILURES=()
((UDP_LOST == 0)) || FAILURES+=("UDP queries lost: $UDP_LOST")
((TCP_LOST == 0)) || FAILURES+=("TCP queries lost: $TCP_LOST")
[[ $UDP_RCODES != *SERVFAIL* && $TCP_RCODES != *SERVFAIL* ]] || FAILURES+=("SERVFAIL answers: UDP $UDP_RCODES, TCP $TCP_RCODES")
((D_RECEIVED == EXPECTED)) || FAILURES+=("received grew by $D_RECEIVED, dnsperf and dig sent $EXPECTED ($KERNEL_DROPS dropped by the kernel at the socket)")
((D_ANSWERED == D_RECEIVED)) || FAILURES+=("answered grew by $D_ANSWERED, received by $D_RECEIVED")
((DROPS == 0 && QUEUE_FULL == 0)) || FAILURES+=("drops: $DROPS, forward queue full: $QUEUE_FULL")
((RELOADS > 0 && RELOAD_FAILURES == 0)) || FAILURES+=("reloads $RELOADS, failures $RELOAD_FAILURES")
((HOST_RELOADS > 0)) || FAILURES+=("the lease file was never reloaded")

# The last state of every update stream is served.
[[ $(q gen.soak.test TXT) == "\"reload-$(grep -c reload "$EVENTS_LOG" || true)\"" ]] ||
    FAILURES+=("gen.soak.test: $(q gen.soak.test TXT), the last reload wrote $(grep -c reload "$EVENTS_LOG")")
LAST_LEASE=$(grep -c leases "$EVENTS_LOG" || true)
for _ in $(seq 50); do [[ $(q moving.lan A) == "192.168.9.$((LAST_LEASE % 250 + 1))" ]] && break; sleep 0.1; done
[[ $(q moving.lan A) == "192.168.9.$((LAST_LEASE % 250 + 1))" ]] || FAILURES+=("moving.lan: $(q moving.lan A)")
if [[ ${SOAK_BLOCKLIST:-1} == 1 ]]; then
    LAST_BLOCK=$(grep -c reload "$EVENTS_LOG" || true)
    blocked_status() {
        echo >>"$TMP/dig.count"
        dig @"$ADDR" -p "$FRONT_PORT" +time=3 +tries=1 "blocked$LAST_BLOCK.example" A |
            awk '/status:/ { sub(",", "", $6); print $6 }'
    }
    for _ in $(seq 50); do [[ $(blocked_status) == NXDOMAIN ]] && break; sleep 0.1; done
    [[ $(blocked_status) == NXDOMAIN ]] ||
        FAILURES+=("blocked$LAST_BLOCK.example (the last list written) is not blocked")
fi
LAST_TXT=$(tail -n 1 "$TMP/txt-acked.txt" 2>/dev/null || true)
[[ -n $LAST_TXT ]] || FAILURES+=("no delegate update was acknowledged")
q "$FULLDOMAIN" TXT | grep -qF "\"$LAST_TXT\"" || FAILURES+=("$FULLDOMAIN lacks the last acked TXT $LAST_TXT")
UPDATE_FAILED=$(grep -c 'delegate-update [0-9]' "$EVENTS_LOG" || true)
RECORD_FAILED=$(grep -c 'failed' "$EVENTS_LOG" || true)
((UPDATE_FAILED == 0 && RECORD_FAILED == 0)) || FAILURES+=("API errors: $(grep -E 'failed|delegate-update [0-9]' "$EVENTS_LOG" | head -n 3)")
KEPT=$(api "$FRONT_API" "$TMP/front" GET /api/v1/dns/records | jq -r '.records[] | select(.source == "runtime") | .id' | sort)
[[ $KEPT == "$(cut -f1 "$RT_ACKED" | sort)" ]] || FAILURES+=("runtime records: served $(tr "\n" " " <<<"$KEPT"), acked $(cut -f1 "$RT_ACKED" | tr '\n' ' ')")

# RSS after the warm-up.
read -r RSS_MIN RSS_MAX ANON_MIN ANON_MAX ANON_FIRST ANON_LAST SAMPLES < <(awk -v w="$WARMUP" '
    $1 >= w { n++; if (n == 1) {rmin = rmax = $2; amin = amax = first = $3}
              if ($2 < rmin) rmin = $2; if ($2 > rmax) rmax = $2
              if ($3 < amin) amin = $3; if ($3 > amax) amax = $3; last = $3 }
    END { printf "%d %d %d %d %d %d %d\n", rmin, rmax, amin, amax, first, last, n }' "$TMP/rss.tsv")
ANON_GROWTH=$((ANON_MAX - ANON_MIN))
((SAMPLES >= 2)) || FAILURES+=("only $SAMPLES RSS samples after the warm-up")
((ANON_GROWTH <= RSS_GROWTH_KB)) || FAILURES+=("RssAnon varied by $ANON_GROWTH KiB after the warm-up (bound $RSS_GROWTH_KB)")
PEAK=$(awk '$1 == "VmHWM:" {print $2}' "/proc/$FRONT_PID/status")

{
    echo "lanseal soak, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs (shared machine), binary $LANSEAL_BIN"
    echo "load: $SECS s, UDP $QPS q/s (achieved $UDP_QPS), TCP $TCP_QPS q/s; warm-up $WARMUP s"
    echo "UDP: sent $UDP_SENT, lost $UDP_LOST, rcodes $UDP_RCODES; kernel drops at the front's socket $KERNEL_DROPS"
    echo "TCP: sent $TCP_SENT, lost $TCP_LOST, rcodes $TCP_RCODES"
    echo "counters over the run: received +$D_RECEIVED (dnsperf + dig sent $EXPECTED), answered +$D_ANSWERED, forwarded +$D_FORWARDED, drops $DROPS, forward queue full $QUEUE_FULL, stale served +$STALE"
    echo "events: $(grep -c hup "$EVENTS_LOG" || true) SIGHUPs, $(grep -c reload "$EVENTS_LOG" || true) config reloads (reloads counter +$RELOADS, failures $RELOAD_FAILURES), $LAST_LEASE lease rewrites (host_reloads +$HOST_RELOADS), $(grep -c 'delegate-update ok' "$EVENTS_LOG" || true) delegate updates acked ($UPDATE_FAILED refused), $(grep -c 'record-add [0-9]' "$EVENTS_LOG" || true) runtime records added, $(grep -c 'record-delete [0-9]' "$EVENTS_LOG" || true) deleted"
    echo "RSS after warm-up ($SAMPLES samples every $SAMPLE_SECS s): VmRSS $RSS_MIN..$RSS_MAX KiB, RssAnon $ANON_MIN..$ANON_MAX KiB (first $ANON_FIRST, last $ANON_LAST; max - min $ANON_GROWTH KiB, bound $RSS_GROWTH_KB), VmHWM $PEAK KiB"
    echo "samples (s, VmRSS KiB, RssAnon KiB): $(awk '{printf "%s/%s/%s ", $1, $2, $3}' "$TMP/rss.tsv")"
    if ((${#FAILURES[@]})); then printf 'FAIL: %s\n' "${FAILURES[@]}"; else echo "PASS"; fi
} | tee "$SOAK_OUT"
((${#FAILURES[@]} == 0))
