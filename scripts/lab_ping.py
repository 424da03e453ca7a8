#!/usr/bin/env python3
"""Lab ping: one ICMP (IPv4) or ICMPv6 echo request to ADDR over a raw socket (root; the lab
has no ping binary), then prints `REPLY from SOURCE` or TIMEOUT. Exit 0 whatever happened."""
import os
import socket
import struct
import sys
import time

addr = sys.argv[1]
timeout = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
v6 = ":" in addr
ident = os.getpid() & 0xFFFF


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


if v6:
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    req, rep = 128, 129
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    req, rep = 8, 0
payload = b"vpcfwd-lab-ping"
msg = struct.pack("!BBHHH", req, 0, 0, ident, 1) + payload
if not v6:  # the kernel computes the ICMPv6 checksum (pseudo-header) itself
    msg = msg[:2] + struct.pack("!H", csum(msg)) + msg[4:]
s.sendto(msg, (addr, 0))
deadline = time.monotonic() + timeout
while True:
    left = deadline - time.monotonic()
    if left <= 0:
        print("TIMEOUT")
        break
    s.settimeout(left)
    try:
        data, src = s.recvfrom(2048)
    except socket.timeout:
        print("TIMEOUT")
        break
    icmp = data if v6 else data[(data[0] & 0x0F) * 4:]
    if len(icmp) >= 8:
        t, _, _, i, _ = struct.unpack("!BBHHH", icmp[:8])
        if t == rep and i == ident:
            print(f"REPLY from {src[0]}")
            break
