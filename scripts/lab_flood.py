#!/usr/bin/env python3
"""Lab flood: many new UDP flows, fast, from inside one lab namespace.

  lab_flood.py SRC DST DPORT DPORTS SPORT COUNT [BURST PAUSE_US]

Sends COUNT UDP datagrams from SRC to DST, one per flow: source ports SPORT, SPORT+1, ...
(wrapping within 1024..65535) and, each time the source ports wrap, the next of DPORTS
destination ports from DPORT on — so up to 64,512 x DPORTS distinct flows. A raw socket
(IPPROTO_RAW) writes whole IPv4 packets, so no local port is bound and the kernel's
ephemeral range is no limit; the UDP checksum is computed incrementally. BURST datagrams, then
a pause of PAUSE_US microseconds (default 64, 100), so the forwarder's TUN queue is not
overrun by a sender that never waits. Prints "sent=<n> secs=<s>" and exits.

Only the addresses it is given (the lab's, inside its namespaces); sends COUNT and stops.
"""
import socket
import struct
import sys
import time


def fold(s):
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def main():
    src, dst = sys.argv[1], sys.argv[2]
    dport0, dports = int(sys.argv[3]), int(sys.argv[4])
    sport0, count = int(sys.argv[5]), int(sys.argv[6])
    burst = int(sys.argv[7]) if len(sys.argv) > 7 else 64
    pause = (int(sys.argv[8]) if len(sys.argv) > 8 else 100) / 1e6
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    sa, da = socket.inet_aton(src), socket.inet_aton(dst)
    payload = b"vpcfwd-flood"
    ulen = 8 + len(payload)
    # Pseudo-header + length + payload: constant; the ports are added per packet.
    base = 0
    for w in struct.unpack("!4H", sa + da) + (17, ulen, ulen):
        base += w
    p = payload + (b"\0" if len(payload) % 2 else b"")
    for (w,) in struct.iter_unpack("!H", p):
        base += w
    # IPv4 header: the kernel fills total length, ID and checksum (IP_HDRINCL).
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + ulen, 0, 0, 64, 17, 0, sa, da)
    span = 65536 - 1024
    t0 = time.monotonic()
    sent = 0
    for i in range(count):
        sport = 1024 + (sport0 - 1024 + i) % span
        dport = dport0 + ((sport0 - 1024 + i) // span) % dports
        c = 0xFFFF - fold(base + sport + dport)
        pkt = ip + struct.pack("!HHHH", sport, dport, ulen, c or 0xFFFF) + payload
        try:
            s.sendto(pkt, (dst, 0))
            sent += 1
        except OSError:
            # ENOBUFS when the device queue is full: wait a little, go on.
            time.sleep(0.001)
        if burst and i % burst == burst - 1:
            time.sleep(pause)
    print(f"sent={sent} secs={time.monotonic() - t0:.2f}")


main()
