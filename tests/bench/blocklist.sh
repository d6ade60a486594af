#!/usr/bin/env bash
# Blocklist benchmark: lanseal vs dnsmasq holding the same 1 000 000-name list.
#
# Usage: tests/bench/blocklist.sh        (from anywhere; runs in the repo root)
#
# Generates BENCH_LIST_NAMES (default 1000000) distinct names shaped like an
# ad/tracker list (a subdomain word on about half, a random 5-14 letter domain,
# a TLD from a common mix; awk's srand(1): the same list every run) and loads it
#   lanseal:         [[blocklist]] files = ["list.hosts"] ("0.0.0.0 name" lines),
#                    answer "nxdomain" (the default)
#   dnsmasq-address: --conf-file with "address=/name/" lines (NXDOMAIN for the
#                    name and below: the same semantics)
#   dnsmasq-hosts:   --addn-hosts=list.hosts (0.0.0.0 for the exact names only)
# each pinned to core 0, started one after the other, and reports per server:
#   load: wall time from exec to the first blocked answer (and lanseal's own
#         figure from its log), VmRSS after load, VmHWM (the peak while loading),
#         and VmRSS of the same server with an empty list, so the delta is what
#         the list costs (bytes per name = delta x 1024 / names);
#   query: server CPU µs per blocked query (utime+stime delta of /proc/<pid>/stat
#         over the dnsperf run / queries completed), dnsperf pinned to core 1 at a
#         fixed rate (the method and settings of tests/bench/dns.sh: -Q 20000 -c 2
#         -q 100), BENCH_ROUNDS rounds interleaved; queries are BENCH_QUERY_NAMES
#         names drawn from the list (every answer must be the server's block).
#
# Environment (all optional): LANSEAL_BIN (else `cargo build --release`),
# BENCH_OUT (default target/bench-blocklist.txt), BENCH_SECS (10), BENCH_ROUNDS
# (3), BENCH_QPS (20000), BENCH_CLIENTS (2), BENCH_OUTSTANDING (100),
# BENCH_LIST_NAMES (1000000), BENCH_QUERY_NAMES (10000), BENCH_PORT (15453),
# BENCH_KEEP=1 keeps the temp dir.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$PWD
LIST_NAMES=${BENCH_LIST_NAMES:-1000000}
QUERY_NAMES=${BENCH_QUERY_NAMES:-10000}
SECS=${BENCH_SECS:-10}
ROUNDS=${BENCH_ROUNDS:-3}
QPS=${BENCH_QPS:-20000}
CLIENTS=${BENCH_CLIENTS:-2}
OUTSTANDING=${BENCH_OUTSTANDING:-100}
BENCH_OUT=${BENCH_OUT:-target/bench-blocklist.txt}
PORT=${BENCH_PORT:-15453}
ADDR=127.0.0.1 # loopback only
SERVERS=(lanseal dnsmasq-address dnsmasq-hosts)
declare -A WANT=([lanseal]=NXDOMAIN [dnsmasq-address]=NXDOMAIN [dnsmasq-hosts]=NOERROR)
declare -A LOAD_MS=() LOAD_CPU_MS=() RSS=() HWM=() RSS_EMPTY=() ANON=() ANON_EMPTY=() PID=()

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }
export PATH=$PATH:/usr/sbin:/sbin
for tool in dnsperf dnsmasq taskset dig; do command -v "$tool" >/dev/null || die "missing $tool"; done
(($(nproc) >= 2)) || die "need 2 CPUs (server on core 0, dnsperf on core 1)"
if [[ -z ${LANSEAL_BIN:-} ]]; then
    cargo build --release --quiet
    LANSEAL_BIN=$ROOT/target/release/lanseal
fi

