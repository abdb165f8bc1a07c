"""A tiny TCP/UDP server and client for traffic checks inside test namespaces.

Server: answers every TCP connection or UDP datagram with "<tag> <client ip>" so a test sees both
who answered and which source address arrived (masquerade, hairpin, DNAT). It exits by itself
after ``--lifetime`` seconds. No name lookups anywhere (http.server's getfqdn once leaked DNS).

    python peer.py serve --proto tcp --port 80 --tag web [--bind 0.0.0.0] [--lifetime 60]
    python peer.py call  --proto tcp --host 10.0.0.2 --port 80 [--timeout 2]
"""

from __future__ import annotations

import argparse
import selectors
import socket
import sys
import time


def serve(proto: str, bind: str, port: int, tag: str, lifetime: float) -> None:
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(family, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((bind, port))
    if proto == "tcp":
        sock.listen(64)
    print("ready", flush=True)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ)
    deadline = time.monotonic() + lifetime
    while (left := deadline - time.monotonic()) > 0:
        if not sel.select(timeout=min(left, 0.5)):
            continue
        if proto == "tcp":
            conn, addr = sock.accept()
            with conn:
                conn.sendall(f"{tag} {addr[0]}\n".encode())
        else:
            _data, addr = sock.recvfrom(2048)
            sock.sendto(f"{tag} {addr[0]}\n".encode(), addr)


def call(proto: str, host: str, port: int, timeout: float) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(family, kind) as sock:
        sock.settimeout(timeout)
        try:
            if proto == "tcp":
                sock.connect((host, port))
                data = sock.recv(2048)
            else:
                sock.sendto(b"ping", (host, port))
                data, _ = sock.recvfrom(2048)
        except OSError as err:
            print(f"error {err}", file=sys.stderr)
            return 1
    sys.stdout.write(data.decode())
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["serve", "call"])
    parser.add_argument("--proto", default="tcp", choices=["tcp", "udp"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--bind", default="0.0.0.0")
    parser.add_argument("--tag", default="peer")
    parser.add_argument("--lifetime", type=float, default=60.0)
    parser.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args()
    if args.mode == "serve":
        serve(args.proto, args.bind, args.port, args.tag, args.lifetime)
        return 0
    return call(args.proto, args.host, args.port, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
