#!/usr/bin/env python3
"""The soak's driver (scripts/soak.sh starts the lab and always takes it down): mixed traffic
through a running lab for SECS seconds with a reload every second, sampling vpcfwd's RSS and
open file descriptors every 10 s, then the accounting check from the metrics.

  soak.py --secs N --run DIR --prefix NS_PREFIX --bin VPCFWD [--json FILE]

Traffic, all between the lab's namespaces and bounded by SECS: two TCP echo streams
(lab_stream.py: app -> internet through the NAT gateway, web -> internet through the internet
gateway; every chunk compared), a UDP transfer web -> internet every 5 s (lab_digest.py,
digests compared), a ping app -> internet every second (lab_ping.py), 200 new UDP flows from
web every second (lab_flood.py, new source ports each time). Reloads: every second, SIGHUP and
`vpcfwd reload` in turn, alternating the config between the lab and the lab with one more
NACL entry (rule 80 of acl-private: deny TCP port 9 out; no lab traffic uses it), so each
reload applies a change.

At the end: packets read = packets written + write errors + drops by reason (metrics), no
ERROR line in vpcfwd's log, RSS and fds flat over the second half of the run (the first half
is the warm-up: see `rss_flat` below).
Prints a table and one JSON object; exit 0 when every check held, 1 otherwise.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = os.path.join(ROOT, "scripts")


def rss_fds(pid):
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    return rss * 1024, len(os.listdir(f"/proc/{pid}/fd"))


def metrics(admin):
    with urllib.request.urlopen(f"http://{admin}/metrics", timeout=5) as r:
        text = r.read().decode()
    out = []
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        series, _, v = line.rpartition(" ")
        name, _, labels = series.partition("{")
        out.append((name, dict(re.findall(r'(\w+)="([^"]*)"', labels)), float(v)))
    return out


def total(ms, name, **want):
    return sum(v for n, l, v in ms if n == name and all(l.get(k) == x for k, x in want.items()))


def netns(prefix, port, *cmd, **kw):
    return subprocess.Popen(["ip", "netns", "exec", f"{prefix}-{port}", "python3", *cmd], **kw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--secs", type=int, default=600)
    ap.add_argument("--run", required=True)
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--json")
    a = ap.parse_args()
    pid = int(open(os.path.join(a.run, "vpcfwd.pid")).read())
    admin = open(os.path.join(a.run, "admin")).read().strip()
    config = open(os.path.join(a.run, "config")).read().strip()
    base = open(config).read()
    marker = "      - RuleNumber: 100\n        Egress: true\n"
    i = base.index("    Entries:\n", base.index("NetworkAclId: acl-private"))
    i = base.index(marker, i)
    variant = (base[:i] + "      - RuleNumber: 80\n        Egress: true\n        Protocol: \"6\"\n"
               "        RuleAction: deny\n        CidrBlock: 0.0.0.0/0\n"
               "        PortRange: { From: 9, To: 9 }\n" + base[i:])
    pipe = dict(stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    streams = [
        ("app -> internet (NAT)", netns(a.prefix, "app", f"{SCRIPTS}/lab_stream.py", "203.0.113.100", "80", str(a.secs), **pipe)),
        ("web -> internet (IGW)", netns(a.prefix, "web", f"{SCRIPTS}/lab_stream.py", "203.0.113.100", "80", str(a.secs), **pipe)),
    ]
    procs = []
    udp = {"runs": 0, "ok": 0, "bad": []}
    pings = {"sent": 0, "replies": 0}
    reloads = {"sighup": 0, "api": 0, "api_failed": 0}
    new_flows = 0
    samples = []
    t0 = time.monotonic()
    next_sample = 0.0
    tick = 0
    digest = None
    while True:
        el = time.monotonic() - t0
        if el >= a.secs:
            break
        if el >= next_sample:
            rss, fds = rss_fds(pid)
            ms = metrics(admin)
            samples.append({"t": round(el), "rss_mb": round(rss / 2**20, 1), "fds": fds,
                            "flows": total(ms, "vpcfwd_flows"),
                            "generation": total(ms, "vpcfwd_config_generation")})
            print(f"soak: t={el:5.0f}s rss={rss / 2**20:6.1f} MB fds={fds} flows={samples[-1]['flows']:.0f} "
                  f"generation={samples[-1]['generation']:.0f}", flush=True)
            next_sample += 10
        # A reload a second, alternating the config and the way it is asked for.
        tmp = config + ".soak-tmp"
        with open(tmp, "w") as f:
            f.write(variant if tick % 2 == 0 else base)
        os.replace(tmp, config)
        if tick % 2 == 0:
            os.kill(pid, signal.SIGHUP)
            reloads["sighup"] += 1
        else:
            r = subprocess.run([a.bin, "reload", "--admin", admin], **quiet)
            reloads["api"] += 1
            reloads["api_failed"] += r.returncode != 0
        # A ping, 200 new UDP flows.
        procs.append(("ping", netns(a.prefix, "app", f"{SCRIPTS}/lab_ping.py", "203.0.113.100", "1", **pipe)))
        sport = 1024 + (tick * 200) % 60000
        procs.append(("flood", netns(a.prefix, "web", f"{SCRIPTS}/lab_flood.py", "10.0.1.10", "203.0.113.100",
                                     "30000", "8", str(sport), "200", **quiet)))
        new_flows += 200
        # A UDP transfer every 5 s: 200 datagrams web -> internet, digests compared.
        if tick % 5 == 0 and digest is None and el + 5 < a.secs:
            port = str(40000 + tick % 1000)
            rx = netns(a.prefix, "internet", f"{SCRIPTS}/lab_digest.py", "recv", "udp", "203.0.113.100", port, "200", "4", **pipe)
            time.sleep(0.3)
            tx = netns(a.prefix, "web", f"{SCRIPTS}/lab_digest.py", "send", "udp", "203.0.113.100", port, "200", "512", **pipe)
            digest = (rx, tx)
        elif digest is not None and digest[0].poll() is not None:
            rx, tx = digest
            # The receiver says READY first; its verdict is the last line.
            got = rx.communicate()[0].strip().splitlines()[-1:] or [""]
            got, sent = got[0], tx.communicate()[0].strip()
            udp["runs"] += 1
            if got.split(" ordered=")[0] == sent:
                udp["ok"] += 1
            else:
                udp["bad"].append({"sent": sent, "got": got})
            digest = None
        # Collect finished helpers.
        keep = []
        for kind, p in procs:
            if p.poll() is None:
                keep.append((kind, p))
            elif kind == "ping":
                pings["sent"] += 1
                pings["replies"] += p.stdout.read().startswith("REPLY")
        procs = keep
        tick += 1
        time.sleep(max(0.0, t0 + tick - time.monotonic()))
    for kind, p in procs:
        p.wait(timeout=10)
        if kind == "ping":
            pings["sent"] += 1
            pings["replies"] += p.stdout.read().startswith("REPLY")
    if digest is not None:
        digest[0].wait(timeout=10)
        digest[1].wait(timeout=10)
    results = {name: p.communicate(timeout=30)[0].strip() for name, p in streams}
    # Settle: let the last packets drain, then the accounting.
    time.sleep(2)
    with open(config, "w") as f:
        f.write(base)
    rss, fds = rss_fds(pid)
    samples.append({"t": round(time.monotonic() - t0), "rss_mb": round(rss / 2**20, 1), "fds": fds})
    ms = metrics(admin)
    rx = total(ms, "vpcfwd_port_packets_total", direction="rx")
    tx = total(ms, "vpcfwd_port_packets_total", direction="tx")
    tx_err = total(ms, "vpcfwd_port_tx_errors_total")
    drops = {l["reason"]: v for n, l, v in ms if n == "vpcfwd_drops_total" and v}
    dropped = sum(drops.values())
    reloads_ok = total(ms, "vpcfwd_reloads_total", result="ok")
    reloads_err = total(ms, "vpcfwd_reloads_total", result="error")
    log = open(os.path.join(a.run, "vpcfwd.log"), errors="replace").read()
    errors = [l for l in log.splitlines() if " ERROR " in l or l.startswith("ERROR")]
    # Flat: the second half of the run adds at most 2 % + 2 MB (the first half is the warm-up:
    # each worker's flow-log map, reserved at start, becomes resident as new keys land on its
    # pages — about 16 MB per worker that logs new flows, in 2-3 minutes at 200 new flows/s).
    warm = samples[len(samples) // 2]
    checks = {
        "streams_lossless": all(r.startswith("OK sent=") and r.split()[1][5:] == r.split()[2][7:]
                                for r in results.values()),
        "udp_digests_equal": udp["runs"] > 0 and udp["ok"] == udp["runs"],
        "accounting": rx == tx + tx_err + dropped,
        "no_error_in_log": not errors,
        "reloads_applied": reloads_err == 0 and reloads_ok >= (reloads["sighup"] + reloads["api"]) * 0.9,
        "rss_flat": samples[-1]["rss_mb"] <= warm["rss_mb"] * 1.02 + 2,
        "fds_flat": samples[-1]["fds"] <= warm["fds"],
    }
    summary = {
        "secs": a.secs, "samples": samples, "streams": results, "udp_transfers": udp,
        "pings": pings, "new_udp_flows": new_flows, "reloads_sent": reloads,
        "reloads_metric": {"ok": reloads_ok, "error": reloads_err},
        "packets": {"rx": rx, "tx": tx, "tx_errors": tx_err, "dropped": dropped, "drops": drops,
                    "rx_minus_tx_errors_drops": rx - tx - tx_err - dropped},
        "log_errors": errors[:5], "checks": checks,
    }
    print()
    print("| t (s) | RSS (MB) | open fds |")
    print("|---|---|---|")
    for s in samples:
        print(f"| {s['t']} | {s['rss_mb']} | {s['fds']} |")
    print()
    print(f"streams: {results}")
    print(f"UDP transfers: {udp['ok']}/{udp['runs']} digests equal; pings {pings['replies']}/{pings['sent']}; "
          f"{new_flows} new UDP flows; reloads sent {reloads}, applied {reloads_ok:.0f}, refused {reloads_err:.0f}")
    print(f"packets: read {rx:.0f} = written {tx:.0f} + write errors {tx_err:.0f} + dropped {dropped:.0f} "
          f"({', '.join(f'{k} {v:.0f}' for k, v in sorted(drops.items()))}): difference {rx - tx - tx_err - dropped:.0f}")
    print(f"log: {len(errors)} ERROR lines")
    print(f"second half: RSS {warm['rss_mb']} -> {samples[-1]['rss_mb']} MB, fds {warm['fds']} -> "
          f"{samples[-1]['fds']} (t={warm['t']} s to t={samples[-1]['t']} s)")
    for k, v in checks.items():
        print(f"check {k}: {'ok' if v else 'FAILED'}")
    print(json.dumps(summary))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(summary, f, indent=1)
    return 0 if all(checks.values()) else 1


sys.exit(main())
