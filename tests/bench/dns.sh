#!/usr/bin/env bash
# DNS benchmark: lanseal vs dnsmasq, Knot DNS and unbound on loopback, over
# the floor of a bare UDP responder.
#
# Usage: tests/bench/dns.sh            (from anywhere; runs in the repo root)
#
# Serves the same zone (BENCH_NAMES names "h<i>.bench.test", default 1000)
# from lanseal, dnsmasq and unbound on 127.0.0.1 only, each pinned to core 0,
# and drives each with dnsperf pinned to core 1, interleaved round by round:
#   round r: local(lanseal, floor, dnsmasq, knot, unbound), nx(the same),
#            ipname(lanseal, floor, dnsmasq), fwd(lanseal, floor, dnsmasq, unbound)
# floor: tests/bench/floor.rs, a bare UDP responder (one recv_from and one
# send_to per query, the query echoed with QR set, no DNS logic), built with
# rustc: the cost of the syscalls alone, what lanseal's answer path adds to.
# Its answers have no data (its "ok" column only means NOERROR came back).
# knot: Knot DNS (Debian's knot; one UDP worker), authoritative for the same
# zone from a master file, in the local cases (it has no cache and no
# synth-domain equivalent in this setup).
# Cases: "local"  = A queries for the names in the zone (NOERROR expected),
#        "nx"     = A queries for names that do not exist under the zone
#                   ("nx<i>-<n>.bench.test", NXDOMAIN expected),
#        "ipname" = A queries for IP-embedded names ("10-0-3-7.bench.test"):
#                   lanseal's ip_names against dnsmasq's synth-domain (unbound
#                   has no equivalent and sits this case out),
#        "fwd"    = A queries for BENCH_FWD_NAMES names "f<i>.fwd.test" that
#                   each server forwards to an upstream and answers from its
#                   cache (NOERROR expected): the cached-forward path.
# The fwd upstream (not measured) is a second lanseal (a dnsmasq with
# SKIP_LANSEAL=1) on 127.0.0.1:BENCH_PORT+3, pinned to core 1, authoritative
# for fwd.test with TTL 86400 (no answer expires during the run) and addresses
# in 198.18.0.0/15 (benchmarking range, not private, so lanseal's rebinding
# protection lets them through). It only serves the warm-up: just before its
# first fwd run (round 1, after the other cases), each server is sent the whole
# fwd list once and must answer all of it NOERROR; VmRSS before and after that
# warm-up gives an estimate of bytes per cached entry. Every server's cache is
# sized above BENCH_FWD_NAMES, so the measured fwd runs are all cache hits (the
# report shows the upstream's CPU time during the rounds as a check).
# lanseal runs with rate_limit_qps = 0 (dnsperf is one client at 20000 q/s) and
# its default ACL ("local", which includes loopback), so the ACL check is paid.
# Per server and case it reports: server CPU µs per completed query (utime +
# stime delta of /proc/<pid>/stat across the dnsperf run / "Queries
# completed"), QPS, queries lost, share of answers with the expected rcode,
# VmRSS idle (before any load), VmRSS and VmHWM after that case's last run,
# then lanseal's CPU-per-query ratio to dnsmasq for each case, then the fwd
# warm-up table (VmRSS before and after, bytes per cached entry).
#
# Environment (all optional):
#   LANSEAL_BIN        lanseal binary to use; if unset, `cargo build --release`
#                      is run and target/release/lanseal is used
#   BENCH_OUT          where the table goes too (default target/bench-dns.txt;
#                      per-round figures go beside it in <name>.rounds.tsv)
#   BENCH_SECS         dnsperf -l per run (default 10)
#   BENCH_ROUNDS       rounds (default 3; medians are reported)
#   BENCH_QPS          dnsperf -Q offered rate (default 20000; 0 = unthrottled)
#   BENCH_CLIENTS      dnsperf -c (default 2)
#   BENCH_OUTSTANDING  dnsperf -q (default 100)
#   BENCH_NAMES        names in the zone and in the NX list (default 1000)
#   BENCH_FWD_NAMES    names in the fwd list, forwarded and cached (default
#                      10000)
#   BENCH_PORT         first port; lanseal, dnsmasq, unbound use PORT, +1, +2,
#                      the fwd upstream PORT+3 (default 15353)
#   BENCH_KEEP=1       keep the temp dir with configs and logs
#   SKIP_LANSEAL=1     development only: bench dnsmasq and unbound alone
#
# Default runtime: 17 runs per round x 3 rounds x 10 s + start-up and fwd
# warm-up (a few seconds per server) ≈ 9 min.
#
# Why these dnsperf settings (2-core machine, servers on core 0, dnsperf on
# core 1): unthrottled, a single-threaded server at 100% of core 0 is measured
# in its saturated regime (batched wake-ups, full socket buffers, drops), where
# CPU/query is just 1/QPS and depends on how well each server batches, and
# dnsperf itself may become the bottleneck on core 1. A fixed offered rate
# (-Q) below every server's saturation point gives each server the same
# workload, so "CPU µs per query" compares the cost of answering rather than
# queueing behaviour, and the figures are stable across rounds (a few %).
# The default 20000 q/s keeps all three servers well under one core here;
# set BENCH_QPS=0 to measure maximum throughput instead (QPS then becomes the
# figure of merit; CPU/query ≈ 1e6/QPS). -c 2 clients (two source ports) and
# -q 100 outstanding are a moderate LAN-like load that never hits the limit.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$PWD

