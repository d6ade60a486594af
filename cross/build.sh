#!/usr/bin/env bash
# Build a static release `lanseal` for one musl target with cargo-zigbuild.
#
#   cross/build.sh <target>
#
# Targets: x86_64-unknown-linux-musl aarch64-unknown-linux-musl
#          armv7-unknown-linux-musleabihf arm-unknown-linux-musleabihf
#          mipsel-unknown-linux-musl mips-unknown-linux-musl
#
# Nightly with -Zbuild-std for every target (std built for size, see below) and
# +crt-static (without it MIPS gets a broken static-PIE that crashes when it spawns
# a thread).
# CARGO_TARGET_DIR defaults to target/cross so native builds in target/ are not blocked.
# CARGO_FEATURES (default empty: what routers get) is passed as --features, e.g.
# CARGO_FEATURES=postgres for a delegate node on a shared PostgreSQL store.
# Prints: binary path, size in bytes, `file` output. Fails if not statically linked.
set -euo pipefail

targets=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl
         armv7-unknown-linux-musleabihf arm-unknown-linux-musleabihf
         mipsel-unknown-linux-musl mips-unknown-linux-musl)

usage() {
    printf 'usage: %s <target>\n  targets: %s\n' "$0" "${targets[*]}" >&2
    exit 2
}
[[ $# -eq 1 ]] || usage
target=$1
case " ${targets[*]} " in *" $target "*) ;; *) usage ;; esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target/cross}
case $CARGO_TARGET_DIR in /*) ;; *) CARGO_TARGET_DIR=$root/$CARGO_TARGET_DIR ;; esac

for cmd in cargo rustup cargo-zigbuild file llvm-objcopy; do
    command -v "$cmd" >/dev/null 2>&1 || { echo "build.sh: $cmd not found; run cross/install.sh" >&2; exit 1; }
done

# SQLite without what lanseal never uses (full-text search, R-trees, extension
# loading, JSON, WAL, UTF-16, EXPLAIN, date functions, introspection pragmas, ...):
# about 0.6 MB less on mipsel, then another ~0.2 MB. tests/run.sh builds with the
# same flags, so the tests exercise the SQLite the routers get. What stays because
# lanseal uses it: ALTER TABLE ADD COLUMN (migrations), AUTOINCREMENT, foreign keys
# and triggers (ON DELETE CASCADE), subqueries, CTEs and compound SELECTs and blob
# literals (tests), the pager and flag pragmas (journal_mode, synchronous,
# foreign_keys) and user_version. SQLITE_OMIT_CHECK makes CHECK constraints parse
# but not apply: a migration that wants one must drop that flag. Not omittable with
# the amalgamation (its parser is pre-generated; the build breaks): ATTACH, VACUUM,
# VIEW, VIRTUALTABLE, ANALYZE, REINDEX, WINDOWFUNC.
export LIBSQLITE3_FLAGS="${LIBSQLITE3_FLAGS:-$(cat "$(dirname "$0")/sqlite.flags")}"

# RUSTFLAGS in the environment would override the per-target flags below: fold it in.
extra_flags=${RUSTFLAGS:-}
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS
tvar=CARGO_TARGET_$(tr 'a-z-' 'A-Z_' <<<"$target")_RUSTFLAGS

# Size (issue 12's budget; cross/sizes.sh measures it), for every target:
# - std built from source with optimize_for_size (smaller sort and formatting code)
#   and without the "backtrace" feature (gimli, addr2line, rustc-demangle: a
#   symbolizer with nothing to read in a stripped binary);
# - no unwind tables, Rust or C: panic = "abort" and a stripped binary leave them
#   unused;
# - -C panic=immediate-abort (std built with it too): a panic aborts at once
#   (SIGABRT; procd and systemd restart the daemon) without formatting and
#   printing its message: -143 116 bytes on mipsel, which issue 14's transfers
#   had put 18 668 bytes over budget. Panics are bugs, and the tests (native
#   builds) still print their messages;
# - -Zlocation-detail=none: no source file, line and column kept for panics;
# - -Zfmt-debug=shallow: a derived Debug prints only its type or variant name
#   (-33 364 bytes on mipsel). lanseal's own messages use Display; the few `{:?}`
#   left print strings, paths and durations (manual impls, unchanged) or an
#   enum's variant (still named); the tests' builds are not affected;
# - -C relocation-model=static, C -fno-pic: the binary is a static non-PIE
#   executable (EXEC, loaded at a fixed address) on every target, so
#   position-independent code buys nothing; on MIPS it cost a $gp set-up per
#   function and a GOT load per call and global.
toolchain=nightly
# shellcheck disable=SC2054 # the comma is -Zbuild-std's list
cmd=(cargo +nightly zigbuild --release -Zbuild-std=std,panic_abort
     -Zbuild-std-features=optimize_for_size --target "$target")
if [[ -n ${CARGO_FEATURES:-} ]]; then
    cmd+=(--features "$CARGO_FEATURES")
fi
flags="-C link-self-contained=no -C target-feature=+crt-static -C force-unwind-tables=no"
flags="$flags -Zunstable-options -C panic=immediate-abort"
flags="$flags -Zlocation-detail=none -Zfmt-debug=shallow -C relocation-model=static"
cvar=CFLAGS_$(tr '-' '_' <<<"$target")
cflags="-fno-asynchronous-unwind-tables -fno-unwind-tables -fno-pic"
flags="$flags ${!tvar:-} $extra_flags"
export "$tvar=${flags% }"
cflags="$cflags ${!cvar:-}"
export "$cvar=${cflags% }"

echo "build.sh: $target on $toolchain: $tvar=\"${!tvar}\" $cvar=\"${!cvar}\" CARGO_TARGET_DIR=$CARGO_TARGET_DIR" >&2
echo "build.sh: ${cmd[*]}" >&2
start=$(date +%s)
nice -n 10 "${cmd[@]}" >&2
secs=$(( $(date +%s) - start ))

bin=$CARGO_TARGET_DIR/$target/release/lanseal
[[ -f $bin ]] || { echo "build.sh: FAIL: $bin not produced" >&2; exit 1; }
case $target in
    mips*)
        # .pdr (MIPS procedure descriptors, ~260 KB) is for debuggers only, is not
        # loaded at run time and survives strip = true.
        llvm-objcopy --remove-section=.pdr "$bin" ;;
esac
info=$(file -b "$bin")
echo "binary: $bin"
echo "size:   $(stat -c %s "$bin") bytes"
echo "file:   $info"
echo "time:   ${secs}s"
if [[ $info == *"dynamically linked"* || $info == *interpreter* ]] ||
   [[ $info != *"statically linked"* && $info != *"static-pie linked"* ]]; then
    echo "build.sh: FAIL: $bin is not statically linked" >&2
    exit 1
fi