TMP=$(mktemp -d /tmp/lanseal-bench-blocklist.XXXXXX)
chmod 755 "$TMP" # dnsmasq started as root reads the lists as nobody
cleanup() {
    local p
    for p in "${PID[@]}"; do kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

# ---------------------------------------------------------------- the list
awk -v n="$LIST_NAMES" 'BEGIN {
    srand(1)
    split("ads track cdn pixel metrics stats tag analytics beacon img static api log click sync", subs, " ")
    split("com com com com net net org info io xyz ru de co.uk com.br top site online club", tld, " ")
    letters = "abcdefghijklmnopqrstuvwxyz0123456789"
    while (count < n) {
        len = 5 + int(rand() * 10); d = ""
        for (i = 0; i < len; i++) d = d substr(letters, 1 + int(rand() * (i ? 36 : 26)), 1)
        name = d "." tld[1 + int(rand() * 18)]
        if (rand() < 0.5) name = subs[1 + int(rand() * 15)] (rand() < 0.3 ? int(rand() * 100) : "") "." name
        if (name in seen) continue
        seen[name] = 1; count++
        print name
    }
}' >"$TMP/names"
AVG_LEN=$(awk '{ total += length($0) } END { printf "%.1f", total / NR }' "$TMP/names")
sed 's/^/0.0.0.0 /' "$TMP/names" >"$TMP/list.hosts"
sed 's|.*|address=/&/|' "$TMP/names" >"$TMP/list.conf"
: >"$TMP/empty.hosts" && : >"$TMP/empty.conf"
awk -v n="$LIST_NAMES" -v q="$QUERY_NAMES" 'BEGIN { srand(2) } { name[NR] = $0 }
    END { for (i = 0; i < q; i++) print name[1 + int(rand() * n)] " A" }' "$TMP/names" >"$TMP/queries"
PROBE=$(head -n1 "$TMP/names")
log "$LIST_NAMES names, average $AVG_LEN characters; list.hosts $(stat -c %s "$TMP/list.hosts") bytes"

# ---------------------------------------------------------------- helpers
cpu_ticks() { # utime+stime of PID, all threads
    local s
    s=$(<"/proc/$1/stat")
    s=${s##*) }
    read -r -a f <<<"$s"
    echo $((f[11] + f[12]))
}
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
rcode() { # the rcode of one A query, or nothing (not up yet)
    { dig @"$ADDR" -p "$PORT" +time=1 +tries=1 "$1" A 2>/dev/null || true; } | awk '/status:/ { sub(",", "", $6); print $6 }'
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }

launch() { # launch SERVER LIST(list|empty): starts it on core 0
    local kind=$1 list=$2
    case $kind in
    lanseal)
        printf 'log_level = "info"\n[dns]\nlisten = ["%s:%s"]\nthreads = 1\nrate_limit_qps = 0\nresolv_file = ""\n[[blocklist]]\nname = "bench"\nfiles = ["%s"]\nnames_max = %d\n' \
            "$ADDR" "$PORT" "$TMP/$list.hosts" "$LIST_NAMES" >"$TMP/lanseal.toml"
        taskset -c 0 "$LANSEAL_BIN" run -c "$TMP/lanseal.toml" >"$TMP/$kind-$list.log" 2>&1 &
        ;;
    dnsmasq-*)
        local extra=(--conf-file="$TMP/$list.conf")
        [[ $kind == dnsmasq-hosts ]] && extra=(--addn-hosts="$TMP/$list.hosts")
        local user=()
        [[ $(id -u) -eq 0 ]] && ! id dnsmasq >/dev/null 2>&1 && user=(--user=nobody)
        taskset -c 0 dnsmasq --keep-in-foreground --no-resolv --no-hosts --no-poll --pid-file= \
            "${user[@]}" --listen-address="$ADDR" --bind-interfaces --port="$PORT" \
            --log-facility=- --cache-size=150 "${extra[@]}" >"$TMP/$kind-$list.log" 2>&1 &
        ;;
    esac
    PID[$kind]=$!
}
# await SERVER NAME WANT: polls until NAME answers WANT (any: any rcode; 120 s at most).
await() {
    local rc=
    for _ in $(seq 1200); do
        kill -0 "${PID[$1]}" 2>/dev/null || { cat "$TMP"/"$1"-*.log >&2; die "$1 exited"; }
        rc=$(rcode "$2")
        [[ $rc == "$3" || ($3 == any && -n $rc) ]] && return 0
        sleep 0.1
    done
    die "$1: $2 gave '${rc:-timeout}', want $3"
}
stop() {
    kill -TERM "${PID[$1]}" 2>/dev/null || true
    wait "${PID[$1]}" 2>/dev/null || true
    unset "PID[$1]"
}

