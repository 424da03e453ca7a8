#!/usr/bin/env python3
"""Lab service: listens on ADDR:PORT... (TCP) and answers every connection with one line,
"<name> sees <peer address>", so a client can see what source address arrived (private, NAT'd,
load balancer). Runs inside a lab namespace until killed."""
import socket
import sys
import threading


def serve(name, addr, port):
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(64)
    while True:
        c, peer = s.accept()
        try:
            c.sendall(f"{name} sees {peer[0]}\n".encode())
        finally:
            c.close()


def main():
    name = sys.argv[1]
    threads = []
    for spec in sys.argv[2:]:
        addr, port = spec.rsplit(":", 1)
        t = threading.Thread(target=serve, args=(name, addr, int(port)), daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