ZONE=bench.test
NAMES=${BENCH_NAMES:-1000}
FWD_ZONE=fwd.test
FWD_NAMES=${BENCH_FWD_NAMES:-10000}
SECS=${BENCH_SECS:-10}
ROUNDS=${BENCH_ROUNDS:-3}
QPS=${BENCH_QPS:-20000}
CLIENTS=${BENCH_CLIENTS:-2}
OUTSTANDING=${BENCH_OUTSTANDING:-100}
BENCH_OUT=${BENCH_OUT:-target/bench-dns.txt}
PORT0=${BENCH_PORT:-15353}
ADDR=127.0.0.1 # loopback only: never point this anywhere else
CASES=(local nx ipname fwd)
# Cache sizes for the fwd case. lanseal's cache has 16 shards, each with 1/16 of
# the entries (and grows its tables only as entries arrive, up to that share),
# so it gets twice the names plus a margin: no shard fills up by chance.
# dnsmasq allocates all of its cache at start-up, so it gets just a 10% margin;
# its default of 150 entries would make the case meaningless.
LANSEAL_CACHE_ENTRIES=$((2 * FWD_NAMES + 1000))
LANSEAL_CACHE_BYTES=$((LANSEAL_CACHE_ENTRIES * 1024))
DNSMASQ_CACHE=$((FWD_NAMES + FWD_NAMES / 10 + 100))
UNBOUND_CACHE_MB=$((FWD_NAMES / 256 + 4)) # msg cache; rrset cache twice that

declare -A PORT=([lanseal]=$PORT0 [dnsmasq]=$((PORT0 + 1)) [unbound]=$((PORT0 + 2)) [upstream]=$((PORT0 + 3))
    [floor]=$((PORT0 + 4)) [knot]=$((PORT0 + 5)))
declare -A PID=()
declare -A RSS_IDLE=()
declare -A RSS_WARM0=() RSS_WARM1=()

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }
# 198.18.0.0/15 holds 131072 addresses, one per fwd name.
[[ $FWD_NAMES =~ ^[0-9]+$ ]] && ((FWD_NAMES >= 1 && FWD_NAMES <= 131072)) ||
    die "BENCH_FWD_NAMES must be 1 to 131072"

