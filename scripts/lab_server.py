#!/usr/bin/env python3
"""Lab service: listens on ADDR:PORT... (TCP) and answers every connection with one line,
"<name> sees <peer address>", so a client can see what source address arrived (private, NAT'd,
load balancer), then echoes whatever the client sends until it closes (lab_stream.py uses that
to push a long-lived stream through the forwarder). Runs inside a lab namespace until killed."""
import socket
import sys
import threading


def handle(name, c, peer):
    try:
        c.sendall(f"{name} sees {peer[0]}\n".encode())
        while True:
            data = c.recv(65536)
            if not data:
                break
            c.sendall(data)
    except OSError:
        pass
    finally:
        c.close()


def serve(name, addr, port):
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(64)
    while True:
        c, peer = s.accept()
        threading.Thread(target=handle, args=(name, c, peer), daemon=True).start()


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
