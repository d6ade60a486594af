#!/usr/bin/env bash
# Big-zone benchmark (issue 13): memory per record, load time, peak while loading
# and while reloading, and the cost of a lookup in a 1 000 000-record zone, for
# lanseal beside dnsmasq holding the same names, in the same run.
#
# Usage: tests/bench/zones.sh            (from anywhere; runs in the repo root)
#
# The zone: BENCH_RECORDS records under big.test, written as an RFC 1035 master
# file ($ORIGIN, $TTL): of every 10 records 8 are A, 1 AAAA, 1 CNAME, each at a
# name of its own ("h<i>", "c<i>"): the "simple records" of the issue.
# lanseal serves it as `[[zone]] file = ...`; dnsmasq gets the same A and AAAA
# records as an --addn-hosts file and the CNAMEs as cname= lines (its way of
# holding local names), under --local=/big.test/.
#
# Per server it reports:
#   - RssAnon after loading, less RssAnon of the same server started without the
#     zone: the memory the zone costs, and per record;
#   - load time: from the start of the process to its first answer for the last
#     name of the zone (lanseal loads the zone before it binds; dnsmasq reads
#     hosts files after it starts answering, so a name of the file is awaited);
#   - VmHWM less the baseline's RssAnon: the peak while loading (lanseal: and
#     against the final size, which the issue bounds at 2x);
#   - lanseal only: VmHWM after a SIGHUP reload of the same zone (the new zone is
#     built while the old one serves);
#   - CPU µs per query (utime+stime of the server over a dnsperf run at
#     BENCH_QPS, servers on core 0, dnsperf on core 1) for random names of the big
#     zone, and the same for a zone of 1000 names: lookups are O(1), so the two
#     should be close (the big zone's arena is far larger than the CPU caches).
#
# Environment (optional): LANSEAL_BIN (default: cargo build --release and
# target/release/lanseal), BENCH_RECORDS (default 1000000), BENCH_SECS (dnsperf
# -l, default 10), BENCH_QPS (default 20000), BENCH_PORT (default 15453),
# BENCH_OUT (default target/bench-zones.txt), BENCH_KEEP=1 keeps the temp dir.
# Loopback only. Takes about 2 minutes.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$PWD
RECORDS=${BENCH_RECORDS:-1000000}
SECS=${BENCH_SECS:-10}
QPS=${BENCH_QPS:-20000}
PORT=${BENCH_PORT:-15453}
BENCH_OUT=${BENCH_OUT:-target/bench-zones.txt}
ADDR=127.0.0.1 # loopback only

log() { printf '[zones] %s\n' "$*" >&2; }
die() { printf '[zones] error: %s\n' "$*" >&2; exit 1; }
if ! [[ $RECORDS =~ ^[0-9]+$ ]] || ((RECORDS < 10 || RECORDS > 16000000)); then
    die "BENCH_RECORDS: 10 to 16000000"
fi
for cmd in dnsperf dig taskset awk; do
    command -v "$cmd" >/dev/null 2>&1 || die "$cmd not found (tests/run.sh installs the bench tools)"
done
export PATH=$PATH:/usr/sbin:/sbin
command -v dnsmasq >/dev/null 2>&1 || die "dnsmasq not found"
if [[ -z ${LANSEAL_BIN:-} ]]; then
    log "cargo build --release"
    cargo build --release --quiet
    LANSEAL_BIN=$ROOT/target/release/lanseal
fi
[[ -x $LANSEAL_BIN ]] || die "lanseal binary not found: $LANSEAL_BIN"

TMP=$(mktemp -d /tmp/lanseal-zones.XXXXXX)
chmod 755 "$TMP" # dnsmasq reads its hosts file after dropping to an unprivileged user
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

# ------------------------------------------------------------------ the data
log "writing $RECORDS records"
awk -v n="$RECORDS" -v zone="$TMP/big.zone" -v hosts="$TMP/big.hosts" \
    -v cnames="$TMP/big.cnames" -v names="$TMP/q-big.txt" 'BEGIN {
    print "$ORIGIN big.test." > zone
    print "$TTL 300" > zone
    print "@ IN SOA ns.big.test. hostmaster.big.test. 1 3600 600 86400 300" > zone
    print "@ IN NS ns" > zone
    print "ns IN A 10.255.255.254" > zone
    srand(1)
    for (i = 0; i < n; i++) {
        kind = i % 10
        if (kind == 9) {
            printf "c%d IN CNAME h%d\n", i, i - 1 > zone
            printf "cname=c%d.big.test,h%d.big.test\n", i, i - 1 > cnames
        } else if (kind == 8) {
            printf "h%d IN AAAA fd00::%x:%x\n", i, int(i / 65536), i % 65536 > zone
            printf "fd00::%x:%x h%d.big.test\n", int(i / 65536), i % 65536, i > hosts
        } else {
            a = sprintf("10.%d.%d.%d", int(i / 65536) % 256, int(i / 256) % 256, i % 256)
            printf "h%d IN A %s\n", i, a > zone
            printf "%s h%d.big.test\n", a, i > hosts
        }
    }
    # Random A names for the lookup run.
    for (q = 0; q < 200000; q++) {
        i = int(rand() * n); i -= i % 10
        printf "h%d.big.test A\n", i > names
    }
}'
last="h$(( (RECORDS - 1) - (RECORDS - 1) % 10 )).big.test"
{
    # shellcheck disable=SC2016 # master-file directives, not shell variables
    printf '%s\n' '$ORIGIN small.test.' '$TTL 300'
    for ((i = 0; i < 1000; i++)); do echo "h$i IN A 10.1.$((i / 256)).$((i % 256))"; done
} >"$TMP/small.zone"
for ((q = 0; q < 1000; q++)); do echo "h$((RANDOM % 1000)).small.test A"; done >"$TMP/q-small.txt"
zone_bytes=$(stat -c %s "$TMP/big.zone")

