#!/usr/bin/env bash
# The one test command (README, CI): installs every missing prerequisite on a fresh
# Debian machine, then runs formatting, lints, unit and integration tests, the
# fuzz targets for a bounded time, and the static mipsel and mips builds
# answering DNS under qemu.
#   tests/run.sh           everything
#   tests/run.sh --native  skip the fuzzing and the cross build (quick local loop)
set -euo pipefail
cd "$(dirname "$0")/.."

native_only=0
[ "${1:-}" = "--native" ] && native_only=1

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=0
apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ $apt_updated -eq 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  echo "installing: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# dig (dnsutils) and kdig (knot-dnsutils) are the wire-level clients of the tests;
# unbound is the DNS-over-TLS server of tests/dot.rs, openssl makes its certificates
# (and Pebble's listener certificate); curl talks to Pebble; python3-venv holds
# certbot for tests/acme_clients.rs; faketime gives the certs role a 1970 clock
# (tests/certs.rs), as a router without a real-time clock has at boot.
apt_install dnsutils knot-dnsutils unbound openssl curl faketime python3 python3-venv
# Knot DNS is the standard secondary of the delegate zone in tests/xfr.rs, and of a
# router zone in tests/xfr_lan.rs.
apt_install knot
# BIND 9 is the second secondary there (tests/common/secondaries.rs runs its own
# named on a loopback port). Debian's package starts the system's named on port 53
# where systemd runs (no test asks port 53): stopped again if installed just now.
dpkg -s bind9 >/dev/null 2>&1 || { apt_install bind9; [ ! -d /run/systemd/system ] || as_root systemctl disable --now named >/dev/null 2>&1 || true; }
# PostgreSQL, the delegate nodes' shared store in tests/postgres.rs (the test
# starts its own unprivileged cluster; feature `postgres`). The system's cluster
# the package starts is stopped again, as named is.
dpkg -s postgresql >/dev/null 2>&1 || { apt_install postgresql; [ ! -d /run/systemd/system ] || as_root systemctl disable --now postgresql >/dev/null 2>&1 || true; }
# systemd-analyze verifies etc/lanseal.service, dpkg-deb builds the .deb
# (tests/packaging.rs); in a container systemd is only installed, not run.
apt_install systemd dpkg
# The web page's test (tests/api_page.rs) drives Debian's headless Chromium through
# chromedriver with Selenium (tests/browser/page.py).
apt_install chromium chromium-driver python3-selenium
# tests/openwrt.rs: the LuCI view parses with node; shellcheck reads the init script, the rpcd plugin and mkipk.sh.
apt_install nodejs shellcheck
# The reliability suite (tests/reliability/): dnsperf is its load, jq reads the
# stats, unshare (util-linux) gives the disk-full case its own tmpfs.
apt_install dnsperf jq util-linux

# The ACME CA of every certificate test: Debian unstable's pebble 2.10 (ARI,
# profiles, dns-persist-01; bookworm's 2.4 has none of them), unpacked into
# target/pebble without touching the system's apt sources (tests/common/pebble.rs).
tests/ca/fetch-pebble.sh >/dev/null
# promtool checks /metrics (tests/api.rs): unpacked into target/promtool, since
# installing Debian's prometheus package would start a Prometheus server.
tests/tools/fetch-promtool.sh >/dev/null

# certbot and its acme-dns authenticator (third-party clients of the delegate role),
# pinned to the versions tests/acme_clients.rs was written against. certbot-acme-dns
# is not usable: 0.3.1 fails to load under certbot 5 and checks CNAME/CAA through the
# system resolver (traffic off loopback).
acme_clients=target/acme-clients
if ! "$acme_clients/bin/python" -c 'import certbot, certbot_dns_acmedns' >/dev/null 2>&1; then
  echo "installing: certbot certbot-dns-acmedns (venv $acme_clients)"
  python3 -m venv --clear "$acme_clients"
  "$acme_clients/bin/pip" install -q --disable-pip-version-check \
    'certbot==5.8.0' 'certbot-dns-acmedns==0.1.0'
fi
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy

# The SQLite compile options of the router builds (cross/build.sh), here too.
export LIBSQLITE3_FLAGS="${LIBSQLITE3_FLAGS:-$(cat cross/sqlite.flags)}"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets -- -D warnings
echo "== cargo test"
# Among them the certs role's faults (tests/certs_faults.rs, about 30 s): a full
# disk during a deploy, and 20 SIGKILLs across renewals (CERT_FAULT_RUNS).
cargo test
# The delegate's PostgreSQL store (feature `postgres`, off in router builds).
echo "== cargo clippy and test --features postgres"
cargo clippy --all-targets --features postgres -- -D warnings
cargo test --features postgres --test postgres

# The reliability suite, bounded (README, "Reliability"): the release binary
# under a 60 s soak at 5 000 q/s (about 65 s), then the faults (upstreams
# killed with 10 names served stale, each waiting out the upstream timeout; a
# full disk; 50 SIGKILLs): about 110 s.
echo "== reliability: soak and faults"
cargo build --release
release_bin="${CARGO_TARGET_DIR:-target}/release/lanseal"
LANSEAL_BIN="$release_bin" SOAK_SECS="${SOAK_SECS:-60}" tests/reliability/soak.sh
LANSEAL_BIN="$release_bin" FAULT_NAMES="${FAULT_NAMES:-10}" tests/reliability/faults.sh

if [ $native_only -eq 0 ]; then
  # Every cargo-fuzz target (tests/fuzz) for FUZZ_SECONDS each (default 15); it
  # installs cargo-fuzz on the nightly toolchain when missing.
  echo "== fuzz"
  tests/reliability/fuzz.sh
  cross/install.sh
  # Both MIPS byte orders: mipsel (ramips, many cheap routers) and mips (ath79,
  # lantiq: the largest MIPS family among OpenWrt routers). The second build
  # reuses the zig cache and the std sources of the first.
  for target in mipsel-unknown-linux-musl mips-unknown-linux-musl; do
    echo "== cross: $target under qemu"
    cross/smoke.sh "$target"
  done
  # The size budget (issue 12) on the two largest targets: MIPS code is the
  # biggest of the six, so these fail first when a change costs too many bytes.
  echo "== cross: size budget"
  cross/sizes.sh --no-build mipsel-unknown-linux-musl mips-unknown-linux-musl
fi
echo "== all tests passed"
