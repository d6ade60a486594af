#!/usr/bin/env bash
# The disk-full case of tests/reliability/faults.sh, run by it inside a private
# mount namespace: $1 becomes a 1 MiB tmpfs holding lanseal's state_dir.
# Prints what it saw; a last line "RESULT …" on success, exit 1 on a failure.
set -euo pipefail
DIR=$1
: "${LANSEAL_BIN:?} ${ADDR:?} ${DNS_PORT:?} ${API_PORT:?} ${DELEGATE_PORT:?}"
die() { printf 'FAIL: %s\n' "$*"; [[ -f $DIR/lanseal.log ]] && tail -n 20 "$DIR/lanseal.log"; exit 1; }

mount -t tmpfs -o size=1m tmpfs "$DIR" || die "cannot mount a tmpfs on $DIR"
STATE=$DIR/state
LOGS=$(mktemp -d /tmp/lanseal-disk-logs.XXXXXX) # off the full disk
PID=
trap '[[ -n $PID ]] && kill -KILL "$PID" 2>/dev/null; umount "$DIR" 2>/dev/null; rm -rf "$LOGS"' EXIT
cat >"$LOGS/lanseal.toml" <<EOF
log_level = "info"
state_dir = "$STATE"
[dns]
listen = ["$ADDR:$DNS_PORT"]
threads = 1
rate_limit_qps = 0
resolv_file = ""
[api]
listen = "$ADDR:$API_PORT"
[delegate]
zone = "acme.test"
ns = ["ns1.acme.test."]
ns_addresses = ["192.0.2.53"]
api_listen = "$ADDR:$DELEGATE_PORT"
registration = "open"
[[zone]]
name = "disk.test"
mode = "authoritative"
records = ["@ TXT \"zone\""]
EOF

RUN=0
start() {
    RUN=$((RUN + 1))
    "$LANSEAL_BIN" run -c "$LOGS/lanseal.toml" 2>"$LOGS/lanseal-$RUN.log" &
    PID=$!
    for _ in $(seq 300); do
        grep -q "listening on" "$LOGS/lanseal-$RUN.log" && break
        kill -0 "$PID" 2>/dev/null || die "lanseal exited (run $RUN): $(cat "$LOGS/lanseal-$RUN.log")"
        sleep 0.1
    done
    for _ in $(seq 100); do
        curl -fsS -o /dev/null -H "Authorization: Bearer $(cat "$STATE/api.token")" \
            "http://$ADDR:$API_PORT/api/v1/status" 2>/dev/null && return 0
        sleep 0.1
    done
    die "the API did not answer (run $RUN)"
}
stop() { kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=; }
# call METHOD URL [BODY] [HEADER...]: prints "STATUS BODY"
call() {
    local method=$1 url=$2 body=${3:-}
    shift 3 || shift $#
    curl -sS --max-time 10 -o "$LOGS/body" -w '%{http_code}' -X "$method" "$@" \
        ${body:+-H 'Content-Type: application/json' --data "$body"} "$url" || true
    printf ' %s\n' "$(cat "$LOGS/body" 2>/dev/null)"
}
token() { printf 'Authorization: Bearer %s' "$(cat "$STATE/api.token")"; }
add() { call POST "http://$ADDR:$API_PORT/api/v1/dns/records" "{\"zone\": \"disk.test\", \"record\": \"$1 60 A 198.18.5.$2\"}" -H "$(token)"; }
update() {
    call POST "http://$ADDR:$DELEGATE_PORT/update" "{\"subdomain\": \"$SUB\", \"txt\": \"$1\"}" \
        -H "X-Api-User: $USER_NAME" -H "X-Api-Key: $USER_KEY"
}
q() { dig @"$ADDR" -p "$DNS_PORT" +short +time=3 +tries=1 "$1" "$2"; }
served_records() {
    curl -sS --max-time 10 -H "$(token)" "http://$ADDR:$API_PORT/api/v1/dns/records" |
        jq -r '.records[] | select(.source == "runtime") | .record' | awk '{print $1}' | sort
}