# ---------------------------------------------------------------- prerequisites
need_pkgs=()
command -v dnsperf >/dev/null 2>&1 || need_pkgs+=(dnsperf)
command -v dnsmasq >/dev/null 2>&1 || [[ -x /usr/sbin/dnsmasq ]] || need_pkgs+=(dnsmasq-base)
command -v unbound >/dev/null 2>&1 || [[ -x /usr/sbin/unbound ]] || need_pkgs+=(unbound)
command -v taskset >/dev/null 2>&1 || need_pkgs+=(util-linux)
command -v knotd >/dev/null 2>&1 || [[ -x /usr/sbin/knotd ]] || need_pkgs+=(knot)
command -v rustc >/dev/null 2>&1 || die "rustc not found (the floor responder is built with it)"
if ((${#need_pkgs[@]})); then
    [[ $(id -u) -eq 0 ]] || die "missing ${need_pkgs[*]}; run as root or install them"
    log "installing ${need_pkgs[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi
export PATH=$PATH:/usr/sbin:/sbin
(($(nproc) >= 2)) || die "need at least 2 CPUs (server on core 0, dnsperf on core 1)"

SERVERS=(lanseal floor dnsmasq knot unbound)
UPSTREAM_KIND="a second lanseal"
if [[ ${SKIP_LANSEAL:-0} == 1 ]]; then
    SERVERS=(floor dnsmasq knot unbound)
    UPSTREAM_KIND="a second dnsmasq"
    log "SKIP_LANSEAL=1: lanseal left out (development only)"
else
    if [[ -z ${LANSEAL_BIN:-} ]]; then
        log "cargo build --release"
        cargo build --release --quiet
        LANSEAL_BIN=$ROOT/target/release/lanseal
    fi
    [[ -x $LANSEAL_BIN ]] || die "lanseal binary not found: $LANSEAL_BIN"
fi

# The floor responder, rebuilt when its source is newer.
FLOOR_BIN=$ROOT/target/bench-floor
if [[ ! -x $FLOOR_BIN || $ROOT/tests/bench/floor.rs -nt $FLOOR_BIN ]]; then
    mkdir -p "$ROOT/target"
    rustc --edition 2021 -C opt-level=3 -o "$FLOOR_BIN" "$ROOT/tests/bench/floor.rs" || die "cannot build the floor responder"
fi

# ---------------------------------------------------------------- temp dir, cleanup
TMP=$(mktemp -d /tmp/lanseal-bench.XXXXXX)
cleanup() {
    local p
    for p in "${PID[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PID[@]}"; do
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- zone and query files
# Same names and addresses for every server. The addresses are answer data
# only; nothing is ever sent to them.
addr_of() { echo "10.0.$(($1 / 256)).$(($1 % 256))"; }
{
    printf 'log_level = "warn"\n[dns]\nlisten = ["%s:%s"]\nthreads = 1\nrate_limit_qps = 0\n' "$ADDR" "${PORT[lanseal]}"
    # fwd: the upstream only, never /etc/resolv.conf; a cache that holds every name.
    printf 'upstreams = ["%s:%s"]\nresolv_file = ""\ncache_entries_max = %d\ncache_bytes_max = %d\n\n' \
        "$ADDR" "${PORT[upstream]}" "$LANSEAL_CACHE_ENTRIES" "$LANSEAL_CACHE_BYTES"
    printf '[[zone]]\nname = "%s"\nmode = "authoritative"\nttl = 300\nip_names = true\nrecords = [\n' "$ZONE"
    for ((i = 0; i < NAMES; i++)); do printf '  "h%d A %s",\n' "$i" "$(addr_of "$i")"; done
    printf ']\n'
} >"$TMP/lanseal.toml"
{
    # dnsmasq: authoritative-ish local answers, no upstream at all.
    for ((i = 0; i < NAMES; i++)); do printf 'host-record=h%d.%s,%s\n' "$i" "$ZONE" "$(addr_of "$i")"; done
    printf 'synth-domain=%s,10.0.0.0/16\n' "$ZONE"
} >"$TMP/dnsmasq.conf"
{
    cat <<EOF
server:
    interface: $ADDR
    port: ${PORT[unbound]}
    num-threads: 1
    do-ip6: no
    do-daemonize: no
    chroot: ""
    username: ""
    pidfile: ""
    directory: "$TMP"
    use-syslog: no
    logfile: ""
    verbosity: 0
    log-queries: no
    access-control: 127.0.0.0/8 allow
    module-config: "iterator"
    # Refuse everything outside the bench zone so unbound never recurses;
    # fwd.test goes to the forward-zone below (transparent: no local data).
    local-zone: "." refuse
    local-zone: "$ZONE." static
    local-zone: "$FWD_ZONE." transparent
    do-not-query-localhost: no
    msg-cache-size: ${UNBOUND_CACHE_MB}m
    rrset-cache-size: $((2 * UNBOUND_CACHE_MB))m
EOF
    for ((i = 0; i < NAMES; i++)); do
        printf '    local-data: "h%d.%s. 300 IN A %s"\n' "$i" "$ZONE" "$(addr_of "$i")"
    done
    printf 'forward-zone:\n    name: "%s."\n    forward-addr: %s@%s\n' "$FWD_ZONE" "$ADDR" "${PORT[upstream]}"
    printf 'remote-control:\n    control-enable: no\n'
} >"$TMP/unbound.conf"
for ((i = 0; i < NAMES; i++)); do printf 'h%d.%s A\n' "$i" "$ZONE"; done >"$TMP/q-local.txt"
# Deterministic "random-ish" nonexistent names (same list every run).
for ((i = 0; i < NAMES; i++)); do printf 'nx%d-%d.%s A\n' "$i" $(((i * 7919 + 104729) % 99991)) "$ZONE"; done >"$TMP/q-nx.txt"
# IP-embedded names of the same addresses, spelled the same for lanseal and dnsmasq.
for ((i = 0; i < NAMES; i++)); do printf '%s.%s A\n' "$(addr_of "$i" | tr . -)" "$ZONE"; done >"$TMP/q-ipname.txt"
# fwd: the upstream's zone (lanseal, or dnsmasq with SKIP_LANSEAL=1) and the
# query list. Addresses from 198.18.0.0/15 (RFC 2544 benchmarking, not private);
# "probe.fwd.test" checks forwarding at start-up without caching a listed name.
# awk, not a shell loop: BENCH_FWD_NAMES may be large.
fwd_records() { # fwd_records FORMAT -> one line per name, FORMAT gets name and address
    awk -v n="$FWD_NAMES" -v fmt="$1" 'BEGIN {
        printf fmt, "probe", "198.19.255.254"
        for (i = 0; i < n; i++)
            printf fmt, "f" i, sprintf("198.%d.%d.%d", 18 + int(i / 65536), int(i / 256) % 256, i % 256)
    }'
}
if [[ ${SKIP_LANSEAL:-0} == 1 ]]; then
    fwd_records "host-record=%s.$FWD_ZONE,%s\n" >"$TMP/upstream.conf"
else
    {
        printf 'log_level = "warn"\n[dns]\nlisten = ["%s:%s"]\nthreads = 1\nacl = ["any"]\nrate_limit_qps = 0\nresolv_file = ""\n\n' \
            "$ADDR" "${PORT[upstream]}"
        printf '[[zone]]\nname = "%s"\nmode = "authoritative"\nttl = 86400\nrecords = [\n' "$FWD_ZONE"
        fwd_records '  "%s A %s",\n'
        printf ']\n'
    } >"$TMP/upstream.toml"
fi
awk -v n="$FWD_NAMES" -v z="$FWD_ZONE" 'BEGIN { for (i = 0; i < n; i++) printf "f%d.%s A\n", i, z }' >"$TMP/q-fwd.txt"
declare -A QFILE=([local]=$TMP/q-local.txt [nx]=$TMP/q-nx.txt [ipname]=$TMP/q-ipname.txt [fwd]=$TMP/q-fwd.txt)
declare -A WANT=([local]=NOERROR [nx]=NXDOMAIN [ipname]=NOERROR [fwd]=NOERROR)
# serves CASE SERVER -> true when SERVER takes part in CASE.
serves() {
    case $1 in
    ipname) [[ $2 != unbound && $2 != knot ]] ;;
    fwd) [[ $2 != knot ]] ;;
    *) true ;;
    esac
}
# Knot: the same zone as a master file, one UDP worker, all state under $TMP.
{
    # shellcheck disable=SC2016 # master-file directives, not shell variables
    printf '$ORIGIN %s.\n$TTL 300\n' "$ZONE"
    printf '@ SOA ns.%s. hostmaster.%s. 1 3600 600 86400 300\n@ NS ns\nns A 10.255.255.254\n' "$ZONE" "$ZONE"
    for ((i = 0; i < NAMES; i++)); do printf 'h%d A %s\n' "$i" "$(addr_of "$i")"; done
} >"$TMP/$ZONE.zone"
mkdir -p "$TMP/knot"
cat >"$TMP/knot.conf" <<EOF
server:
    rundir: "$TMP/knot"
    listen: $ADDR@${PORT[knot]}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: "$TMP/knot"
