#!/usr/bin/env bash
# User-space instructions per query, counted exactly by valgrind (callgrind):
# the answer path's own cost, without the kernel's and without the noise of a
# shared machine, where tests/bench/dns.sh's CPU times move by 5-10 % between
# rounds. lanseal and the floor (tests/bench/floor.rs) each run under callgrind
# twice, answering RUNS_A and then RUNS_B passes over the same 1000 queries
# from dnsperf at a slow fixed rate; the difference of the two totals, divided
# by the queries in between, leaves out start-up and zone loading.
#
# Usage: tests/bench/instructions.sh      (from anywhere; runs in the repo root)
#
# Cases: local (A for names in the 1000-name zone, as in dns.sh), nx
# (NXDOMAIN under it), ipname (IP-embedded names), and the floor.
#
# Environment (all optional):
#   LANSEAL_BIN   lanseal binary (default: cargo build --release, target/release/lanseal)
#   RUNS_A RUNS_B passes over the 1000 queries (default 2 and 12)
#   BENCH_PORT    port (default 25353)
set -euo pipefail
cd "$(dirname "$0")/../.."

log() { printf '[instructions] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in valgrind dnsperf rustc; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install valgrind dnsperf)"
done
if [[ -z ${LANSEAL_BIN:-} ]]; then
    export LIBSQLITE3_FLAGS="${LIBSQLITE3_FLAGS:-$(cat cross/sqlite.flags)}"
    cargo build --release --quiet
    LANSEAL_BIN=${CARGO_TARGET_DIR:-target}/release/lanseal
fi
RUNS_A=${RUNS_A:-2}
RUNS_B=${RUNS_B:-12}
PORT=${BENCH_PORT:-25353}
ADDR=127.0.0.1

TMP=$(mktemp -d /tmp/lanseal-instructions.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
FLOOR=$TMP/floor
rustc -C opt-level=3 -o "$FLOOR" tests/bench/floor.rs

{
    printf 'log_level = "warn"\n[dns]\nlisten = ["%s:%s"]\nthreads = 1\nrate_limit_qps = 0\nresolv_file = ""\n' "$ADDR" "$PORT"
    printf '[[zone]]\nname = "bench.test"\nmode = "authoritative"\nttl = 300\nip_names = true\nrecords = [\n'
    for ((i = 0; i < 1000; i++)); do printf '  "h%d A 10.0.%d.%d",\n' "$i" $((i / 256)) $((i % 256)); done
    printf ']\n'
} >"$TMP/lanseal.toml"
for ((i = 0; i < 1000; i++)); do echo "h$i.bench.test A"; done >"$TMP/local.txt"
for ((i = 0; i < 1000; i++)); do echo "nx$i-1.bench.test A"; done >"$TMP/nx.txt"
for ((i = 0; i < 1000; i++)); do echo "10-0-$((i / 256))-$((i % 256)).bench.test A"; done >"$TMP/ipname.txt"

# total_instructions PASSES QUERYFILE COMMAND...: callgrind's total for the
# command serving PASSES passes over QUERYFILE.
total_instructions() {
    local passes=$1 queries=$2
    shift 2
    local out=$TMP/callgrind.out
    valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >/dev/null 2>"$TMP/valgrind.log" &
    local pid=$!
    for _ in $(seq 150); do
        ss -uln | grep -q "$ADDR:$PORT " && break
        sleep 0.2
    done
    sleep 0.5
    dnsperf -s "$ADDR" -p "$PORT" -d "$queries" -n "$passes" -c 1 -q 10 -T 1 -Q 3000 >"$TMP/dnsperf.log" 2>&1
    grep -q "Queries completed: *$((passes * 1000)) " "$TMP/dnsperf.log" ||
        die "not every query answered: $(grep 'Queries completed' "$TMP/dnsperf.log")"
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    awk '/^(summary|totals):/ {print $2; exit}' "$out"
}

per_query() { # NAME QUERYFILE COMMAND...
    local name=$1 queries=$2
    shift 2
    local a b
    a=$(total_instructions "$RUNS_A" "$queries" "$@")
    b=$(total_instructions "$RUNS_B" "$queries" "$@")
    printf '%-8s %-7s %8d\n' "${name%% *}" "${name#* }" $(((b - a) / ((RUNS_B - RUNS_A) * 1000)))
}

printf 'user-space instructions per query (callgrind, %d-%d passes of 1000 queries)\n' "$RUNS_A" "$RUNS_B"
printf '%-8s %-7s %8s\n' server case instr/q
for case in local nx ipname; do
    per_query "lanseal $case" "$TMP/$case.txt" "$LANSEAL_BIN" run -c "$TMP/lanseal.toml"
done
per_query "floor any" "$TMP/local.txt" "$FLOOR" "$ADDR:$PORT"
