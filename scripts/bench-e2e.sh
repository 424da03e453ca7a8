#!/usr/bin/env bash
# vpcfwd against Linux kernel forwarding on the same layout, alternating, in one run:
#   vpcfwd: app (10.0.2.10) -> NAT gateway -> IGW -> internet (203.0.113.100), i.e. egress SG,
#           NACLs of two subnets, two route lookups, NAT translation and connection tracking;
#   kernel: the same two addresses in two namespaces joined by a router namespace (veth pairs,
#           ip_forward=1, no NAT).
# Measures 1 TCP flow (Gbit/s), 4 TCP flows, 64-byte UDP (packets/s) with iperf3, and vpcfwd's
# CPU use; prints a table with ratios and writes target/bench-e2e.json.
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

cleanup() {
  set +e
  for f in "$OUT"/*.pid; do [[ -e $f ]] && kill "$(cat "$f")" 2>/dev/null; rm -f "$f"; done
  scripts/lab.sh down >/dev/null 2>&1
  for ns in $K-a $K-r $K-b; do ip netns delete $ns 2>/dev/null; done
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

# vpcfwd layout: the lab.
LAB_VPCFWD_ARGS=${BENCH_VPCFWD_ARGS:-} scripts/lab.sh up >/dev/null
VPID=$(cat lab-run/vpcfwd.pid)

ip netns exec $K-b iperf3 -s -B 203.0.113.100 -D --pidfile "$PWD/$OUT/kserver.pid"
ip netns exec vpcfwd-internet iperf3 -s -B 203.0.113.100 -D --pidfile "$PWD/$OUT/vserver.pid"
sleep 0.5

cpu_ticks() { awk '{print $14 + $15}' "/proc/$VPID/stat"; }
HZ=$(getconf CLK_TCK)

run() {  # run SIDE KIND ROUND -> writes $OUT/SIDE-KIND-ROUND.json
  local side=$1 kind=$2 r=$3 ns args
  ns=$([[ $side == kernel ]] && echo $K-a || echo vpcfwd-app)
  case $kind in
    tcp1) args=(-t "$SECS") ;;
    tcp4) args=(-t "$SECS" -P 4) ;;
    udp64) args=(-t "$SECS" -u -b 0 -l 36) ;;  # 36 B payload = 64 B IP packets
  esac
  local t0; t0=$(cpu_ticks)
  ip netns exec "$ns" iperf3 -c 203.0.113.100 -J "${args[@]}" > "$OUT/$side-$kind-$r.json" 2>/dev/null || true
  if [[ $side == vpcfwd ]]; then
    echo $(( $(cpu_ticks) - t0 )) > "$OUT/$side-$kind-$r.cpu"
  fi
}

for r in $(seq "$ROUNDS"); do
  for kind in tcp1 tcp4 udp64; do
    run kernel $kind "$r"
    run vpcfwd $kind "$r"
  done
done

python3 - "$OUT" "$ROUNDS" "$SECS" "$HZ" "${BENCH_VPCFWD_ARGS:-}" <<'PY'
import json, statistics, sys, os
out, rounds, secs, hz = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
args = sys.argv[5]
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
rows, result = [], {}
for kind, unit in [("tcp1", "Gbit/s"), ("tcp4", "Gbit/s"), ("udp64", "pkt/s received")]:
    k = [v for v in (metric("kernel", kind, r) for r in range(1, rounds + 1)) if v]
    v = [v for v in (metric("vpcfwd", kind, r) for r in range(1, rounds + 1)) if v]
    cpu = []
    for r in range(1, rounds + 1):
        try:
            cpu.append(int(open(f"{out}/vpcfwd-{kind}-{r}.cpu").read()) / hz / secs * 100)
        except Exception:
            pass
    km = statistics.median(k) if k else None
    vm = statistics.median(v) if v else None
    ratio = vm / km if km and vm else None
    cm = statistics.median(cpu) if cpu else None
    result[kind] = {"unit": unit, "kernel": k, "vpcfwd": v, "kernel_median": km, "vpcfwd_median": vm,
                    "ratio": ratio, "vpcfwd_cpu_percent": cm}
    f = lambda x: "-" if x is None else (f"{x:,.0f}" if x > 1000 else f"{x:.2f}")
    rows.append((kind, unit, f(km), f(vm), "-" if ratio is None else f"{ratio:.2f}x", "-" if cm is None else f"{cm:.0f}%"))
print(f"vpcfwd vs kernel forwarding, iperf3, {rounds} alternating rounds of {secs:.0f} s, medians"
      + (f"; vpcfwd run {args}" if args else ""))
print(f"{'test':8} {'unit':15} {'kernel':>12} {'vpcfwd':>12} {'ratio':>7} {'vpcfwd CPU':>11}")
for r in rows:
    print(f"{r[0]:8} {r[1]:15} {r[2]:>12} {r[3]:>12} {r[4]:>7} {r[5]:>11}")
json.dump({"seconds": secs, "rounds": rounds, "vpcfwd_args": args, "results": result}, open("target/bench-e2e.json", "w"), indent=2)
print("written: target/bench-e2e.json")
PY