status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
now_ms() { date +%s%3N; }
await_answer() { # name port timeout_s -> 0 when answered NOERROR with data
    local deadline=$(( $(date +%s) + $3 ))
    while (( $(date +%s) < deadline )); do
        if dig +short +time=1 +tries=1 -p "$2" @"$ADDR" "$1" A 2>/dev/null | grep -q .; then return 0; fi
        sleep 0.05
    done
    return 1
}

lanseal_config() { # file zone_file zone_name
    cat >"$1" <<EOF
state_dir = "$1.state"

[dns]
listen = ["$ADDR:$PORT"]
threads = 1
resolv_file = ""
rate_limit_qps = 0
zone_records_max = $((RECORDS + 1000))

[api]
listen = "$ADDR:$((PORT + 5))"
token_file = "$TMP/api.token"
EOF
    if [[ -n $2 ]]; then
        printf '\n[[zone]]\nname = "%s"\nfile = "%s"\n' "$3" "$2" >>"$1"
    fi
}

start() { # name cmd... -> pid in START_PID
    taskset -c 0 "${@:2}" >"$TMP/$1.log" 2>&1 &
    START_PID=$!
    PIDS+=("$START_PID")
}

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

measure_cpu() { # pid queries_file -> CPU us per query
    local before after completed
    before=$(cpu_ticks "$1")
    completed=$(taskset -c 1 dnsperf -s "$ADDR" -p "$PORT" -d "$2" -l "$SECS" -Q "$QPS" -c 2 -q 100 -t 2 2>&1 |
        awk '/Queries completed:/ { print $3 }')
    after=$(cpu_ticks "$1")
    awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v q="${completed:-0}" \
        'BEGIN { if (q > 0) printf "%.2f", t * 1e6 / hz / q; else print "n/a" }'
}

# ------------------------------------------------------------------ lanseal
# All state (the API token, the store) under $TMP: never the user's state dir.
lanseal_config "$TMP/empty.toml" ""
lanseal_config "$TMP/big.toml" "$TMP/big.zone" big.test
lanseal_config "$TMP/small.toml" "$TMP/small.zone" small.test

log "lanseal without the zone"
start lanseal-empty "$LANSEAL_BIN" run -c "$TMP/empty.toml"
pid=$START_PID
deadline=$(( $(date +%s) + 30 ))
until grep -q "listening on" "$TMP/lanseal-empty.log" || (( $(date +%s) > deadline )); do sleep 0.1; done
sleep 0.5
base_anon=$(status_kib "$pid" RssAnon)
stop "$pid"

log "lanseal with $RECORDS records"
t0=$(now_ms)
start lanseal-big "$LANSEAL_BIN" run -c "$TMP/big.toml"
pid=$START_PID
await_answer "$last" "$PORT" 120 || die "lanseal did not answer $last (see $TMP/lanseal-big.log)"
t1=$(now_ms)
sleep 0.5
l_anon=$(status_kib "$pid" RssAnon)
l_hwm=$(status_kib "$pid" VmHWM)
l_rss=$(status_kib "$pid" VmRSS)
log "reload (SIGHUP) of the same zone"
kill -HUP "$pid"
deadline=$(( $(date +%s) + 120 ))
until grep -q "reloaded" "$TMP/lanseal-big.log" || (( $(date +%s) > deadline )); do sleep 0.1; done
grep -q "reloaded" "$TMP/lanseal-big.log" || die "no reload in $TMP/lanseal-big.log"
l_hwm_reload=$(status_kib "$pid" VmHWM)
l_anon_reload=$(status_kib "$pid" RssAnon)
log "lanseal lookups, big zone"
l_cpu_big=$(measure_cpu "$pid" "$TMP/q-big.txt")
stop "$pid"
start lanseal-small "$LANSEAL_BIN" run -c "$TMP/small.toml"
pid=$START_PID
await_answer "h999.small.test" "$PORT" 30 || die "lanseal (small zone) did not answer"
log "lanseal lookups, 1000-name zone"
l_cpu_small=$(measure_cpu "$pid" "$TMP/q-small.txt")
stop "$pid"

