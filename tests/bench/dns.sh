#!/usr/bin/env bash
# DNS benchmark: lanseal vs dnsmasq vs unbound on loopback.
#
# Usage: tests/bench/dns.sh            (from anywhere; runs in the repo root)
#
# Serves the same zone (BENCH_NAMES names "h<i>.bench.test", default 1000)
# from lanseal, dnsmasq and unbound on 127.0.0.1 only, each pinned to core 0,
# and drives each with dnsperf pinned to core 1, interleaved round by round:
#   round r: local(lanseal, dnsmasq, unbound), nx(lanseal, dnsmasq, unbound),
#            ipname(lanseal, dnsmasq)
# Cases: "local"  = A queries for the names in the zone (NOERROR expected),
#        "nx"     = A queries for names that do not exist under the zone
#                   ("nx<i>-<n>.bench.test", NXDOMAIN expected),
#        "ipname" = A queries for IP-embedded names ("10-0-3-7.bench.test"):
#                   lanseal's ip_names against dnsmasq's synth-domain (unbound
#                   has no equivalent and sits this case out).
# lanseal runs with rate_limit_qps = 0 (dnsperf is one client at 20000 q/s) and
# its default ACL ("local", which includes loopback), so the ACL check is paid.
# Per server and case it reports: server CPU µs per completed query (utime +
# stime delta of /proc/<pid>/stat across the dnsperf run / "Queries
# completed"), QPS, queries lost, share of answers with the expected rcode,
# VmRSS idle (before any load), VmRSS and VmHWM after that case's last run,
# then lanseal's CPU-per-query ratio to dnsmasq for each case.
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
#   BENCH_PORT         first port; lanseal, dnsmasq, unbound use PORT, +1, +2
#                      (default 15353)
#   BENCH_KEEP=1       keep the temp dir with configs and logs
#   SKIP_LANSEAL=1     development only: bench dnsmasq and unbound alone
#
# Default runtime: 8 runs per round x 3 rounds x 10 s + start-up ≈ 4.5 min.
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
SECS=${BENCH_SECS:-10}
ROUNDS=${BENCH_ROUNDS:-3}
QPS=${BENCH_QPS:-20000}
CLIENTS=${BENCH_CLIENTS:-2}
OUTSTANDING=${BENCH_OUTSTANDING:-100}
BENCH_OUT=${BENCH_OUT:-target/bench-dns.txt}
PORT0=${BENCH_PORT:-15353}
ADDR=127.0.0.1 # loopback only: never point this anywhere else
CASES=(local nx ipname)

declare -A PORT=([lanseal]=$PORT0 [dnsmasq]=$((PORT0 + 1)) [unbound]=$((PORT0 + 2)))
declare -A PID=()
declare -A RSS_IDLE=()

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- prerequisites
need_pkgs=()
command -v dnsperf >/dev/null 2>&1 || need_pkgs+=(dnsperf)
command -v dnsmasq >/dev/null 2>&1 || [[ -x /usr/sbin/dnsmasq ]] || need_pkgs+=(dnsmasq-base)
command -v unbound >/dev/null 2>&1 || [[ -x /usr/sbin/unbound ]] || need_pkgs+=(unbound)
command -v taskset >/dev/null 2>&1 || need_pkgs+=(util-linux)
if ((${#need_pkgs[@]})); then
    [[ $(id -u) -eq 0 ]] || die "missing ${need_pkgs[*]}; run as root or install them"
    log "installing ${need_pkgs[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi
export PATH=$PATH:/usr/sbin:/sbin
(($(nproc) >= 2)) || die "need at least 2 CPUs (server on core 0, dnsperf on core 1)"

SERVERS=(lanseal dnsmasq unbound)
if [[ ${SKIP_LANSEAL:-0} == 1 ]]; then
    SERVERS=(dnsmasq unbound)
    log "SKIP_LANSEAL=1: lanseal left out (development only)"
else
    if [[ -z ${LANSEAL_BIN:-} ]]; then
        log "cargo build --release"
        cargo build --release --quiet
        LANSEAL_BIN=$ROOT/target/release/lanseal
    fi
    [[ -x $LANSEAL_BIN ]] || die "lanseal binary not found: $LANSEAL_BIN"
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
    printf 'log_level = "warn"\n[dns]\nlisten = ["%s:%s"]\nthreads = 1\nrate_limit_qps = 0\n\n' "$ADDR" "${PORT[lanseal]}"
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
    # Refuse everything outside the bench zone so unbound never recurses.
    local-zone: "." refuse
    local-zone: "$ZONE." static
EOF
    for ((i = 0; i < NAMES; i++)); do
        printf '    local-data: "h%d.%s. 300 IN A %s"\n' "$i" "$ZONE" "$(addr_of "$i")"
    done
    printf 'remote-control:\n    control-enable: no\n'
} >"$TMP/unbound.conf"
for ((i = 0; i < NAMES; i++)); do printf 'h%d.%s A\n' "$i" "$ZONE"; done >"$TMP/q-local.txt"
# Deterministic "random-ish" nonexistent names (same list every run).
for ((i = 0; i < NAMES; i++)); do printf 'nx%d-%d.%s A\n' "$i" $(((i * 7919 + 104729) % 99991)) "$ZONE"; done >"$TMP/q-nx.txt"
# IP-embedded names of the same addresses, spelled the same for lanseal and dnsmasq.
for ((i = 0; i < NAMES; i++)); do printf '%s.%s A\n' "$(addr_of "$i" | tr . -)" "$ZONE"; done >"$TMP/q-ipname.txt"
declare -A QFILE=([local]=$TMP/q-local.txt [nx]=$TMP/q-nx.txt [ipname]=$TMP/q-ipname.txt)
declare -A WANT=([local]=NOERROR [nx]=NXDOMAIN [ipname]=NOERROR)
# serves CASE SERVER -> true when SERVER takes part in CASE.
serves() { [[ $1 != ipname || $2 != unbound ]]; }

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

start_server() {
    local name=$1 port=${PORT[$1]} rc
    rc=$(probe "$port" "h0.$ZONE")
    [[ -z $rc ]] || die "something already answers on $ADDR:$port; set BENCH_PORT"
    case $name in
    lanseal)
        taskset -c 0 "$LANSEAL_BIN" run -c "$TMP/lanseal.toml" >"$TMP/lanseal.log" 2>&1 &
        ;;
    dnsmasq)
        local user=()
        [[ $(id -u) -ne 0 ]] || id dnsmasq >/dev/null 2>&1 || user=(--user=nobody)
        taskset -c 0 dnsmasq --keep-in-foreground --conf-file="$TMP/dnsmasq.conf" \
            --no-resolv --no-hosts --no-poll --pid-file= "${user[@]}" \
            --listen-address="$ADDR" --bind-interfaces --port="$port" \
            --local="/$ZONE/" --local-ttl=300 --log-facility=- >"$TMP/dnsmasq.log" 2>&1 &
        ;;
    unbound)
        taskset -c 0 unbound -d -c "$TMP/unbound.conf" >"$TMP/unbound.log" 2>&1 &
        ;;
    esac
    PID[$name]=$!
    for _ in $(seq 100); do
        kill -0 "${PID[$name]}" 2>/dev/null || { cat "$TMP/$name.log" >&2; die "$name exited during start-up"; }
        rc=$(probe "$port" "h0.$ZONE")
        [[ -z $rc ]] || break
        sleep 0.1
    done
    [[ $rc == NOERROR ]] || { cat "$TMP/$name.log" >&2; die "$name: h0.$ZONE gave '${rc:-timeout}', want NOERROR"; }
    rc=$(probe "$port" "nx0.$ZONE")
    [[ $rc == NXDOMAIN ]] || die "$name: nx0.$ZONE gave '${rc:-timeout}', want NXDOMAIN"
    sleep 0.5
    RSS_IDLE[$name]=$(status_kb "${PID[$name]}" VmRSS)
    log "$name pid ${PID[$name]} on $ADDR:$port, idle VmRSS ${RSS_IDLE[$name]} KiB"
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
for s in "${SERVERS[@]}"; do start_server "$s"; done
for ((r = 1; r <= ROUNDS; r++)); do
    for c in "${CASES[@]}"; do
        for s in "${SERVERS[@]}"; do if serves "$c" "$s"; then run_one "$r" "$s" "$c"; fi; done
    done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
