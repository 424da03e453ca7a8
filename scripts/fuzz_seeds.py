#!/usr/bin/env python3
"""Seed corpora for the fuzz targets: packets of the lab's paths (IPv4/IPv6; TCP SYN/ACK with
payload, UDP, ICMP echo, ICMPv6 echo; fragments; options) with valid checksums, plus the packets
of any pcap files given (LINKTYPE_RAW, as `vpcfwd run --pcap` writes them), and the repo's
configs.

  scripts/fuzz_seeds.py OUTDIR [PCAP...]
  scripts/fuzz_seeds.py --lab-packets FILE PCAP...   (scripts/fuzz-seeds.sh: the committed file)

writes OUTDIR/parse/ (a packet per file), OUTDIR/pipeline/ (a port index byte, then the packet:
every lab port), OUTDIR/config/ (configs/*.yaml), OUTDIR/scenario/ (configs/scenarios/*.yaml)
and OUTDIR/pcap/ (the packets again as small pcap files, 8 to a file, plus an empty capture).

Besides the generated packets and the pcaps given, the packets of real lab captures committed in
fuzz/lab-packets.txt (one hex packet a line; scripts/fuzz-seeds.sh regenerates it from a
`vpcfwd run --pcap` capture of the lab's paths) are seeds too.
"""
import glob
import ipaddress
import os
import struct
import sys


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def l4(proto, src, dst, sport, dport, payload=b"", flags=0x02, icmp_type=8):
    if proto == 6:
        h = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, flags, 65535, 0, 0)
    elif proto == 17:
        h = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)
    else:
        h = struct.pack("!BBHHH", icmp_type, 0, 0, 0x1234, 1)
    body = bytearray(h + payload)
    s, d = ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed
    if proto == 1:
        pseudo = b""
    elif len(s) == 4:
        pseudo = s + d + struct.pack("!BBH", 0, proto, len(body))
    else:
        pseudo = s + d + struct.pack("!IxxxB", len(body), proto)
    off = {6: 16, 17: 6}.get(proto, 2)
    struct.pack_into("!H", body, off, csum(pseudo + bytes(body)))
    return bytes(body)


def ip4(src, dst, proto, payload, ttl=64, frag=0, options=b""):
    ihl = 5 + len(options) // 4
    h = bytearray(struct.pack("!BBHHHBBH4s4s", (4 << 4) | ihl, 0, ihl * 4 + len(payload), 1,
                              frag, ttl, proto, 0, ipaddress.ip_address(src).packed,
                              ipaddress.ip_address(dst).packed) + options)
    struct.pack_into("!H", h, 10, csum(bytes(h)))
    return bytes(h) + payload


def ip6(src, dst, nh, payload, hop=64):
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), nh, hop,
                       ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed) + payload


def packets():
    paths = [("10.0.1.10", "203.0.113.100"), ("10.0.2.10", "192.0.2.10"),
             ("10.0.2.10", "203.0.113.100"), ("10.0.2.10", "10.0.2.20"),
             ("10.0.1.10", "10.0.2.10"), ("203.0.113.100", "198.51.100.10"),
             ("192.0.2.130", "192.0.2.129"), ("10.0.2.10", "203.0.113.200")]
    out = []
    for s, d in paths:
        for dport in (80, 443, 22, 23, 8080):
            out.append(ip4(s, d, 6, l4(6, s, d, 49152, dport)))
            out.append(ip4(s, d, 6, l4(6, s, d, 49152, dport, b"GET / HTTP/1.0\r\n\r\n", 0x18)))
        out.append(ip4(s, d, 17, l4(17, s, d, 5353, 53, b"\x12\x34\x01\x00\x00\x01")))
        out.append(ip4(s, d, 1, l4(1, s, d, 0, 0, b"ping")))
        out.append(ip4(s, d, 6, l4(6, s, d, 49152, 80), ttl=1))
        out.append(ip4(s, d, 17, l4(17, s, d, 1, 2, b"x" * 64)[:24], frag=0x2000))
        out.append(ip4(s, d, 6, l4(6, s, d, 49152, 80), options=b"\x01\x01\x01\x00"))
    for s, d in [("2001:db8:1::10", "2001:db8:2::10"), ("2001:db8:1::10", "2001:db8::1")]:
        out.append(ip6(s, d, 6, l4(6, s, d, 49152, 80)))
        out.append(ip6(s, d, 17, l4(17, s, d, 5353, 53, b"q")))
        out.append(ip6(s, d, 58, l4(58, s, d, 0, 0, b"ping", icmp_type=128)))
    return out


