#!/usr/bin/env python3
"""Lab check (scripts/lab.sh check): REACH_JSON PORTS — makes every TCP connection of `vpcfwd
reach --json` for real, from the source port's namespace (PORTS: `vpcfwd ports` output), and
compares: a connection reach says works, delivered to the destination's own port, must be
answered by that port's lab service ("<port> sees …"); one it says fails must not be answered.
Connections reach delivers to another port than the destination's, or to a port whose
namespace does not hold the address (another entry of a service prefix list), are skipped. Prints each mismatch and a summary; exit 1 on any mismatch. Runs as root, in parallel."""
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT = os.environ.get("LAB_CHECK_TIMEOUT", "1.5")


def connect(ns, addr, port):
    out = subprocess.run(
        ["ip", "netns", "exec", ns, "python3", os.path.join(HERE, "lab_client.py"), addr, port, TIMEOUT],
        capture_output=True, text=True, check=False)
    return out.stdout.strip() or out.stderr.strip() or "EMPTY"


def main():
    reach = json.load(open(sys.argv[1]))
    ns_of, hosts = {}, {}
    for line in open(sys.argv[2]):
        f = line.split()
        if len(f) >= 2:
            ns_of[f[0]] = f[1]
            hosts[f[0]] = {a.split("/")[0] for a in f[3].split(",")} if len(f) > 3 else set()
    port_of = {(d["name"], d["address"]): d["port"] for d in reach["destinations"]}
    kind_of = {(d["name"], d["address"]): d["kind"] for d in reach["destinations"]}
    todo, skipped = [], 0
    for c in reach["connections"]:
        if not c["service"].startswith("tcp/"):
            continue
        dport = port_of.get((c["to"], c["address"]))
        egress = (c.get("request") or {}).get("egress")
        # Delivered elsewhere, or to a port whose namespace does not hold the host (another
        # entry of a service prefix list): no service there to answer. ENI, endpoint and
        # public addresses arrive translated to the port's own.
        translated = kind_of.get((c["to"], c["address"])) in ("eni", "endpoint-eni", "public-ip")
        if c["works"] and (dport is None or egress != dport
                           or not (translated or c["address"] in hosts.get(dport, ()))):
            skipped += 1
            continue
        todo.append((c, dport))

    def run(item):
        c, dport = item
        got = connect(ns_of[c["from"]], c["address"], c["service"][4:])
        ok = got.startswith(f"{dport} sees ") if c["works"] else not (" sees " in got)
        return c, dport, got, ok

    with ThreadPoolExecutor(max_workers=int(os.environ.get("LAB_CHECK_JOBS", "32"))) as ex:
        results = list(ex.map(run, todo))
    bad = [r for r in results if not r[3]]
    for c, dport, got, _ in bad:
        want = f"{dport} sees …" if c["works"] else f"no answer ({c['code']})"
        print(f"  FAIL  {c['from']} -> {c['address']}:{c['service'][4:]} ({c['to']}): got {got!r}, reach says {want}")
    answered = sum(1 for r in results if r[0]["works"])
    print(f"lab check: {len(results)} TCP connections made: {answered} answered and "
          f"{len(results) - answered} unanswered as reach says, {len(bad)} mismatches; "
          f"{skipped} skipped (delivered where no service holds the address)")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
