"""The systems under test, each in its own throwaway network namespace ("host"): berthd, dockerd
(with its own containerd), and bare namespaces for the library, the CNI plugins and the floor.

Isolation: every namespace is made here (``bbn-<role>-<run id>``) and holds only ``lo`` (with
192.0.2.1/32 besides 127.0.0.1: the "host address", TEST-NET-1; this kernel has no dummy links)
and what the system under test adds; none has a route off the machine. dockerd and containerd
run in a private mount namespace where fresh tmpfs cover /run and /etc/docker, so their
hard-coded paths (containerd's shim sockets in /run/containerd/s, dockerd's
/etc/docker/key.json) land in memory that vanishes with them; every
other path is given on the command line under the suite's tmp dir. Container cgroups go under
``bbdocker-<run id>``. Each creation pushes its removal onto the Cleanup stack.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.api import Api
from bench.util import (
    BASE_PREFIX,
    PYTHON,
    ROOT,
    RUN_ID,
    VENV_BIN,
    Cleanup,
    kill_pids,
    netns_inode,
    pids_in_netns,
    pids_with_marker,
    sh,
    wait_until,
)

HOST_ADDR = "192.0.2.1"
IMAGE = "bbbusybox:bench"
DOCKER = "/usr/bin/docker"  # Debian's docker.io CLI (20.10), matching its dockerd
CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass
class Netns:
    name: str

    @property
    def path(self) -> str:
        return f"/run/netns/{self.name}"

    @property
    def inode(self) -> int:
        return netns_inode(self.path)

    def enter(self) -> list[str]:
        return ["nsenter", f"--net={self.path}", "--"]

    def run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return sh(*self.enter(), *cmd, check=check)

    def pids(self) -> list[int]:
        return pids_in_netns(self.inode)


def make_netns(role: str, cleanup: Cleanup, host_addr: bool = True) -> Netns:
    ns = Netns(f"bbn-{role}-{RUN_ID}")
    sh("ip", "netns", "add", ns.name)
    cleanup.push(f"netns {ns.name}", lambda: remove_netns(ns))
    ns.run("ip", "link", "set", "lo", "up")
    # spread client ports (above the published 8080, 5201, 18080, 20000-20999) and reuse
    # TIME_WAIT ports: connection-rate rounds follow each other
    ns.run("sysctl", "-qw", "net.ipv4.ip_local_port_range=30000 65000", "net.ipv4.tcp_tw_reuse=1")
    if host_addr:
        ns.run("ip", "addr", "add", f"{HOST_ADDR}/32", "dev", "lo")
    return ns


def remove_netns(ns: Netns) -> None:
    if os.path.exists(ns.path):
        kill_pids(ns.pids())
        sh("ip", "netns", "del", ns.name, check=False)


def make_base(cleanup: Cleanup) -> Path:
    base = Path(f"{BASE_PREFIX}{RUN_ID}")
    base.mkdir(mode=0o700)
    (base / "owner.pid").write_text(str(os.getpid()))
    cleanup.push(f"remove {base}", lambda: shutil.rmtree(base, ignore_errors=True))
    cleanup.push("keep the daemons' logs", lambda: keep_logs(base))
    return base


def keep_logs(base: Path) -> None:
    """Copy the daemons' logs to bench/results/logs/ before the tmp dir goes (a crash is
    explained there)."""
    target = ROOT / "bench" / "results" / "logs"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for log in base.glob("*/*.log"):
        shutil.copy2(log, target / log.name)


def unmount_under(directory: Path) -> None:
    """Lazily unmount every mount point below ``directory`` (berth's namespace files)."""
    prefix = str(directory) + "/"
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for point in sorted((m for m in mounts if m.startswith(prefix)), reverse=True):
        sh("umount", "-l", point, check=False)


# --- berthd -----------------------------------------------------------------------------------


@dataclass
class BerthdLab:
    ns: Netns
    base: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def sock(self) -> str:
        return str(self.base / "berth.sock")

    @property
    def run_dir(self) -> Path:
        return self.base / "run"

    def start(self, cleanup: Cleanup) -> None:
        (self.base / "daemon.json").write_text("{}")
        cleanup.push("berthd", self.stop)
        env = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")}
        with open(self.base / "berthd.log", "wb") as out:
            self.proc = subprocess.Popen(
                [*self.ns.enter(), str(VENV_BIN / "berthd"),
                 "-H", f"unix://{self.sock}",
                 "--data-root", str(self.base / "data"),
                 "--exec-root", str(self.run_dir),
                 "--pidfile", str(self.base / "berthd.pid"),
                 "--config-file", str(self.base / "daemon.json"),
                 "--log-level", "warn"],
                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
            )  # fmt: skip
        if not wait_until(self._pings, 60):
            raise RuntimeError("berthd did not start:\n" + self.log())

    def _pings(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError("berthd exited:\n" + self.log())
        try:
            Api(self.sock).call("GET", "/_ping")
            return True
        except OSError:
            return False

    @property
    def pid(self) -> int:
        """berthd itself (nsenter execs it, so the Popen pid is berthd's)."""
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        path = self.base / "berthd.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        # fork servers, shims and their containers name the exec root on their command line
        kill_pids(pids_with_marker(str(self.run_dir)))
        time.sleep(0.2)
        unmount_under(self.base)


# --- dockerd ----------------------------------------------------------------------------------

_CONTAINERD_TOML = """version = 2
root = "{base}/containerd/root"
state = "{base}/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{base}/containerd.sock"
[ttrpc]
  address = "{base}/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{base}/containerd/opt"
"""

# Runs inside `unshare --mount --propagation private` and the docker namespace: private /run and
# /etc/docker, then containerd and dockerd; both die with this script's process group.
_LAUNCH = """set -e
mount -t tmpfs -o mode=755 bbrun /run
mount -t tmpfs -o mode=755 bbetcdocker /etc/docker
containerd --config {base}/containerd.toml >{base}/containerd.log 2>&1 &
echo $! >{base}/containerd.pid
for i in $(seq 200); do [ -S {base}/containerd.sock ] && break; sleep 0.05; done
exec dockerd --data-root {base}/data --exec-root {base}/exec --pidfile {base}/dockerd.pid \\
  -H unix://{base}/docker.sock --config-file {base}/daemon.json \\
  --containerd {base}/containerd.sock \\
  --iptables=true --cgroup-parent /{cgroup} --storage-driver overlay2 --log-level warn \\
  >{base}/dockerd.log 2>&1
"""


@dataclass
class DockerLab:
    ns: Netns
    base: Path
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def sock(self) -> str:
        return str(self.base / "docker.sock")

    @property
    def cgroup(self) -> str:
        return f"bbdocker-{RUN_ID}"

    def start(self, cleanup: Cleanup) -> None:
        base = self.base
        (base / "containerd.toml").write_text(_CONTAINERD_TOML.format(base=base))
        (base / "daemon.json").write_text(
            json.dumps({"deprecated-key-path": f"{base}/key.json"}) + "\n"
        )
        (base / "launch.sh").write_text(_LAUNCH.format(base=base, cgroup=self.cgroup))
        self.env = {**os.environ, "DOCKER_CONFIG": str(base / "cli"), "DOCKER_HOST": ""}
        self.env.pop("DOCKER_HOST")
        cleanup.push("dockerd", self.stop)
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", *self.ns.enter(),
             "sh", str(base / "launch.sh")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        if not wait_until(self._pings, 90):
            raise RuntimeError("dockerd did not start:\n" + self.log())

    def _pings(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError("dockerd exited:\n" + self.log())
        try:
            Api(self.sock).call("GET", "/_ping")
            return True
        except OSError:
            return False

    def log(self) -> str:
        path = self.base / "dockerd.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    @property
    def pid(self) -> int:
        return int((self.base / "dockerd.pid").read_text())

    @property
    def containerd_pid(self) -> int:
        return int((self.base / "containerd.pid").read_text())

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [DOCKER, "-H", f"unix://{self.sock}", *args],
            capture_output=True, text=True, env=self.env, timeout=600, check=False,
        )  # fmt: skip
        if check and result.returncode:
            raise RuntimeError(f"docker {' '.join(args)}: {result.stderr.strip()}")
        return result

    def import_busybox(self) -> None:
        """The image: a tarball of Debian's busybox-static with its applets, `docker import`ed."""
        root = self.base / "rootfs"
        (root / "bin").mkdir(parents=True)
        shutil.copy2("/bin/busybox", root / "bin" / "busybox")
        for applet in sh("/bin/busybox", "--list").stdout.split():
            if applet != "busybox":
                (root / "bin" / applet).symlink_to("busybox")
        for sub in ("etc", "tmp", "proc", "sys", "dev"):
            (root / sub).mkdir()
        tarball = self.base / "busybox.tar"
        sh("tar", "-C", str(root), "-cf", str(tarball), ".")
        self.cli("import", "--change", 'CMD ["sh"]', str(tarball), IMAGE)

    def stop(self) -> None:
        """Remove every container (so runc tears down its cgroups), stop dockerd and containerd,
        then kill anything left in the cgroup or naming the tmp dir, and remove the cgroups."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(Exception):
                ids = self.cli("ps", "-aq", check=False).stdout.split()
                for start in range(0, len(ids), 100):
                    self.cli("rm", "-f", *ids[start : start + 100], check=False)
            with contextlib.suppress(OSError, ValueError):
                os.kill(self.pid, signal.SIGTERM)
            wait_until(lambda: self.proc is None or self.proc.poll() is not None, 30)
        for pid in self._cgroup_pids():
            kill_pids([pid])
        kill_pids(pids_with_marker(str(self.base)))
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
        wait_until(lambda: not pids_with_marker(str(self.base)), 10)
        self._remove_cgroups()

    def _cgroup_dirs(self) -> list[Path]:
        found = []
        for controller in CGROUP_ROOT.iterdir():
            top = controller / self.cgroup
            if top.is_dir():
                found += [*sorted(top.rglob("*/"), key=lambda p: -len(p.parts)), top]
        return [p for p in found if p.is_dir()]

    def _cgroup_pids(self) -> list[int]:
        pids: set[int] = set()
        for directory in self._cgroup_dirs():
            with contextlib.suppress(OSError):
                pids |= {int(x) for x in (directory / "cgroup.procs").read_text().split()}
        return sorted(pids)

    def _remove_cgroups(self) -> None:
        for directory in self._cgroup_dirs():
            with contextlib.suppress(OSError):
                directory.rmdir()


def python_in(ns: Netns, module: str, *args: str) -> list[str]:
    """argv for a bench worker module run inside ``ns``."""
    return [*ns.enter(), PYTHON, "-m", module, *args]
