#!/usr/bin/env bash
# The Linux kernel's FIB as the oracle of `vpcfwd lookup` (the forwarder's LPM): loads a prefix
# table into a kernel routing table in a fresh namespace, asks `ip route get fibmatch` for random
# addresses and for every prefix's first, middle and last address, and compares the matched
# prefixes with `vpcfwd lookup`; then the same for random tables with /0, host routes and
# nesting. Prints a table of keys compared and mismatches (zero expected), then one JSON line.
#
#   scripts/kernel-oracle.sh [--table FILE] [--keys N] [--sample N] [--random-tables N]
#                            [--random-keys N] [--json FILE] [--no-table]
#
# Defaults: the Tier-1 table (../shared/data/prefixes-tier1.txt.gz, read in place, IPv4 and
# IPv6), 1,000,000 random keys per family (half uniform, half inside a random prefix), every
# prefix's endpoints (--sample N: those of N random prefixes), 20 random tables of 2,000 keys
# per family. Exit 0 when nothing mismatched, 1 otherwise.
#
# Network safety: the namespace (vpcfwd-oracle-<pid>) holds only a TUN device no process reads
# (and lo, down); every route points at that device, and `ip route get` sends nothing. The
# namespace goes on every exit (trap). Needs root; prints SKIPPED without it (a failure under
# CI=true). $VPCFWD names the binary (default: target/release/vpcfwd, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]] || ! command -v ip >/dev/null || [[ ! -e /dev/net/tun ]]; then
    echo "SKIPPED: kernel-oracle needs root, iproute2 and /dev/net/tun"
    [[ ${CI:-} == true ]] && exit 1
    exit 0
fi

table=${VPCFWD_SHARED:-../shared}/data/prefixes-tier1.txt.gz
args=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --table) table=$2; shift 2 ;;
        --no-table) table=; shift ;;
        --keys|--sample|--random-tables|--random-keys|--json|--seed|--jobs) args+=("$1" "$2"); shift 2 ;;
        -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "kernel-oracle: unknown argument $1" >&2; exit 2 ;;
    esac
done
if [[ -n $table && ! -f $table ]]; then
    echo "kernel-oracle: $table not found: only the random tables are compared" >&2
    table=
fi

vpcfwd=${VPCFWD:-target/release/vpcfwd}
if [[ ! -x $vpcfwd ]]; then
    cargo build --release --quiet
fi

ns=vpcfwd-oracle-$$
dev=vf-oracle
cleanup() { ip netns delete "$ns" 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns add "$ns"
ip -n "$ns" tuntap add mode tun name "$dev"
ip -n "$ns" link set "$dev" up

python3 scripts/kernel_oracle.py --ns "$ns" --dev "$dev" --vpcfwd "$vpcfwd" \
    ${table:+--table "$table"} "${args[@]}"
