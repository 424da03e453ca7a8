#!/usr/bin/env bash
# The lab: `up` creates a network namespace per port of the config (vpcfwd run
# --create-namespaces), starts vpcfwd and a small TCP service (scripts/lab_server.py) in each
# port's namespace on every address the config gives the port (an instance ENI's addresses, the
# internet's hosts, a service network's hosts), on the TCP ports $LAB_SERVICE_PORTS; `check`
# (or `up --check`) connects, from every namespace, to every destination `vpcfwd reach` lists
# and compares what answers with what reach says; `down` stops the processes by the PIDs it
# recorded and removes every namespace it made, also after a crash; `status` shows what is up.
# Nothing routes out of these namespaces: each holds only lo and its TUN device.
#
#   scripts/lab.sh up [-c CONFIG] [--check]   scripts/lab.sh check [-c CONFIG]
#   scripts/lab.sh down [-c CONFIG | --all]   scripts/lab.sh status [-c CONFIG]
#
# configs/lab.yaml (the default) is the lab of the README and demo.sh: namespaces vpcfwd-<port>,
# run directory lab-run, admin API 127.0.0.1:9180. Any other config (e.g. a `vpcfwd import
# --lab` output) is a lab of its own beside it: a tag from the checkout's and the config's
# paths names its
# namespaces vpcfwd-<tag>-<port> (written into a copy of the config in its run directory,
# lab-run-<tag>), and its admin API takes a free port; `down -c CONFIG` removes that lab,
# `down --all` every lab of this checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
DEFAULT_CONFIG=configs/lab.yaml
CONFIG=$DEFAULT_CONFIG
cmd=${1:-status}
shift || true
all=0
check=0
usage() { echo "usage: $0 up|check|down|status [-c CONFIG] [--check] [--all]" >&2; exit 2; }
while [[ $# -gt 0 ]]; do
  case $1 in
    -c) [[ $# -ge 2 ]] || usage; CONFIG=$2; shift 2 ;;
    --check) check=1; shift ;;
    --all) all=1; shift ;;
    *) usage ;;
  esac
done
# $VPCFWD (or $LAB_BIN): a vpcfwd binary to use instead of building target/release/vpcfwd (tests).
BIN=${VPCFWD:-${LAB_BIN:-./target/release/vpcfwd}}
# TCP ports every lab service listens on.
read -r -a SERVICE_PORTS <<< "${LAB_SERVICE_PORTS:-22 23 80 443 8080}"
# `down` and `status` of a lab whose config is gone still find it (by the same tag).
if [[ ! -f $CONFIG && ( $cmd == up || $cmd == check ) ]]; then
  echo "lab.sh: $CONFIG: no such file" >&2; exit 2
fi
if [[ $(realpath -m "$CONFIG") == $(realpath -m "$DEFAULT_CONFIG") ]]; then
  TAG=
  RUN=${LAB_RUN_DIR:-lab-run}
  ADMIN=${LAB_ADMIN:-127.0.0.1:9180}
else
  TAG=$(echo "$PWD:$(realpath -m "$CONFIG")" | sha1sum | cut -c1-6)
  RUN=${LAB_RUN_DIR:-lab-run-$TAG}
  ADMIN=${LAB_ADMIN:-127.0.0.1:0}
fi
# The admin API (metrics, flows, reload) and the flow log of the running lab.
FLOW_LOG=${LAB_FLOW_LOG:-$RUN/flow.log}
FLOW_LOG_INTERVAL=${LAB_FLOW_LOG_INTERVAL:-60}
# Extra `vpcfwd run` options (e.g. --queues 1, --no-offload).
read -r -a EXTRA <<< "${LAB_VPCFWD_ARGS:-}"

need_root() {
  if [[ $(id -u) -ne 0 ]]; then
    echo "lab.sh: needs root (network namespaces, TUN devices)" >&2
    exit 1
  fi
}

