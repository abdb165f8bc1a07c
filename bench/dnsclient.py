"""A DNS client run inside a container's network namespace (nsenter): A queries for a container
name to 127.0.0.11:53, the embedded resolver's address. Prints one JSON line.

    probe NAME          does anything answer (1 s)?
    latency NAME N      N queries one after another: per-query milliseconds
    rate NAME N WINDOW  N queries with WINDOW outstanding: answers per second

Only names the resolver answers itself (containers on the same network) are asked, so nothing
is forwarded to an upstream resolver (the lab has no route to one anyway)."""

from __future__ import annotations

import json
import socket
import struct
import sys
import time

SERVER = ("127.0.0.11", 53)


def query(qid: int, name: str) -> bytes:
    header = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return header + labels + struct.pack("!HH", 1, 1)


def answered(reply: bytes) -> tuple[int, bool]:
    qid, flags, _qd, ancount = struct.unpack("!HHHH", reply[:8])
    return qid, (flags & 0xF) == 0 and ancount > 0


def probe(sock: socket.socket, name: str) -> dict[str, object]:
    sock.settimeout(1.0)
    try:
        sock.send(query(1, name))
        _qid, ok = answered(sock.recv(512))
        return {"available": ok}
    except OSError as err:
        return {"available": False, "error": str(err)}


def latency(sock: socket.socket, name: str, n: int) -> dict[str, object]:
    sock.settimeout(2.0)
    samples, failures = [], 0
    for i in range(n):
        start = time.perf_counter()
        sock.send(query(i & 0xFFFF, name))
        try:
            _qid, ok = answered(sock.recv(512))
        except OSError:
            ok = False
        if ok:
            samples.append((time.perf_counter() - start) * 1e3)
        else:
            failures += 1
    return {"ms": samples, "failures": failures}


def rate(sock: socket.socket, name: str, n: int, window: int) -> dict[str, object]:
    sock.settimeout(2.0)
    sent = done = ok_count = 0
    start = time.perf_counter()
    while sent < min(window, n):
        sock.send(query(sent & 0xFFFF, name))
        sent += 1
    while done < sent:
        try:
            _qid, ok = answered(sock.recv(512))
        except OSError:
            break  # lost queries: count what came back
        done += 1
        ok_count += ok
        if sent < n:
            sock.send(query(sent & 0xFFFF, name))
            sent += 1
    elapsed = time.perf_counter() - start
    return {"per_s": ok_count / elapsed if elapsed else 0.0, "answered": ok_count, "sent": sent}


def main() -> None:
    mode, name, *rest = sys.argv[1:]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect(SERVER)
    if mode == "probe":
        out = probe(sock, name)
    elif mode == "latency":
        out = latency(sock, name, int(rest[0]))
    else:
        out = rate(sock, name, int(rest[0]), int(rest[1]))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
