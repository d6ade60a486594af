#!/usr/bin/env bash
# Prefetch benchmark: lanseal's cache hit rate with `prefetch = false` and
# `prefetch = true` on the same replayed query mix.
#
# Usage: tests/bench/prefetch.sh       (from anywhere; runs in the repo root)
#
# An upstream lanseal (not measured) on 127.0.0.1:BENCH_PORT+1 is
# authoritative for pf.test: BENCH_NAMES names "n<rank>.pf.test", every answer
# with a short TTL (BENCH_TTL). The query list is a Zipf-like mix over those
# names (rank r drawn with weight 1/r^BENCH_ZIPF_S, a fixed seed, so every run
# replays the same list in the same order), BENCH_QPS × BENCH_SECS lines.
# Each round starts a fresh front lanseal (cold cache) on 127.0.0.1:BENCH_PORT
# forwarding to the upstream, once with prefetch off and once on, and replays
# the list with dnsperf at BENCH_QPS for BENCH_SECS. The front is pinned to core
# 0, the upstream and dnsperf to core 1. Every name is forwarded (none is local),
# and the cache holds every name (no eviction), so a miss is a name whose answer
# had expired or was never asked.
#
# Per run it reports, from the front's /api/v1/dns/stats: queries received,
# cache misses, the client hit rate (1 - misses / received: a miss is written
# from the cache after the upstream answers, which the cache counts as a hit
# too, so `hits` alone overstates it), prefetches started, answered and
# dropped; the upstream's queries during the run (from its own stats); and
# dnsperf's completed queries, lost queries and average latency. Then the
# medians per mode.
#
# Environment (all optional):
#   LANSEAL_BIN     lanseal binary to use; if unset, `cargo build --release` is
#                   run and target/release/lanseal is used (at this rate a debug
#                   build gives the same hit rates)
#   BENCH_OUT       where the table goes too (default target/bench-prefetch.txt)
#   BENCH_NAMES     names in the zone and the mix (default 2000)
#   BENCH_TTL       TTL of every upstream answer, seconds (default 20; at least
#                   10, since a TTL under 10 s is never prefetched)
#   BENCH_ZIPF_S    Zipf exponent (default 1.0)
#   BENCH_QPS       dnsperf -Q offered rate (default 500: a busy home LAN)
#   BENCH_SECS      dnsperf -l per run (default 60)
#   BENCH_ROUNDS    rounds, each prefetch off then on (default 1)
#   BENCH_PORT      first port: front PORT, upstream PORT+1, their local APIs
#                   PORT+2 and PORT+3 (default 15753)
#   BENCH_KEEP=1    keep the temp dir with configs, logs and dnsperf output
#
# Default runtime: 2 runs × 60 s + start-up ≈ 2.5 min.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$PWD

ZONE=pf.test
NAMES=${BENCH_NAMES:-2000}
TTL=${BENCH_TTL:-20}
ZIPF_S=${BENCH_ZIPF_S:-1.0}
QPS=${BENCH_QPS:-500}
SECS=${BENCH_SECS:-60}
ROUNDS=${BENCH_ROUNDS:-1}
PORT0=${BENCH_PORT:-15753}
BENCH_OUT=${BENCH_OUT:-target/bench-prefetch.txt}
ADDR=127.0.0.1 # loopback only: never point this anywhere else
FRONT_PORT=$PORT0
UP_PORT=$((PORT0 + 1))
FRONT_API=$((PORT0 + 2))
UP_API=$((PORT0 + 3))

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }
[[ $NAMES =~ ^[0-9]+$ ]] && ((NAMES >= 1 && NAMES <= 131072)) || die "BENCH_NAMES must be 1 to 131072"
[[ $TTL =~ ^[0-9]+$ ]] && ((TTL >= 10)) || die "BENCH_TTL must be at least 10"

