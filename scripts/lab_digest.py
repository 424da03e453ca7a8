#!/usr/bin/env python3
"""Lab digest: a bounded, self-stopping bulk transfer whose payload is compared end to end.

  lab_digest.py recv udp|tcp ADDR PORT COUNT SECS
      listens on ADDR:PORT; UDP: takes datagrams until COUNT arrived or nothing came for 2 s;
      TCP: takes one connection until EOF. Gives up after SECS. Prints one line:
      "n=<datagrams|bytes> sha256=<hex> ordered=<0|1>" (datagrams carry their sequence number;
      ordered=1: every one arrived, in order).
  lab_digest.py send udp|tcp ADDR PORT COUNT SIZE
      UDP: COUNT datagrams of SIZE bytes (a 4-byte sequence number, then deterministic bytes)
      in bursts of 32; TCP: COUNT chunks of SIZE bytes on one connection. Prints
      "n=<datagrams|bytes> sha256=<hex>" of what it sent.

Only the addresses it is given (the lab's, inside its namespaces); exits by itself.
"""
import hashlib
import socket
import sys
import time


def payload(i, size):
    seed = (i * 2654435761) & 0xFFFFFFFF
    body = bytes((seed >> (8 * (k % 4)) ^ k) & 0xFF for k in range(min(size - 4, 251)))
    reps = (size - 4 + len(body) - 1) // max(len(body), 1)
    return i.to_bytes(4, "big") + (body * reps)[: size - 4]


def recv(proto, addr, port, count, secs):
    h = hashlib.sha256()
    deadline = time.monotonic() + secs
    if proto == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE (root)
        except OSError:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
        s.bind((addr, port))
        print("READY", flush=True)
        n, last, ordered = 0, -1, True
        s.settimeout(secs)
        while n < count and time.monotonic() < deadline:
            try:
                d = s.recv(65536)
            except socket.timeout:
                break
            s.settimeout(2.0)
            seq = int.from_bytes(d[:4], "big")
            ordered = ordered and seq == last + 1
            last = seq
            h.update(d)
            n += 1
        print(f"n={n} sha256={h.hexdigest()} ordered={int(ordered and n == count)}")
        return
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(1)
    print("READY", flush=True)
    s.settimeout(secs)
    n = 0
    try:
        c, _ = s.accept()
        c.settimeout(max(deadline - time.monotonic(), 0.1))
        while time.monotonic() < deadline:
            d = c.recv(1 << 20)
            if not d:
                break
            h.update(d)
            n += len(d)
    except (socket.timeout, OSError):
        pass
    print(f"n={n} sha256={h.hexdigest()} ordered=1")


def send(proto, addr, port, count, size):
    h = hashlib.sha256()
    if proto == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect((addr, port))
        for i in range(count):
            d = payload(i, size)
            s.send(d)
            h.update(d)
            if i % 32 == 31:
                time.sleep(0.003)
        print(f"n={count} sha256={h.hexdigest()}")
        return
    s = socket.create_connection((addr, port), timeout=5.0)
    n = 0
    for i in range(count):
        d = payload(i, size)
        s.sendall(d)
        h.update(d)
        n += len(d)
    s.shutdown(socket.SHUT_WR)
    s.settimeout(5.0)
    try:
        while s.recv(65536):
            pass
    except OSError:
        pass
    print(f"n={n} sha256={h.hexdigest()}")


if __name__ == "__main__":
    mode, proto, addr, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    if mode == "recv":
        recv(proto, addr, port, int(sys.argv[5]), float(sys.argv[6]))
    else:
        send(proto, addr, port, int(sys.argv[5]), int(sys.argv[6]))
