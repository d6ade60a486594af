#!/usr/bin/env bash
# Delegate load test (issue 5): the acme-dns API under load while DNS serves.
#
# Usage: tests/bench/delegate.sh       (from anywhere; runs in the repo root)
#
# Starts one lanseal on 127.0.0.1 with a temp state_dir: [dns] on BENCH_PORT
# (rate_limit_qps = 0, resolv_file = ""), [delegate] zone "auth.test" with its
# API on BENCH_PORT+1 (plain HTTP, registration = "open"). Then:
#   phase 1  BENCH_ACCOUNTS registrations (POST /register), BENCH_PARALLEL at
#            once; the credentials are kept. The API allows 20 registrations
#            per client address per hour, so lanseal trusts 127.0.0.1 as a
#            proxy (trusted_proxies) and each registration carries its own
#            X-Forwarded-For from 198.18.0.0/15 (RFC 2544 benchmarking range):
#            registration i comes from 198.18.0.0 + (i mod 4096), 4096 being
#            the number of client addresses the limit remembers.
#   baseline BENCH_BASELINE_SECS of dnsperf alone (TXT queries for the
#            registered names at BENCH_QPS): lanseal's CPU per DNS query, so
#            that the DNS share can be taken out of phase 2's CPU time.
#   phase 2  BENCH_UPDATES updates (POST /update, 43-char [A-Za-z0-9_-] values)
#            spread round-robin over the accounts, BENCH_PARALLEL at once, while
#            dnsperf queries the TXT records of all registered fulldomains at
#            BENCH_QPS for the whole phase (started before the first update,
#            stopped with SIGINT after the last). Each account belongs to one
#            client thread, so its updates are sequential and "the last two
#            values sent" is well defined. Each update carries its account's
#            registration address as X-Forwarded-For: the API allows each client
#            a burst of 50 updates and 30 a minute, and the bench is many
#            clients, not one.
#   check    for BENCH_SAMPLE accounts (default 50), `dig TXT <fulldomain>`
#            must give exactly the last two values acknowledged for it.
# Clients are python3 with the standard library only (http.client with one
# keep-alive connection per thread, threading); dig and dnsperf as usual.
#
# Report: registrations/s and updates/s (wall time of each phase, client-side
# latency percentiles), every non-2xx response or transport error (must be 0),
# dnsperf's answers/s, lost queries and rcodes during phase 2, the DNS latency
# p50/p99/p99.9/max of the baseline and of phase 2 (dnsperf -v reports every
# answer's latency; percentiles over all of them), lanseal's VmRSS
# idle / after phase 1 / after phase 2 (and VmHWM), and lanseal's CPU time
# (utime + stime from /proc) per registration and per update: the whole
# process, the same minus the DNS baseline's share, and the HTTP threads alone
# ("http" + "http-worker": parsing, bcrypt, SQLite).
#
# Environment (all optional):
#   LANSEAL_BIN          lanseal binary; if unset, `cargo build --release` is run
#                        and target/release/lanseal is used
#   BENCH_OUT            where the report goes too (default target/bench-delegate.txt)
#   BENCH_ACCOUNTS       registrations in phase 1 (default 1000, at most 1000:
#                        the API registers at most 1000 accounts an hour)
#   BENCH_UPDATES        updates in phase 2 (default 10000)
#   BENCH_PARALLEL       requests in flight at once, both phases (default 8)
#   BENCH_PORT           DNS port; the API listens on BENCH_PORT+1 (default 15360)
#   BENCH_QPS            dnsperf -Q during the baseline and phase 2 (default 5000)
#   BENCH_BASELINE_SECS  length of the DNS-only baseline (default 5; 0 = skip)
#   BENCH_SAMPLE         accounts checked over DNS at the end (default 50)
#   BENCH_LANSEAL_CPUS   taskset CPU list for lanseal (default: not pinned)
#   BENCH_KEEP=1         keep the temp dir (config, state, logs, credentials)
#
# dnsperf is pinned to the last CPU when there are 2 or more. lanseal is not
# pinned unless BENCH_LANSEAL_CPUS says so: its HTTP workers (one per core but
# one, at most 4, at nice 10) run bcrypt (cost 10, tens of ms per verify) on
# whatever cores are free, as on a router.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$PWD

