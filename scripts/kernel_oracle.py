#!/usr/bin/env python3
"""The Linux kernel's FIB as the oracle of vpcfwd's longest-prefix match.

Run by scripts/kernel-oracle.sh, which creates the namespace (and its one device, a TUN device
nobody reads: nothing can leave) and removes it on every exit. For each table (the full Tier-1
table, then random tables with /0, host routes and nesting): load it into the namespace's main
table with `ip -batch` (`route replace PREFIX dev DEV`: a prefix given twice, the last wins, as in
`vpcfwd lookup`), ask `ip route get fibmatch` for random addresses and for every prefix's first,
middle and last address (batched: `ip -o -force -batch`, two processes), ask `vpcfwd lookup` for
the same addresses, and compare the matched prefixes. Prints a table and one JSON line.
"""

import argparse
import ipaddress
import json
import os
import random
import subprocess
import sys
import tempfile
import time

KINDS = {"unicast", "local", "broadcast", "multicast", "anycast", "blackhole", "unreachable",
         "prohibit", "throw", "nat"}


def parse_table(path):
    """(family, int network, length) per line of a table file, host bits cleared."""
    import gzip
    op = gzip.open if path.endswith(".gz") else open
    out = []
    with op(path, "rt") as f:
        for line in f:
            s = line.split("#", 1)[0].strip()
            if not s:
                continue
            p = s.split()[0]
            a, _, l = p.partition("/")
            if ":" in a:
                n = int(ipaddress.IPv6Address(a))
                ln = int(l) if l else 128
                bits = 128
            else:
                n = int(ipaddress.IPv4Address(a))
                ln = int(l) if l else 32
                bits = 32
            mask = ((1 << bits) - 1) ^ ((1 << (bits - ln)) - 1)
            out.append((bits, n & mask, ln))
    return out


def fmt(bits, n):
    return str(ipaddress.IPv4Address(n) if bits == 32 else ipaddress.IPv6Address(n))


def run_batch(ns, lines, jobs, workdir, tag, answers=True):
    """`ip -o -force -batch` over `lines` in `jobs` processes: per line, the output line (or
    None when the commands print nothing: `answers=False`) or ('ERR', message)."""
    n = len(lines)
    chunk = (n + jobs - 1) // jobs if n else 0
    procs = []
    for j in range(jobs):
        part = lines[j * chunk:(j + 1) * chunk]
        if not part:
            continue
        fn = os.path.join(workdir, f"{tag}-{j}.batch")
        with open(fn, "w") as f:
            f.write("\n".join(part))
            f.write("\n")
        out = open(fn + ".out", "w+")
        err = open(fn + ".err", "w+")
        p = subprocess.Popen(["ip", "-n", ns, "-o", "-force", "-batch", fn], stdout=out, stderr=err)
        procs.append((p, fn, out, err, len(part)))
    res = []
    for p, fn, out, err, count in procs:
        p.wait()
        out.seek(0)
        err.seek(0)
        failed = {}
        msg = ""
        for e in err:
            e = e.rstrip("\n")
            if e.startswith("Command failed "):
                failed[int(e.rsplit(":", 1)[1]) - 1] = msg
                msg = ""
            else:
                msg = (msg + " " + e).strip()
        outs = [o.rstrip("\n") for o in out]
        k = 0
        for i in range(count):
            if i in failed:
                res.append(("ERR", failed[i]))
            elif not answers:
                res.append(None)
            else:
                res.append(outs[k] if k < len(outs) else ("ERR", "no output"))
                k += 1
        if k != len(outs):
            sys.exit(f"kernel-oracle: {fn}: {len(outs)} output lines for {k} answers")
        out.close()
        err.close()
    return res


def kernel_prefix(line, bits):
    """The matched prefix of a `route get fibmatch` line, as 'addr/len', or '-' for no route."""
    if isinstance(line, tuple):
        return "-" if "unreachable" in line[1] else "ERR " + line[1]
    w = line.split()
    if w and w[0] in KINDS:
        w = w[1:]
    p = w[0] if w else ""
    if p == "default":
        return "0.0.0.0/0" if bits == 32 else "::/0"
    if "/" not in p:
        p += "/32" if bits == 32 else "/128"
    return p


