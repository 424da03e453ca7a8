#!/usr/bin/env bash
# vpcfwd against Linux kernel forwarding on the same layout, alternating, in one run:
#   vpcfwd: app (10.0.2.10) -> NAT gateway -> IGW -> internet (203.0.113.100), i.e. egress SG,
#           NACLs of two subnets, two route lookups, NAT translation and connection tracking;
#   kernel: the same two addresses in two namespaces joined by a router namespace (veth pairs,
#           ip_forward=1, no NAT): the limit;
#   nft:    the same again, the router doing the same job in nftables: stateless NACL checks
#           (acl-private's rule 90 telnet deny, both directions), connection tracking, the SG's
#           egress rules for new flows, SNAT to the NAT gateway's Elastic IP -- the namespace
#           VPC lab people build today.
# and, over IPv6 (tcp6: one TCP flow), configs/lab6.yaml's IPv6-only instance (2001:db8:10:3::10)
# through the egress-only internet gateway (SG, NACL, route lookup, the gateway's state) to
# 2001:db8:ff::100, against the same two kernel layouts carrying IPv6 (nft: the same checks and
# conntrack, no translation: the egress-only gateway has none).
# Measures 1 TCP flow (Gbit/s), 4 TCP flows, 64-byte UDP (packets/s) with iperf3, and vpcfwd's
# CPU use (and CPU per Gbit/s, per Mpps); prints a table with vpcfwd's ratio to each baseline,
# the load average, and writes target/bench-e2e.json.
#   scripts/bench-e2e.sh [SECONDS_PER_RUN] [ROUNDS]
# BENCH_VPCFWD_ARGS passes options to `vpcfwd run` (e.g. "--queues 1", "--no-offload"); the lab
# runs as `scripts/lab.sh up` does: metrics and flow logs on.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
ROUNDS=${2:-3}
[[ $(id -u) -eq 0 ]] || { echo "bench-e2e: needs root" >&2; exit 1; }
if ! command -v iperf3 >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iperf3 >/dev/null
fi
OUT=target/bench-e2e
mkdir -p "$OUT"
K=vpcfwd-kb
N=vpcfwd-kn
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