ZONE=auth.test
ACCOUNTS=${BENCH_ACCOUNTS:-1000}
UPDATES=${BENCH_UPDATES:-10000}
PARALLEL=${BENCH_PARALLEL:-8}
DNS_PORT=${BENCH_PORT:-15360}
API_PORT=$((DNS_PORT + 1))
QPS=${BENCH_QPS:-5000}
BASELINE_SECS=${BENCH_BASELINE_SECS:-5}
SAMPLE=${BENCH_SAMPLE:-50}
BENCH_OUT=${BENCH_OUT:-target/bench-delegate.txt}
ADDR=127.0.0.1 # loopback only: never point this anywhere else

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }
for v in ACCOUNTS UPDATES PARALLEL DNS_PORT QPS BASELINE_SECS SAMPLE; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a number, not '${!v}'"
done
((ACCOUNTS >= 1 && ACCOUNTS <= 1000)) || die "BENCH_ACCOUNTS must be 1 to 1000 (the API's registrations per hour)"
((PARALLEL >= 1)) || die "BENCH_PARALLEL must be at least 1"
((QPS >= 1)) || die "BENCH_QPS must be at least 1"

# ---------------------------------------------------------------- prerequisites
need_pkgs=()
command -v dnsperf >/dev/null 2>&1 || need_pkgs+=(dnsperf)
command -v dig >/dev/null 2>&1 || need_pkgs+=(bind9-dnsutils)
command -v taskset >/dev/null 2>&1 || need_pkgs+=(util-linux)
command -v python3 >/dev/null 2>&1 || need_pkgs+=(python3)
command -v curl >/dev/null 2>&1 || need_pkgs+=(curl)
if ((${#need_pkgs[@]})); then
    [[ $(id -u) -eq 0 ]] || die "missing ${need_pkgs[*]}; run as root or install them"
    log "installing ${need_pkgs[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi
NCPU=$(nproc)
DNSPERF_PIN=()
if ((NCPU >= 2)); then DNSPERF_PIN=(taskset -c $((NCPU - 1))); fi
LANSEAL_PIN=()
if [[ -n ${BENCH_LANSEAL_CPUS:-} ]]; then LANSEAL_PIN=(taskset -c "$BENCH_LANSEAL_CPUS"); fi

if [[ -z ${LANSEAL_BIN:-} ]]; then
    log "cargo build --release"
    cargo build --release --quiet
    LANSEAL_BIN=$ROOT/target/release/lanseal
fi
[[ -x $LANSEAL_BIN ]] || die "lanseal binary not found: $LANSEAL_BIN"

# ---------------------------------------------------------------- temp dir, cleanup
TMP=$(mktemp -d /tmp/lanseal-bench-delegate.XXXXXX)
LANSEAL_PID=
DNSPERF_PID=
stop_pid() { # stop_pid PID: TERM, up to 2 s, then KILL
    local p=$1
    [[ -n $p ]] || return 0
    kill -TERM "$p" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
}
cleanup() {
    stop_pid "$DNSPERF_PID"
    stop_pid "$LANSEAL_PID"
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- helpers
HZ=$(getconf CLK_TCK)
# cpu_ticks PID -> utime+stime (all threads, living and exited) in clock ticks.
cpu_ticks() {
    local s
    s=$(<"/proc/$1/stat")
    s=${s##*) }
    read -r -a f <<<"$s"
    echo $((f[11] + f[12]))
}
# thread_ticks PID -> "tid comm ticks" per living thread.
thread_ticks() {
    local t s comm
    for t in /proc/"$1"/task/*; do
        s=$(<"$t/stat") 2>/dev/null || continue
        comm=$(<"$t/comm")
        s=${s##*) }
        read -r -a f <<<"$s"
        printf '%s %s %d\n' "${t##*/}" "${comm// /_}" $((f[11] + f[12]))
    done
}
# http_ticks BEFORE AFTER -> ticks gained by the "http"/"http-worker" threads
# between two thread_ticks snapshots (a thread new in AFTER counts from 0; one
# that exited in between is lost, so this is a lower bound; see the report).
http_ticks() {
    awk 'NR == FNR { t0[$1] = $3; next } $2 ~ /^http/ { sum += $3 - ($1 in t0 ? t0[$1] : 0) } END { print sum + 0 }' "$1" "$2"
}
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
alive() { kill -0 "$LANSEAL_PID" 2>/dev/null || { tail -n 30 "$TMP/lanseal.log" >&2; die "lanseal (pid $LANSEAL_PID) died"; }; }
ms_of_ticks() { echo $(($1 * 1000 / HZ)); }
now_ns() { date +%s%N; }

# ---------------------------------------------------------------- the client
# python3, standard library only. Modes:
#   register N PARALLEL ACCOUNTS_FILE   -> accounts (JSON list) to the file
#   update U PARALLEL ACCOUNTS_FILE     -> last acknowledged values into the file
#   check SAMPLE ACCOUNTS_FILE DNS_PORT -> dig each sampled fulldomain
# Each prints one JSON summary line on stdout; failures are listed on stderr.
cat >"$TMP/client.py" <<'PY'
import http.client, json, random, secrets, subprocess, sys, threading, time

HOST = "127.0.0.1"
API_PORT = int(sys.argv[1])
MODE = sys.argv[2]


class Client:
    """One keep-alive connection; reconnects after any error."""

    def __init__(self):
        self.conn = None

    def post(self, path, headers, body):
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(HOST, API_PORT, timeout=120)
            sent = False
            try:
                self.conn.request("POST", path, body=body, headers=headers)
                sent = True
                r = self.conn.getresponse()
                data = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return r.status, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                # A keep-alive connection the server closed while idle: retry once
                # on a new connection (the request never reached a handler).
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    return 0, repr(e).encode()
            except Exception as e:  # timeouts, refused: counted as failures
                self.conn.close()
                self.conn = None
                return 0, repr(e).encode()


def percentiles(lat):
    lat = sorted(lat)
    if not lat:
        return {}
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
    return {"p50_ms": round(pick(0.50) * 1e3, 1), "p90_ms": round(pick(0.90) * 1e3, 1),
            "p99_ms": round(pick(0.99) * 1e3, 1), "max_ms": round(lat[-1] * 1e3, 1)}


def run(jobs_per_thread, work):
    """Runs each thread's job list in order; returns (wall s, latencies, failures)."""
    lat, failures, lock = [], [], threading.Lock()

    def worker(jobs):
        client, mine, bad = Client(), [], []
        for job in jobs:
            t0 = time.monotonic()
            status, data, ok = work(client, job)
            mine.append(time.monotonic() - t0)
            if not ok:
                bad.append({"job": job if isinstance(job, int) else job[0], "status": status,
                            "body": data.decode("utf-8", "replace")[:200]})
        with lock:
            lat.extend(mine)
            failures.extend(bad)

    threads = [threading.Thread(target=worker, args=(j,)) for j in jobs_per_thread]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - t0, lat, failures


def report(kind, n, wall, lat, failures, extra=None):
    statuses = {}
    for f in failures:
        statuses[str(f["status"])] = statuses.get(str(f["status"]), 0) + 1
    for f in failures[:20]:
        print(f"{kind} failure: {json.dumps(f)}", file=sys.stderr)
    out = {"n": n, "wall_s": round(wall, 3), "per_s": round(n / wall, 2) if wall else 0,
           "failed": len(failures), "failed_by_status": statuses}
    out.update(percentiles(lat))
    out.update(extra or {})
    print(json.dumps(out))


if MODE == "register":
    n, parallel, out_file = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    accounts = [None] * n

    def register(client, i):
        k = i % 4096  # 198.18.0.0 + k: a distinct client address per registration
        headers = {"Content-Type": "application/json",
                   "X-Forwarded-For": f"198.18.{k >> 8}.{k & 255}"}
        status, data = client.post("/register", headers, b"{}")
        ok = status == 201
        if ok:
            try:
                account = json.loads(data)
                ok = all(account.get(key) for key in ("username", "password", "subdomain", "fulldomain"))
                accounts[i] = account
            except ValueError:
                ok = False
        return status, data, ok

    wall, lat, failures = run([list(range(w, n, parallel)) for w in range(parallel)], register)
    got = [a for a in accounts if a]
    with open(out_file, "w") as f:
        json.dump(got, f)
    report("register", n, wall, lat, failures, {"accounts": len(got),
           "distinct_subdomains": len({a["subdomain"] for a in got})})

elif MODE == "update":
    u, parallel, acc_file, last_file = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
    accounts = json.load(open(acc_file))
    n = len(accounts)
    acked = [[] for _ in range(n)]  # per account, values answered 200 in order
    # Update j goes to account j % n; account a belongs to thread a % parallel,
    # so an account's updates are sent one after another, in order.
    per_thread = [[] for _ in range(parallel)]
    for j in range(u):
        a = j % n
        per_thread[a % parallel].append((j, a, secrets.token_urlsafe(32)))  # 43 chars

    def update(client, job):
        j, a, value = job
        acc = accounts[a]
        k = a % 4096  # the address this account registered from
        headers = {"Content-Type": "application/json", "X-Api-User": acc["username"],
                   "X-Api-Key": acc["password"], "X-Forwarded-For": f"198.18.{k >> 8}.{k & 255}"}
        body = json.dumps({"subdomain": acc["subdomain"], "txt": value}).encode()
        status, data = client.post("/update", headers, body)
        ok = False
        if status == 200:
            try:
                ok = json.loads(data) == {"txt": value}
            except ValueError:
                pass
        if ok:
            acked[a].append(value)
        return status, data, ok

    wall, lat, failures = run(per_thread, update)
    with open(last_file, "w") as f:
        json.dump([{"fulldomain": accounts[a]["fulldomain"], "last": acked[a][-2:]} for a in range(n)], f)
    report("update", u, wall, lat, failures)

elif MODE == "check":
    sample, last_file, dns_port = int(sys.argv[3]), sys.argv[4], sys.argv[5]
    last = [x for x in json.load(open(last_file)) if x["last"]]
    picked = random.Random(5).sample(last, min(sample, len(last)))
    bad = []
    for x in picked:
        out = subprocess.run(["dig", f"@{HOST}", "-p", dns_port, "+short", "+tries=2", "+time=2",
                              "TXT", x["fulldomain"]], capture_output=True, text=True).stdout
        served = sorted(line.strip().strip('"') for line in out.splitlines() if line.strip())
        if served != sorted(x["last"]):
            bad.append({"fulldomain": x["fulldomain"], "want": sorted(x["last"]), "served": served})
    for b in bad[:20]:
        print(f"check mismatch: {json.dumps(b)}", file=sys.stderr)
    print(json.dumps({"checked": len(picked), "mismatches": len(bad)}))
PY
# jget FILE KEY -> a field of a client's JSON summary line.
jget() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1])).get(sys.argv[2], ""); print(json.dumps(v) if isinstance(v, dict) else v)' "$1" "$2"; }

# ---------------------------------------------------------------- start lanseal
for p in "$DNS_PORT" "$API_PORT"; do
    if (echo >"/dev/tcp/$ADDR/$p") 2>/dev/null; then die "something listens on $ADDR:$p (TCP); set BENCH_PORT"; fi
done
mkdir -p "$TMP/state"
cat >"$TMP/lanseal.toml" <<EOF
log_level = "info"
state_dir = "$TMP/state"
[dns]
listen = ["$ADDR:$DNS_PORT"]
rate_limit_qps = 0
resolv_file = ""
[delegate]
zone = "$ZONE"
ns = ["ns1.$ZONE."]
ns_addresses = ["192.0.2.53"]
api_listen = "$ADDR:$API_PORT"
registration = "open"
# Registrations carry X-Forwarded-For (198.18.0.0/15) to spread them over many
# client addresses: the limit is 20 per address per hour.
trusted_proxies = ["$ADDR/32"]
EOF
"${LANSEAL_PIN[@]}" "$LANSEAL_BIN" run -c "$TMP/lanseal.toml" >"$TMP/lanseal.log" 2>&1 &
LANSEAL_PID=$!
for _ in $(seq 100); do
    alive
    if curl -fsS -o /dev/null "http://$ADDR:$API_PORT/health" 2>/dev/null &&
        [[ $(dig @"$ADDR" -p "$DNS_PORT" +short +time=1 +tries=1 SOA "$ZONE" 2>/dev/null) ]]; then
        break
    fi
    sleep 0.1
done
curl -fsS -o /dev/null "http://$ADDR:$API_PORT/health" || { cat "$TMP/lanseal.log" >&2; die "API not answering on $ADDR:$API_PORT"; }
sleep 0.5
RSS_IDLE=$(status_kb "$LANSEAL_PID" VmRSS)
log "lanseal pid $LANSEAL_PID: DNS $ADDR:$DNS_PORT, API http://$ADDR:$API_PORT, idle VmRSS $RSS_IDLE KiB"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- phase 1: registrations
log "phase 1: $ACCOUNTS registrations, $PARALLEL in flight"
thread_ticks "$LANSEAL_PID" >"$TMP/threads-p1-0"
T1_0=$(cpu_ticks "$LANSEAL_PID")
python3 "$TMP/client.py" "$API_PORT" register "$ACCOUNTS" "$PARALLEL" "$TMP/accounts.json" \
    >"$TMP/register.json" 2>"$TMP/register.err" || { cat "$TMP/register.err" >&2; die "register client failed"; }
T1_1=$(cpu_ticks "$LANSEAL_PID")
thread_ticks "$LANSEAL_PID" >"$TMP/threads-p1-1"
alive
REG_HTTP_TICKS=$(http_ticks "$TMP/threads-p1-0" "$TMP/threads-p1-1")
sleep 0.5
RSS_P1=$(status_kb "$LANSEAL_PID" VmRSS)
N_ACC=$(jget "$TMP/register.json" accounts)
log "phase 1: $(jget "$TMP/register.json" per_s) registrations/s, $(jget "$TMP/register.json" failed) failed, $N_ACC accounts"
((N_ACC > 0)) || { cat "$TMP/register.err" >&2; die "no account registered"; }
python3 -c 'import json,sys; [print(a["fulldomain"], "TXT") for a in json.load(open(sys.argv[1]))]' \
    "$TMP/accounts.json" >"$TMP/q-txt.txt"

# ---------------------------------------------------------------- dnsperf helpers
# dnsperf_start NAME SECS: in the background, at BENCH_QPS over all fulldomains;
# -v writes one line per answer with its latency ("> NOERROR name TXT 0.000087").
dnsperf_start() {
    "${DNSPERF_PIN[@]}" dnsperf -v -s "$ADDR" -p "$DNS_PORT" -d "$TMP/q-txt.txt" -l "$2" \
        -c 2 -T 1 -q 200 -t 2 -Q "$QPS" >"$TMP/dnsperf-$1.log" 2>&1 &
    DNSPERF_PID=$!
}
# dnsperf_latency NAME -> "p50 p99 p99.9 max" in ms over every answer's latency.
dnsperf_latency() {
    python3 - "$TMP/dnsperf-$1.log" <<'PY'
import sys
lat = []
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) == 5 and f[0] == ">" and f[1] != "T":
        try:
            lat.append(float(f[4]))
        except ValueError:
            pass
lat.sort()
pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1e3
print(" ".join(f"{pick(q):.3f}" for q in (0.50, 0.99, 0.999)) + f" {lat[-1] * 1e3:.3f}" if lat else "- - - -")
PY
}
dnsperf_field() { # dnsperf_field NAME FIELD
    awk -v want="$2" '
        /Queries sent:/ { sent = $3 } /Queries completed:/ { done = $3 } /Queries lost:/ { lost = $3 }
        /Queries interrupted:/ { intr = $3 } /Queries per second:/ { qps = $4 } /Run time \(s\):/ { secs = $4 }
        /Response codes:/ { rc = $0; sub(/.*Response codes:[ \t]*/, "", rc) }
        /Average Latency/ { lat = $4; lmax = $8; sub(/\)/, "", lmax) }
        END { v["sent"] = sent; v["done"] = done; v["lost"] = lost + 0; v["intr"] = intr + 0; v["qps"] = qps
              v["secs"] = secs; v["rc"] = rc; v["lat"] = lat; v["lmax"] = lmax
              print v[want] }' "$TMP/dnsperf-$1.log"
}