log:
  - target: stderr
    any: warning
template:
  - id: default
    storage: "$TMP"
    file: "%s.zone"
zone:
  - domain: $ZONE
EOF

# ---------------------------------------------------------------- helpers
# probe PORT QNAME -> prints the rcode of one A query, or nothing on timeout.
probe() {
    printf '%s A\n' "$2" | dnsperf -s "$ADDR" -p "$1" -n 1 -t 1 -c 1 2>/dev/null |
        awk '/Response codes:/ { print $3; exit }' || true
}
# cpu_ticks PID -> utime+stime (all threads) in clock ticks.
cpu_ticks() {
    local s
    s=$(<"/proc/$1/stat")
    s=${s##*) } # drop "pid (comm) "; fields now start at field 3 (state)
    read -r -a f <<<"$s"
    echo $((f[11] + f[12])) # fields 14 (utime) and 15 (stime)
}
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# await_answer NAME QNAME: waits (10 s at most) for NAME to answer QNAME NOERROR.
await_answer() {
    local name=$1 rc=
    for _ in $(seq 100); do
        kill -0 "${PID[$name]}" 2>/dev/null || { cat "$TMP/$name.log" >&2; die "$name exited during start-up"; }
        rc=$(probe "${PORT[$name]}" "$2")
        [[ -z $rc ]] || break
        sleep 0.1
    done
    [[ $rc == NOERROR ]] || { cat "$TMP/$name.log" >&2; die "$name: $2 gave '${rc:-timeout}', want NOERROR"; }
}
port_free() { # port_free NAME: dies if something already answers on NAME's port
    [[ -z $(probe "${PORT[$1]}" "h0.$ZONE") ]] || die "something already answers on $ADDR:${PORT[$1]}; set BENCH_PORT"
}
stop_server() { # stop_server NAME
    local p=${PID[$1]}
    kill -TERM "$p" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
    unset "PID[$1]"
}
dnsmasq_user() { # as root, dnsmasq switches to user "dnsmasq", which may not exist
    if [[ $(id -u) -eq 0 ]] && ! id dnsmasq >/dev/null 2>&1; then echo --user=nobody; fi
}
# launch_dnsmasq CACHE_SIZE: the measured dnsmasq, in the background.
launch_dnsmasq() {
    # shellcheck disable=SC2046 # dnsmasq_user prints nothing or one word
    taskset -c 0 dnsmasq --keep-in-foreground --conf-file="$TMP/dnsmasq.conf" \
        --no-resolv --no-hosts --no-poll --pid-file= $(dnsmasq_user) \
        --listen-address="$ADDR" --bind-interfaces --port="${PORT[dnsmasq]}" \
        --local="/$ZONE/" --local-ttl=300 --log-facility=- \
        --server="/$FWD_ZONE/$ADDR#${PORT[upstream]}" --cache-size="$1" >"$TMP/dnsmasq.log" 2>&1 &
    PID[dnsmasq]=$!
}

# The fwd upstream, on core 1 (it only works during the warm-up).
start_upstream() {
    port_free upstream
    if [[ ${SKIP_LANSEAL:-0} == 1 ]]; then
        # shellcheck disable=SC2046
        taskset -c 1 dnsmasq --keep-in-foreground --conf-file="$TMP/upstream.conf" \
            --no-resolv --no-hosts --no-poll --pid-file= $(dnsmasq_user) \
            --listen-address="$ADDR" --bind-interfaces --port="${PORT[upstream]}" \
            --local="/$FWD_ZONE/" --local-ttl=86400 --log-facility=- >"$TMP/upstream.log" 2>&1 &
    else
        taskset -c 1 "$LANSEAL_BIN" run -c "$TMP/upstream.toml" >"$TMP/upstream.log" 2>&1 &
    fi
    PID[upstream]=$!
    await_answer upstream "f0.$FWD_ZONE"
    log "fwd upstream pid ${PID[upstream]} on $ADDR:${PORT[upstream]} (core 1, not measured)"
}

start_server() {
    local name=$1 rc
    port_free "$name"
    case $name in
    lanseal)
        taskset -c 0 "$LANSEAL_BIN" run -c "$TMP/lanseal.toml" >"$TMP/lanseal.log" 2>&1 &
        PID[$name]=$!
        ;;
    dnsmasq)
        # dnsmasq allocates its whole cache at start-up, so the fwd warm-up's
        # RSS delta cannot see it: measure the idle VmRSS with the default
        # cache size (150) first, to report what the larger cache costs.
        launch_dnsmasq 150
        await_answer dnsmasq "h0.$ZONE"
        sleep 0.5
        DNSMASQ_RSS_150=$(status_kb "${PID[dnsmasq]}" VmRSS)
        stop_server dnsmasq
        launch_dnsmasq "$DNSMASQ_CACHE"
        ;;
    unbound)
        taskset -c 0 unbound -d -c "$TMP/unbound.conf" >"$TMP/unbound.log" 2>&1 &
        PID[$name]=$!
        ;;
    floor)
        taskset -c 0 "$FLOOR_BIN" "$ADDR:${PORT[floor]}" >"$TMP/floor.log" 2>&1 &
        PID[$name]=$!
        await_answer "$name" "h0.$ZONE"
        sleep 0.5
        RSS_IDLE[$name]=$(status_kb "${PID[$name]}" VmRSS)
        log "$name pid ${PID[$name]} on $ADDR:${PORT[$name]}, idle VmRSS ${RSS_IDLE[$name]} KiB"
        return
        ;;
    knot)
        taskset -c 0 knotd -c "$TMP/knot.conf" >"$TMP/knot.log" 2>&1 &
        PID[$name]=$!
        ;;
    esac
    await_answer "$name" "h0.$ZONE"
    rc=$(probe "${PORT[$name]}" "nx0.$ZONE")
    [[ $rc == NXDOMAIN ]] || die "$name: nx0.$ZONE gave '${rc:-timeout}', want NXDOMAIN"
    sleep 0.5
    RSS_IDLE[$name]=$(status_kb "${PID[$name]}" VmRSS)
    if ! serves fwd "$name"; then
        log "$name pid ${PID[$name]} on $ADDR:${PORT[$name]}, idle VmRSS ${RSS_IDLE[$name]} KiB"
        return
    fi
    # Forwarding works (a name outside the fwd list, so the warm-up still adds
    # BENCH_FWD_NAMES entries); after the idle figure, which stays load-free.
    rc=$(probe "${PORT[$name]}" "probe.$FWD_ZONE")
    [[ $rc == NOERROR ]] || die "$name: probe.$FWD_ZONE (forwarded) gave '${rc:-timeout}', want NOERROR"
    log "$name pid ${PID[$name]} on $ADDR:${PORT[$name]}, idle VmRSS ${RSS_IDLE[$name]} KiB"
}

