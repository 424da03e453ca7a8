#!/usr/bin/env python3
"""Seed corpora for the fuzz targets: packets of the lab's paths (IPv4/IPv6; TCP SYN/ACK with
payload, UDP, ICMP echo, ICMPv6 echo; fragments; options) with valid checksums, plus the packets
of any pcap files given (LINKTYPE_RAW, as `vpcfwd run --pcap` writes them), and the repo's
configs.

  scripts/fuzz_seeds.py OUTDIR [PCAP...]

writes OUTDIR/parse/ (a packet per file), OUTDIR/pipeline/ (a port index byte, then the packet:
every lab port), OUTDIR/config/ (configs/*.yaml).
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


def main():
    outdir = sys.argv[1]
    pkts = packets()
    for p in sys.argv[2:]:
        pkts += pcap_packets(p)
    for t in ("parse", "pipeline", "config"):
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
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    for c in sorted(glob.glob(os.path.join(root, "configs", "*.yaml"))):
        with open(c, "rb") as src, open(os.path.join(outdir, "config", os.path.basename(c)), "wb") as dst:
            dst.write(src.read())
    print(f"seeds: {n} packets, {len(glob.glob(os.path.join(outdir, 'config', '*')))} configs")


if __name__ == "__main__":
    main()