def same(a, b):
    if a == b:
        return True
    try:
        return ipaddress.ip_network(a) == ipaddress.ip_network(b)
    except ValueError:
        return False


def check_table(name, prefixes, ns, dev, vpcfwd, nkeys, sample, jobs, workdir, rng):
    """Loads `prefixes` into the kernel, compares; returns the result row."""
    t0 = time.time()
    subprocess.run(["ip", "-n", ns, "-4", "route", "flush", "table", "main"], check=False,
                   stderr=subprocess.DEVNULL)
    subprocess.run(["ip", "-n", ns, "-6", "route", "flush", "table", "main"], check=False,
                   stderr=subprocess.DEVNULL)
    load = []
    for bits, n, ln in prefixes:
        load.append(f"route replace {fmt(bits, n)}/{ln} dev {dev}")
    refused = [(prefixes[i], r[1]) for i, r in
               enumerate(run_batch(ns, load, 1, workdir, "load", False)) if isinstance(r, tuple)]
    if refused:
        for p, why in refused[:10]:
            print(f"  kernel refused {fmt(p[0], p[1])}/{p[2]}: {why}", file=sys.stderr)
        bad = set(p for p, _ in refused)
        prefixes = [p for p in prefixes if p not in bad]
    tload = time.time() - t0
    tablefile = os.path.join(workdir, "table.txt")
    with open(tablefile, "w") as f:
        for bits, n, ln in prefixes:
            f.write(f"{fmt(bits, n)}/{ln}\n")

    keys = []  # (bits, int)
    by = {32: [p for p in prefixes if p[0] == 32], 128: [p for p in prefixes if p[0] == 128]}
    for bits in (32, 128):
        ps = by[bits]
        if not ps:
            continue
        for i in range(nkeys):
            if i % 2 == 0 or not ps:
                keys.append((bits, rng.getrandbits(bits)))
            else:
                _, n, ln = ps[rng.randrange(len(ps))]
                keys.append((bits, n | (rng.getrandbits(bits - ln) if ln < bits else 0)))
    random_keys = len(keys)
    pool = prefixes if sample is None or sample >= len(prefixes) else rng.sample(prefixes, sample)
    for bits, n, ln in pool:
        size = 1 << (bits - ln)
        keys.append((bits, n))
        keys.append((bits, n + size // 2))
        keys.append((bits, n + size - 1))
    # The kernel answers 0.0.0.0 from loopback without a FIB lookup: not an LPM question.
    skipped = sum(1 for k in keys if k == (32, 0))
    random_keys -= sum(1 for k in keys[:random_keys] if k == (32, 0))
    keys = [k for k in keys if k != (32, 0)]
    endpoint_keys = len(keys) - random_keys
    addrs = [fmt(b, n) for b, n in keys]

    t1 = time.time()
    kq = [f"route get fibmatch {a}" for a in addrs]
    kern = run_batch(ns, kq, jobs, workdir, "get")
    tkern = time.time() - t1

    t2 = time.time()
    p = subprocess.run([vpcfwd, "lookup", "--table", tablefile], input="\n".join(addrs) + "\n",
                       capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"kernel-oracle: vpcfwd lookup failed: {p.stderr.strip()}")
    ours = p.stdout.split("\n")
    tours = time.time() - t2
    if len(ours) - 1 != len(keys):
        sys.exit(f"kernel-oracle: vpcfwd lookup: {len(ours) - 1} lines for {len(keys)} keys")

    mismatches = []
    kernel_errors = 0
    for i, ((bits, _), a) in enumerate(zip(keys, addrs)):
        kp = kernel_prefix(kern[i], bits)
        w = ours[i].split()
        if len(w) != 3 or w[0] != a:
            mismatches.append((a, kp, ours[i]))
            continue
        if kp.startswith("ERR"):
            kernel_errors += 1
            mismatches.append((a, kp, w[1]))
        elif not same(kp, w[1]):
            mismatches.append((a, kp, w[1]))
    for a, kp, op in mismatches[:20]:
        print(f"  MISMATCH {name}: {a}: kernel {kp}, vpcfwd {op}", file=sys.stderr)
    return {
        "table": name,
        "prefixes_v4": len(by[32]),
        "prefixes_v6": len(by[128]),
        "kernel_refused_routes": len(refused),
        "random_keys": random_keys,
        "endpoint_keys": endpoint_keys,
        "keys": len(keys),
        "skipped_keys_0.0.0.0": skipped,
        "mismatches": len(mismatches),
        "kernel_errors": kernel_errors,
        "load_s": round(tload, 1),
        "kernel_s": round(tkern, 1),
        "vpcfwd_s": round(tours, 1),
    }


def random_table(rng, i):
    """A random table over a few roots: /0 sometimes, host routes, deep nesting, both families."""
    out = set()
    if i % 2 == 0:
        out.add((32, 0, 0))
    if i % 3 == 0:
        out.add((128, 0, 0))
    for bits in (32, 128):
        roots = [rng.getrandbits(bits) for _ in range(rng.randint(1, 4))]
        for _ in range(rng.randint(20, 400)):
            base = rng.choice(roots) ^ (rng.getrandbits(bits) >> rng.randint(1, bits))
            ln = rng.choice([rng.randint(0, bits), bits, bits, rng.randint(bits // 2, bits)])
            mask = ((1 << bits) - 1) ^ ((1 << (bits - ln)) - 1)
            out.add((bits, base & mask, ln))
    t = sorted(out)
    rng.shuffle(t)
    return t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ns", required=True)
    ap.add_argument("--dev", required=True)
    ap.add_argument("--vpcfwd", required=True)
    ap.add_argument("--table")
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--sample", type=int)
    ap.add_argument("--random-tables", type=int, default=20)
    ap.add_argument("--random-keys", type=int, default=2000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--json")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    rows = []
    with tempfile.TemporaryDirectory(prefix="vpcfwd-oracle-") as wd:
        if a.table:
            rows.append(check_table(os.path.basename(a.table), parse_table(a.table), a.ns, a.dev,
                                    a.vpcfwd, a.keys, a.sample, a.jobs, wd, rng))
        for i in range(a.random_tables):
            rows.append(check_table(f"random-{i}", random_table(rng, i), a.ns, a.dev, a.vpcfwd,
                                    a.random_keys, None, a.jobs, wd, rng))
    hdr = ["table", "prefixes_v4", "prefixes_v6", "random_keys", "endpoint_keys", "keys",
           "mismatches", "kernel_s", "vpcfwd_s"]
    randoms = [r for r in rows if r["table"].startswith("random-")]
    lines = [r for r in rows if not r["table"].startswith("random-")]
    if randoms:
        agg = {"table": f"random x{len(randoms)}"}
        for k in hdr[1:]:
            agg[k] = round(sum(r[k] for r in randoms), 1)
        lines.append(agg)
    w = [max(len(h), *(len(str(r[h])) for r in lines)) for h in hdr]
    print("  ".join(h.ljust(x) for h, x in zip(hdr, w)))
    for r in lines:
        print("  ".join(str(r[h]).ljust(x) for h, x in zip(hdr, w)))
    total = {
        "keys": sum(r["keys"] for r in rows),
        "mismatches": sum(r["mismatches"] for r in rows),
        "kernel_refused_routes": sum(r["kernel_refused_routes"] for r in rows),
        "tables": rows,
    }
    doc = json.dumps(total)
    print(doc)
    if a.json:
        with open(a.json, "w") as f:
            f.write(doc + "\n")
    sys.exit(1 if total["mismatches"] else 0)


if __name__ == "__main__":
    main()
