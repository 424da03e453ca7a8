#!/usr/bin/env bash
# Floods and exhaustion with real packets at full size (issue 17): the tests of tests/flood.rs
# with the issue's figures instead of CI's — 1,000,000 new UDP flows from the lab's web against a
# flow-table bound of 50,000 while a TCP stream from app runs (RSS, bytes lost, refusals,
# recovery after the UDP idle timeout), then 56,000 UDP flows from app to one destination
# through the NAT gateway (55,000 translated, NAT_PORT_ALLOCATION for the rest, other
# destinations unaffected) and, after the NAT gateway's fixed 350 s idle timeout, new flows
# translated again. About 8 minutes. Prints the figures; with --json FILE also writes them.
#
#   scripts/flood.sh [--flows N] [--no-nat-recovery] [--json FILE]
#
# Network safety: only the lab's namespaces (vpcfwd-t<pid>-*, made and removed by the test's
# guard, also on failure); the flood's packets go from one lab namespace to another through
# vpcfwd, to documentation addresses. Needs root; SKIPPED without it (a failure under CI=true).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]] || ! command -v ip >/dev/null || [[ ! -e /dev/net/tun ]]; then
    echo "SKIPPED: flood needs root, iproute2 and /dev/net/tun"
    [[ ${CI:-} == true ]] && exit 1
    exit 0
fi

flows=1000000
recovery=1
json=
while [[ $# -gt 0 ]]; do
    case $1 in
        --flows) flows=$2; shift 2 ;;
        --no-nat-recovery) recovery=0; shift ;;
        --json) json=$2; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "flood: unknown argument $1" >&2; exit 2 ;;
    esac
done
[[ -n $json ]] && rm -f "$json"

FLOOD_FLOWS=$flows FLOOD_NAT_RECOVERY=$recovery FLOOD_JSON=${json:+$(realpath -m "$json")} \
    cargo test --release --locked --test flood -- --test-threads=1 --nocapture 2>&1 |
    grep -E '^(flood|nat|recovery|after|waiting|test |test result|thread|SKIPPED)|panicked|assert'
exit "${PIPESTATUS[0]}"
