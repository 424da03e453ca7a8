#!/usr/bin/env bash
# The lab demo (README's first command): builds vpcfwd, checks configs/lab.yaml, brings the lab up
# (a namespace per port, vpcfwd forwarding real packets between TUN devices, small TCP services),
# drives a real TCP connection down every path from the instance and internet namespaces, and
# prints what was sent, what came back, what AWS would do, and `vpcfwd trace`'s verdict for the
# same packet. Tears the lab down on exit (also on failure or Ctrl-C) and exits non-zero if any
# path misbehaved. Without root it runs the same paths through `vpcfwd trace` only. Then the
# IPv6 lab, configs/lab6.yaml (scripts/demo6.sh).
# While the lab is up it prints the web page's URL (the admin API's `/`); `--keep` leaves the lab
# running after the paths (for clicking through the page, or `vpcfwd top`) until Ctrl-C, then
# tears it down as usual.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=configs/lab.yaml
keep=0
for a in "$@"; do
  case $a in
    --keep) keep=1 ;;
    *) echo "usage: scripts/demo.sh [--keep]" >&2; exit 2 ;;
  esac
done

echo "== building vpcfwd (release)"
cargo build --release --quiet
BIN=./target/release/vpcfwd
echo "== vpcfwd check -c $CONFIG"
"$BIN" check -c "$CONFIG"

live=1
if [[ $(id -u) -ne 0 ]]; then
  echo "demo: not root: no namespaces or TUN devices; showing the paths with vpcfwd trace only"
  live=0
fi
ADMIN=127.0.0.1:9180
FLOW_LOG=$(mktemp /tmp/vpcfwd-demo-flowlog.XXXXXX)
if [[ $live -eq 1 ]]; then
  trap 'scripts/lab.sh down >/dev/null 2>&1 || true; rm -f "$FLOW_LOG"*' EXIT INT TERM
  echo "== scripts/lab.sh up (flow logs every 5 s, admin API on $ADMIN)"
  LAB_ADMIN=$ADMIN LAB_FLOW_LOG=$FLOW_LOG LAB_FLOW_LOG_INTERVAL=5 scripts/lab.sh up
  echo "== the web page: http://$ADMIN/  (live counters, click two boxes to trace; terminal: $BIN top --admin $ADMIN)"
else
  trap 'rm -f "$FLOW_LOG"*' EXIT
fi

fail=0
# path FROM-PORT DST PORT EXPECTED-ANSWER EXPECTED-VERDICT DESCRIPTION
path() {
  local from=$1 dst=$2 port=$3 want=$4 want_verdict=$5 what=$6 got verdict
  verdict=$("$BIN" trace -c "$CONFIG" --from "$from" --dst "$dst" --dport "$port" | tail -n 1)
  if [[ $live -eq 1 ]]; then
    got=$(ip netns exec "vpcfwd-$from" python3 scripts/lab_client.py "$dst" "$port" 1.5)
  else
    got=$want
  fi
  if [[ $got == "$want" && $verdict == "$want_verdict" ]]; then
    printf '  ok    %-40s %-22s -> %-30s | %s\n' "$what" "$from -> $dst:$port" "$got" "$verdict"
  else
    printf '  FAIL  %-40s %-22s -> %-30s (want %s) | %s (want %s)\n' "$what" "$from -> $dst:$port" "$got" "$want" "$verdict" "$want_verdict"
    fail=1
  fi
}

