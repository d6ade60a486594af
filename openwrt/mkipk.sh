#!/bin/sh
# Assemble lanseal's .ipk for OpenWrt 24.10 (opkg) from a static binary,
# without the SDK:
#
#   openwrt/mkipk.sh <target> [--bin PATH] [--arch ARCH] [--out DIR]
#   openwrt/mkipk.sh luci [--out DIR]
#
# <target>: a cross/build.sh target (x86_64-unknown-linux-musl,
# aarch64-unknown-linux-musl, armv7-unknown-linux-musleabihf,
# arm-unknown-linux-musleabihf, mipsel-unknown-linux-musl,
# mips-unknown-linux-musl) or its first word (mipsel, ...).
# --bin: the binary (default: target/cross/<target>/release/lanseal, what
# cross/build.sh writes). --arch: the opkg architecture, for routers whose
# CPU is not the default of the target (opkg refuses a package whose
# Architecture is not in /etc/opkg.conf: `opkg print-architecture` shows
# the router's). --out: where the .ipk goes (default: target/ipk).
# `luci` builds luci-app-lanseal (architecture `all`): the LuCI page, which
# talks to lanseal's rpcd plugin.
#
# The package is what the SDK's ipkg-build makes from openwrt/lanseal/Makefile:
# a gzipped tar (not an ar archive: opkg-lede reads only tar) of
# ./debian-binary, ./data.tar.gz and ./control.tar.gz, GNU tar format,
# owner root, with OpenWrt's generated postinst/prerm (user and group from
# Require-User, enable and start the init script; stop and disable it) and
# the package's own postinst-pkg. Install it with `opkg install ./lanseal_*.ipk`.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
files=$root/openwrt/lanseal/files
luci=$root/openwrt/luci-app-lanseal

usage() {
	echo "usage: $0 <target> [--bin PATH] [--arch ARCH] [--out DIR]" >&2
	exit 2
}

[ $# -ge 1 ] || usage
package=lanseal
case $1 in
luci) package=luci-app-lanseal target=all arch=all ;;
x86_64 | x86_64-unknown-linux-musl) target=x86_64-unknown-linux-musl arch=x86_64 ;;
aarch64 | aarch64-unknown-linux-musl) target=aarch64-unknown-linux-musl arch=aarch64_cortex-a53 ;;
armv7 | armv7-unknown-linux-musleabihf) target=armv7-unknown-linux-musleabihf arch=arm_cortex-a7_neon-vfpv4 ;;
arm | arm-unknown-linux-musleabihf) target=arm-unknown-linux-musleabihf arch=arm_arm1176jzf-s_vfp ;;
mipsel | mipsel-unknown-linux-musl) target=mipsel-unknown-linux-musl arch=mipsel_24kc ;;
mips | mips-unknown-linux-musl) target=mips-unknown-linux-musl arch=mips_24kc ;;
*) usage ;;
esac
shift
bin=$root/target/cross/$target/release/lanseal
out=$root/target/ipk
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || usage
	case $1 in
	--bin) bin=$2 ;;
	--arch) arch=$2 ;;
	--out) out=$2 ;;
	*) usage ;;
	esac
	shift 2
done
if [ "$package" = lanseal ] && [ ! -f "$bin" ]; then
	echo "mkipk.sh: no binary at $bin (cross/build.sh $target makes it)" >&2
	exit 1
fi
case $arch in *[!A-Za-z0-9_.+-]* | '') echo "mkipk.sh: bad architecture '$arch'" >&2; exit 2 ;; esac

# The version of the crate and the Makefile's PKG_RELEASE, as the SDK spells it.
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n 1)
release=$(sed -n 's/^PKG_RELEASE:=//p' "$root/openwrt/lanseal/Makefile")
if [ -z "$version" ] || [ -z "$release" ]; then
	echo "mkipk.sh: no version in Cargo.toml or PKG_RELEASE in the Makefile" >&2
	exit 1
fi
full_version=$version-r$release
userid=$(sed -n 's/^[[:space:]]*USERID:=//p' "$root/openwrt/lanseal/Makefile")

# Reproducible: every timestamp is the last commit's (or SOURCE_DATE_EPOCH).
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)}
tar_flags="--format=gnu --numeric-owner --owner=0 --group=0 --sort=name --mtime=@$epoch"