# ---------------------------------------------------------------- prerequisites
need_pkgs=()
command -v dnsperf >/dev/null 2>&1 || need_pkgs+=(dnsperf)
command -v taskset >/dev/null 2>&1 || need_pkgs+=(util-linux)
command -v jq >/dev/null 2>&1 || need_pkgs+=(jq)
command -v curl >/dev/null 2>&1 || need_pkgs+=(curl)
if ((${#need_pkgs[@]})); then
    [[ $(id -u) -eq 0 ]] || die "missing ${need_pkgs[*]}; run as root or install them"
    log "installing ${need_pkgs[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi
command -v python3 >/dev/null 2>&1 || die "python3 is needed to write the query mix"
(($(nproc) >= 2)) || die "need at least 2 CPUs (front on core 0, dnsperf on core 1)"
if [[ -z ${LANSEAL_BIN:-} ]]; then
    log "cargo build --release"
    cargo build --release --quiet
    LANSEAL_BIN=$ROOT/target/release/lanseal
fi
[[ -x $LANSEAL_BIN ]] || die "lanseal binary not found: $LANSEAL_BIN"

# ---------------------------------------------------------------- temp dir, cleanup
# shellcheck source=tests/common/processes.sh
. "$(dirname "${BASH_SOURCE[0]}")/../common/processes.sh"
scratch_dir prefetch "${BENCH_KEEP:-0}"

# ---------------------------------------------------------------- zone and query mix
# Answer data only (198.18.0.0/15, the benchmarking range, not private, so
# rebinding protection lets it through); nothing is ever sent there.
{
    printf 'log_level = "info"\nstate_dir = "%s/up"\n[dns]\nlisten = ["%s:%s"]\nthreads = 1\n' "$TMP" "$ADDR" "$UP_PORT"
    printf 'rate_limit_qps = 0\nresolv_file = ""\n[api]\nlisten = "%s:%s"\n\n' "$ADDR" "$UP_API"
    printf '[[zone]]\nname = "%s"\nmode = "authoritative"\nttl = %d\nrecords = [\n' "$ZONE" "$TTL"
    for ((i = 1; i <= NAMES; i++)); do
        printf '  "n%d A 198.18.%d.%d",\n' "$i" $((i / 256)) $((i % 256))
    done
    printf ']\n'
} >"$TMP/up.toml"
LINES=$((QPS * SECS))
python3 - "$NAMES" "$ZIPF_S" "$LINES" "$ZONE" >"$TMP/queries.txt" <<'EOF'
import itertools, random, sys
names, s, lines, zone = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
weights = [1 / rank**s for rank in range(1, names + 1)]
cumulative = list(itertools.accumulate(weights))
ranks = random.Random(13).choices(range(1, names + 1), cum_weights=cumulative, k=lines)
sys.stdout.write("".join(f"n{rank}.{zone} A\n" for rank in ranks))
EOF
DISTINCT=$(sort -u "$TMP/queries.txt" | wc -l)
log "query mix: $LINES queries over $DISTINCT of $NAMES names (Zipf s=$ZIPF_S), TTL $TTL s"

# ---------------------------------------------------------------- servers
# GET $2 from the local API on port $1 with the token in state dir $3.
api() {
    local port=$1 path=$2 state=$3
    curl -sSf --max-time 10 -H "Authorization: Bearer $(cat "$state/api.token")" "http://$ADDR:$port$path"
}
# Waits for the API on port $1 (state dir $2) to answer.
wait_api() {
    for _ in $(seq 100); do
        [[ -s $2/api.token ]] && api "$1" /api/v1/status "$2" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "the API on port $1 did not answer"
}

start "$TMP/up.toml" up taskset -c 1
UP_PID=$STARTED
wait_api "$UP_API" "$TMP/up"
up_queries() { api "$UP_API" /api/v1/dns/stats "$TMP/up" | jq '.queries.received'; }

# One run: a fresh front with prefetch = $1, the mix replayed once. Appends a
# row to $TMP/rows.tsv.
run() {
    local mode=$1 round=$2 state="$TMP/front-$1-$2"
    mkdir -p "$state"
    cat >"$TMP/front.toml" <<EOF
log_level = "info"
state_dir = "$state"
[dns]
listen = ["$ADDR:$FRONT_PORT"]
threads = 1
rate_limit_qps = 0
resolv_file = ""
upstreams = ["$ADDR:$UP_PORT"]
cache_entries_max = $((2 * NAMES + 1000))
cache_bytes_max = $(((2 * NAMES + 1000) * 1024))
prefetch = $mode
[api]
listen = "$ADDR:$FRONT_API"
EOF
    start "$TMP/front.toml" "front-$mode-$round" taskset -c 0
    local front=$STARTED
    wait_api "$FRONT_API" "$state"
    local up_before
    up_before=$(up_queries)
    taskset -c 1 dnsperf -s "$ADDR" -p "$FRONT_PORT" -d "$TMP/queries.txt" -n 1 \
        -l "$SECS" -Q "$QPS" -c 1 -q 50 -t 5 >"$TMP/dnsperf-$mode-$round.txt" 2>&1 ||
        die "dnsperf failed: $(cat "$TMP/dnsperf-$mode-$round.txt")"
    local stats up_after
    stats=$(api "$FRONT_API" /api/v1/dns/stats "$state")
    up_after=$(up_queries)
    stop "$front"
    local out="$TMP/dnsperf-$mode-$round.txt"
    local completed lost latency
    completed=$(awk '/Queries completed:/ {print $3}' "$out")
    lost=$(awk '/Queries lost:/ {print $3}' "$out")
    latency=$(awk '/Average Latency/ {print $4}' "$out")
    jq -r --arg mode "$mode" --arg round "$round" --arg up $((up_after - up_before)) \
        --arg completed "$completed" --arg lost "$lost" --arg latency "$latency" '
        [$mode, $round, .queries.received, .cache.misses,
         (1 - .cache.misses / .queries.received) * 100,
         .prefetch.started, .prefetch.answered, .prefetch.dropped,
         ($up | tonumber), ($completed | tonumber), ($lost | tonumber),
         ($latency | tonumber) * 1000] | @tsv' <<<"$stats" >>"$TMP/rows.tsv"
}

: >"$TMP/rows.tsv"
for ((round = 1; round <= ROUNDS; round++)); do
    for mode in false true; do
        log "round $round: prefetch = $mode ($SECS s at $QPS q/s)"
        run "$mode" "$round"
    done
done

# ---------------------------------------------------------------- report
{
    echo "lanseal prefetch benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs"
    echo "binary: $LANSEAL_BIN"
    echo "mix: $LINES queries over $DISTINCT of $NAMES names (Zipf s=$ZIPF_S), TTL $TTL s, $QPS q/s for $SECS s, $ROUNDS round(s)"
    echo
    printf '%-8s %5s %9s %8s %8s %8s %8s %8s %9s %9s %6s %9s\n' \
        prefetch round received misses hit_% started answered dropped upstream completed lost lat_ms
    awk -F'\t' '{printf "%-8s %5s %9d %8d %8.2f %8d %8d %8d %9d %9d %6d %9.3f\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12}' "$TMP/rows.tsv"
    echo
    echo "medians:"
    for mode in false true; do
        awk -F'\t' -v mode="$mode" '$1 == mode {print $5}' "$TMP/rows.tsv" | sort -n |
            awk -v mode="$mode" '{v[NR] = $1} END {m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "  prefetch = %-5s hit rate %.2f %%\n", mode, m}'
    done
} | tee "$BENCH_OUT"
kill -0 "$UP_PID" 2>/dev/null || die "the upstream died during the run"
