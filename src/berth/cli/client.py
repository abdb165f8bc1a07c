"""The CLI's API client: stdlib http.client over the daemon's unix socket, Docker's protocol.

On first use it sends `HEAD /_ping` and talks `/v<min(1.47, server)>/` from then on (like the
docker CLI; `BERTH_API_VERSION` skips the ping). One keep-alive connection serves the simple
requests; streams (logs, events, wait) and hijacked connections (attach, exec) get their own.
Errors become ``ApiError`` (the daemon's `{"message"}`) or ``DaemonUnreachable``; this module
never prints.
"""

from __future__ import annotations

import codecs
import http.client
import json
import os
import socket
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote, urlencode

from berth.cli.errors import ApiError, CliError, DaemonUnreachable
from berth.cli.hijack import Hijacked, hijack_request, read_response_head

CLIENT_MAX_VERSION = "1.47"
FALLBACK_VERSION = "1.24"  # what docker assumes when /_ping has no Api-Version header
DEFAULT_HOST = "unix:///run/berth/berth.sock"
USER_AGENT = "berth-cli/0.1.0"


def socket_path(host: str) -> str:
    if host.startswith("unix://"):
        return host[len("unix://") :]
    if host.startswith("/"):
        return host
    raise CliError(f"unsupported daemon host {host!r}: berth talks to unix:///path sockets only")


def version_tuple(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return (0,)


def negotiate(server: str | None) -> str:
    if not server:
        return FALLBACK_VERSION
    return min(server, CLIENT_MAX_VERSION, key=version_tuple)


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None = None) -> None:
        super().__init__("localhost")
        self.path = path
        self.unix_timeout = timeout

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.unix_timeout)
        try:
            sock.connect(self.path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def _encode_query(query: Mapping[str, Any] | None) -> str:
    if not query:
        return ""
    pairs = []
    for key, value in query.items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = "1" if value else "0"
        elif isinstance(value, dict | list):
            text = json.dumps(value, separators=(",", ":"))
        else:
            text = str(value)
        pairs.append((key, text))
    return "?" + urlencode(pairs) if pairs else ""


def ref(value: str) -> str:
    """A name or id as one path segment."""
    return quote(value, safe="")


class Client:
    def __init__(self, host: str | None = None) -> None:
        self.host = host or os.environ.get("BERTH_HOST") or DEFAULT_HOST
        self.path = socket_path(self.host)
        self._version = os.environ.get("BERTH_API_VERSION") or None
        self._server_version: str | None = None
        self._conn: UnixConnection | None = None

    def clone(self) -> Client:
        """Another client for the same daemon and API version (for other threads)."""
        other = Client(self.host)
        other._version = self._version
        return other

    # --- transport -------------------------------------------------------------------------
    def _connection(self) -> UnixConnection:
        if self._conn is None:
            self._conn = UnixConnection(self.path)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _send(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: dict[str, str],
        conn: UnixConnection | None = None,
    ) -> http.client.HTTPResponse:
        conn = conn or self._connection()
        headers = {"User-Agent": USER_AGENT, **headers}
        try:
            conn.request(method, url, body=body, headers=headers)
            return conn.getresponse()
        except (FileNotFoundError, ConnectionRefusedError):
            raise DaemonUnreachable(self.host) from None
        except PermissionError:
            raise DaemonUnreachable(self.host, "permission") from None
        except (http.client.HTTPException, OSError) as err:
            conn.close()
            raise DaemonUnreachable(self.host, f"{err or type(err).__name__}") from None

    @property
    def version(self) -> str:
        if self._version is None:
            self._version = negotiate(self.ping())
        return self._version

    def ping(self) -> str | None:
        """HEAD /_ping (GET if HEAD fails); the server's Api-Version header."""
        for method in ("HEAD", "GET"):
            resp = self._send(method, "/_ping", None, {})
            resp.read()
            if resp.status == 200 or method == "GET":
                self._server_version = resp.getheader("Api-Version")
                return self._server_version
        return None

    def url(self, path: str, query: Mapping[str, Any] | None = None) -> str:
        return f"/v{self.version}{path}{_encode_query(query)}"

    # --- requests --------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        conn: UnixConnection | None = None,
    ) -> http.client.HTTPResponse:
        """Send a request; return the response once its status is known to be a success."""
        data = None
        headers: dict[str, str] = {}
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        resp = self._send(method, self.url(path, query), data, headers, conn)
        if resp.status >= 400:
            raise api_error(resp.status, resp.read())
        return resp

    def call(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> Any:
        """A request with a JSON (or empty) answer, decoded."""
        resp = self.request(method, path, query=query, body=body)
        raw = resp.read()
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise CliError(f"invalid JSON from daemon: {raw[:200]!r}") from None

    def get(self, path: str, **query: Any) -> Any:
        return self.call("GET", path, query=query)

    def post(self, path: str, body: Any = None, **query: Any) -> Any:
        return self.call("POST", path, query=query, body=body)

    def delete(self, path: str, **query: Any) -> Any:
        return self.call("DELETE", path, query=query)

    def stream(
        self, method: str, path: str, *, query: Mapping[str, Any] | None = None, body: Any = None
    ) -> http.client.HTTPResponse:
        """A request on its own connection whose body is read incrementally by the caller."""
        self.version  # noqa: B018 - negotiate on the shared connection first
        return self.request(method, path, query=query, body=body, conn=UnixConnection(self.path))

    def json_stream(self, path: str, query: Mapping[str, Any] | None = None) -> Iterator[Any]:
        """Concatenated JSON values as they arrive (GET /events)."""
        resp = self.stream("GET", path, query=query)
        decoder = json.JSONDecoder()
        text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        buf = ""
        while True:
            chunk = resp.read1(65536)
            if not chunk:
                return
            buf += text.decode(chunk)
            while True:
                buf = buf.lstrip()
                if not buf:
                    break
                try:
                    value, end = decoder.raw_decode(buf)
                except ValueError:
                    break  # incomplete: wait for more
                buf = buf[end:]
                yield value

    def hijack(self, path: str, body: Any, query: Mapping[str, Any] | None = None) -> Hijacked:
        """POST with `Upgrade: tcp`; after 101 the socket carries the process's stdio."""
        url = self.url(path, query)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.path)
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            raise DaemonUnreachable(self.host) from None
        data = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
        try:
            sock.sendall(hijack_request("POST", url, data, USER_AGENT))
            status, _headers, rest, error_body = read_response_head(sock)
        except BaseException:
            sock.close()
            raise
        if status not in (101, 200):
            sock.close()
            raise api_error(status, error_body)
        return Hijacked(sock, rest)


def api_error(status: int, raw: bytes) -> ApiError:
    try:
        message = json.loads(raw)["message"]
    except (ValueError, KeyError, TypeError):
        message = raw.decode(errors="replace").strip() or f"HTTP status {status}"
    return ApiError(status, str(message))
