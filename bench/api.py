"""The one Engine API client the suite uses against both berthd's and dockerd's sockets: a single
keep-alive HTTP/1.1 connection over a unix socket (as docker-py or the docker CLI keep one), so
the same client code measures both daemons."""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any


class ApiError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


class Api:
    def __init__(self, sock: str, version: str = "v1.41", timeout: float = 300) -> None:
        self.sock, self.version, self.timeout = sock, version, timeout
        self.conn = self._connect()

    def _connect(self) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection("localhost", timeout=self.timeout)
        raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        raw.settimeout(self.timeout)
        raw.connect(self.sock)
        conn.sock = raw
        return conn

    def call(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = ()) -> Any:
        """The decoded reply; raises ApiError on a status >= 300 not listed in ``ok``."""
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": "application/json"} if data is not None else {}
        self.conn.request(method, f"/{self.version}{path}", body=data, headers=headers)
        reply = self.conn.getresponse()
        raw = reply.read()
        if reply.status >= 300 and reply.status not in ok:
            raise ApiError(reply.status, f"{method} {path}: {raw[:300]!r}")
        if raw and "json" in (reply.getheader("Content-Type") or ""):
            return json.loads(raw)
        return raw

    def close(self) -> None:
        self.conn.close()

    # --- the few calls the suite makes, identical for both daemons -------------------------

    def create_network(self, name: str, subnet: str | None = None) -> str:
        body: dict[str, Any] = {"Name": name, "CheckDuplicate": True}
        if subnet:
            body["IPAM"] = {"Config": [{"Subnet": subnet}]}
        return str(self.call("POST", "/networks/create", body)["Id"])

    def remove_network(self, name: str) -> None:
        self.call("DELETE", f"/networks/{name}", ok=(404,))

    def connect(self, network: str, container: str) -> None:
        self.call("POST", f"/networks/{network}/connect", {"Container": container})

    def disconnect(self, network: str, container: str) -> None:
        self.call("POST", f"/networks/{network}/disconnect", {"Container": container})

    def run(
        self,
        name: str,
        image: str,
        cmd: list[str],
        network: str = "bridge",
        ports: dict[str, str] | None = None,
    ) -> str:
        """Create and start a container; ``ports`` maps "80/tcp" -> host port (or range)."""
        host: dict[str, Any] = {"NetworkMode": network}
        body: dict[str, Any] = {"Image": image, "Cmd": cmd, "HostConfig": host}
        if ports:
            body["ExposedPorts"] = {key: {} for key in ports}
            host["PortBindings"] = {key: [{"HostPort": value}] for key, value in ports.items()}
        cid = str(self.call("POST", f"/containers/create?name={name}", body)["Id"])
        self.call("POST", f"/containers/{cid}/start")
        return cid

    def remove(self, name: str) -> None:
        self.call("DELETE", f"/containers/{name}?force=1", ok=(404,))

    def inspect(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("GET", f"/containers/{name}/json")
        return result

    def pid(self, name: str) -> int:
        return int(self.inspect(name)["State"]["Pid"])

    def address(self, name: str, network: str) -> str:
        return str(self.inspect(name)["NetworkSettings"]["Networks"][network]["IPAddress"])
