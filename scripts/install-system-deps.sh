#!/usr/bin/env bash
# Debian packages the lab needs (docs/LAB.md): nft, ip, tcpdump, conntrack; and chromium, which the
# report tests use to open report.html headless (tests/test_reports_browser.py).
# Installs only what is missing, so a machine that has them spends no time here.
set -euo pipefail
need=()
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
command -v conntrack >/dev/null 2>&1 || need+=(conntrack)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# redis-server: tests/test_fuzz.py starts one to check that fuzz workers share failures through Redis
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "splicecheck: missing Debian packages ${need[*]} and not root; install them by hand" >&2
        exit 0
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