work=$(mktemp -d "${TMPDIR:-/tmp}/mkipk.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
data=$work/data
control=$work/control
mkdir -p "$data" "$control"

lanseal_files() {
	# The files, with the modes the Makefile's INSTALL_BIN (0755), INSTALL_CONF
	# (0600) and INSTALL_DATA (0644) give them.
	install -d -m 0755 "$data/usr/sbin" "$data/etc/init.d" "$data/etc/config" \
		"$data/usr/libexec/rpcd" "$data/usr/share/rpcd/acl.d" "$data/usr/share/acl.d" \
		"$data/lib/upgrade/keep.d"
	install -m 0755 "$bin" "$data/usr/sbin/lanseal"
	install -m 0755 "$files/lanseal.init" "$data/etc/init.d/lanseal"
	install -m 0600 "$files/lanseal.config" "$data/etc/config/lanseal"
	install -m 0755 "$files/lanseal.rpcd" "$data/usr/libexec/rpcd/lanseal"
	install -m 0644 "$files/lanseal.acl.json" "$data/usr/share/rpcd/acl.d/luci-app-lanseal.json"
	install -m 0644 "$files/lanseal.ubus-acl.json" "$data/usr/share/acl.d/lanseal.json"
	# sysupgrade keeps the state directory (the SDK writes this for a conffiles
	# entry that is not a file of the package).
	printf '/etc/lanseal/\n' >"$work/keep"
	install -m 0644 "$work/keep" "$data/lib/upgrade/keep.d/lanseal"
}

luci_files() {
	install -d -m 0755 "$data/www/luci-static/resources/view/lanseal" "$data/usr/share/luci/menu.d"
	install -m 0644 "$luci/htdocs/luci-static/resources/view/lanseal/overview.js" \
		"$data/www/luci-static/resources/view/lanseal/overview.js"
	install -m 0644 "$luci/root/usr/share/luci/menu.d/luci-app-lanseal.json" \
		"$data/usr/share/luci/menu.d/luci-app-lanseal.json"
}

lanseal_control() {
	# A static binary: no libc. jsonfilter parses the rpcd plugin's arguments.
	cat >"$control/control" <<-EOF
	Package: lanseal
	Version: $full_version
	Depends: jsonfilter
	License: Apache-2.0 MIT
	Section: net
	Require-User: $userid
	Architecture: $arch
	Installed-Size: $installed_size
	Description: LAN DNS with local zones and the router's own certificates
	 lanseal answers the LAN from local zones, IP-embedded names and the DHCP
	 leases, forwards the rest through a cache, and keeps the router's own
	 certificates from an ACME CA, renewed forever. Static build for $target.
	EOF
	printf '/etc/config/lanseal\n' >"$control/conffiles"
	cat >"$control/postinst-pkg" <<'EOF'
#!/bin/sh
[ -n "${IPKG_INSTROOT}" ] || {
	kill -HUP $(pidof ubusd) 2>/dev/null
	/etc/init.d/rpcd reload 2>/dev/null
}
exit 0
EOF
}

# What luci.mk gives every LuCI app: the menu and module caches dropped,
# rpcd reloaded (it reads the ACL files when it starts).
luci_control() {
	cat >"$control/control" <<EOF
Package: luci-app-lanseal
Version: $full_version
Depends: luci-base, lanseal
License: Apache-2.0 MIT
Section: luci
Architecture: all
Installed-Size: $installed_size
Description: LuCI support for lanseal
 Services > lanseal: certificates with their setup records, DNS statistics
 and runtime records, through lanseal's rpcd plugin.
EOF
	cat >"$control/postinst-pkg" <<'EOF'
#!/bin/sh
[ -n "${IPKG_INSTROOT}" ] || {
	rm -f /tmp/luci-indexcache.*
	rm -rf /tmp/luci-modulecache/
	/etc/init.d/rpcd reload 2>/dev/null
}
exit 0
EOF
}

if [ "$package" = lanseal ]; then lanseal_files; else luci_files; fi
# shellcheck disable=SC2086 # $tar_flags is a list of options
(cd "$data" && tar $tar_flags -cf - .) | gzip -n >"$work/data.tar.gz"
installed_size=$(gzip -dc "$work/data.tar.gz" | wc -c | tr -d ' ')
if [ "$package" = lanseal ]; then lanseal_control; else luci_control; fi

# OpenWrt's generated scripts (include/package-pack.mk), and the package's
# own postinst as postinst-pkg, which default_postinst runs.
cat >"$control/postinst" <<'EOF'
#!/bin/sh
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. ${IPKG_INSTROOT}/lib/functions.sh
default_postinst $0 $@
EOF
cat >"$control/prerm" <<'EOF'
#!/bin/sh
[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. ${IPKG_INSTROOT}/lib/functions.sh
default_prerm $0 $@
EOF
cp "$control/postinst-pkg" "$control/postrm"
chmod 0644 "$control/control"
[ ! -f "$control/conffiles" ] || chmod 0644 "$control/conffiles"
chmod 0755 "$control/postinst" "$control/prerm" "$control/postinst-pkg" "$control/postrm"
# shellcheck disable=SC2086
(cd "$control" && tar $tar_flags -cf - .) | gzip -n >"$work/control.tar.gz"

echo 2.0 >"$work/debian-binary"
mkdir -p "$out"
ipk=$out/${package}_${full_version}_$arch.ipk
# shellcheck disable=SC2086
(cd "$work" && tar $tar_flags -cf - ./debian-binary ./data.tar.gz ./control.tar.gz) | gzip -n >"$ipk.tmp"
mv -f "$ipk.tmp" "$ipk"
echo "$ipk"