# ---------------------------------------------------------------- baseline: DNS alone
DNS_US_PER_Q=0
if ((BASELINE_SECS > 0)); then
    log "baseline: dnsperf alone for ${BASELINE_SECS}s at $QPS q/s"
    B0=$(cpu_ticks "$LANSEAL_PID")
    dnsperf_start baseline "$BASELINE_SECS"
    wait "$DNSPERF_PID" || { cat "$TMP/dnsperf-baseline.log" >&2; die "dnsperf (baseline) failed"; }
    DNSPERF_PID=
    B1=$(cpu_ticks "$LANSEAL_PID")
    alive
    B_DONE=$(dnsperf_field baseline done)
    ((${B_DONE:-0} > 0)) || { cat "$TMP/dnsperf-baseline.log" >&2; die "baseline: no DNS answers"; }
    DNS_US_PER_Q=$(awk -v t=$((B1 - B0)) -v hz="$HZ" -v n="$B_DONE" 'BEGIN { printf "%.2f", t * 1e6 / hz / n }')
    log "baseline: $(dnsperf_field baseline qps) answers/s, $(dnsperf_field baseline lost) lost, lanseal $DNS_US_PER_Q us CPU/query"
fi

# ---------------------------------------------------------------- phase 2: updates under DNS load
log "phase 2: $UPDATES updates, $PARALLEL in flight, dnsperf at $QPS q/s on $(((${#DNSPERF_PIN[@]})) && echo "CPU $((NCPU - 1))" || echo "any CPU")"
thread_ticks "$LANSEAL_PID" >"$TMP/threads-p2-0"
T2_0=$(cpu_ticks "$LANSEAL_PID")
dnsperf_start phase2 86400
sleep 1 # dnsperf is sending before the first update
D0=$(now_ns)
python3 "$TMP/client.py" "$API_PORT" update "$UPDATES" "$PARALLEL" "$TMP/accounts.json" "$TMP/last.json" \
    >"$TMP/update.json" 2>"$TMP/update.err" || { cat "$TMP/update.err" >&2; die "update client failed"; }
