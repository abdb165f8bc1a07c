"""The HTTP server wrk measures connection rates against: the smallest thing that answers a
request and closes (`Connection: close`), in ``--procs`` processes sharing one listening socket.
Started inside a container's (or the lab's) network namespace with nsenter; prints "ready"."""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import socket

PR_SET_PDEATHSIG = 1
REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


def serve(listener: socket.socket) -> None:
    while True:
        try:
            conn, _ = listener.accept()
        except InterruptedError:
            continue
        try:
            conn.recv(4096)
            conn.sendall(REPLY)
        except OSError:
            pass
        finally:
            conn.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bind", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=80)
    parser.add_argument("--procs", type=int, default=2)
    args = parser.parse_args()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((args.bind, args.port))
    listener.listen(4096)
    children = []
    for _ in range(args.procs - 1):
        pid = os.fork()
        if pid == 0:
            ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # die with the parent
            serve(listener)
        children.append(pid)

    def stop(_signum: int, _frame: object) -> None:
        for pid in children:
            os.kill(pid, signal.SIGKILL)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    serve(listener)


if __name__ == "__main__":
    main()
