#!/usr/bin/env bash
# Fetches Debian unstable's pebble (2.10: ARI, profiles, dns-persist-01) into
# target/pebble without touching the system's apt sources, lists or cache:
# `apt-get update` and `apt-get download` run with a temporary source list naming
# sid on the mirror of /etc/apt/sources.list.d/debian.sources, and temporary lists
# and cache directories; the .deb is unpacked with `dpkg -x`. Prints the binary's path.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=target/pebble
bin="$out/usr/bin/pebble"
if [ -x "$bin" ] && grep -q '^2\.1[0-9]' "$out/VERSION" 2>/dev/null; then
  echo "$bin"; exit 0
fi
mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
mirror=${mirror:-http://deb.debian.org/debian}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror sid main" >"$tmp/sources.list"
opts=(-o "Dir::Etc::SourceList=$tmp/sources.list" -o Dir::Etc::SourceParts=/dev/null
      -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache"
      -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
apt-get "${opts[@]}" -qq update >&2
(cd "$tmp" && apt-get "${opts[@]}" -qq download pebble >&2)
rm -rf "$out"; mkdir -p "$out"
dpkg -x "$tmp"/pebble_*.deb "$out"
dpkg-deb -f "$tmp"/pebble_*.deb Version >"$out/VERSION"
echo "pebble $(cat "$out/VERSION") in $out" >&2
echo "$bin"