# ---------------------------------------------------------------- load
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for s in "${SERVERS[@]}"; do
    launch "$s" empty
    await "$s" "$PROBE" any
    sleep 0.5
    RSS_EMPTY[$s]=$(status_kb "${PID[$s]}" VmRSS)
    ANON_EMPTY[$s]=$(status_kb "${PID[$s]}" RssAnon)
    stop "$s"
done
for s in "${SERVERS[@]}"; do
    t0=$(now_ms)
    launch "$s" list
    await "$s" "$PROBE" "${WANT[$s]}"
    LOAD_MS[$s]=$(($(now_ms) - t0))
    # CPU time, not only wall time: on a shared machine the wall time includes
    # waiting for a core. The process does nothing else before its first answer.
    LOAD_CPU_MS[$s]=$(($(cpu_ticks "${PID[$s]}") * 1000 / $(getconf CLK_TCK)))
    sleep 1
    RSS[$s]=$(status_kb "${PID[$s]}" VmRSS)
    HWM[$s]=$(status_kb "${PID[$s]}" VmHWM)
    ANON[$s]=$(status_kb "${PID[$s]}" RssAnon)
    log "$s: loaded in ${LOAD_MS[$s]} ms (CPU ${LOAD_CPU_MS[$s]} ms), VmRSS ${RSS[$s]} KiB (empty ${RSS_EMPTY[$s]}), VmHWM ${HWM[$s]} KiB"
    if [[ $s == lanseal ]]; then
        # shellcheck disable=SC2016 # the backticks are lanseal's, not a command
        LANSEAL_LOG=$(grep -m1 'blocklist `bench`: ' "$TMP/lanseal-list.log" | sed 's/^lanseal\[[A-Z]*\] //')
        SOA_CHECK=$(dig @"$ADDR" -p "$PORT" +noall +comments +authority "www.$PROBE" A | grep -E 'status|SOA' | tr -s ' \t' ' ')
    fi
    if [[ $s == dnsmasq-address ]]; then
        DNSMASQ_ANSWER=$(dig @"$ADDR" -p "$PORT" +noall +comments +authority "www.$PROBE" A | grep -E 'status|SOA|flags' | tr -s ' \t' ' ')
    fi
    stop "$s"
done

# ---------------------------------------------------------------- queries
ROUNDS_TSV=$TMP/rounds.tsv
printf 'round\tserver\tcompleted\tlost\tus_per_q\tok_pct\n' >"$ROUNDS_TSV"
qarg=()
((QPS > 0)) && qarg=(-Q "$QPS")
# One server at a time (three million-name servers at once would not fit a small
# machine), started afresh for each round, so the rounds interleave.
for ((r = 1; r <= ROUNDS; r++)); do
    for s in "${SERVERS[@]}"; do
        launch "$s" list
        await "$s" "$PROBE" "${WANT[$s]}"
        out=$TMP/dnsperf-$s-$r.log
        t0=$(cpu_ticks "${PID[$s]}")
        taskset -c 1 dnsperf -s "$ADDR" -p "$PORT" -d "$TMP/queries" -l "$SECS" -c "$CLIENTS" -T 1 \
            -q "$OUTSTANDING" -t 2 "${qarg[@]}" >"$out" 2>&1 || { cat "$out" >&2; die "dnsperf failed ($s)"; }
        t1=$(cpu_ticks "${PID[$s]}")
        awk -v r="$r" -v s="$s" -v want="${WANT[$s]}" -v ticks=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" '
            /Queries completed:/ { done = $3 } /Queries lost:/ { lost = $3 }
            /Response codes:/ { for (i = 3; i <= NF; i += 3) if ($i == want) ok = $(i + 1) }
            END { printf "%s\t%s\t%d\t%d\t%.3f\t%.2f\n", r, s, done, lost, ticks * 1e6 / hz / done, 100 * ok / done }' \
            "$out" >>"$ROUNDS_TSV"
        log "round $r $s: $(tail -n1 "$ROUNDS_TSV" | cut -f3-)"
        stop "$s"
    done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