# ------------------------------------------------------------------ dnsmasq
# As root, dnsmasq switches to user "dnsmasq", which may not exist.
dnsmasq_user=
if [[ $(id -u) -eq 0 ]] && ! id dnsmasq >/dev/null 2>&1; then dnsmasq_user=--user=nobody; fi
dnsmasq_cmd() { # extra args...
    echo dnsmasq --keep-in-foreground --no-resolv --no-hosts --no-poll --pid-file= $dnsmasq_user \
        --listen-address="$ADDR" --bind-interfaces --port="$PORT" --log-facility=- \
        --local=/big.test/ --local=/small.test/ --cache-size=150 "$@"
}
log "dnsmasq without the names"
# shellcheck disable=SC2046 # word splitting of the command is intended
start dnsmasq-empty $(dnsmasq_cmd)
pid=$START_PID
sleep 1
d_base=$(status_kib "$pid" RssAnon)
stop "$pid"
log "dnsmasq with the same names"
t2=$(now_ms)
# shellcheck disable=SC2046
start dnsmasq-big $(dnsmasq_cmd --addn-hosts="$TMP/big.hosts" --conf-file="$TMP/big.cnames")
pid=$START_PID
await_answer "$last" "$PORT" 300 || die "dnsmasq did not answer $last"
t3=$(now_ms)
sleep 0.5
d_anon=$(status_kib "$pid" RssAnon)
d_hwm=$(status_kib "$pid" VmHWM)
log "dnsmasq lookups, big list"
d_cpu_big=$(measure_cpu "$pid" "$TMP/q-big.txt")
stop "$pid"
awk '{ print $1 }' "$TMP/small.zone" | grep '^h' | awk '{ printf "10.1.%d.%d %s.small.test\n", int(substr($1,2)/256), substr($1,2)%256, $1 }' >"$TMP/small.hosts"
# shellcheck disable=SC2046
start dnsmasq-small $(dnsmasq_cmd --addn-hosts="$TMP/small.hosts")
pid=$START_PID
await_answer "h999.small.test" "$PORT" 30 || die "dnsmasq (small) did not answer"
log "dnsmasq lookups, 1000 names"
d_cpu_small=$(measure_cpu "$pid" "$TMP/q-small.txt")
stop "$pid"

# ------------------------------------------------------------------ report
mkdir -p "$(dirname "$BENCH_OUT")"
{
    echo "Zone benchmark $(date -u +%FT%TZ)  $(uname -sr) $(uname -m)  $(nproc) CPUs; loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "zone big.test: $RECORDS records (8/10 A, 1/10 AAAA, 1/10 CNAME), master file $zone_bytes bytes"
    echo "versions: lanseal $LANSEAL_BIN ($(stat -c %s "$LANSEAL_BIN") bytes); $(dnsmasq --version | head -1)"
    echo
    awk -v r="$RECORDS" -v la="$l_anon" -v lb="$base_anon" -v lh="$l_hwm" -v lr="$l_rss" \
        -v lt=$((t1 - t0)) -v lhr="$l_hwm_reload" -v lar="$l_anon_reload" \
        -v da="$d_anon" -v db="$d_base" -v dh="$d_hwm" -v dt=$((t3 - t2)) 'BEGIN {
        lz = (la - lb) * 1024; dz = (da - db) * 1024
        printf "%-8s %14s %10s %10s %14s %12s\n", "server", "zone RssAnon", "B/record", "load ms", "peak-base KiB", "peak/final"
        printf "%-8s %14d %10.1f %10d %14d %12.2f\n", "lanseal", lz / 1024, lz / r, lt, lh - lb, (lh - lb) / (la - lb)
        printf "%-8s %14d %10.1f %10d %14d %12.2f\n", "dnsmasq", dz / 1024, dz / r, dt, dh - db, (dh - db) / (da - db)
        printf "\nlanseal after a SIGHUP reload of the same zone: VmHWM - base %d KiB (%.2fx the zone), RssAnon - base %d KiB\n", lhr - lb, (lhr - lb) / (la - lb), lar - lb
        printf "lanseal/dnsmasq zone memory: %.2f   load time: %.2f\n", lz / dz, lt / dt
    }'
    echo
    echo "CPU us per query at $QPS q/s (${SECS}s, random names):"
    printf '%-8s %12s %12s %8s\n' server "big zone" "1000 names" ratio
    awk -v b="$l_cpu_big" -v s="$l_cpu_small" 'BEGIN { printf "%-8s %12s %12s %8.2f\n", "lanseal", b, s, b / s }'
    awk -v b="$d_cpu_big" -v s="$d_cpu_small" 'BEGIN { printf "%-8s %12s %12s %8.2f\n", "dnsmasq", b, s, b / s }'
    awk -v l="$l_cpu_big" -v d="$d_cpu_big" 'BEGIN { printf "lanseal/dnsmasq CPU us/q, big zone: %.2f\n", l / d }'
} | tee "$BENCH_OUT"
