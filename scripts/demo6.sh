#!/usr/bin/env bash
# The IPv6 part of the demo (scripts/demo.sh runs it after the IPv4 lab): brings up
# configs/lab6.yaml (a dual-stack public subnet, an IPv6-only subnet behind an egress-only
# internet gateway and NAT64) with scripts/lab.sh, drives real TCP connections and ICMPv6 echoes
# (scripts/lab_ping.py) down its paths, prints `vpcfwd trace`'s verdict for each, and tears the
# lab down on exit (also on failure or Ctrl-C). Exit non-zero if a path misbehaved. Without
# root: the verdicts only. BIN: the vpcfwd binary (default: the release build).
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=configs/lab6.yaml
BIN=${BIN:-./target/release/vpcfwd}
"$BIN" check -c "$CONFIG"
live=1
[[ $(id -u) -eq 0 ]] || live=0
# The namespaces of a non-default lab are vpcfwd-<tag>-<port> (see lab.sh).
TAG=$(echo "$PWD:$(realpath -m "$CONFIG")" | sha1sum | cut -c1-6)
if [[ $live -eq 1 ]]; then
  trap 'LAB_BIN=$BIN scripts/lab.sh down -c "$CONFIG" >/dev/null 2>&1 || true' EXIT INT TERM
  LAB_BIN=$BIN LAB_SERVICE_PORTS="22 80 443" scripts/lab.sh up -c "$CONFIG" | sed 's/^/  /'
fi
fail=0
# path6 FROM-PORT DST PORT|icmp EXPECTED-ANSWER EXPECTED-VERDICT DESCRIPTION
path6() {
  local from=$1 dst=$2 port=$3 want=$4 want_verdict=$5 what=$6 got verdict args
  if [[ $port == icmp ]]; then args=(--proto icmpv6 --icmp-type 128); else args=(--dport "$port"); fi
  verdict=$("$BIN" trace -c "$CONFIG" --from "$from" --dst "$dst" "${args[@]}" | tail -n 1)
  if [[ $live -eq 0 ]]; then
    got=$want
  elif [[ $port == icmp ]]; then
    got=$(ip netns exec "vpcfwd-$TAG-$from" python3 scripts/lab_ping.py "$dst" 1.5)
  else
    got=$(ip netns exec "vpcfwd-$TAG-$from" python3 scripts/lab_client.py "$dst" "$port" 1.5)
  fi
  if [[ $got == "$want" && $verdict == "$want_verdict" ]]; then
    printf '  ok    %-34s %-32s -> %-34s | %s\n' "$what" "$from -> $dst:$port" "$got" "$verdict"
  else
    printf '  FAIL  %-34s %-32s -> %-34s (want %s) | %s (want %s)\n' "$what" "$from -> $dst:$port" "$got" "$want" "$verdict" "$want_verdict"
    fail=1
  fi
}
echo "== the IPv6 lab ($CONFIG): real TCP and ICMPv6 (answer = what the far end saw as source)"
path6 web      2001:db8:ff::100   80   "internet sees 2001:db8:10:1::10" "verdict: ACCEPT egress=internet" "IGW, IPv6: no translation"
path6 internet 2001:db8:10:1::10  80   "web sees 2001:db8:ff::100"       "verdict: ACCEPT egress=web"      "IGW in, IPv6"
path6 v6       2001:db8:ff::100   80   "internet sees 2001:db8:10:3::10" "verdict: ACCEPT egress=internet" "egress-only IGW: out"
path6 v6       2001:db8:ff::100   icmp "REPLY from 2001:db8:ff::100"     "verdict: ACCEPT egress=internet" "egress-only IGW: ICMPv6 echo"
path6 internet 2001:db8:10:3::10  80   "TIMEOUT"                         "verdict: DROP reason=EGRESS_ONLY" "egress-only IGW: never in"
path6 v6       64:ff9b::cb00:7164 80   "internet sees 198.51.100.5"      "verdict: ACCEPT egress=internet" "NAT64 to 203.0.113.100"
path6 v6       64:ff9b::cb00:7164 icmp "REPLY from 64:ff9b::cb00:7164"   "verdict: ACCEPT egress=internet" "NAT64: ICMPv6 echo as ICMP"
path6 web      2001:db8:10:1::20  443  "api sees 2001:db8:ff:1::129"     "verdict: ACCEPT egress=api"      "dual-stack interface endpoint"
path6 v6       2001:db8:10:1::20  443  "api sees 2001:db8:ff:1::129"     "verdict: ACCEPT egress=api"      "the same, from the IPv6-only subnet"
path6 v6       2001:db8:53::10    443  "s3 sees 2001:db8:10:3::10"       "verdict: ACCEPT egress=s3"       "dual-stack gateway endpoint (S3)"
if [[ $fail -ne 0 ]]; then
  echo "demo6: some IPv6 paths misbehaved" >&2
  exit 1
fi
