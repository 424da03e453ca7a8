#!/usr/bin/env bash
# Where the forwarder's time goes on the lab's NAT path (app -> NAT gateway -> IGW -> internet):
# `perf record` (software cpu-clock: this VM has no hardware counters) on the running vpcfwd
# during one iperf3 test, then its top symbols, the share of the two copies a TUN forwarder
# cannot avoid (copy_from_iter: the packet read from the TUN; copy_to_iter: the packet written
# to the other one), of the pipeline itself, and of the receive stack run inside the write.
#   scripts/profile-e2e.sh [tcp1|tcp4|udp64] [SECONDS]
# BENCH_VPCFWD_ARGS passes options to `vpcfwd run`, as for bench-e2e.sh. Writes
# target/profile-e2e/{perf.data,report.txt,summary.json}.
set -euo pipefail
cd "$(dirname "$0")/.."
KIND=${1:-tcp1}
SECS=${2:-8}
[[ $(id -u) -eq 0 ]] || { echo "profile-e2e: needs root" >&2; exit 1; }
for tool in iperf3 perf; do
  command -v $tool >/dev/null || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iperf3 linux-perf >/dev/null
  }
done
OUT=target/profile-e2e
mkdir -p "$OUT"
cleanup() {
  set +e
  [[ -e $OUT/server.pid ]] && kill "$(cat "$OUT/server.pid")" 2>/dev/null
  rm -f "$OUT/server.pid"
  scripts/lab.sh down >/dev/null 2>&1
}
trap cleanup EXIT INT TERM

LAB_VPCFWD_ARGS=${BENCH_VPCFWD_ARGS:-} scripts/lab.sh up >/dev/null
VPID=$(cat lab-run/vpcfwd.pid)
ip netns exec vpcfwd-internet iperf3 -s -B 203.0.113.100 -D --pidfile "$PWD/$OUT/server.pid"
sleep 0.5
case $KIND in
  tcp1) args=(-t "$SECS") ;;
  tcp4) args=(-t "$SECS" -P 4) ;;
  udp64) args=(-t "$SECS" -u -b 0 -l 36) ;;
  *) echo "profile-e2e: unknown test $KIND" >&2; exit 2 ;;
esac
ip netns exec vpcfwd-app iperf3 -c 203.0.113.100 -J "${args[@]}" > "$OUT/iperf.json" &
IPERF=$!
sleep 1
perf record -q -e cpu-clock -F 1999 -g -p "$VPID" -o "$OUT/perf.data" -- sleep $((SECS - 2)) \
  2>/dev/null
wait $IPERF || true
perf report -i "$OUT/perf.data" --no-children --sort symbol --stdio -g none 2>/dev/null \
  | grep -v '^#' | grep -v '^$' > "$OUT/report.txt"
python3 - "$OUT" "$KIND" <<'PY'
import json, re, sys
out, kind = sys.argv[1], sys.argv[2]
rows = []
for line in open(f"{out}/report.txt"):
    m = re.match(r"\s*([\d.]+)%\s+\[([k.])\]\s+(.*)", line)
    if m:
        rows.append((float(m.group(1)), m.group(2) == "k", m.group(3).strip()))
def share(pred):
    return round(sum(p for p, _, s in rows if pred(s)), 1)
groups = {
    "copy in (read from TUN)": share(lambda s: "copy_to_user" in s or "_copy_to_iter" in s),
    "copy out (write to TUN)": share(lambda s: "copy_from_user" in s or "_copy_from_iter" in s),
    "checksum": share(lambda s: "csum" in s),
    "pipeline (vpcfwd code)": share(lambda s: "vpcfwd" in s),
    "receive stack in the write (tcp/ip/netif)": share(
        lambda s: re.match(r"(tcp_|ip_|__netif|netif_|__tcp|ipv4_|nf_|inet_)", s) is not None),
    "kernel, all": round(sum(p for p, k, _ in rows if k), 1),
}
j = json.load(open(f"{out}/iperf.json"))
end = j.get("end", {})
if kind == "udp64":
    rate = f"{end.get('sum', {}).get('packets', 0) / max(end.get('sum', {}).get('seconds', 1), 1e-9) / 1e3:.1f} k pkt/s sent"
else:
    rate = f"{end.get('sum_received', {}).get('bits_per_second', 0) / 1e9:.2f} Gbit/s"
print(f"profile of vpcfwd during {kind} ({rate}), share of its samples:")
for k, v in groups.items():
    print(f"  {k:45} {v:5.1f} %")
print("top symbols:")
for p, k, s in rows[:20]:
    print(f"  {p:5.1f} %  {'[k]' if k else '[u]'} {s[:90]}")
json.dump({"test": kind, "rate": rate, "groups": groups,
           "top": [{"pct": p, "kernel": k, "symbol": s} for p, k, s in rows[:40]]},
          open(f"{out}/summary.json", "w"), indent=1)
PY
