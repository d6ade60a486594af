#!/usr/bin/env bash
# Every target, one after the other: cross/build.sh then cross/smoke.sh (a DNS
# answer over UDP and TCP, an API call, a delegate registration and update,
# SIGTERM), and a summary line per target. Exits non-zero if any target fails.
#
#   cross/smoke-all.sh [--no-build] [target...]   (default: all six)
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=()
[[ ${1:-} == --no-build ]] && { build=(--no-build); shift; }
targets=("$@")
((${#targets[@]})) || targets=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl
    armv7-unknown-linux-musleabihf arm-unknown-linux-musleabihf
    mipsel-unknown-linux-musl mips-unknown-linux-musl)
summary=() failed=0
for target in "${targets[@]}"; do
    if "$root/cross/smoke.sh" "${build[@]}" "$target"; then
        summary+=("PASS $target")
    else
        summary+=("FAIL $target")
        failed=1
    fi
done
printf '%s\n' "${summary[@]}"
exit $failed