cleanup() {
  set +e
  for f in "$OUT"/*.pid; do [[ -e $f ]] && kill "$(cat "$f")" 2>/dev/null; rm -f "$f"; done
  scripts/lab.sh down >/dev/null 2>&1
  scripts/lab.sh down -c configs/lab6.yaml >/dev/null 2>&1
  for ns in $K-a $K-r $K-b $N-a $N-r $N-b; do ip netns delete $ns 2>/dev/null; done
}
trap cleanup EXIT INT TERM

# Kernel layout: a --veth-- r --veth-- b.
for ns in $K-a $K-r $K-b; do ip netns add $ns; ip -n $ns link set lo up; done
ip link add vf-kb-a netns $K-a type veth peer name vf-kb-ra netns $K-r
ip link add vf-kb-b netns $K-b type veth peer name vf-kb-rb netns $K-r
ip -n $K-a addr add 10.0.2.10/24 dev vf-kb-a; ip -n $K-a link set vf-kb-a up
ip -n $K-b addr add 203.0.113.100/24 dev vf-kb-b; ip -n $K-b link set vf-kb-b up
ip -n $K-r addr add 10.0.2.1/24 dev vf-kb-ra; ip -n $K-r link set vf-kb-ra up
ip -n $K-r addr add 203.0.113.1/24 dev vf-kb-rb; ip -n $K-r link set vf-kb-rb up
ip -n $K-a route add default via 10.0.2.1
ip -n $K-b route add default via 203.0.113.1
ip netns exec $K-r sysctl -qw net.ipv4.ip_forward=1
v6_layout() {  # NS-PREFIX DEV-PREFIX: lab6's addresses on the a --- r --- b layout
  local p=$1 d=$2
  ip -n $p-a addr add 2001:db8:10:3::10/64 dev $d-a nodad
  ip -n $p-b addr add 2001:db8:ff::100/64 dev $d-b nodad
  ip -n $p-r addr add 2001:db8:10:3::1/64 dev $d-ra nodad
  ip -n $p-r addr add 2001:db8:ff::1/64 dev $d-rb nodad
  ip -n $p-a -6 route add default via 2001:db8:10:3::1
  ip -n $p-b -6 route add default via 2001:db8:ff::1
  ip netns exec $p-r sysctl -qw net.ipv6.conf.all.forwarding=1
}
v6_layout $K vf-kb

# Kernel with the VPC's job in nftables: a --veth-- r (nft) --veth-- b.
if ! command -v nft >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nftables >/dev/null
fi
for ns in $N-a $N-r $N-b; do ip netns add $ns; ip -n $ns link set lo up; done
ip link add vf-kn-a netns $N-a type veth peer name vf-kn-ra netns $N-r
ip link add vf-kn-b netns $N-b type veth peer name vf-kn-rb netns $N-r
ip -n $N-a addr add 10.0.2.10/24 dev vf-kn-a; ip -n $N-a link set vf-kn-a up
ip -n $N-b addr add 203.0.113.100/24 dev vf-kn-b; ip -n $N-b link set vf-kn-b up
ip -n $N-r addr add 10.0.2.1/24 dev vf-kn-ra; ip -n $N-r link set vf-kn-ra up
ip -n $N-r addr add 203.0.113.1/24 dev vf-kn-rb; ip -n $N-r link set vf-kn-rb up
ip -n $N-a route add default via 10.0.2.1
ip -n $N-b route add default via 203.0.113.1
ip netns exec $N-r sysctl -qw net.ipv4.ip_forward=1
v6_layout $N vf-kn
ip netns exec $N-r nft -f - <<'NFT'
table ip6 vpc6 {
  chain forward {
    type filter hook forward priority filter; policy drop;
    # The egress-only gateway and sg-v6 are stateful: replies of tracked flows pass; new flows
    # only outbound from the instance (sg-v6 egress: all to ::/0). No translation.
    ct state invalid drop
    ct state established,related accept
    iifname "vf-kn-ra" ip6 saddr 2001:db8:10:3::10 ct state new accept
    # Neighbour discovery is not forwarded; nothing else from outside starts a flow.
  }
}
table ip vpc {
  chain forward {
    type filter hook forward priority filter; policy drop;
    # NACLs are stateless: acl-private rule 90 (deny TCP 23) both ways, then rule 100 allows.
    iifname "vf-kn-ra" tcp dport 23 drop
    oifname "vf-kn-ra" tcp sport 23 drop
    # Security groups are stateful: replies of tracked flows pass.
    ct state invalid drop
    ct state established,related accept
    # sg-app egress: TCP and UDP, all ports, to 203.0.113.0/24; ICMP anywhere.
    iifname "vf-kn-ra" ip saddr 10.0.2.10 ip daddr 203.0.113.0/24 meta l4proto { tcp, udp } ct state new accept
    iifname "vf-kn-ra" ip saddr 10.0.2.10 meta l4proto icmp ct state new accept
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    # nat-lab: the private subnet leaves with the Elastic IP.
    oifname "vf-kn-rb" ip saddr 10.0.2.0/24 snat to 198.51.100.5
  }
}
NFT

# vpcfwd layout: the lab.
LAB_VPCFWD_ARGS=${BENCH_VPCFWD_ARGS:-} scripts/lab.sh up >/dev/null
VPID=$(cat lab-run/vpcfwd.pid)
# The IPv6 lab beside it (namespaces vpcfwd-<tag>-<port>; see lab.sh).
TAG6=$(echo "$PWD:$(realpath -m configs/lab6.yaml)" | sha1sum | cut -c1-6)
LAB_VPCFWD_ARGS=${BENCH_VPCFWD_ARGS:-} scripts/lab.sh up -c configs/lab6.yaml >/dev/null
VPID6=$(cat "lab-run-$TAG6/vpcfwd.pid")

ip netns exec $K-b iperf3 -s -B 203.0.113.100 -D --pidfile "$PWD/$OUT/kserver.pid"
ip netns exec $N-b iperf3 -s -B 203.0.113.100 -D --pidfile "$PWD/$OUT/nserver.pid"
ip netns exec vpcfwd-internet iperf3 -s -B 203.0.113.100 -D --pidfile "$PWD/$OUT/vserver.pid"
ip netns exec $K-b iperf3 -s -p 5202 -B 2001:db8:ff::100 -D --pidfile "$PWD/$OUT/kserver6.pid"
ip netns exec $N-b iperf3 -s -p 5202 -B 2001:db8:ff::100 -D --pidfile "$PWD/$OUT/nserver6.pid"
ip netns exec "vpcfwd-$TAG6-internet" iperf3 -s -p 5202 -B 2001:db8:ff::100 -D \
  --pidfile "$PWD/$OUT/vserver6.pid"
sleep 0.5

cpu_ticks() { awk '{print $14 + $15}' "/proc/${1:-$VPID}/stat"; }
HZ=$(getconf CLK_TCK)

run() {  # run SIDE KIND ROUND -> writes $OUT/SIDE-KIND-ROUND.json
  local side=$1 kind=$2 r=$3 ns args dst=203.0.113.100 pid=$VPID
  case $side in
    kernel) ns=$K-a ;;
    nft) ns=$N-a ;;
    *) ns=vpcfwd-app ;;
  esac
  case $kind in
    tcp1) args=(-t "$SECS") ;;
    tcp4) args=(-t "$SECS" -P 4) ;;
    udp64) args=(-t "$SECS" -u -b 0 -l 36) ;;  # 36 B payload = 64 B IP packets
    tcp6) args=(-t "$SECS" -p 5202); dst=2001:db8:ff::100
          [[ $side == vpcfwd ]] && { ns=vpcfwd-$TAG6-v6; pid=$VPID6; } ;;
  esac
  local t0; t0=$(cpu_ticks $pid)
  ip netns exec "$ns" iperf3 -c $dst -J "${args[@]}" > "$OUT/$side-$kind-$r.json" 2>/dev/null || true
  if [[ $side == vpcfwd ]]; then
    echo $(( $(cpu_ticks $pid) - t0 )) > "$OUT/$side-$kind-$r.cpu"
  fi
}

for r in $(seq "$ROUNDS"); do
  for kind in tcp1 tcp4 udp64 tcp6; do
    run kernel $kind "$r"
    run nft $kind "$r"
    run vpcfwd $kind "$r"
  done
done

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
IO_PATH=$(grep -o 'TUN I/O: [a-z_]*' lab-run/vpcfwd.log 2>/dev/null | head -1 || true)
python3 - "$OUT" "$ROUNDS" "$SECS" "$HZ" "${BENCH_VPCFWD_ARGS:-}" "$LOAD_BEFORE" "$LOAD_AFTER" "${IO_PATH:-}" <<'PY'
import json, statistics, sys, os
out, rounds, secs, hz = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
args, load_before, load_after, io_path = sys.argv[5], sys.argv[6], sys.argv[7], sys.argv[8]
def metric(side, kind, r):
    try:
        j = json.load(open(f"{out}/{side}-{kind}-{r}.json"))
        e = j["end"]
        if kind == "udp64":
            s = e["sum"]
            return (s["packets"] - s.get("lost_packets", 0)) / s["seconds"]
        return e["sum_received"]["bits_per_second"] / 1e9
    except Exception:
        return None
def med(side, kind):
    v = [v for v in (metric(side, kind, r) for r in range(1, rounds + 1)) if v]
    return v, (statistics.median(v) if v else None)
rows, result = [], {}
for kind, unit in [("tcp1", "Gbit/s"), ("tcp4", "Gbit/s"), ("udp64", "pkt/s received"),
                   ("tcp6", "Gbit/s")]:
    k, km = med("kernel", kind)
    n, nm = med("nft", kind)
    v, vm = med("vpcfwd", kind)
    cpu = []
    for r in range(1, rounds + 1):
        try:
            cpu.append(int(open(f"{out}/vpcfwd-{kind}-{r}.cpu").read()) / hz / secs * 100)
        except Exception:
            pass
    ratio = vm / km if km and vm else None
    ratio_nft = vm / nm if nm and vm else None
    cm = statistics.median(cpu) if cpu else None
    # CPU cost: cores busy per Gbit/s (TCP) or per Mpps (UDP).
    per = None
    if cm is not None and vm:
        per = (cm / 100) / (vm if kind != "udp64" else vm / 1e6)
    result[kind] = {"unit": unit, "kernel": k, "nft": n, "vpcfwd": v, "kernel_median": km,
                    "nft_median": nm, "vpcfwd_median": vm, "ratio": ratio, "ratio_nft": ratio_nft,
                    "vpcfwd_cpu_percent": cm,
                    ("vpcfwd_cores_per_mpps" if kind == "udp64" else "vpcfwd_cores_per_gbit"): per}
    f = lambda x: "-" if x is None else (f"{x:,.0f}" if x > 1000 else f"{x:.2f}")
    x = lambda r: "-" if r is None else f"{r:.2f}x"
    rows.append((kind, unit, f(km), f(nm), f(vm), x(ratio), x(ratio_nft),
                 "-" if cm is None else f"{cm:.0f}%",
                 "-" if per is None else f"{per:.3f}" + (" /Mpps" if kind == "udp64" else " /Gbit")))
print(f"vpcfwd vs kernel forwarding and kernel+nftables, iperf3, {rounds} alternating rounds of {secs:.0f} s, medians"
      + (f"; vpcfwd run {args}" if args else "") + (f"; {io_path}" if io_path else ""))
print(f"load average before {load_before}, after {load_after} (2 cores shared)")
print(f"{'test':6} {'unit':15} {'kernel':>10} {'nft':>10} {'vpcfwd':>10} {'/kernel':>8} {'/nft':>7} {'CPU':>5} {'cores per':>13}")
for r in rows:
    print(f"{r[0]:6} {r[1]:15} {r[2]:>10} {r[3]:>10} {r[4]:>10} {r[5]:>8} {r[6]:>7} {r[7]:>5} {r[8]:>13}")
json.dump({"seconds": secs, "rounds": rounds, "vpcfwd_args": args, "io": io_path,
           "load_before": load_before, "load_after": load_after, "results": result},
          open("target/bench-e2e.json", "w"), indent=2)
print("written: target/bench-e2e.json")
PY
