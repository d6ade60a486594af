#!/usr/bin/env bash
# Smoke-test a cross-built `lanseal` under qemu-user: start it with a one-zone config on
# 127.0.0.1:0, read the port from its stderr, query it with dig over UDP and TCP, stop
# it with SIGTERM; then again with acl = ["local"] (interface discovery). The first
# run also serves the local API (one authenticated call) and the delegate (a
# registration, an update, and its TXT answered by DNS).
#
#   cross/smoke.sh [--no-build] [--bin PATH] <target>
#
#   --no-build  use the binary already in $CARGO_TARGET_DIR/<target>/release/lanseal
#   --bin PATH  test this binary instead (implies --no-build)
#
# Only ever talks to 127.0.0.1. Exits non-zero if any check fails.
set -euo pipefail

targets=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl
         armv7-unknown-linux-musleabihf arm-unknown-linux-musleabihf
         mipsel-unknown-linux-musl mips-unknown-linux-musl)
usage() {
    printf 'usage: %s [--no-build] [--bin PATH] <target>\n  targets: %s\n' "$0" "${targets[*]}" >&2
    exit 2
}

build=1 bin= target=
while (($#)); do
    case $1 in
        --no-build) build=0 ;;
        --bin) [[ $# -ge 2 ]] || usage; bin=$2; build=0; shift ;;
        -h|--help) usage ;;
        -*) usage ;;
        *) [[ -z $target ]] || usage; target=$1 ;;
    esac
    shift
