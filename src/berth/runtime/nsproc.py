"""Between fork and exec: putting a container's processes into their namespaces.

Runs only in children the (single-threaded) shim forks; every function here ends in exec or
``os._exit``. The shim has already called unshare(CLONE_NEWPID), so each child it forks is in
the container's PID namespace: the first one is PID 1, exec'd processes join later.

Progress goes back over a status pipe: ``R`` once the container process is set up and waits for
the go byte; on failure one JSON object {"error": ..., "exit_code": ...}; nothing at all when
exec succeeds (the pipe is close-on-exec, so the shim reads EOF).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import re
import signal
import termios
from typing import NoReturn

from berth.kernel.netns import CLONE_NEWNET, MNT_DETACH, MS_BIND, mount, setns, umount2, unshare
from berth.runtime.launch import DEFAULT_PATH, ExecSpec, LaunchSpec

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
READY = b"R"
_OCTAL = re.compile(r"\\([0-7]{3})")  # mountinfo escapes space, tab, newline, backslash

_libc = ctypes.CDLL(None, use_errno=True)


class SetupError(Exception):
    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _libc_call(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def set_process_name(name: str) -> None:
    """The name `ps -o comm` shows (15 bytes at most)."""
    _libc_call(_libc.prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0), "prctl")


def _common_child_setup(stdio: tuple[int, int, int], tty: bool) -> None:
    """Die with the shim, restore the signal dispositions Python changed, become a session
    leader (with the pty as controlling terminal), and take the stdio fds."""
    _libc_call(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl")
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    os.setsid()
    for target, fd in enumerate(stdio):
        os.dup2(fd, target)
    if tty:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _drop_namespace_mounts() -> None:
    """A new mount namespace copies every nsfs bind mount (other sandboxes' namespace files);
    each copy would keep that namespace alive as long as this container lives."""
    targets = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split(" ", 1)[0] == "nsfs":
                raw = left.split(" ")[4]
                targets.append(_OCTAL.sub(lambda m: chr(int(m.group(1), 8)), raw))
    for target in reversed(targets):
        try:
            umount2(target, MNT_DETACH)
        except OSError as err:
            if err.errno not in (errno.EINVAL, errno.ENOENT):
                raise


def _mount_filesystems(spec: LaunchSpec) -> None:
    root = spec.rootfs or "/"
    mount("none", "/", None, MS_REC | MS_PRIVATE)
    _drop_namespace_mounts()
    # a fresh /proc shows the new PID namespace, a fresh /sys the container's interfaces
    mount("proc", os.path.join(root, "proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    sys_dir = os.path.join(root, "sys")
    if os.path.isdir(sys_dir):
        mount("sysfs", sys_dir, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for inside, source in spec.etc_files.items():
        target = os.path.join(root, inside.lstrip("/"))
        if not os.path.exists(target):
            if not os.path.isdir(os.path.dirname(target)):
                continue
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))
        mount(source, target, None, MS_BIND)


def _set_names(hostname: str, domainname: str) -> None:
    for call, value in ((_libc.sethostname, hostname), (_libc.setdomainname, domainname)):
        if value:
            raw = value.encode()
            _libc_call(call(raw, len(raw)), f"set host name {value!r}")


def find_executable(name: str, env: list[str]) -> str:
    """Go's exec.LookPath, with runc's messages (clients map them to exit codes 127/126)."""
    if "/" in name:
        return name
    path = next((e[5:] for e in reversed(env) if e.startswith("PATH=")), DEFAULT_PATH)
    for directory in path.split(":"):
        candidate = os.path.join(directory or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise SetupError(f'exec: "{name}": executable file not found in $PATH', 127)


def _exec(args: list[str], env: list[str]) -> NoReturn:
    if not args:
        raise SetupError("no command specified", 127)
    path = find_executable(args[0], env)
    try:
        os.execve(path, args, dict(e.split("=", 1) for e in env if "=" in e))
    except OSError as err:
        reason = os.strerror(err.errno or 0).lower()
        if err.errno == errno.ENOENT:
            raise SetupError(f'exec: "{args[0]}": stat {path}: {reason}', 127) from err
        raise SetupError(f'exec: "{args[0]}": {reason}', 126) from err


def _fail(status_w: int, err: BaseException) -> NoReturn:
    if isinstance(err, SetupError):
        message, code = str(err), err.exit_code
    else:
        message, code = f"{type(err).__name__}: {err}", 1
    try:
        os.write(status_w, json.dumps({"error": message, "exit_code": code}).encode())
    finally:
        os._exit(code)


def container_main(
    spec: LaunchSpec, netns_fd: int, stdio: tuple[int, int, int], status_w: int, go_r: int
) -> NoReturn:
    """PID 1 of the container: join the sandbox's network, take new mount, UTS and IPC
    namespaces, set up /proc, /sys and /etc/*, wait for the go byte, exec."""
    try:
        _common_child_setup(stdio, spec.tty)
        setns(netns_fd, CLONE_NEWNET)
        unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC)
        _mount_filesystems(spec)
        _set_names(spec.hostname, spec.domainname)
        if spec.rootfs:
            os.chroot(spec.rootfs)
        try:
            os.chdir(spec.cwd or "/")
        except OSError as err:
            raise SetupError(
                f'chdir to cwd ("{spec.cwd}") set in config failed: {os.strerror(err.errno or 0)}',
                128,
            ) from err
        os.write(status_w, READY)
        if os.read(go_r, 1) != READY:
            os._exit(1)  # the shim gave up on this start
        _exec(spec.args, spec.env)
    except BaseException as err:
        _fail(status_w, err)


def exec_main(
    spec: ExecSpec, target_pid: int, stdio: tuple[int, int, int], status_w: int
) -> NoReturn:
    """A process exec'd into a running container: join the namespaces of its PID 1 (the PID
    namespace came with the fork), its root directory, then exec."""
    try:
        _common_child_setup(stdio, spec.tty)
        proc = f"/proc/{target_pid}"
        root = os.open(f"{proc}/root", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        # mnt last: after it, /proc/<pid> of the host is no longer visible
        fds = [os.open(f"{proc}/ns/{ns}", os.O_RDONLY | os.O_CLOEXEC) for ns in _EXEC_NS]
        for fd in fds:
            setns(fd, 0)
        os.fchdir(root)
        os.chroot(".")
        try:
            os.chdir(spec.cwd or "/")
        except OSError as err:
            raise SetupError(
                f'chdir to cwd ("{spec.cwd}") failed: {os.strerror(err.errno or 0)}', 126
            ) from err
        _exec(spec.args, spec.env)
    except BaseException as err:
        _fail(status_w, err)


_EXEC_NS = ("ipc", "uts", "net", "mnt")
