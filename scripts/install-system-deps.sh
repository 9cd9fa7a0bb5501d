#!/usr/bin/env bash
# Debian packages the lab needs (docs/LAB.md): nft, ip, tcpdump, conntrack; and chromium, which the
# report tests use to open report.html headless (tests/test_reports_browser.py); clang, libbpf-dev and
# bpftool for the ebpf-splice adapter (clang builds its datapath, libbpf loads it, bpftool lets the
# tests check that no program is left in the kernel).
# Installs only what is missing, so a machine that has them spends no time here.
# With --vm: only what `splicecheck run --kernel` needs to boot a kernel in a virtual machine
# (docs/KERNELS.md) — QEMU, a static busybox for the guest's initramfs, kmod's depmod and modprobe; not
# installed by `make setup`, since neither `make test` nor `make report` boots a kernel.
set -euo pipefail
need=()
if [ "${1:-}" = "--vm" ]; then
    command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
    [ -x /bin/busybox ] && ! grep -q ld-linux /bin/busybox || need+=(busybox-static)
    command -v depmod >/dev/null 2>&1 || [ -x /usr/sbin/depmod ] || [ -x /sbin/depmod ] || need+=(kmod)
else
    command -v nft >/dev/null 2>&1 || need+=(nftables)
    command -v ip >/dev/null 2>&1 || need+=(iproute2)
    command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
    command -v conntrack >/dev/null 2>&1 || need+=(conntrack)
    command -v chromium >/dev/null 2>&1 || need+=(chromium)
    command -v clang >/dev/null 2>&1 || need+=(clang)
    [ -e /usr/include/bpf/bpf_helpers.h ] || need+=(libbpf-dev)
    command -v bpftool >/dev/null 2>&1 || need+=(bpftool)
    # redis-server: tests/test_fuzz.py starts one to check that fuzz workers share failures through Redis
    command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
fi
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "splicecheck: missing Debian packages ${need[*]} and not root; install them by hand" >&2
        exit 0
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
