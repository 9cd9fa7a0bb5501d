#!/usr/bin/env bash
# Fetch a Debian kernel image and its modules into splicecheck's kernel cache, without installing it, so that
# `splicecheck run --kernel` and `splicecheck matrix` can boot it (docs/KERNELS.md).
#
#   scripts/fetch-kernel.sh                 # the newest linux-image-6.1.0-*-amd64-unsigned Debian has
#   scripts/fetch-kernel.sh 6.1.0-47        # that ABI: linux-image-6.1.0-47-amd64-unsigned (6.1.0-47-amd64 too)
#   scripts/fetch-kernel.sh PACKAGE         # another linux-image-*-unsigned package
#
# Only the packages apt knows can be fetched: Debian's archive keeps the ABIs of the current point release and
# its security updates (`apt-cache search --names-only 'linux-image-6.1.0-.*-amd64-unsigned'` lists them);
# older ones are only on snapshot.debian.org, which this script does not use.
#
# The package is downloaded (apt-get download), unpacked (dpkg -x) and its modules indexed (depmod -b): the
# image lands in CACHE/linux-RELEASE/boot/vmlinuz-RELEASE, the modules in CACHE/linux-RELEASE/lib/modules/RELEASE,
# where splicecheck finds them beside the image. CACHE is $SPLICECHECK_KERNEL_CACHE, default
# /var/cache/splicecheck (outside the repository: 400 MB). A kernel already in the cache is not fetched again.
# Prints the image's path on the last line. Installs the Debian packages the virtual machine needs
# (scripts/install-system-deps.sh --vm) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${SPLICECHECK_KERNEL_CACHE:-/var/cache/splicecheck}
pkg=${1:-}
case "$pkg" in
    "" | linux-image-*) ;;
    [0-9]*.*-[0-9]*-amd64) pkg=linux-image-$pkg-unsigned ;;
    [0-9]*.*-[0-9]*) pkg=linux-image-$pkg-amd64-unsigned ;;
    *) echo "fetch-kernel: $pkg is neither a kernel ABI (6.1.0-47) nor a linux-image-* package" >&2; exit 2 ;;
esac
case "$pkg" in
    *[!a-z0-9.+-]*) echo "fetch-kernel: $pkg is not a Debian package name" >&2; exit 2 ;;
esac
bash scripts/install-system-deps.sh --vm
if [ -z "$pkg" ]; then
    pattern='^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$'
    pkg=$(apt-cache search --names-only "$pattern" | cut -d' ' -f1 | sort -V | tail -n 1)
    if [ -z "$pkg" ] && [ "$(id -u)" -eq 0 ]; then
        apt-get update -qq
        pkg=$(apt-cache search --names-only "$pattern" | cut -d' ' -f1 | sort -V | tail -n 1)
    fi
    if [ -z "$pkg" ]; then
        echo "fetch-kernel: no linux-image-6.1.0-*-amd64-unsigned package known to apt (apt-get update?)" >&2
        exit 1
    fi
fi
release=${pkg#linux-image-}
release=${release%-unsigned}
dest=$cache/linux-$release
image=$dest/boot/vmlinuz-$release
if [ -f "$image" ] && [ -f "$dest/lib/modules/$release/modules.dep" ]; then
    echo "fetch-kernel: $release already in $dest" >&2
    echo "$image"
    exit 0
fi
if [ -z "$(apt-cache show --no-all-versions "$pkg" 2>/dev/null)" ]; then
    echo "fetch-kernel: apt knows no package $pkg (apt-get update? an ABI Debian no longer carries?)" >&2
    exit 1
fi
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.fetch-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >/dev/null)
dpkg -x "$tmp"/*.deb "$tmp/root"
[ -f "$tmp/root/boot/vmlinuz-$release" ] || { echo "fetch-kernel: $pkg holds no boot/vmlinuz-$release" >&2; exit 1; }
depmod -b "$tmp/root" "$release"
rm -rf "$dest"
mv "$tmp/root" "$dest"
echo "fetch-kernel: $pkg unpacked into $dest" >&2
echo "$image"