D1=$(now_ns)
T2_U=$(cpu_ticks "$LANSEAL_PID")
thread_ticks "$LANSEAL_PID" >"$TMP/threads-p2-1"
kill -INT "$DNSPERF_PID" 2>/dev/null || true
wait "$DNSPERF_PID" || { cat "$TMP/dnsperf-phase2.log" >&2; die "dnsperf (phase 2) failed"; }
DNSPERF_PID=
T2_1=$(cpu_ticks "$LANSEAL_PID")
alive
UPD_HTTP_TICKS=$(http_ticks "$TMP/threads-p2-0" "$TMP/threads-p2-1")
# The worker threads tokio started (on demand, up to the pool's size) and their nice.
HTTP_WORKERS=$(grep -lx http-worker /proc/"$LANSEAL_PID"/task/*/comm 2>/dev/null | wc -l)
HTTP_NICE=$(for c in /proc/"$LANSEAL_PID"/task/*/comm; do
    [[ $(<"$c") == http-worker ]] || continue
    s=$(<"${c%comm}stat"); s=${s##*) }; read -r -a f <<<"$s"; echo "${f[16]}"; break
done)
sleep 0.5
RSS_P2=$(status_kb "$LANSEAL_PID" VmRSS)
HWM=$(status_kb "$LANSEAL_PID" VmHWM)
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
log "phase 2: $(jget "$TMP/update.json" per_s) updates/s, $(jget "$TMP/update.json" failed) failed; DNS $(dnsperf_field phase2 qps) answers/s, $(dnsperf_field phase2 lost) lost"

# ---------------------------------------------------------------- check over DNS
log "check: $SAMPLE accounts over DNS"
python3 "$TMP/client.py" "$API_PORT" check "$SAMPLE" "$TMP/last.json" "$DNS_PORT" \
    >"$TMP/check.json" 2>"$TMP/check.err" || { cat "$TMP/check.err" >&2; die "check failed to run"; }
alive
DB_BYTES=$(du -sb "$TMP/state" | cut -f1)

# ---------------------------------------------------------------- report
REPORT=$TMP/report.txt
P2_SECS=$(awk -v a="$D0" -v b="$D1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
{
    echo "Delegate load test $(date -u +%Y-%m-%dT%H:%M:%SZ)  $(uname -srm)  $NCPU CPUs: $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
    echo "lanseal $LANSEAL_BIN ($(stat -c %s "$LANSEAL_BIN") bytes, built $(date -u -r "$LANSEAL_BIN" +%FT%TZ)), $([[ -n ${BENCH_LANSEAL_CPUS:-} ]] && echo "pinned to CPUs $BENCH_LANSEAL_CPUS" || echo "not pinned")"
    echo "zone $ZONE; DNS $ADDR:$DNS_PORT, API http://$ADDR:$API_PORT ($HTTP_WORKERS HTTP workers seen, nice $HTTP_NICE; bcrypt cost 10, SQLite synchronous=FULL on $(df -T "$TMP" | awk 'NR == 2 { print $2 }'))"
    echo "clients: python3 http.client, $PARALLEL threads with one keep-alive connection each"
    echo "dnsperf $(dnsperf -h 2>&1 | awk '/^Version/ { print $2 }') -Q $QPS -c 2 -q 200 over the $N_ACC fulldomains (TXT)$(((${#DNSPERF_PIN[@]})) && echo ", pinned to CPU $((NCPU - 1))")"
    echo "loadavg before $LOAD_BEFORE, after $LOAD_AFTER"
    if awk -v l="${LOAD_BEFORE%% *}" 'BEGIN { exit !(l > 0.5) }'; then
        echo "WARNING: machine was busy before the run (loadavg $LOAD_BEFORE): figures are not final"
    fi
    echo
    echo "phase 1: registrations"
    printf '  %-28s %s in %s s = %s/s\n' "registrations:" "$ACCOUNTS" "$(jget "$TMP/register.json" wall_s)" "$(jget "$TMP/register.json" per_s)"
    printf '  %-28s p50 %s, p90 %s, p99 %s, max %s ms\n' "latency (client):" \
        "$(jget "$TMP/register.json" p50_ms)" "$(jget "$TMP/register.json" p90_ms)" "$(jget "$TMP/register.json" p99_ms)" "$(jget "$TMP/register.json" max_ms)"
    printf '  %-28s %s %s\n' "non-201 / errors:" "$(jget "$TMP/register.json" failed)" "$(jget "$TMP/register.json" failed_by_status)"
    printf '  %-28s %s (distinct subdomains %s)\n' "accounts kept:" "$N_ACC" "$(jget "$TMP/register.json" distinct_subdomains)"
    printf '  %-28s %.1f ms/registration (HTTP threads %.1f ms)\n' "lanseal CPU:" \
        "$(awk -v t=$((T1_1 - T1_0)) -v hz="$HZ" -v n="$ACCOUNTS" 'BEGIN { print t * 1e3 / hz / n }')" \
        "$(awk -v t="$REG_HTTP_TICKS" -v hz="$HZ" -v n="$ACCOUNTS" 'BEGIN { print t * 1e3 / hz / n }')"
    echo
    echo "phase 2: updates while dnsperf runs"
    printf '  %-28s %s in %s s = %s/s\n' "updates:" "$UPDATES" "$(jget "$TMP/update.json" wall_s)" "$(jget "$TMP/update.json" per_s)"
    printf '  %-28s p50 %s, p90 %s, p99 %s, max %s ms\n' "latency (client):" \
        "$(jget "$TMP/update.json" p50_ms)" "$(jget "$TMP/update.json" p90_ms)" "$(jget "$TMP/update.json" p99_ms)" "$(jget "$TMP/update.json" max_ms)"
    printf '  %-28s %s %s\n' "non-200 / errors:" "$(jget "$TMP/update.json" failed)" "$(jget "$TMP/update.json" failed_by_status)"
    printf '  %-28s %s s: %s sent, %s answered, %s lost, %s interrupted at the stop\n' "DNS (dnsperf):" \
        "$(dnsperf_field phase2 secs)" "$(dnsperf_field phase2 sent)" "$(dnsperf_field phase2 done)" \
        "$(dnsperf_field phase2 lost)" "$(dnsperf_field phase2 intr)"
    printf '  %-28s %s answers/s, latency average %s s, max %s s; rcodes: %s\n' "" "$(dnsperf_field phase2 qps)" \
        "$(dnsperf_field phase2 lat)" "$(dnsperf_field phase2 lmax)" "$(dnsperf_field phase2 rc)"
    read -r L50 L99 L999 LMAX <<<"$(dnsperf_latency phase2)"
    printf '  %-28s p50 %s, p99 %s, p99.9 %s, max %s ms\n' "DNS latency (dnsperf -v):" "$L50" "$L99" "$L999" "$LMAX"
    awk -v t=$((T2_U - T2_0)) -v http="$UPD_HTTP_TICKS" -v hz="$HZ" -v n="$UPDATES" -v secs="$P2_SECS" \
        -v dq="$DNS_US_PER_Q" -v qps="$(dnsperf_field phase2 qps)" 'BEGIN {
        total = t * 1e3 / hz
        printf "  %-28s %.1f ms/update (whole process, incl. DNS at %s q/s; %.1f s CPU in %.1f s wall = %.0f%% of a core)\n",
            "lanseal CPU:", total / n, qps, total / 1e3, secs + 1, 100 * total / 1e3 / (secs + 1)
        if (dq > 0) {
            dns = dq * qps * (secs + 1) / 1e3 # ms spent on DNS, from the baseline
            printf "  %-28s %.1f ms/update (minus DNS: %.2f us/query from the baseline)\n", "", (total - dns) / n, dq
        }
        printf "  %-28s %.1f ms/update (\"http\" + \"http-worker\" threads only)\n", "", http * 1e3 / hz / n
    }'
    echo
    if ((BASELINE_SECS > 0)); then
        printf '%-30s %s s at -Q %s: %s answers/s, %s lost, latency average %s s, max %s s; lanseal %s us CPU/query\n' \
            "DNS baseline (no updates):" "$BASELINE_SECS" "$QPS" "$(dnsperf_field baseline qps)" "$(dnsperf_field baseline lost)" \
            "$(dnsperf_field baseline lat)" "$(dnsperf_field baseline lmax)" "$DNS_US_PER_Q"
        read -r L50 L99 L999 LMAX <<<"$(dnsperf_latency baseline)"
        printf '%-30s p50 %s, p99 %s, p99.9 %s, max %s ms\n' "DNS baseline latency:" "$L50" "$L99" "$L999" "$LMAX"
    fi
    printf '%-30s idle %s, after phase 1 %s, after phase 2 %s; VmHWM %s\n' "lanseal VmRSS (KiB):" "$RSS_IDLE" "$RSS_P1" "$RSS_P2" "$HWM"
    printf '%-30s %s bytes\n' "state_dir size:" "$DB_BYTES"
    printf '%-30s %s of %s sampled accounts serve exactly the last two values sent\n' "check (dig TXT):" \
        "$(($(jget "$TMP/check.json" checked) - $(jget "$TMP/check.json" mismatches)))" "$(jget "$TMP/check.json" checked)"
    echo
    fails=$(($(jget "$TMP/register.json" failed) + $(jget "$TMP/update.json" failed)))
    lost=$(dnsperf_field phase2 lost)
    if ((fails > 0)); then echo "FAIL: $fails requests got a non-2xx answer or a transport error (see below)"; fi
    if (($(jget "$TMP/check.json" mismatches) > 0)); then echo "FAIL: DNS does not serve the last two values for some accounts (see below)"; fi
    if ((lost > 0)); then echo "WARNING: dnsperf lost $lost queries during phase 2"; fi
    if awk -v rc="$(dnsperf_field phase2 rc)" 'BEGIN { exit !(rc !~ /^NOERROR [0-9]+ \(100(\.0+)?%\)$/) }'; then
        echo "WARNING: not every DNS answer in phase 2 was NOERROR"
    fi
    if ((fails == 0 && $(jget "$TMP/check.json" mismatches) == 0 && lost == 0)); then echo "OK: no failed request, no lost query, DNS serves what was sent"; fi
    cat "$TMP/register.err" "$TMP/update.err" "$TMP/check.err"
    if grep -qiE 'error|warn|panic' "$TMP/lanseal.log"; then
        echo "lanseal log, warnings and errors:"
        grep -iE 'error|warn|panic' "$TMP/lanseal.log" | head -n 20
    fi
} >"$REPORT"

mkdir -p "$(dirname "$BENCH_OUT")"
cp "$REPORT" "$BENCH_OUT"
echo
cat "$REPORT"
log "report written to $BENCH_OUT"