# warm_up SERVER: sends the whole fwd list once, so that SERVER forwards every
# name and caches the answer; all must come back NOERROR. VmRSS before and after.
warm_up() {
    local name=$1 pid=${PID[$1]} out=$TMP/dnsperf-$1-warmup.log ok
    kill -0 "$pid" 2>/dev/null || die "$name (pid $pid) died"
    RSS_WARM0[$name]=$(status_kb "$pid" VmRSS)
    taskset -c 1 dnsperf -s "$ADDR" -p "${PORT[$name]}" -d "$TMP/q-fwd.txt" -n 1 \
        -c 1 -T 1 -q 20 -t 5 >"$out" 2>&1 ||
        { cat "$out" >&2; die "dnsperf failed against $name (fwd warm-up)"; }
    ok=$(awk '/Response codes:/ { for (i = 3; i <= NF; i += 3) if ($i == "NOERROR") print $(i + 1) }' "$out")
    [[ ${ok:-0} == "$FWD_NAMES" ]] ||
        { cat "$out" >&2; die "$name: fwd warm-up got ${ok:-0} NOERROR answers of $FWD_NAMES"; }
    sleep 0.5
    RSS_WARM1[$name]=$(status_kb "$pid" VmRSS)
    log "$name fwd warm-up: $FWD_NAMES names NOERROR, VmRSS ${RSS_WARM0[$name]} -> ${RSS_WARM1[$name]} KiB"
}