version_of() {
    case $1 in
    # Not `lanseal --version`: an unknown flag must not start a daemon here.
    lanseal) echo "lanseal $LANSEAL_BIN ($(stat -c %s "$LANSEAL_BIN") bytes, built $(date -u -r "$LANSEAL_BIN" +%FT%TZ))" ;;
    dnsmasq) dnsmasq --version | head -n1 | awk '{ print "dnsmasq " $3 }' ;;
    unbound) unbound -V | awk '/^Version/ { print "unbound " $2; exit }' ;;
    esac
}
REPORT=$TMP/report.txt
IDLE_LIST=$(for s in "${SERVERS[@]}"; do printf '%s=%s ' "$s" "${RSS_IDLE[$s]}"; done)
{
    echo "DNS benchmark $(date -u +%Y-%m-%dT%H:%M:%SZ)  $(uname -srm)  $(nproc) CPUs: $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
    echo "zone $ZONE, $NAMES names; dnsperf $(dnsperf -h 2>&1 | awk '/^Version/ { print $2 }') -l $SECS -c $CLIENTS -T 1 -q $OUTSTANDING -Q ${QPS/#0/unthrottled}; $ROUNDS rounds, interleaved"
    echo "servers pinned to core 0, dnsperf to core 1, all on $ADDR; loadavg before $LOAD_BEFORE, after $LOAD_AFTER"
    echo "versions: $(for s in "${SERVERS[@]}"; do version_of "$s"; done | paste -sd';' | sed 's/;/; /g')"
    if awk -v l="${LOAD_BEFORE%% *}" 'BEGIN { exit !(l > 0.5) }'; then
        echo "WARNING: machine was busy before the run (loadavg $LOAD_BEFORE): figures are not final"
    fi
    if [[ ${SKIP_LANSEAL:-0} == 1 ]]; then echo "NOTE: lanseal skipped (SKIP_LANSEAL=1)"; fi
    echo
    echo "CPU us/q: median over rounds [min-max]; QPS: median; lost: total over rounds; ok: answers with the expected rcode"
    echo "RSS idle: VmRSS before load; RSS/HWM loaded: VmRSS/VmHWM after the case's last run (KiB)"
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
                if ((("lanseal", "ipname") in cpu) && (("lanseal", "local") in cpu))
                    printf "lanseal ipname/local CPU us/q:    %.2f\n", cpu["lanseal", "ipname"] / cpu["lanseal", "local"]
            }
        }' "$ROUNDS_TSV"
    if awk -F'\t' 'NR > 1 && ($5 > 0 || $9 < 100) { bad = 1 } END { exit !bad }' "$ROUNDS_TSV"; then
        echo "WARNING: some runs lost queries or got unexpected rcodes; see the rounds file"
    fi
} >"$REPORT"

mkdir -p "$(dirname "$BENCH_OUT")"
cp "$REPORT" "$BENCH_OUT"
cp "$ROUNDS_TSV" "${BENCH_OUT%.txt}.rounds.tsv"
echo
cat "$REPORT"
log "table written to $BENCH_OUT, per-round figures to ${BENCH_OUT%.txt}.rounds.tsv"
