"""One DNS question from inside a container, printed as JSON (a tiny ``dig`` for tests).

    python dnsq.py NAME [TYPE] [--server 127.0.0.11] [--tcp] [--edns SIZE] [--repeat N]
    python dnsq.py --batch '[["web", "A"], ["web", "MX", "--tcp"], ...]'

Prints {"rcode", "answers" (rdata strings), "tc", "opt" (EDNS in the answer), "ms", "id_ok"};
with --repeat, "orders" lists the answers of each repetition (round robin checks); with
--batch, a JSON list of those, one per question (each item: NAME, TYPE, then options). Exit 0
even on NXDOMAIN or SERVFAIL; 3 when no answer came at all (for --batch: "error" in the item).
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import struct
import time

from dnslib import EDNS0, QTYPE, RCODE, DNSRecord


def ask(args: argparse.Namespace) -> tuple[DNSRecord, float, bool]:
    query = DNSRecord.question(args.name, args.type)
    query.header.id = random.getrandbits(16)
    if args.edns:
        query.add_ar(EDNS0(udp_len=args.edns))
    data = bytes(query.pack())
    started = time.perf_counter()
    if args.tcp:
        with socket.create_connection((args.server, 53), timeout=args.timeout) as conn:
            conn.sendall(struct.pack("!H", len(data)) + data)
            (length,) = struct.unpack("!H", conn.recv(2))
            raw = b""
            while len(raw) < length:
                raw += conn.recv(length - len(raw))
    else:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(args.timeout)
            sock.sendto(data, (args.server, 53))
            raw, _ = sock.recvfrom(65535)
    elapsed = (time.perf_counter() - started) * 1000
    reply = DNSRecord.parse(raw)
    return reply, elapsed, reply.header.id == query.header.id


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    parser.add_argument("name", nargs="?", default="")
    parser.add_argument("type", nargs="?", default="A")
    parser.add_argument("--server", default="127.0.0.11")
    parser.add_argument("--tcp", action="store_true")
    parser.add_argument("--edns", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--batch", default="")
    return parser


def run(args: argparse.Namespace) -> dict[str, object]:
    orders = []
    try:
        for _ in range(args.repeat):
            reply, elapsed, id_ok = ask(args)
            orders.append([str(rr.rdata) for rr in reply.rr])
    except OSError as err:
        return {"error": repr(err)}
    return {
        "rcode": RCODE.get(reply.header.rcode),
        "answers": orders[-1],
        "types": [QTYPE.get(rr.rtype) for rr in reply.rr],
        "ttls": [rr.ttl for rr in reply.rr],
        "tc": bool(reply.header.tc),
        "opt": any(rr.rtype == QTYPE.OPT for rr in reply.ar),
        "ms": round(elapsed, 3),
        "id_ok": id_ok,
        "orders": orders,
    }


def main() -> int:
    args = parser().parse_args()
    if args.batch:
        items = [run(parser().parse_args(item)) for item in json.loads(args.batch)]
        print(json.dumps(items))
        return 0
    result = run(args)
    print(json.dumps(result))
    return 3 if "error" in result else 0


if __name__ == "__main__":
    raise SystemExit(main())
