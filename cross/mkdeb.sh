#!/usr/bin/env bash
# Builds a .deb of the static lanseal for a Raspberry Pi (or any Debian): the
# binary, the systemd unit (etc/lanseal.service), a starting config, the user.
#
#   cross/mkdeb.sh <target> [--bin PATH] [--out DIR]
#
# Targets: aarch64-unknown-linux-musl (arm64: Pi 3/4/5 with a 64-bit OS),
#          armv7-unknown-linux-musleabihf (armhf: Pi 2/3/4 with a 32-bit OS),
#          arm-unknown-linux-musleabihf (armhf too, for the ARMv6 Pi Zero/1),
#          x86_64-unknown-linux-musl (amd64).
# The binary is $CARGO_TARGET_DIR/<target>/release/lanseal (cross/build.sh makes
# it) unless --bin names one. The package is written to DIR (default target/deb)
# and its path printed. Built with dpkg-deb --root-owner-group: no root needed.
set -euo pipefail

usage() {
    echo "usage: $0 <target> [--bin PATH] [--out DIR]" >&2
    exit 2
}
target= bin= out=
while (($#)); do
    case $1 in
        --bin) [[ $# -ge 2 ]] || usage; bin=$2; shift ;;
        --out) [[ $# -ge 2 ]] || usage; out=$2; shift ;;
        -*) usage ;;
        *) [[ -z $target ]] || usage; target=$1 ;;
    esac
    shift
done
[[ -n $target ]] || usage
case $target in
    aarch64-unknown-linux-musl) arch=arm64 ;;
    armv7-unknown-linux-musleabihf | arm-unknown-linux-musleabihf) arch=armhf ;;
    x86_64-unknown-linux-musl) arch=amd64 ;;
    *) usage ;;
esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$root/target/cross}
bin=${bin:-$target_dir/$target/release/lanseal}
out=${out:-$root/target/deb}
[[ -x $bin ]] || { echo "mkdeb.sh: no binary at $bin (cross/build.sh $target)" >&2; exit 1; }
version=$(awk -F'"' '/^version *=/ { print $2; exit }' "$root/Cargo.toml")

tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
chmod 0755 "$tree" # the package's root is the system's /
install -D -m 0755 "$bin" "$tree/usr/bin/lanseal"
install -D -m 0644 "$root/etc/lanseal.service" "$tree/lib/systemd/system/lanseal.service"
install -D -m 0644 "$root/etc/lanseal.toml" "$tree/usr/share/doc/lanseal/lanseal.toml.reference"
install -d -m 0755 "$tree/etc/lanseal"
# The starting config: what the embedded default serves, with the state where
# the unit's StateDirectory puts it. The reference of every key is installed
# beside the documentation.
cat >"$tree/etc/lanseal/lanseal.toml" <<'TOML'
# lanseal's config (the reference of every key:
# /usr/share/doc/lanseal/lanseal.toml.reference). After a change:
#   lanseal check-config -c /etc/lanseal/lanseal.toml && systemctl reload lanseal
state_dir = "/var/lib/lanseal"          # the unit's StateDirectory
log_level = "info"

[dns]
# To serve the LAN: listen = ["0.0.0.0:53", "[::]:53"] (the unit grants port 53),
# with nothing else on port 53.
listen = ["127.0.0.1:5353"]
acl = ["local"]

[[zone]]
name = "home.arpa"
mode = "authoritative"
ip_names = true
records = ["router A 192.168.1.1"]

# The local API and web page: http://127.0.0.1:8053/, token in
# /var/lib/lanseal/api.token (readable by root and lanseal).
[api]
TOML
chmod 0644 "$tree/etc/lanseal/lanseal.toml"
install -D -m 0644 /dev/stdin "$tree/usr/lib/sysusers.d/lanseal.conf" <<'SYSUSERS'
u lanseal - "lanseal daemon" /var/lib/lanseal /usr/sbin/nologin
SYSUSERS

mkdir -p "$tree/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$tree" | cut -f1)
cat >"$tree/DEBIAN/control" <<CONTROL
Package: lanseal
Version: $version
Architecture: $arch
Maintainer: lanseal developers <lanseal@localhost>
Installed-Size: $size
Section: net
Priority: optional
Homepage: https://github.com/lanseal/lanseal
Description: LAN resolver, LAN certificates and ACME-challenge delegate
 One static binary: the resolver the LAN asks (local zones, IP-embedded names,
 a forwarding cache with rebinding protection), valid public certificates for
 LAN services through ACME DNS-01 via a delegate or dns-persist-01, a local
 JSON API with Prometheus metrics and a web page, and optionally the delegate.
CONTROL
echo "/etc/lanseal/lanseal.toml" >"$tree/DEBIAN/conffiles"
cat >"$tree/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
    if command -v systemd-sysusers >/dev/null 2>&1; then
        systemd-sysusers /usr/lib/sysusers.d/lanseal.conf
    elif ! getent passwd lanseal >/dev/null; then
        adduser --system --group --home /var/lib/lanseal --no-create-home lanseal
    fi
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload
        systemctl enable lanseal.service >/dev/null
        systemctl restart lanseal.service
    fi
fi
POSTINST
cat >"$tree/DEBIAN/prerm" <<'PRERM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
    systemctl stop lanseal.service || true
    systemctl disable lanseal.service >/dev/null || true
fi
PRERM
cat >"$tree/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
fi
if [ "$1" = purge ]; then
    rm -rf /var/lib/lanseal
fi
POSTRM
chmod 0755 "$tree/DEBIAN/postinst" "$tree/DEBIAN/prerm" "$tree/DEBIAN/postrm"

mkdir -p "$out"
deb="$out/lanseal_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$tree" "$deb" >&2
echo "$deb"