ROUNDS_TSV=$TMP/rounds.tsv
printf 'round\tserver\tcase\tcompleted\tlost\tqps\tcpu_us\tus_per_q\tok_pct\trss_kb\thwm_kb\n' >"$ROUNDS_TSV"

run_one() { # run_one ROUND SERVER CASE
    local r=$1 name=$2 c=$3 pid=${PID[$2]} t0 t1 out
    out=$TMP/dnsperf-$name-$c-$r.log
    kill -0 "$pid" 2>/dev/null || die "$name (pid $pid) died"
    t0=$(cpu_ticks "$pid")
    local qarg=()
    if ((QPS > 0)); then qarg=(-Q "$QPS"); fi
    taskset -c 1 dnsperf -s "$ADDR" -p "${PORT[$name]}" -d "${QFILE[$c]}" -l "$SECS" \
        -c "$CLIENTS" -T 1 -q "$OUTSTANDING" -t 2 "${qarg[@]}" >"$out" 2>&1 ||
        { cat "$out" >&2; die "dnsperf failed against $name"; }
    t1=$(cpu_ticks "$pid")
    kill -0 "$pid" 2>/dev/null || die "$name (pid $pid) died under load"
    awk -v r="$r" -v s="$name" -v c="$c" -v want="${WANT[$c]}" -v ticks=$((t1 - t0)) \
        -v hz="$(getconf CLK_TCK)" -v rss="$(status_kb "$pid" VmRSS)" -v hwm="$(status_kb "$pid" VmHWM)" '
        /Queries completed:/ { done = $3 }
        /Queries lost:/ { lost = $3 }
        /Queries per second:/ { qps = $4 }
        /Response codes:/ { for (i = 3; i <= NF; i += 3) if ($i == want) ok = $(i + 1) }
        END {
            if (done == "" || done == 0) { print "no completed queries" > "/dev/stderr"; exit 1 }
            us = ticks * 1e6 / hz
            printf "%s\t%s\t%s\t%d\t%d\t%.0f\t%.0f\t%.3f\t%.2f\t%s\t%s\n",
                r, s, c, done, lost, qps, us, us / done, 100 * ok / done, rss, hwm
        }' "$out" >>"$ROUNDS_TSV" || { cat "$out" >&2; die "could not parse dnsperf output for $name/$c"; }
    log "round $r $c $name: $(tail -n1 "$ROUNDS_TSV" | awk -F'\t' '{ printf "%s q, %s lost, %s qps, %s us/q, %s%% %s", $4, $5, $6, $8, $9, "ok" }')"
}

# ---------------------------------------------------------------- run
log "servers on core 0, dnsperf on core 1; ${ROUNDS} rounds x ${#CASES[@]} cases x ${#SERVERS[@]} servers x ${SECS}s; -c $CLIENTS -q $OUTSTANDING -Q ${QPS/#0/unthrottled}"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
UPSTREAM_TICKS0=
start_upstream
for s in "${SERVERS[@]}"; do start_server "$s"; done
for ((r = 1; r <= ROUNDS; r++)); do
    for c in "${CASES[@]}"; do
        if [[ $c == fwd && $r == 1 ]]; then
            # After round 1's other cases, so the "before" figure already has
            # what serving costs and the delta is mostly the cache.
            for s in "${SERVERS[@]}"; do if serves fwd "$s" && [[ $s != floor ]]; then warm_up "$s"; fi; done
            UPSTREAM_TICKS0=$(cpu_ticks "${PID[upstream]}")
        fi
        for s in "${SERVERS[@]}"; do if serves "$c" "$s"; then run_one "$r" "$s" "$c"; fi; done
    done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