start
ACCOUNT=$(curl -sS --max-time 10 -X POST -d '{}' "http://$ADDR:$DELEGATE_PORT/register")
USER_NAME=$(jq -r .username <<<"$ACCOUNT")
USER_KEY=$(jq -r .password <<<"$ACCOUNT")
SUB=$(jq -r .subdomain <<<"$ACCOUNT")
FULL=$(jq -r .fulldomain <<<"$ACCOUNT")
[[ $FULL != null ]] || die "registration failed: $ACCOUNT"
TXT0=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa0
[[ $(add before 1) == 201* || $(served_records) == before ]] || die "the first record was not added"
[[ $(update "$TXT0") == 200* ]] || die "the first TXT update failed"
ACKED=(before)
LAST_TXT=$TXT0

# Fill the disk: big blocks first, then single pages, until the tmpfs refuses.
dd if=/dev/zero of="$DIR/fill1" bs=64k 2>/dev/null || true
dd if=/dev/zero of="$DIR/fill2" bs=4k 2>/dev/null || true
dd if=/dev/zero of="$DIR/fill3" bs=512 2>/dev/null || true
echo "tmpfs filled: $(df -k "$DIR" | tail -n 1)"

REFUSED=
for ((i = 1; i <= 200; i++)); do
    answer=$(add "full$i" $((i % 250 + 1)))
    case $answer in
        2*) ACKED+=("full$i") ;;
        *) REFUSED=$answer; break ;;
    esac
done
[[ -n $REFUSED ]] || die "200 records added on a full disk: none refused"
ACKED_ON_FULL=$((${#ACKED[@]} - 1))
echo "record add refused after $ACKED_ON_FULL acked on the full disk: $REFUSED"
[[ $REFUSED == 5* ]] || die "a full disk is not a 5xx: $REFUSED"
jq -e '.error' >/dev/null <<<"${REFUSED#* }" || die "the refusal is not a JSON error: $REFUSED"
grep -qiE 'ERROR.*(full|disk|space)' "$LOGS/lanseal-$RUN.log" || die "no error logged for the refused write"
TXT1=bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb1
UPDATE_ANSWER=$(update "$TXT1")
echo "delegate update on the full disk: $UPDATE_ANSWER"
case $UPDATE_ANSWER in
    200*) LAST_TXT=$TXT1 ;;
    5*) jq -e '.error' >/dev/null <<<"${UPDATE_ANSWER#* }" || die "the update refusal is not a JSON error" ;;
    *) die "delegate update on a full disk: $UPDATE_ANSWER (want 200 or a 5xx JSON error)" ;;
esac

check_state() { # the acked state is what is served
    local what=$1 name
    for name in "${ACKED[@]}"; do
        [[ -n $(q "$name.disk.test" A) ]] || die "$what: $name.disk.test (acked) not served"
    done
    [[ $(served_records | tr '\n' ' ') == "$(printf '%s\n' "${ACKED[@]}" | sort | tr '\n' ' ')" ]] ||
        die "$what: runtime records $(served_records | tr '\n' ' '), acked ${ACKED[*]}"
    q "$FULL" TXT | grep -qF "\"$LAST_TXT\"" || die "$what: $FULL lacks $LAST_TXT: $(q "$FULL" TXT)"
}
check_state "on the full disk"
stop
start
check_state "restarted on the full disk"
grep -iE 'store' "$LOGS/lanseal-$RUN.log" | grep -iE 'error|fail' && die "store errors at the restart on a full disk"
rm -f "$DIR"/fill*
[[ $(add after 2) == 201* ]] || die "no write once the disk has room"
ACKED+=(after)
stop
start
check_state "restarted with room"
stop
echo "RESULT record add on a full 1 MiB tmpfs refused with $(cut -c1-3 <<<"$REFUSED") $(jq -c .error <<<"${REFUSED#* }") (detail: $(jq -r .detail <<<"${REFUSED#* }" | sed 's/.*: //')) after $ACKED_ON_FULL acked on the full disk; delegate update $(cut -c1-3 <<<"$UPDATE_ANSWER"); acked state served on the full disk, after a restart on it and after a restart with room"