echo "== every path of the lab: real TCP connections (answer = what the service saw as source)"
path web      203.0.113.100 80   "internet sees 198.51.100.10" "verdict: ACCEPT egress=internet" "IGW out: 1:1 to the public IP"
path internet 198.51.100.10 80   "web sees 203.0.113.100"      "verdict: ACCEPT egress=web"      "IGW in: public IP to web"
path app      192.0.2.10    80   "s3 sees 10.0.2.10"           "verdict: ACCEPT egress=s3"       "S3 gateway endpoint: private source"
path app      192.0.2.70    80   "ddb sees 10.0.2.10"          "verdict: ACCEPT egress=ddb"      "DynamoDB gateway endpoint"
path app      203.0.113.100 80   "internet sees 198.51.100.5"  "verdict: ACCEPT egress=internet" "NAT gateway (Elastic IP), then IGW"
path app      10.0.2.20     443  "api sees 192.0.2.129"        "verdict: ACCEPT egress=api"      "interface endpoint: provider sees NLB"
path web      10.0.1.20     443  "api sees 192.0.2.129"        "verdict: ACCEPT egress=api"      "interface endpoint ENI in web's subnet"
path web      10.0.2.10     22   "app sees 10.0.1.10"          "verdict: ACCEPT egress=app"      "SG reference: ssh from sg-web"
path app      203.0.113.100 23   "TIMEOUT"                     "verdict: DROP reason=NACL_DENY"  "NACL rule 90 denies telnet first"
path web      10.0.2.10     8080 "TIMEOUT"                     "verdict: DROP reason=SG_NO_ALLOW" "SG deny: sg-app has no 8080"
path web      10.0.1.20     80   "TIMEOUT"                     "verdict: DROP reason=SG_NO_ALLOW" "endpoint SG allows 443 only"
path app      10.0.2.20     80   "TIMEOUT"                     "verdict: DROP reason=SG_NO_ALLOW" "app's own SG: egress 443 only"
path app      203.0.113.200 80   "TIMEOUT"                     "verdict: DROP reason=BLACKHOLE_ROUTE" "blackhole route (host is up)"
path internet 198.51.100.5  80   "TIMEOUT"                     "verdict: DROP reason=UNSOLICITED" "no connection into a NAT gateway"
path api      10.0.1.10     80   "TIMEOUT"                     "verdict: DROP reason=UNSOLICITED" "provider cannot initiate (SG allows)"
path web      198.51.100.10 80   "web sees 198.51.100.10"      "verdict: ACCEPT egress=web"      "hairpin: IGW out and back in"

echo "== a path that starts from a name: the VPC resolver (10.0.0.2) answers the endpoint's ENIs"
if [[ $live -eq 1 ]]; then
  got=$(ip netns exec vpcfwd-app python3 scripts/lab_resolve.py api.lab.example)
  ans=$(ip netns exec vpcfwd-app python3 scripts/lab_client.py api.lab.example 443 1.5)
else
  got="10.0.2.20 10.0.1.20" ans="api sees 192.0.2.129"
fi
if [[ $got == "10.0.2.20 10.0.1.20" && $ans == "api sees 192.0.2.129" ]]; then
  printf '  ok    %-40s %-22s -> %-30s | %s\n' "app's AZ first, then the other ENI" "app: api.lab.example" "$got" "then :443 -> $ans"
else
  printf '  FAIL  %-40s %-22s -> %s, %s (want 10.0.2.20 10.0.1.20, api sees 192.0.2.129)\n' "private DNS of vpce-lab-api" "app: api.lab.example" "$got" "$ans"
  fail=1
fi

echo "== one path in full: app -> internet through the NAT gateway, and its reply"
"$BIN" trace -c "$CONFIG" --from app --dst 203.0.113.100 --dport 80 --reply

