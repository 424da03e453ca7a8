#!/usr/bin/env bash
# The lab: `up` creates a network namespace per port of the config (vpcfwd run
# --create-namespaces), starts vpcfwd and small TCP services where the lab's hosts and services
# live; `down` stops them by the PIDs it recorded and removes every namespace it made, also after
# a crash; `status` shows what is up. Nothing routes out of these namespaces: each holds only lo
# and its TUN device.
#
#   scripts/lab.sh up [-c CONFIG]     scripts/lab.sh down     scripts/lab.sh status
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${LAB_RUN_DIR:-lab-run}
CONFIG=configs/lab.yaml
cmd=${1:-status}
shift || true
while [[ $# -gt 0 ]]; do
  case $1 in
    -c) CONFIG=$2; shift 2 ;;
    *) echo "usage: $0 up|down|status [-c CONFIG]" >&2; exit 2 ;;
  esac
done
# $VPCFWD: a vpcfwd binary to use instead of building target/release/vpcfwd (tests).
BIN=${VPCFWD:-./target/release/vpcfwd}
# The admin API (metrics, flows, reload) and the flow log of the running lab.
ADMIN=${LAB_ADMIN:-127.0.0.1:9180}
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

# The services of configs/lab.yaml: namespace, name, then ADDR:PORT to listen on.
SERVICES=(
  "vpcfwd-web web 10.0.1.10:80 10.0.1.10:22"
  "vpcfwd-app app 10.0.2.10:22 10.0.2.10:8080"
  "vpcfwd-internet internet 203.0.113.100:80 203.0.113.100:23 203.0.113.200:80"
  "vpcfwd-s3 s3 192.0.2.10:80"
  "vpcfwd-ddb ddb 192.0.2.70:80"
  "vpcfwd-api api 192.0.2.130:443 192.0.2.131:443"
)

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

down() {
  [[ -d $RUN ]] || { echo "lab: not up"; return 0; }
  for f in "$RUN"/svc-*.pid; do [[ -e $f ]] && stop_pid "$f"; done
  stop_pid "$RUN/vpcfwd.pid"
  # vpcfwd prints its packet and drop counters on the way out.
  grep '^vpcfwd: rx=' "$RUN/vpcfwd.log" 2>/dev/null || true
  # After a crash vpcfwd could not remove its namespaces: remove those it was to create.
  if [[ -f $RUN/namespaces ]]; then
    while read -r ns; do
      ip netns list | awk '{print $1}' | grep -qx "$ns" && ip netns delete "$ns" || true
      # vpcfwd's record that it made the namespace (run after a kill -9 reads it).
      rm -f "/run/vpcfwd/netns/$ns"
    done < "$RUN/namespaces"
  fi
  rm -rf "$RUN"
  echo "lab: down"
}

up() {
  need_root
  [[ -d $RUN ]] && down
  [[ -n ${VPCFWD:-} ]] || cargo build --release --quiet
  mkdir -p "$RUN"
  "$BIN" ports -c "$CONFIG" | awk '{print $2}' > "$RUN/namespaces"
  "$BIN" run -c "$CONFIG" --create-namespaces --admin "$ADMIN" \
    --flow-log "$FLOW_LOG" --flow-log-interval "$FLOW_LOG_INTERVAL" ${EXTRA[@]+"${EXTRA[@]}"} \
    > "$RUN/vpcfwd.out" 2> "$RUN/vpcfwd.log" &
  echo $! > "$RUN/vpcfwd.pid"
  for _ in $(seq 100); do
    grep -q "^vpcfwd: ready" "$RUN/vpcfwd.out" 2>/dev/null && break
    if ! kill -0 "$(cat "$RUN/vpcfwd.pid")" 2>/dev/null; then
      echo "lab: vpcfwd exited:" >&2; cat "$RUN/vpcfwd.log" >&2; down; exit 1
    fi
    sleep 0.1
  done
  grep -q "^vpcfwd: ready" "$RUN/vpcfwd.out" || { echo "lab: vpcfwd not ready" >&2; down; exit 1; }
  if [[ $CONFIG == configs/lab.yaml ]]; then
    local i=0
    for s in "${SERVICES[@]}"; do
      read -r ns name addrs <<< "$s"
      # shellcheck disable=SC2086
      ip netns exec "$ns" python3 scripts/lab_server.py "$name" $addrs > "$RUN/svc-$name.log" 2>&1 &
      echo $! > "$RUN/svc-$i.pid"
      i=$((i + 1))
    done
    sleep 0.5
  fi
  echo "lab: up ($(wc -l < "$RUN/namespaces") namespaces; vpcfwd PID $(cat "$RUN/vpcfwd.pid"))"
  echo "lab: admin API http://$ADMIN (vpcfwd stats / flows / reload --admin $ADMIN); flow log $FLOW_LOG"
}

status() {
  if [[ ! -d $RUN ]]; then echo "lab: down"; return 0; fi
  local pid; pid=$(cat "$RUN/vpcfwd.pid" 2>/dev/null || echo -)
  if kill -0 "$pid" 2>/dev/null; then echo "vpcfwd: running (PID $pid), admin API http://$ADMIN"; else echo "vpcfwd: not running"; fi
  echo "namespaces:"; ip netns list | grep '^vpcfwd-' | sed 's/^/  /' || true
  echo "services:"; for f in "$RUN"/svc-*.pid; do [[ -e $f ]] || continue
    p=$(cat "$f"); kill -0 "$p" 2>/dev/null && echo "  PID $p running" || echo "  PID $p gone"; done
}

case $cmd in
  up) up ;;
  down) need_root; down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status [-c CONFIG]" >&2; exit 2 ;;
esac
