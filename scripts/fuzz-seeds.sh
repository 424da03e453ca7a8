#!/usr/bin/env bash
# Regenerates fuzz/lab-packets.txt, the committed fuzz seeds from real packets (issue 17): a lab
# of its own (configs/lab.yaml copied; namespaces vpcfwd-<tag>-<port>) runs with `vpcfwd run
# --pcap DIR` while traffic goes down its paths — `lab.sh check` (a TCP connection from every
# namespace to every destination `vpcfwd reach` lists, allowed or not), pings (ICMP echo) from
# app and web, a UDP transfer web -> internet and app -> internet (NAT), a DNS lookup through
# the VPC resolver — then the captures' packets become seeds, one per shape (IP version,
# protocol, addresses, TCP flags, service port, size class), at most 400 of at most 700 bytes.
# scripts/fuzz_seeds.py reads the file for the parse, pipeline and pcap targets.
#
#   scripts/fuzz-seeds.sh [--keep-pcaps DIR]
#
# Network safety: only the lab's namespaces and documentation addresses; `lab.sh down` on every
# exit (trap). Needs root; SKIPPED without it (the committed file stays as it is).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]] || ! command -v ip >/dev/null || [[ ! -e /dev/net/tun ]]; then
    echo "SKIPPED: capturing the lab needs root, iproute2 and /dev/net/tun"
    exit 0
fi
keep=
if [[ ${1:-} == --keep-pcaps ]]; then keep=$2; fi

export VPCFWD=${VPCFWD:-target/release/vpcfwd}
[[ -x $VPCFWD ]] || cargo build --release --locked --quiet

dir=$(mktemp -d /tmp/vpcfwd-seeds.XXXXXX)
cfg=$dir/seeds-lab.yaml
cp configs/lab.yaml "$cfg"
cleanup() {
    scripts/lab.sh down -c "$cfg" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

up=$(LAB_VPCFWD_ARGS="--pcap $dir/pcap ${LAB_VPCFWD_ARGS:-}" scripts/lab.sh up -c "$cfg")
echo "$up"
prefix=$(sed -n 's/.*namespaces \(vpcfwd-[0-9a-f]*\)-<port>.*/\1/p' <<< "$up")
[[ -n $prefix ]] || { echo "fuzz-seeds: could not read the lab's namespaces" >&2; exit 1; }
in_ns() { local ns=$1; shift; ip netns exec "$prefix-$ns" python3 "$@"; }

# Every path, allowed or refused (the check compares with reach; a mismatch is not our concern
# here, the packets are).
scripts/lab.sh check -c "$cfg" > "$dir/check.txt" 2>&1 || true
echo "fuzz-seeds: lab.sh check: $(tail -1 "$dir/check.txt")"
for from in app web; do
    in_ns "$from" scripts/lab_ping.py 203.0.113.100 1 || true
    in_ns "$from" scripts/lab_ping.py 10.0.2.10 1 || true
done
for from in web app; do
    in_ns internet scripts/lab_digest.py recv udp 203.0.113.100 40100 16 4 > "$dir/rx-$from" &
    rx=$!
    sleep 0.3
    in_ns "$from" scripts/lab_digest.py send udp 203.0.113.100 40100 16 300 || true
    wait "$rx" || true
done
in_ns app scripts/lab_resolve.py api.lab.example || true
in_ns app scripts/lab_resolve.py nothing.lab.example || true

# Stop the forwarder: its captures are complete once it has exited.
scripts/lab.sh down -c "$cfg" > /dev/null
pcaps=("$dir"/pcap/*.pcap)
[[ -e ${pcaps[0]} ]] || { echo "fuzz-seeds: no capture written" >&2; exit 1; }
python3 scripts/fuzz_seeds.py --lab-packets fuzz/lab-packets.txt "${pcaps[@]}"
if [[ -n $keep ]]; then
    mkdir -p "$keep"
    cp "${pcaps[@]}" "$keep"/
    echo "fuzz-seeds: captures kept in $keep"
fi