if [[ $live -eq 1 ]]; then
  echo "== vpcfwd stats: the counters of these paths (Prometheus text at http://$ADMIN/metrics)"
  stats=$("$BIN" stats --admin "$ADMIN")
  grep -E '^vpcfwd_(port_packets_total|drops_total|sg_drops_total|nacl_drops_total|route_table_drops_total|route_hits_total|nat_ports_in_use|flows )' <<< "$stats" | sed 's/^/  /'
  # metric NAME LABEL-FRAGMENT: the value of the first matching series (0 when absent)
  metric() { grep -E "^$1\{[^}]*$2" <<< "$stats" | head -n 1 | awk '{print $NF}' || true; }
  expect_counter() {
    local v; v=$(metric "$1" "$2"); v=${v:-0}
    if [[ ${v%.*} -ge 1 ]]; then printf '  ok    %-60s %s\n' "$1{$2}" "$v"
    else printf '  FAIL  %-60s %s (want >= 1)\n' "$1{$2}" "$v"; fail=1; fi
  }
  echo "== the counters moved with the traffic"
  expect_counter vpcfwd_port_packets_total 'port="web",direction="rx"'
  expect_counter vpcfwd_nacl_drops_total 'network_acl="acl-private",direction="egress",rule="90"'
  expect_counter vpcfwd_sg_drops_total 'network_interface="eni-app"'
  expect_counter vpcfwd_route_table_drops_total 'route_table="rtb-private",reason="BLACKHOLE_ROUTE"'
  expect_counter vpcfwd_route_hits_total 'route_table="rtb-private",destination="192.0.2.0/26"'
  echo "== vpcfwd flows: connection tracking of the run"
  "$BIN" flows --admin "$ADMIN" --limit 12 | sed 's/^/  /'
  echo "== vpcfwd reload: the same config swapped in without stopping forwarding"
  "$BIN" reload --admin "$ADMIN" | sed 's/^/  /'
  got=$(ip netns exec vpcfwd-web python3 scripts/lab_client.py 203.0.113.100 80 1.5)
  [[ $got == "internet sees 198.51.100.10" ]] && echo "  ok    forwarding after the reload: $got" || { echo "  FAIL  after reload: $got"; fail=1; }
  if [[ $keep -eq 1 ]]; then
    echo "== --keep: the lab stays up. The page: http://$ADMIN/   terminal: $BIN top --admin $ADMIN"
    echo "   e.g. ip netns exec vpcfwd-app python3 scripts/lab_client.py 192.0.2.10 80"
    echo "   Ctrl-C tears it down."
    kept=1
    trap 'kept=0' INT
    while [[ $kept -eq 1 ]]; do sleep 1 || true; done
    trap 'scripts/lab.sh down >/dev/null 2>&1 || true; rm -f "$FLOW_LOG"*' EXIT INT TERM
    echo
  fi
  echo "== scripts/lab.sh down (with vpcfwd's counters of the run)"
  scripts/lab.sh down
  trap 'rm -f "$FLOW_LOG"*' EXIT INT TERM
  echo "== the flow log (AWS default format v2; vpcfwd writes what is pending on shutdown)"
  echo "  version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
  sed 's/^/  /' "$FLOW_LOG"
  expect_record() {  # expect_record PATTERN DESCRIPTION
    if grep -qE "$1" "$FLOW_LOG"; then printf '  ok    %s\n' "$2"; else printf '  FAIL  no record: %s\n' "$2"; fail=1; fi
  }
  echo "== the records AWS would write"
  expect_record '^2 123456789012 eni-web 10\.0\.1\.10 203\.0\.113\.100 [0-9]+ 80 6 .* ACCEPT OK$' "web -> internet:80 ACCEPT at eni-web (private source)"
  expect_record '^2 123456789012 eni-app 10\.0\.1\.10 10\.0\.2\.10 [0-9]+ 8080 6 .* REJECT OK$' "web -> app:8080 REJECT at eni-app (its SG)"
  expect_record '^2 123456789012 eni-app 10\.0\.2\.10 203\.0\.113\.100 [0-9]+ 23 6 .* REJECT OK$' "app -> internet:23 REJECT at eni-app (NACL rule 90)"
  expect_record '^2 123456789012 eni-app 10\.0\.2\.10 192\.0\.2\.10 [0-9]+ 80 6 .* ACCEPT OK$' "app -> S3 ACCEPT at eni-app"
fi
# The IPv6 lab (configs/lab6.yaml), after the IPv4 one is down: its own script, same binary.
BIN=$BIN scripts/demo6.sh || fail=1
if [[ $live -eq 0 ]]; then
  echo "demo: the web page without root (trace-only): $BIN ui -c $CONFIG, then http://127.0.0.1:9180/"
fi
if [[ $fail -ne 0 ]]; then
  echo "demo: some paths misbehaved" >&2
  exit 1
fi
echo "demo: every path behaved as AWS would"