done
[[ -n $target ]] || usage
case " ${targets[*]} " in *" $target "*) ;; *) usage ;; esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target/cross}
case $CARGO_TARGET_DIR in /*) ;; *) CARGO_TARGET_DIR=$root/$CARGO_TARGET_DIR ;; esac

case $target in
    x86_64-*)  qarch=x86_64 ;;
    aarch64-*) qarch=aarch64 ;;
    armv7-*|arm-*) qarch=arm ;;
    mipsel-*)  qarch=mipsel ;;
    mips-*)    qarch=mips ;;
esac
if [[ $qarch == "$(uname -m)" ]]; then
    runner=()
else
    runner=("qemu-$qarch-static")
fi
for cmd in dig curl "${runner[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || { echo "smoke.sh: $cmd not found; run cross/install.sh" >&2; exit 1; }
done

if ((build)); then
    "$root/cross/build.sh" "$target"
fi
[[ -n $bin ]] || bin=$CARGO_TARGET_DIR/$target/release/lanseal
[[ -x $bin ]] || { echo "smoke.sh: FAIL: no binary at $bin" >&2; exit 1; }

pass=0 fail=0
ok()  { echo "PASS: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lanseal-smoke.XXXXXX")
pid=
cleanup() {
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# An explicit ACL: no interface discovery, which qemu-user cannot do for
# big-endian guests (the `acl = ["local"]` check below covers that case).
cat >"$tmp/dns-only.toml" <<'EOF'
[dns]
listen = ["127.0.0.1:0"]
threads = 2
acl = ["127.0.0.0/8"]

[[zone]]
name = "smoke.test"
mode = "authoritative"
records = ["router A 192.168.1.1", "@ TXT \"hello from lanseal\""]
EOF
# The first run serves every role but certs (which needs a CA).
{
    echo "state_dir = \"$tmp/state\""
    cat "$tmp/dns-only.toml"
    printf '\n[api]\nlisten = "127.0.0.1:0"\n'
    printf '\n[delegate]\nzone = "auth.smoke.test"\nns_addresses = ["127.0.0.1"]\napi_listen = "127.0.0.1:0"\n'
} >"$tmp/smoke.toml"

show_log() {
    echo "---- lanseal stderr (last 30 lines) ----"
    tail -n 30 "$tmp/stderr" || true
    echo "----------------------------------------"
}

echo "smoke.sh: $target: ${runner[*]:+${runner[*]} }$bin run -c $tmp/smoke.toml"
"${runner[@]}" "$bin" run -c "$tmp/smoke.toml" </dev/null >"$tmp/stdout" 2>"$tmp/stderr" &
pid=$!

# Wait (up to 60 s; qemu is slow) for "listening on 127.0.0.1:<port>". If the daemon
# reports UDP and TCP on separate lines with different ports, use each for its protocol.
port= tcp_port=
for _ in $(seq 600); do
    lines=$(grep -Eo '.*listening on 127\.0\.0\.1:[0-9]+.*' "$tmp/stderr" || true)
    if [[ -n $lines ]]; then
        getport() { grep -Eo 'listening on 127\.0\.0\.1:[0-9]+' | head -n1 | sed 's/.*://'; }
        port=$(grep -vi tcp <<<"$lines" | getport || true)
        tcp_port=$(grep -i tcp <<<"$lines" | getport || true)
        [[ -n $port ]] || port=$tcp_port
        [[ -n $tcp_port ]] || tcp_port=$port
        break
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if [[ -z $port ]]; then
    if kill -0 "$pid" 2>/dev/null; then
        bad "daemon did not report 'listening on 127.0.0.1:<port>' within 60 s"
    else
        st=0; wait "$pid" || st=$?; pid=
        bad "daemon exited (status $st) before listening"
    fi
    show_log
    echo "smoke.sh: $target: $pass passed, $fail failed"
    exit 1
fi
if [[ $tcp_port == "$port" ]]; then ok "daemon listening on 127.0.0.1:$port"
else ok "daemon listening on 127.0.0.1:$port (tcp $tcp_port)"; fi

digq=(dig +time=5 +tries=2 @127.0.0.1)
oneline() { tr -s '\n' ' ' <<<"$1" | sed 's/ *$//'; }

out=$("${digq[@]}" -p "$port" +short router.smoke.test A 2>&1 || true)
[[ $out == 192.168.1.1 ]] && ok "UDP router.smoke.test A -> $out" \
    || bad "UDP router.smoke.test A: want 192.168.1.1, got: $(oneline "${out:-<nothing>}")"

out=$("${digq[@]}" -p "$tcp_port" +tcp +short router.smoke.test A 2>&1 || true)
[[ $out == 192.168.1.1 ]] && ok "TCP router.smoke.test A -> $out" \
    || bad "TCP router.smoke.test A: want 192.168.1.1, got: $(oneline "${out:-<nothing>}")"

out=$("${digq[@]}" -p "$port" nope.smoke.test 2>&1 || true)
if grep -q 'status: NXDOMAIN' <<<"$out"; then
    ok "UDP nope.smoke.test -> NXDOMAIN"
else
    bad "UDP nope.smoke.test: want status NXDOMAIN, got: $(grep -m1 -E 'status:|;;' <<<"$out" || oneline "${out:-<nothing>}")"
fi

out=$("${digq[@]}" -p "$port" +short smoke.test TXT 2>&1 || true)
[[ $out == '"hello from lanseal"' ]] && ok "UDP smoke.test TXT -> $out" \
    || bad "UDP smoke.test TXT: want \"hello from lanseal\", got: $(oneline "${out:-<nothing>}")"

# The local API: one authenticated call.
api=$(grep -Eo 'api: http://127\.0\.0\.1:[0-9]+' "$tmp/stderr" | head -n1 | sed 's/^api: //' || true)
token=$(cat "$tmp/state/api.token" 2>/dev/null || true)
out=$(curl -sS --max-time 30 -H "Authorization: Bearer $token" "$api/api/v1/status" 2>&1 || true)
if [[ -n $api ]] && grep -q '"roles":\["dns","api","delegate"\]' <<<"$out"; then
    ok "API $api/api/v1/status -> roles dns, api, delegate"
else
    bad "API status: $(oneline "${out:-<nothing>}")"
fi

# The delegate: a registration, an update, and the TXT answered by DNS (bcrypt
# under qemu takes seconds).
delegate=$(grep -Eo 'delegate API on http://127\.0\.0\.1:[0-9]+' "$tmp/stderr" | head -n1 | sed 's/^delegate API on //' || true)
account=$(curl -sS --max-time 120 -X POST "$delegate/register" 2>&1 || true)
field() { sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" <<<"$account"; }
user=$(field username) key=$(field password) sub=$(field subdomain)
if [[ -n $delegate && -n $user && -n $key && -n $sub ]]; then
    ok "delegate registration -> $sub.auth.smoke.test"
    value=smoke-test-value-0123456789abcdefghijklmnop
    out=$(curl -sS --max-time 120 -H "X-Api-User: $user" -H "X-Api-Key: $key" \
        -d "{\"subdomain\": \"$sub\", \"txt\": \"$value\"}" "$delegate/update" 2>&1 || true)
    txt=$("${digq[@]}" -p "$port" +short "$sub.auth.smoke.test" TXT 2>&1 || true)
    if grep -q "$value" <<<"$out" && [[ $txt == "\"$value\"" ]]; then
        ok "delegate update -> TXT $txt"
    else
        bad "delegate update: $(oneline "${out:-<nothing>}"), TXT: $(oneline "${txt:-<nothing>}")"
    fi
else
    bad "delegate registration: $(oneline "${account:-<nothing>}")"
fi

if kill -0 "$pid" 2>/dev/null; then
    ok "daemon still running after queries"
else
    st=0; wait "$pid" || st=$?; pid=
    bad "daemon died during queries (status $st)"
fi

# SIGTERM ends it (it used to hang, deaf to signals, when interface discovery hung).
stop_daemon() {
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        bad "daemon ignored SIGTERM for 10 s"
        kill -KILL "$pid" 2>/dev/null || true
    else
        ok "daemon exited on SIGTERM"
    fi
    wait "$pid" 2>/dev/null || true
    pid=
}
stop_daemon
((fail == 0)) || show_log

# acl = ["local"]: interfaces are read with getifaddrs (netlink). qemu-user does not
# translate netlink for big-endian guests (mips): the call never returns there,
# and lanseal gives up after a bounded wait, says so, and serves loopback only.
# Little-endian guests and the host must read their interfaces.
sed 's|^acl = .*|acl = ["local"]|' "$tmp/dns-only.toml" >"$tmp/local.toml"
: >"$tmp/stderr"
"${runner[@]}" "$bin" run -c "$tmp/local.toml" </dev/null >"$tmp/stdout" 2>"$tmp/stderr" &
pid=$!
port=
for _ in $(seq 600); do
    port=$(grep -Eo 'listening on 127\.0\.0\.1:[0-9]+' "$tmp/stderr" | head -n1 | sed 's/.*://' || true)
    [[ -n $port ]] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if [[ -z $port ]]; then
    bad "acl = [\"local\"]: daemon did not start within 60 s"
    show_log
else
    out=$("${digq[@]}" -p "$port" +short router.smoke.test A 2>&1 || true)
    [[ $out == 192.168.1.1 ]] && ok "acl = [\"local\"]: loopback answered" \
        || bad "acl = [\"local\"]: loopback not answered: $(oneline "${out:-<nothing>}")"
    if grep -q 'getifaddrs did not answer' "$tmp/stderr"; then
        if [[ $qarch == mips ]]; then
            ok "acl = [\"local\"] on big-endian mips: interface discovery timed out (qemu-user's netlink translation for big-endian guests never answers; on a real router it does), logged, loopback only"
        else
            bad "acl = [\"local\"]: interface discovery timed out on $qarch"
            show_log
        fi
    else
        ok "acl = [\"local\"]: interfaces read"
    fi
    stop_daemon
fi

((fail == 0)) || show_log
echo "smoke.sh: $target: $pass passed, $fail failed"
((fail == 0))
