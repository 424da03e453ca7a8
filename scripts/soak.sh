#!/usr/bin/env bash
# The soak (issue 17): the lab up (a lab of its own, beside any other: its namespaces are
# vpcfwd-<tag>-<port>), SECONDS (default 600) of mixed traffic — two TCP echo streams, UDP
# transfers with digests, pings, 200 new UDP flows a second — with a reload every second
# (SIGHUP and the admin API in turn, the config alternating between two versions); RSS and
# open fds sampled every 10 s; at the end packets read = written + write errors + drops by
# reason (plain devices, so that no coalescing merges packets), no ERROR in vpcfwd's log, RSS
# and fds flat. Prints a table and one JSON line
# (scripts/soak.py); exit 0 when every check held.
#
#   scripts/soak.sh [SECONDS] [--json FILE]
#
# Network safety: only the lab's namespaces and documentation addresses; `lab.sh down` on every
# exit (trap) stops what it started and removes the namespaces. Needs root; SKIPPED without it
# (a failure under CI=true). $VPCFWD names the binary (default: target/release/vpcfwd, built if
# missing).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]] || ! command -v ip >/dev/null || [[ ! -e /dev/net/tun ]]; then
    echo "SKIPPED: soak needs root, iproute2 and /dev/net/tun"
    [[ ${CI:-} == true ]] && exit 1
    exit 0
fi

secs=600
json=
while [[ $# -gt 0 ]]; do
    case $1 in
        --json) json=$2; shift 2 ;;
        -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        [0-9]*) secs=$1; shift ;;
        *) echo "soak: unknown argument $1" >&2; exit 2 ;;
    esac
done

export VPCFWD=${VPCFWD:-target/release/vpcfwd}
if [[ ! -x $VPCFWD ]]; then
    cargo build --release --locked --quiet
fi

dir=$(mktemp -d /tmp/vpcfwd-soak.XXXXXX)
cfg=$dir/soak-lab.yaml
cp configs/lab.yaml "$cfg"
cleanup() {
    scripts/lab.sh down -c "$cfg" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Plain devices (--no-offload): coalescing on egress would merge a batch's same-flow packets
# into one written super-packet, and the accounting below counts packets one to one.
up=$(LAB_VPCFWD_ARGS="--no-offload ${LAB_VPCFWD_ARGS:-}" scripts/lab.sh up -c "$cfg")
echo "$up"
run=$(sed -n 's/^lab: run directory \([^ ,]*\).*/\1/p' <<< "$up")
prefix=$(sed -n 's/.*namespaces \(vpcfwd-[0-9a-f]*\)-<port>.*/\1/p' <<< "$up")
[[ -n $run && -n $prefix ]] || { echo "soak: could not read the lab's run directory" >&2; exit 1; }

python3 scripts/soak.py --secs "$secs" --run "$run" --prefix "$prefix" --bin "$VPCFWD" \
    ${json:+--json "$json"}