def pcap_packets(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return []
    endian = "<" if data[:4] == b"\xd4\xc3\xb2\xa1" else ">"
    out, off = [], 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        out.append(data[off + 16:off + 16 + incl])
        off += 16 + incl
    return out


def lab_packets(path):
    """The committed lab-capture packets: one hex packet a line, `#` comments."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [bytes.fromhex(l.strip()) for l in f if l.strip() and not l.startswith("#")]


def pcap_file(pkts):
    """A LINKTYPE_RAW pcap file of `pkts`, as `vpcfwd run --pcap` writes them."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))
    for i, p in enumerate(pkts):
        out += struct.pack("<IIII", 1_700_000_000 + i, 0, len(p), len(p)) + p
    return bytes(out)


def shape(p):
    """What makes a captured packet a different seed: IP version, protocol, addresses, TCP
    flags, the service port, a size class; not the payload or the ephemeral port."""
    v = p[0] >> 4 if p else 0
    if v == 4 and len(p) >= 20:
        ihl, proto, addrs = (p[0] & 15) * 4, p[9], p[12:20]
    elif v == 6 and len(p) >= 40:
        ihl, proto, addrs = 40, p[6], p[8:40]
    else:
        return (v, len(p))
    l4 = p[ihl:]
    ports = struct.unpack("!HH", l4[:4]) if proto in (6, 17) and len(l4) >= 4 else (0, 0)
    flags = l4[13] if proto == 6 and len(l4) >= 14 else (l4[0] if proto in (1, 58) and l4 else 0)
    return (v, proto, addrs, flags, min(ports), len(p) // 256)


def write_lab_packets(out, pcaps, limit=400, max_len=700):
    """fuzz/lab-packets.txt from captures: one packet per shape, the small ones, at most `limit`."""
    seen, keep = set(), []
    per_file = [iter(pcap_packets(path)) for path in sorted(pcaps)]
    # Round robin over the ports' captures, so that a cut at `limit` leaves every port its share.
    while per_file:
        for it in list(per_file):
            p = next(it, None)
            if p is None:
                per_file.remove(it)
                continue
            k = shape(p)
            if len(p) <= max_len and k not in seen:
                seen.add(k)
                keep.append(p)
    # Over `limit`: round robin over (version, protocol, flags) groups, so that the rarer kinds
    # (ICMP, UDP, DNS, resets) stay beside the many TCP segments.
    groups = {}
    for p in keep:
        groups.setdefault(shape(p)[:2] + shape(p)[3:4], []).append(p)
    keep, queues = [], list(groups.values())
    while queues and len(keep) < limit:
        for q in list(queues):
            if q and len(keep) < limit:
                keep.append(q.pop(0))
            if not q:
                queues.remove(q)
    with open(out, "w") as f:
        f.write("# Packets of a real capture of the lab's paths (`vpcfwd run --pcap` while\n"
                "# scripts/fuzz-seeds.sh drove traffic down them): fuzz seeds for the parse,\n"
                "# pipeline and pcap targets, one hex packet a line, one per shape.\n")
        for p in keep:
            f.write(p.hex() + "\n")
    print(f"lab packets: {len(keep)} of {sum(1 for _ in seen)} shapes written to {out}")


def main():
    if sys.argv[1:2] == ["--lab-packets"]:
        write_lab_packets(sys.argv[2], sys.argv[3:])
        return
    outdir = sys.argv[1]
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    pkts = packets() + lab_packets(os.path.join(root, "fuzz", "lab-packets.txt"))
    for p in sys.argv[2:]:
        pkts += pcap_packets(p)
    for t in ("parse", "pipeline", "config", "scenario", "pcap"):
        os.makedirs(os.path.join(outdir, t), exist_ok=True)
    seen = set()
    n = 0
    for p in pkts:
        if p in seen:
            continue
        seen.add(p)
        with open(os.path.join(outdir, "parse", f"pkt-{n:05}"), "wb") as f:
            f.write(p)
        for port in range(6):
            with open(os.path.join(outdir, "pipeline", f"pkt-{n:05}-{port}"), "wb") as f:
                f.write(bytes([port]) + p)
        n += 1
    uniq = list(dict.fromkeys(pkts))
    for i in range(0, len(uniq), 8):
        with open(os.path.join(outdir, "pcap", f"cap-{i // 8:05}.pcap"), "wb") as f:
            f.write(pcap_file(uniq[i:i + 8]))
    with open(os.path.join(outdir, "pcap", "empty.pcap"), "wb") as f:
        f.write(pcap_file([]))
    for sub, target in (("configs", "config"), (os.path.join("configs", "scenarios"), "scenario")):
        for c in sorted(glob.glob(os.path.join(root, sub, "*.yaml"))):
            with open(c, "rb") as src, open(os.path.join(outdir, target, os.path.basename(c)), "wb") as dst:
                dst.write(src.read())
    print(f"seeds: {n} packets, {len(glob.glob(os.path.join(outdir, 'config', '*')))} configs, "
          f"{len(glob.glob(os.path.join(outdir, 'scenario', '*')))} scenarios, "
          f"{len(glob.glob(os.path.join(outdir, 'pcap', '*')))} pcap files")


if __name__ == "__main__":
    main()
