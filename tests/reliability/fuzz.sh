#!/usr/bin/env bash
# The fuzz step of the reliability suite (tests/run.sh runs it): every cargo-fuzz
# target of tests/fuzz/ for a bounded time, from the checked-in corpus
# (tests/fuzz/corpus/<target>/, never written to: new inputs go to a scratch
# corpus) with its dictionary (tests/fuzz/dict/). Prints the executions of each
# target and any crash, with the input that caused it.
#
#   tests/reliability/fuzz.sh                   every target
#   tests/reliability/fuzz.sh dns_answer ...    only these
#
#   FUZZ_SECONDS  seconds per target (default 15: the cold build of the seven
#                 targets, about 9 CPU-minutes, is most of this step in CI)
#   FUZZ_KEEP     a directory: the scratch corpora and crash inputs go there and
#                 are kept (default: a temporary directory, removed)
#   FUZZ_SANITIZER  cargo-fuzz's --sanitizer (default none: a quarter less
#                 build, 10 to 50 times the executions, every panic still caught;
#                 address for long runs, as the executions in README were made)
#
# Exit: 0 no crash, 1 a target crashed (or timed out, or ran out of memory),
# 2 the fuzzers could not be built or run.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${FUZZ_SECONDS:-15}
sanitizer=${FUZZ_SANITIZER:-none}
all=(dns_answer config_toml config_uci http_api http_delegate delegate_body dns_xfr)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")

say() { printf 'fuzz: %s\n' "$*"; }

# cargo-fuzz needs nightly (sanitizer flags); cross/install.sh installs the same
# toolchain for the cross builds.
if ! rustup toolchain list | grep -q '^nightly'; then
  say "rustup toolchain install nightly"
  rustup -q toolchain install nightly --profile minimal >/dev/null
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  say "cargo +nightly install cargo-fuzz --locked"
  cargo +nightly install -q cargo-fuzz --locked
fi

export LIBSQLITE3_FLAGS="${LIBSQLITE3_FLAGS:-$(cat cross/sqlite.flags)}"
# Beside the main build's artifacts (instrumented, so never mixed with them).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}/fuzz"
if [ -n "${FUZZ_KEEP:-}" ]; then
  work=$FUZZ_KEEP
  mkdir -p "$work"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi

say "building ${#targets[@]} target(s)"
if ! cargo +nightly fuzz build --sanitizer "$sanitizer" --fuzz-dir tests/fuzz >"$work/build.log" 2>&1; then
  tail -40 "$work/build.log"
  say "error: the fuzz targets did not build"
  exit 2
fi

failed=0
for target in "${targets[@]}"; do
  dir=$work/$target
  mkdir -p "$dir/corpus" "$dir/artifacts"
  case $target in
    http_*) dict=tests/fuzz/dict/http.dict ;;
    *) dict=tests/fuzz/dict/$target.dict ;;
  esac
  args=(-max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$dir/artifacts/")
  [ -f "$dict" ] && args+=(-dict="$dict")
  status=0
  cargo +nightly fuzz run --sanitizer "$sanitizer" --fuzz-dir tests/fuzz "$target" "$dir/corpus" "tests/fuzz/corpus/$target" \
    -- "${args[@]}" >"$dir/log" 2>&1 || status=$?
  executions=$(awk '/stat::number_of_executed_units/ {print $2}' "$dir/log" | tail -1)
  corpus=$(find "$dir/corpus" "tests/fuzz/corpus/$target" -type f | wc -l)
  # libFuzzer's findings: crash-, timeout-, oom-, leak-; slow-unit- (over 10 s,
  # e.g. bcrypt on a loaded machine) is reported, not failed.
  crashes=$(find "$dir/artifacts" -type f ! -name 'slow-unit-*' | wc -l)
  slow=$(find "$dir/artifacts" -type f -name 'slow-unit-*' | wc -l)
  say "$target: ${executions:-?} executions in ${seconds} s, corpus $corpus, crashes $crashes, slow inputs $slow"
  if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    failed=1
    grep -E -A12 "panicked at|ERROR: libFuzzer|SUMMARY|==ERROR" "$dir/log" | head -60 || tail -30 "$dir/log"
    for input in "$dir"/artifacts/*; do
      [ -f "$input" ] || continue
      case $(basename "$input") in slow-unit-*) continue ;; esac
      say "$target: crash input $(basename "$input") ($(wc -c <"$input") bytes):"
      od -A x -t x1z -v "$input" | head -40
    done
    [ -z "${executions:-}" ] && [ "$crashes" -eq 0 ] && { tail -30 "$dir/log"; exit 2; }
  fi
done

if [ $failed -ne 0 ]; then
  say "FAILED: a target crashed (reproduce: cargo +nightly fuzz run --fuzz-dir tests/fuzz TARGET INPUT)"
  exit 1
fi
say "no crash"
