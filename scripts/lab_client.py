#!/usr/bin/env python3
"""Lab client: connects to ADDR PORT (TCP) with a timeout and prints the server's line, or
TIMEOUT / REFUSED / the error. Exit 0 whatever happened: the caller compares the output."""
import socket
import sys

addr, port = sys.argv[1], int(sys.argv[2])
timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 2.0
try:
    with socket.create_connection((addr, port), timeout=timeout) as s:
        s.settimeout(timeout)
        print(s.recv(200).decode().strip() or "EMPTY")
except socket.timeout:
    print("TIMEOUT")
except ConnectionRefusedError:
    print("REFUSED")
except OSError as e:
    print(f"ERROR {e.strerror or e}")
