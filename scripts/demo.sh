#!/usr/bin/env bash
# The lab demo (README's first command): builds vpcfwd, validates configs/lab.yaml, and drives a
# packet down every path of the lab through the real pipeline (`vpcfwd trace`), printing what was
# sent, the expected result and the verdict. Exits non-zero if any path misbehaves.
#
# Real packets through TUN devices in network namespaces come with `vpcfwd run` (scripts/lab.sh);
# until then this is the whole-pipeline demo with synthetic packets.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${CONFIG:-configs/lab.yaml}

echo "== building vpcfwd (release)"
cargo build --release --quiet
BIN=./target/release/vpcfwd

echo "== vpcfwd check -c $CONFIG"
"$BIN" check -c "$CONFIG"

fail=0
# name | trace arguments | expected verdict line
run_path() {
  local name=$1 args=$2 want=$3 got
  # shellcheck disable=SC2086
  got=$("$BIN" trace -c "$CONFIG" $args | tail -n 1)
  if [[ "$got" == "$want" ]]; then
    printf '  ok    %-44s %s\n' "$name" "$got"
  else
    printf '  FAIL  %-44s got: %s  want: %s\n' "$name" "$got" "$want"
    fail=1
  fi
}

echo "== paths of the lab (vpcfwd trace --from … --dst …)"
run_path "web -> internet (IGW, 1:1 NAT)"            "--from web --dst 203.0.113.100 --dport 80"      "verdict: ACCEPT egress=internet"
run_path "internet -> web public IP"                 "--from internet --dst 198.51.100.10 --dport 80" "verdict: ACCEPT egress=web"
run_path "internet -> unmapped public IP"            "--from internet --dst 198.51.100.99 --dport 80" "verdict: DROP reason=NO_PUBLIC_IP_MAPPING"
run_path "app -> S3 (gateway endpoint)"              "--from app --dst 192.0.2.10 --dport 80"         "verdict: ACCEPT egress=s3"
run_path "app -> DynamoDB (gateway endpoint)"        "--from app --dst 192.0.2.70 --dport 80"         "verdict: ACCEPT egress=ddb"
run_path "app -> internet (NAT gateway, IGW)"        "--from app --dst 203.0.113.100 --dport 80"      "verdict: ACCEPT egress=internet"
run_path "app -> interface endpoint :443"            "--from app --dst 10.0.2.20 --dport 443"         "verdict: ACCEPT egress=api"
run_path "web -> interface endpoint :443"            "--from web --dst 10.0.1.20 --dport 443"         "verdict: ACCEPT egress=api"
run_path "app -> interface endpoint :80 (SG)"        "--from app --dst 10.0.2.20 --dport 80"          "verdict: DROP reason=SG_NO_ALLOW"
run_path "app -> internet telnet (NACL rule 90)"     "--from app --dst 203.0.113.100 --dport 23"      "verdict: DROP reason=NACL_DENY"
run_path "web -> app :8080 (SG deny)"                "--from web --dst 10.0.2.10 --dport 8080"        "verdict: DROP reason=SG_NO_ALLOW"
run_path "web -> app :22 (SG reference)"             "--from web --dst 10.0.2.10 --dport 22"          "verdict: ACCEPT egress=app"
run_path "app -> 203.0.113.200 (blackhole route)"    "--from app --dst 203.0.113.200 --dport 80"      "verdict: DROP reason=BLACKHOLE_ROUTE"
run_path "app spoofing 10.0.2.99 (src/dst check)"    "--from app --src 10.0.2.99 --dst 192.0.2.10"    "verdict: DROP reason=SRC_DST_CHECK"

echo "== one full trace: app -> S3"
"$BIN" trace -c "$CONFIG" --from app --dst 192.0.2.10 --dport 80

if [[ $fail -ne 0 ]]; then
  echo "demo: some paths misbehaved" >&2
  exit 1
fi
echo "demo: every path behaved as AWS would"