kill -0 "${PID[upstream]}" 2>/dev/null || die "fwd upstream (pid ${PID[upstream]}) died"
UPSTREAM_TICKS1=$(cpu_ticks "${PID[upstream]}")

# ---------------------------------------------------------------- report
version_of() {
    case $1 in
    # Not `lanseal --version`: an unknown flag must not start a daemon here.
    lanseal) echo "lanseal $LANSEAL_BIN ($(stat -c %s "$LANSEAL_BIN") bytes, built $(date -u -r "$LANSEAL_BIN" +%FT%TZ))" ;;
    dnsmasq) dnsmasq --version | head -n1 | awk '{ print "dnsmasq " $3 }' ;;
    unbound) unbound -V | awk '/^Version/ { print "unbound " $2; exit }' ;;
    knot) knotd -V | awk '{ print "knot " $NF; exit }' ;;
    floor) echo "floor tests/bench/floor.rs ($(rustc --version | awk '{ print $1, $2 }') -C opt-level=3)" ;;
    esac
}
REPORT=$TMP/report.txt
IDLE_LIST=$(for s in "${SERVERS[@]}"; do printf '%s=%s ' "$s" "${RSS_IDLE[$s]}"; done)
{
    echo "DNS benchmark $(date -u +%Y-%m-%dT%H:%M:%SZ)  $(uname -srm)  $(nproc) CPUs: $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
    echo "zone $ZONE, $NAMES names; dnsperf $(dnsperf -h 2>&1 | awk '/^Version/ { print $2 }') -l $SECS -c $CLIENTS -T 1 -q $OUTSTANDING -Q ${QPS/#0/unthrottled}; $ROUNDS rounds, interleaved"
    echo "fwd: $FWD_NAMES names under $FWD_ZONE, forwarded to $UPSTREAM_KIND on $ADDR:${PORT[upstream]} (core 1, not measured), answered from cache;"
    echo "     caches: $([[ ${SKIP_LANSEAL:-0} == 1 ]] || echo "lanseal cache_entries_max $LANSEAL_CACHE_ENTRIES, cache_bytes_max $LANSEAL_CACHE_BYTES; ")dnsmasq --cache-size=$DNSMASQ_CACHE; unbound msg/rrset-cache-size ${UNBOUND_CACHE_MB}m/$((2 * UNBOUND_CACHE_MB))m"
    echo "servers pinned to core 0, dnsperf to core 1, all on $ADDR; loadavg before $LOAD_BEFORE, after $LOAD_AFTER"
    echo "versions: $(for s in "${SERVERS[@]}"; do version_of "$s"; done | paste -sd';' | sed 's/;/; /g')"
    if awk -v l="${LOAD_BEFORE%% *}" 'BEGIN { exit !(l > 0.5) }'; then
        echo "WARNING: machine was busy before the run (loadavg $LOAD_BEFORE): figures are not final"
    fi
    if [[ ${SKIP_LANSEAL:-0} == 1 ]]; then echo "NOTE: lanseal skipped (SKIP_LANSEAL=1)"; fi
    echo
    echo "CPU us/q: median over rounds [min-max]; QPS: median; lost: total over rounds; ok: answers with the expected rcode"
    echo "RSS idle: VmRSS before load; RSS/HWM loaded: VmRSS/VmHWM after the case's last run (KiB; the fwd cache, filled"
    echo "in round 1, is in every case's RSS/HWM loaded)"
    echo
    awk -F'\t' -v order="${SERVERS[*]}" -v cases="${CASES[*]}" -v idle="$IDLE_LIST" '
        BEGIN { n = split(idle, L, " "); for (i = 1; i <= n; i++) { split(L[i], kv, "="); ridle[kv[1]] = kv[2] } }
        NR == 1 { next }
        { k = $2 SUBSEP $3; cnt[k]++; us[k, cnt[k]] = $8; qps[k, cnt[k]] = $6; lost[k] += $5
          okn[k] += $4 * $9 / 100; done[k] += $4; rss[k] = $10; hwm[k] = $11 }
        function med(a, k, m,   i, j, t, v) {
            for (i = 1; i <= m; i++) v[i] = a[k, i]
            for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
            lo = v[1]; hi = v[m]
            return (m % 2) ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
        }
        END {
            ns = split(order, S, " "); nc = split(cases, C, " ")
            printf "%-8s %-6s %9s %15s %8s %7s %8s %9s %10s %9s\n", "server", "case", "CPU us/q", "[min-max]", "QPS", "lost", "ok", "RSS idle", "RSS loaded", "HWM"
            for (ci = 1; ci <= nc; ci++) for (si = 1; si <= ns; si++) {
                k = S[si] SUBSEP C[ci]; m = cnt[k]
                if (m == 0) continue
                u = med(us, k, m); ulo = lo; uhi = hi; q = med(qps, k, m)
                cpu[S[si], C[ci]] = u
                printf "%-8s %-6s %9.2f %15s %8.0f %7d %7.2f%% %9s %10s %9s\n", S[si], C[ci], u,
                    sprintf("[%.2f-%.2f]", ulo, uhi), q, lost[k], 100 * okn[k] / done[k], ridle[S[si]], rss[k], hwm[k]
            }
            if ((("lanseal", C[1]) in cpu) && (("dnsmasq", C[1]) in cpu)) {
                print ""
                for (ci = 1; ci <= nc; ci++)
                    if ((("lanseal", C[ci]) in cpu) && (("dnsmasq", C[ci]) in cpu))
                        printf "lanseal/dnsmasq CPU us/q, %-6s: %.2f\n", C[ci], cpu["lanseal", C[ci]] / cpu["dnsmasq", C[ci]]
                for (ci = 1; ci <= nc; ci++) {
                    if ((("lanseal", C[ci]) in cpu) && (("floor", C[ci]) in cpu))
                        printf "lanseal/floor   CPU us/q, %-6s: %.2f\n", C[ci], cpu["lanseal", C[ci]] / cpu["floor", C[ci]]
                    if ((("lanseal", C[ci]) in cpu) && (("knot", C[ci]) in cpu))
                        printf "lanseal/knot    CPU us/q, %-6s: %.2f\n", C[ci], cpu["lanseal", C[ci]] / cpu["knot", C[ci]]
                }
                if ((("lanseal", "ipname") in cpu) && (("lanseal", "local") in cpu))
                    printf "lanseal ipname/local CPU us/q:    %.2f\n", cpu["lanseal", "ipname"] / cpu["lanseal", "local"]
            }
        }' "$ROUNDS_TSV"
    if [[ -n $UPSTREAM_TICKS0 ]]; then # the warm-up ran (BENCH_ROUNDS >= 1)
        echo
        echo "fwd cache warm-up (before the first fwd run, each server was sent the $FWD_NAMES fwd names once; all answered NOERROR):"
        printf '%-8s %14s %14s %12s\n' server "RSS before KiB" "RSS after KiB" bytes/entry
        for s in "${SERVERS[@]}"; do
            [[ -n ${RSS_WARM0[$s]:-} ]] || continue
            printf '%-8s %14s %14s %12d\n' "$s" "${RSS_WARM0[$s]}" "${RSS_WARM1[$s]}" \
                "$(((RSS_WARM1[$s] - RSS_WARM0[$s]) * 1024 / FWD_NAMES))"
        done
        echo "bytes/entry = (RSS after - RSS before) x 1024 / $FWD_NAMES. An estimate: RSS moves in whole $(getconf PAGESIZE)-byte pages"
        echo "and includes allocator slack and whatever else the warm-up allocated."
        if [[ -n ${RSS_IDLE[dnsmasq]:-} && -n ${DNSMASQ_RSS_150:-} ]] && ((DNSMASQ_CACHE > 150)); then
            echo "dnsmasq allocates its whole cache at start-up, which the delta does not see: RSS idle ${RSS_IDLE[dnsmasq]} KiB with"
            echo "--cache-size=$DNSMASQ_CACHE vs $DNSMASQ_RSS_150 KiB with the default 150 (another start), about $(((RSS_IDLE[dnsmasq] - DNSMASQ_RSS_150) * 1024 / (DNSMASQ_CACHE - 150))) bytes"
            echo "per allocated entry (same caveat)."
        fi
        UPSTREAM_MS=$(((UPSTREAM_TICKS1 - UPSTREAM_TICKS0) * 1000 / $(getconf CLK_TCK)))
        echo "fwd upstream CPU time from the end of the warm-up to the end of the rounds: $UPSTREAM_MS ms (it works only on cache misses)"
        if ((UPSTREAM_MS > 100)); then
            echo "WARNING: the fwd upstream worked during the rounds: some fwd answers did not come from a cache"
        fi
    fi
    if awk -F'\t' 'NR > 1 && $2 != "floor" && ($5 > 0 || $9 < 100) { bad = 1 } END { exit !bad }' "$ROUNDS_TSV"; then
        echo "WARNING: some runs lost queries or got unexpected rcodes; see the rounds file"
    fi
} >"$REPORT"

mkdir -p "$(dirname "$BENCH_OUT")"
cp "$REPORT" "$BENCH_OUT"
cp "$ROUNDS_TSV" "${BENCH_OUT%.txt}.rounds.tsv"
echo
cat "$REPORT"
log "table written to $BENCH_OUT, per-round figures to ${BENCH_OUT%.txt}.rounds.tsv"