REPORT=$TMP/report.txt
{
    echo "Blocklist benchmark $(date -u +%Y-%m-%dT%H:%M:%SZ)  $(uname -srm)  $(nproc) CPUs: $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
    echo "list: $LIST_NAMES generated names, average $AVG_LEN characters; queries: $QUERY_NAMES names drawn from the list"
    echo "versions: lanseal $LANSEAL_BIN ($(stat -c %s "$LANSEAL_BIN") bytes); $(dnsmasq --version | head -n1 | awk '{ print "dnsmasq " $3 }')"
    echo "dnsperf -l $SECS -c $CLIENTS -T 1 -q $OUTSTANDING -Q ${QPS/#0/unthrottled}; servers on core 0, dnsperf on core 1; loadavg before $LOAD_BEFORE, after $LOAD_AFTER"
    echo
    printf '%-16s %8s %8s %9s %9s %9s %9s %9s %8s %9s  %s\n' server "load ms" "load CPU" "RSS KiB" "empty" "anon KiB" "empty" "delta" "B/name" "HWM KiB" "us/q [min-max]"
    for s in "${SERVERS[@]}"; do
        us=$(awk -F'\t' -v s="$s" '$2 == s { v[++n] = $5 } END {
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
            printf "%.2f [%.2f-%.2f]", (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2, v[1], v[n] }' "$ROUNDS_TSV")
        delta=$((ANON[$s] - ANON_EMPTY[$s]))
        printf '%-16s %8d %8d %9d %9d %9d %9d %9d %8.1f %9d  %s\n' "$s" "${LOAD_MS[$s]}" "${LOAD_CPU_MS[$s]}" "${RSS[$s]}" "${RSS_EMPTY[$s]}" \
            "${ANON[$s]}" "${ANON_EMPTY[$s]}" "$delta" "$(awk -v d="$delta" -v n="$LIST_NAMES" 'BEGIN { print d * 1024 / n }')" \
            "${HWM[$s]}" "$us"
    done
    echo
    echo "RSS: VmRSS after load, with the list and with an empty one; anon: RssAnon the same; delta: anon - empty;"
    echo "B/name = delta x 1024 / $LIST_NAMES; HWM: VmHWM after load (the peak, start-up and load included)"
    echo "us/q: server CPU per blocked query, median over $ROUNDS rounds [min-max]; load ms: exec to the first blocked answer"
    echo "(wall time); load CPU: the server's utime+stime at that moment, in ms"
    echo "lanseal's log: $LANSEAL_LOG"
    echo "lanseal www.<listed name>: $SOA_CHECK"
    echo "dnsmasq-address www.<listed name>: $DNSMASQ_ANSWER"
    if awk -F'\t' 'NR > 1 && ($4 > 0 || $6 < 100) { bad = 1 } END { exit !bad }' "$ROUNDS_TSV"; then
        echo "WARNING: some runs lost queries or got other rcodes; see the rounds file"
    fi
} >"$REPORT"
mkdir -p "$(dirname "$BENCH_OUT")"
cp "$REPORT" "$BENCH_OUT"
cp "$ROUNDS_TSV" "${BENCH_OUT%.txt}.rounds.tsv"
cat "$REPORT"
