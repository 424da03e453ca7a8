#!/usr/bin/env python3
"""Lab resolver client: resolves NAME through the namespace's /etc/resolv.conf (the VPC
resolver, written by scripts/lab.sh) and prints its IPv4 addresses in the order they came, or
NXDOMAIN / the error. Exit 0 whatever happened: the caller compares the output."""
import socket
import sys

try:
    infos = socket.getaddrinfo(sys.argv[1], None, socket.AF_INET, socket.SOCK_STREAM)
    seen = []
    for info in infos:
        if info[4][0] not in seen:
            seen.append(info[4][0])
    print(" ".join(seen))
except socket.gaierror as e:
    print("NXDOMAIN" if e.errno == socket.EAI_NONAME else f"ERROR {e}")
