#!/usr/bin/env bash
# The size budget per target (issue 12): build each static release `lanseal` with
# cross/build.sh (all roles; that is the only build there is) and print its stripped
# size and its xz -9e size (what a squashfs image or an .ipk costs in flash).
#
#   cross/sizes.sh [--no-build] [target...]
#
#   --no-build  take the binaries already in $CARGO_TARGET_DIR/<target>/release/lanseal
#   target...   the targets to measure (default: all six, in cross/build.sh's order)
#
# Budget: stripped <= 3 500 000 bytes and xz <= 1 500 000 bytes ("3.5 MB" and
# "1.5 MB" read as decimal megabytes, the stricter reading). Exits 1 if any target is
# over budget or has no binary, 2 on a usage error. Builds are slow (minutes per
# target); the build output goes to stderr, the table to stdout.
set -euo pipefail

targets=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl
         armv7-unknown-linux-musleabihf arm-unknown-linux-musleabihf
         mipsel-unknown-linux-musl mips-unknown-linux-musl)
stripped_max_bytes=3500000
xz_max_bytes=1500000

usage() {
    printf 'usage: %s [--no-build] [target...]\n  targets: %s\n' "$0" "${targets[*]}" >&2
    exit 2
}

build=1 chosen=()
while (($#)); do
    case $1 in
        --no-build) build=0 ;;
        -h|--help) usage ;;
        -*) usage ;;
        *) case " ${targets[*]} " in *" $1 "*) chosen+=("$1") ;; *) usage ;; esac ;;
    esac
    shift
done
((${#chosen[@]})) || chosen=("${targets[@]}")

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target/cross}
case $CARGO_TARGET_DIR in /*) ;; *) CARGO_TARGET_DIR=$root/$CARGO_TARGET_DIR ;; esac

for cmd in xz llvm-strip; do
    command -v "$cmd" >/dev/null 2>&1 || { echo "sizes.sh: $cmd not found" >&2; exit 1; }
done

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

rows=() over=0
for target in "${chosen[@]}"; do
    if ((build)) && ! "$root/cross/build.sh" "$target" >&2; then
        rows+=("$target - - FAIL(build)")
        over=1
        continue
    fi
    bin=$CARGO_TARGET_DIR/$target/release/lanseal
    if [[ ! -f $bin ]]; then
        echo "sizes.sh: no binary at $bin" >&2
        rows+=("$target - - FAIL(missing)")
        over=1
        continue
    fi
    # build.sh already strips (and drops MIPS .pdr); strip a copy again so a binary
    # built another way (strip = false for symbol sizes, say) is measured the way it
    # would ship.
    copy=$scratch/$target
    llvm-strip --strip-all -o "$copy" "$bin"
    stripped=$(stat -c %s "$copy")
    compressed=$(xz -9e -T1 -c "$copy" | wc -c)
    verdict=ok
    if ((stripped > stripped_max_bytes || compressed > xz_max_bytes)); then
        verdict=OVER
        over=1
    fi
    rows+=("$target $stripped $compressed $verdict")
done

printf '%-32s %12s %12s  %s\n' target stripped xz-9e "budget (${stripped_max_bytes} / ${xz_max_bytes})"
for row in "${rows[@]}"; do
    read -r target stripped compressed verdict <<<"$row"
    printf '%-32s %12s %12s  %s\n' "$target" "$stripped" "$compressed" "$verdict"
done
exit "$over"