stop_pid() {  # stop_pid FILE: SIGTERM the recorded PID, SIGKILL after 5 s
  local f=$1 pid
  [[ -f $f ]] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

down_dir() {  # down_dir RUN: the lab whose run directory is RUN
  local run=$1
  [[ -d $run ]] || { echo "lab: not up"; return 0; }
  for f in "$run"/svc-*.pid; do [[ -e $f ]] && stop_pid "$f"; done
  stop_pid "$run/vpcfwd.pid"
  # vpcfwd prints its packet and drop counters on the way out.
  grep '^vpcfwd: rx=' "$run/vpcfwd.log" 2>/dev/null || true
  # After a crash vpcfwd could not remove its namespaces: remove those it was to create (only
  # vpcfwd- ones: the file is ours, but be sure).
  if [[ -f $run/namespaces ]]; then
    while read -r ns; do
      [[ $ns == vpcfwd-* ]] || continue
      ip netns list | awk '{print $1}' | grep -qx "$ns" && ip netns delete "$ns" || true
      # vpcfwd's record that it made the namespace (run after a kill -9 reads it).
      rm -f "/run/vpcfwd/netns/$ns"
    done < "$run/namespaces"
  fi
  if [[ -f $run/resolv ]]; then
    while read -r ns; do rm -f "/etc/netns/$ns/resolv.conf"; rmdir "/etc/netns/$ns" 2>/dev/null || true; done < "$run/resolv"
  fi
  rm -rf "$run"
  echo "lab: down ($run)"
}

down() {
  if [[ $all -eq 1 ]]; then
    local d found=0
    for d in lab-run lab-run-*; do [[ -d $d ]] && { down_dir "$d"; found=1; }; done
    [[ $found -eq 1 ]] || echo "lab: not up"
  else
    down_dir "$RUN"
  fi
}

# The config vpcfwd runs: the default lab's as it is; another's copy with its namespaces named
# vpcfwd-<tag>-<port> (a Namespace line after each `- PortId:` line; the config's own
# Namespace lines give way).
lab_config() {
  if [[ -z $TAG ]]; then echo "$CONFIG"; return; fi
  local out=$RUN/config.yaml
  awk -v pfx="vpcfwd-$TAG-" '
    /^[[:space:]]+Namespace:[[:space:]]/ { next }
    { print }
    /^[[:space:]]*- PortId:[[:space:]]/ {
      id = $0; sub(/^[[:space:]]*- PortId:[[:space:]]*/, "", id); sub(/[[:space:]#].*$/, "", id)
      gsub(/"/, "", id)
      ind = $0; sub(/-.*$/, "", ind)
      print ind "  Namespace: " pfx id
    }' "$CONFIG" > "$out"
  echo "$out"
}

up() {
  need_root
  [[ -d $RUN ]] && down_dir "$RUN"
  [[ -n ${VPCFWD:-}${LAB_BIN:-} ]] || cargo build --release --quiet
  mkdir -p "$RUN"
  local cfg; cfg=$(lab_config)
  "$BIN" ports -c "$cfg" > "$RUN/ports" || { echo "lab: $CONFIG: invalid" >&2; rm -rf "$RUN"; exit 2; }
  awk '{print $2}' "$RUN/ports" > "$RUN/namespaces"
  if [[ -n $TAG ]] && grep -qv "^vpcfwd-$TAG-" "$RUN/namespaces"; then
    echo "lab: $CONFIG: write its Ports in block style (\`- PortId: …\` on a line of its own, as" \
      "vpcfwd import does) so that lab.sh can give them namespaces of their own" >&2
    rm -rf "$RUN"; exit 2
  fi
  echo "$cfg" > "$RUN/config"
  # Instances resolve through the VPC resolver: `ip netns exec` bind-mounts this resolv.conf.
  while read -r _ ns _ _ dns; do
    [[ $dns == - || -e /etc/netns/$ns ]] && continue
    mkdir -p "/etc/netns/$ns" && echo "$ns" >> "$RUN/resolv"
    printf 'nameserver %s\noptions timeout:1 attempts:2\n' "$dns" > "/etc/netns/$ns/resolv.conf"
  done < "$RUN/ports"
  "$BIN" run -c "$cfg" --create-namespaces --admin "$ADMIN" \
    --flow-log "$FLOW_LOG" --flow-log-interval "$FLOW_LOG_INTERVAL" ${EXTRA[@]+"${EXTRA[@]}"} \
    > "$RUN/vpcfwd.out" 2> "$RUN/vpcfwd.log" &
  echo $! > "$RUN/vpcfwd.pid"
  for _ in $(seq 100); do
    grep -q "^vpcfwd: ready" "$RUN/vpcfwd.out" 2>/dev/null && break
    if ! kill -0 "$(cat "$RUN/vpcfwd.pid")" 2>/dev/null; then
      echo "lab: vpcfwd exited:" >&2; cat "$RUN/vpcfwd.log" >&2; down_dir "$RUN"; exit 1
    fi
    sleep 0.1
  done
  grep -q "^vpcfwd: ready" "$RUN/vpcfwd.out" || { echo "lab: vpcfwd not ready" >&2; down_dir "$RUN"; exit 1; }
  local admin; admin=$(sed -n 's|^vpcfwd: admin API on http://||p' "$RUN/vpcfwd.out" | head -n 1)
  echo "${admin:-$ADMIN}" > "$RUN/admin"
  # One service per port, named by the port ("<port> sees <peer>"), on each of its addresses.
  local i=0 id ns dev addrs a p
  while read -r id ns dev addrs _; do
    [[ -n ${addrs:-} ]] || continue
    local specs=()
    for a in ${addrs//,/ }; do
      for p in "${SERVICE_PORTS[@]}"; do specs+=("${a%/*}:$p"); done
    done
    ip netns exec "$ns" python3 scripts/lab_server.py "$id" "${specs[@]}" > "$RUN/svc-$i.log" 2>&1 &
    echo $! > "$RUN/svc-$i.pid"
    i=$((i + 1))
  done < "$RUN/ports"
  sleep 0.5
  echo "lab: up ($(wc -l < "$RUN/namespaces") namespaces, $i services on TCP ${SERVICE_PORTS[*]}; vpcfwd PID $(cat "$RUN/vpcfwd.pid"))"
  echo "lab: run directory $RUN, namespaces vpcfwd-${TAG:+$TAG-}<port>"
  echo "lab: admin API http://$(cat "$RUN/admin") (vpcfwd stats / flows / reload --admin $(cat "$RUN/admin")); flow log $FLOW_LOG"
  if [[ $check -eq 1 ]]; then run_check; fi
}

# Every TCP connection `vpcfwd reach` lists, made for real from the source's namespace: a
# connection reach says works (delivered to the destination's own port) must be answered by
# that port's service, one it says fails must time out.
run_check() {
  [[ -f $RUN/config ]] || { echo "lab: not up ($RUN)" >&2; exit 1; }
  local ports; ports=$(IFS=,; echo "${SERVICE_PORTS[*]}")
  "$BIN" reach -c "$(cat "$RUN/config")" --ports "$ports" --json > "$RUN/reach.json"
  python3 scripts/lab_check.py "$RUN/reach.json" "$RUN/ports"
}

status() {
  if [[ ! -d $RUN ]]; then echo "lab: down"; return 0; fi
  local pid; pid=$(cat "$RUN/vpcfwd.pid" 2>/dev/null || echo -)
  if kill -0 "$pid" 2>/dev/null; then echo "vpcfwd: running (PID $pid), admin API http://$(cat "$RUN/admin" 2>/dev/null || echo "$ADMIN")"; else echo "vpcfwd: not running"; fi
  echo "namespaces:"; sed 's/^/  /' "$RUN/namespaces" 2>/dev/null || true
  echo "services:"; for f in "$RUN"/svc-*.pid; do [[ -e $f ]] || continue
    p=$(cat "$f"); kill -0 "$p" 2>/dev/null && echo "  PID $p running" || echo "  PID $p gone"; done
}

case $cmd in
  up) up ;;
  check) need_root; run_check ;;
  down) need_root; down ;;
  status) status ;;
  *) usage ;;
esac
