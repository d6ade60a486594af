#!/usr/bin/env bash
# Fetches promtool (Debian's `prometheus` package) into target/promtool without
# installing the package: installing it would start a Prometheus server. The
# .deb comes from the system's own apt sources (`apt-get download`) and is
# unpacked with `dpkg -x`. Prints the binary's path.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=target/promtool
bin="$out/usr/bin/promtool"
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! (cd "$tmp" && apt-get -qq -o APT::Sandbox::User=root download prometheus >&2); then
  apt-get update -qq >&2
  (cd "$tmp" && apt-get -qq -o APT::Sandbox::User=root download prometheus >&2)
fi
rm -rf "$out"; mkdir -p "$out"
dpkg -x "$tmp"/prometheus_*.deb "$out"
echo "promtool $("$bin" --version 2>&1 | head -1) in $out" >&2
echo "$bin"
