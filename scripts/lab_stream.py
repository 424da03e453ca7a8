#!/usr/bin/env python3
"""Lab stream: a bounded, self-stopping TCP load. Connects to ADDR PORT, reads the service's
greeting line, then for SECS seconds sends a numbered 1000-byte chunk every 20 ms and checks
that each comes back intact (the lab services echo). Prints one line and exits 0 whatever
happened; the caller compares it:
  OK sent=<bytes> echoed=<bytes>            every byte came back, in order
  STALL at=<secs> sent=<bytes> echoed=<bytes>  nothing came back for 1.5 s
  RESET at=<secs> ...                       the connection was reset
  MISMATCH at=<secs> ...                    a chunk came back altered
  TIMEOUT / REFUSED / ERROR ...             the connection did not open
"""
import socket
import sys
import time

addr, port, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
CHUNK = 1000
try:
    s = socket.create_connection((addr, port), timeout=2.0)
except socket.timeout:
    print("TIMEOUT")
    sys.exit(0)
except ConnectionRefusedError:
    print("REFUSED")
    sys.exit(0)
except OSError as e:
    print(f"ERROR {e}")
    sys.exit(0)

s.settimeout(1.5)
start = time.monotonic()
sent = echoed = 0
buf = b""
try:
    greeting = b""
    while not greeting.endswith(b"\n"):
        b = s.recv(200)
        if not b:
            raise ConnectionResetError
        greeting += b
    seq = 0
    while time.monotonic() - start < secs:
        chunk = (b"%08d" % seq) * (CHUNK // 8)
        s.sendall(chunk)
        sent += len(chunk)
        while len(buf) < CHUNK:
            b = s.recv(65536)
            if not b:
                raise ConnectionResetError
            buf += b
        if buf[:CHUNK] != chunk:
            print(f"MISMATCH at={time.monotonic() - start:.1f} sent={sent} echoed={echoed}")
            sys.exit(0)
        buf = buf[CHUNK:]
        echoed += CHUNK
        seq += 1
        time.sleep(0.02)
    print(f"OK sent={sent} echoed={echoed}")
except socket.timeout:
    print(f"STALL at={time.monotonic() - start:.1f} sent={sent} echoed={echoed}")
except (ConnectionResetError, BrokenPipeError):
    print(f"RESET at={time.monotonic() - start:.1f} sent={sent} echoed={echoed}")
finally:
    s.close()
