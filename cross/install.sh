#!/usr/bin/env bash
# Install what cross/build.sh and cross/smoke.sh need, on a Debian machine, as root.
# Idempotent: installs only what is missing, and prints one line per thing it does.
#
#   apt:    qemu-user-static (qemu-<arch>-static), file, dnsutils (dig),
#           llvm (llvm-objcopy, llvm-strip: build.sh and sizes.sh), xz-utils
#   pip:    ziglang, cargo-zigbuild
#   rustup: nightly + rust-src (for -Zbuild-std), stable musl targets
set -euo pipefail

say() { printf 'install.sh: %s\n' "$*"; }
die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }

# ---- apt ------------------------------------------------------------------
# command -> package that provides it
declare -A apt_for=(
    [qemu-mipsel-static]=qemu-user-static
    [qemu-mips-static]=qemu-user-static
    [qemu-arm-static]=qemu-user-static
    [qemu-aarch64-static]=qemu-user-static
    [file]=file
    [dig]=dnsutils
    [llvm-objcopy]=llvm
    [llvm-strip]=llvm
    [xz]=xz-utils
)
declare -A want=()
for cmd in "${!apt_for[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || want[${apt_for[$cmd]}]=1
done
if ((${#want[@]})); then
    pkgs=("${!want[@]}")
    [[ $(id -u) -eq 0 ]] || die "need root to apt-get install ${pkgs[*]}"
    say "apt-get install ${pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi

# ---- pip: ziglang, cargo-zigbuild ----------------------------------------
py=$(command -v python3 || command -v python || true)
[[ -n $py ]] || die "python3 not found (needed for pip install ziglang cargo-zigbuild)"
pip_missing=()
"$py" -m ziglang version >/dev/null 2>&1 || pip_missing+=(ziglang)
command -v cargo-zigbuild >/dev/null 2>&1 || pip_missing+=(cargo-zigbuild)
if ((${#pip_missing[@]})); then
    say "pip install ${pip_missing[*]}"
    if ! "$py" -m pip --version >/dev/null 2>&1; then
        [[ $(id -u) -eq 0 ]] || die "pip missing and not root"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip >/dev/null
    fi
    # Debian's system python refuses (PEP 668) without --break-system-packages.
    if ! "$py" -m pip install -q --disable-pip-version-check "${pip_missing[@]}" 2>/tmp/lanseal-pip.err; then
        if grep -q externally-managed /tmp/lanseal-pip.err; then
            "$py" -m pip install -q --disable-pip-version-check --break-system-packages "${pip_missing[@]}"
        else
            cat /tmp/lanseal-pip.err >&2
            die "pip install ${pip_missing[*]} failed"
        fi
    fi
    rm -f /tmp/lanseal-pip.err
    command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
    command -v cargo-zigbuild >/dev/null 2>&1 || die "cargo-zigbuild installed but not on PATH"
fi

# ---- rustup ---------------------------------------------------------------
command -v rustup >/dev/null 2>&1 || die "rustup not found"
if ! rustup toolchain list | grep -q '^nightly'; then
    say "rustup toolchain install nightly (+rust-src)"
    rustup -q toolchain install nightly --profile minimal --component rust-src >/dev/null
elif ! rustup component list --installed --toolchain nightly 2>/dev/null | grep -qx rust-src; then
    say "rustup component add rust-src --toolchain nightly"
    rustup -q component add rust-src --toolchain nightly >/dev/null
fi

stable_installed=$(rustup target list --installed --toolchain stable 2>/dev/null || true)
for t in x86_64-unknown-linux-musl aarch64-unknown-linux-musl; do
    grep -qx "$t" <<<"$stable_installed" && continue
    say "rustup target add $t"
    rustup -q target add --toolchain stable "$t" >/dev/null
done
# armv7/arm: prefer stable when rustup offers rust-std for them (it did not on the
# machine this was written on: 404); otherwise build.sh uses nightly -Zbuild-std.
for t in armv7-unknown-linux-musleabihf arm-unknown-linux-musleabihf; do
    grep -qx "$t" <<<"$stable_installed" && continue
    if rustup -q target add --toolchain stable "$t" >/dev/null 2>&1; then
        say "rustup target add $t"
    else
        say "note: no stable rust-std for $t; build.sh will use nightly -Zbuild-std"
    fi
done
