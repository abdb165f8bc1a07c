"""Stopping, killing, removing, waiting for and renaming containers; what happens when a
container's process exits (record, release networking, restart policy, --rm); and the daemon's
restart: ``restore`` re-attaches to the shims that kept running, ``shutdown`` lets go of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import time
from typing import Any

from berth.model.errors import BerthError, InvalidParameter
from berth.model.ids import is_full_id
from berth.runtime import policy
from berth.runtime.api import Container
from berth.runtime.base import Live, RuntimeBase, log
from berth.runtime.errors import ContainerNotRunning, ContainerRunning, RemovalInProgress
from berth.runtime.launch import CONFIG_NAME, EXIT_NAME, STATE_NAME, LaunchSpec, read_json
from berth.runtime.logformat import parse_rfc3339nano, rfc3339nano
from berth.runtime.names import validate_container_name
from berth.runtime.protocol import CONTROL, ProtocolError, parse_control
from berth.runtime.shimclient import ShimGone, ShimStream, request

KILL_WAIT_S = 10.0
WAIT_CONDITIONS = ("not-running", "next-exit", "removed")


def clear_run_files(path: str) -> None:
    """What a previous run of the container left in its directory."""
    for name in (STATE_NAME, EXIT_NAME, CONFIG_NAME):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(path, name))


def _seconds_between(start: str, end: str) -> float:
    try:
        return (parse_rfc3339nano(end) - parse_rfc3339nano(start)) / 1e9
    except ValueError:
        return 0.0


class LifecycleMixin(RuntimeBase):
    # --- stop / kill / restart ------------------------------------------------------------

    async def stop(self, ref: str, timeout: float | None = None, signal: str = "") -> None:
        container_id = self.get(ref).id
        await self._detached(self._stop(container_id, timeout, signal))

    async def _stop(self, container_id: str, timeout: float | None, sig: str) -> None:
        signum = policy.parse_signal(sig) if sig else int(signal.SIGTERM)
        async with self._lock(container_id):
            live = self._live.get(container_id)
            if live is None:
                if self._cancel_restart(container_id):  # between two runs: stay stopped
                    record = self._records.update(
                        container_id, manually_stopped=True, state={"status": "exited"}
                    )
                    self._notify(container_id, "exit", record.container.state.exit_code)
                    self._publish("stop", record.container)
                return  # not running: Docker answers 304 Not Modified
            self._records.update(container_id, manually_stopped=True)
        wait = self._stop_timeout if timeout is None else timeout
        await self._send_signal(container_id, signum)
        if not await live.wait_done(wait if wait >= 0 else None):
            await self._send_signal(container_id, signal.SIGKILL)
            await live.wait_done(None)
        self._publish("stop", self.get(container_id))

    async def restart(self, ref: str, timeout: float | None = None) -> None:
        container_id = self.get(ref).id
        await self.stop(container_id, timeout)
        await self.start(container_id)
        self._publish("restart", self.get(container_id))

    async def kill(self, ref: str, signal: str = "SIGKILL") -> None:
        container_id = self.get(ref).id
        await self._detached(self._kill(container_id, policy.parse_signal(signal or "SIGKILL")))

    async def _kill(self, container_id: str, signum: int) -> None:
        async with self._lock(container_id):
            live = self._live.get(container_id)
            if live is None:
                raise ContainerNotRunning(container_id, f"Cannot kill container: {container_id}")
            if signum in (signal.SIGKILL, signal.SIGTERM):  # Docker: no restart after these
                self._records.update(container_id, manually_stopped=True)
        await self._send_signal(container_id, signum)
        if signum == signal.SIGKILL:
            await live.wait_done(KILL_WAIT_S)

    async def _send_signal(self, container_id: str, signum: int) -> None:
        container = self.get(container_id)
        try:
            await request(container.path, {"op": "signal", "signal": int(signum)})
        except ShimGone:
            return  # already exiting: its watcher records the exit
        self._publish("kill", container, signal=str(int(signum)))

    def _cancel_restart(self, container_id: str) -> bool:
        task = self._restarts.pop(container_id, None)
        if task is None:
            return False
        task.cancel()
        return True

    # --- remove / rename / wait -----------------------------------------------------------

    async def remove(self, ref: str, *, force: bool = False) -> None:
        container_id = self.get(ref).id
        await self._detached(self._remove(container_id, force))

    async def _remove(self, container_id: str, force: bool) -> None:
        record = self._records.find(container_id)
        if record is None:
            return
        status = record.container.state.status
        if status == "removing":
            raise RemovalInProgress(container_id)
        if status in ("running", "restarting") and not force:
            raise ContainerRunning(container_id)
        self._cancel_restart(container_id)
        if container_id in self._live:
            await self._kill(container_id, signal.SIGKILL)
        async with self._lock(container_id):
            record = self._records.find(container_id)
            if record is None:
                return
            if container_id in self._live:
                raise ContainerRunning(container_id)
            container = self._records.set_state(container_id, status="removing").container
            await self._blocking(self._delete_files, container)
            self._records.remove(container_id)
            self._execs.drop(container_id)
            await self._close_deferred(container_id)
        self._locks.pop(container_id, None)
        self._publish("destroy", container)
        self._notify(container_id, "removed", container.state.exit_code)

    def _delete_files(self, container: Container) -> None:
        self._release(container)
        if not is_full_id(container.id):
            return  # never build a path to delete from anything but our own ids
        shutil.rmtree(os.path.join(self._containers_dir, container.id), ignore_errors=True)
        shutil.rmtree(os.path.join(self._logs_dir, container.id), ignore_errors=True)

    async def rename(self, ref: str, name: str) -> None:
        container = self.get(ref)
        new = validate_container_name(name)
        if new == container.name:
            raise InvalidParameter("Renaming a container with the same name as its current name")
        renamed = self._records.rename(container.id, new).container
        self._publish("rename", renamed, oldName=f"/{container.name}")

    async def wait(self, ref: str, condition: str = "not-running") -> int:
        container = self.get(ref)
        if condition not in WAIT_CONDITIONS:
            raise InvalidParameter(f"invalid condition: {condition!r}")
        if condition == "not-running" and not container.state.running:
            return container.state.exit_code
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(container.id, []).append((condition, future))
        return await future

    # --- exits ----------------------------------------------------------------------------

    async def _watch_shim(self, container_id: str, live: Live) -> None:
        """Read the shim's events until it reports the exit or goes away."""
        exit_info: dict[str, Any] | None = None
        try:
            while exit_info is None:
                frame = await live.watcher.next()
                if frame is None:
                    if await self._rewatch(container_id, live):
                        continue
                    break
                kind, payload = frame
                message = parse_control(payload) if kind == CONTROL else {}
                if message.get("event") == "exit":
                    exit_info = message
                elif message.get("event") == "exec_exit":
                    self._execs.exited(str(message["id"]), int(message["exit_code"]))
        except ProtocolError as err:
            log.error("container %s: bad message from its shim: %s", container_id[:12], err)
        finally:
            live.watcher.close()
        await self._on_exit(container_id, exit_info)

    async def _rewatch(self, container_id: str, live: Live) -> bool:
        """The watch connection ended without an exit report: if the shim still runs its
        container (the connection broke, not the shim), watch it again."""
        await asyncio.sleep(0.05)
        try:
            watcher, state = await ShimStream.open(self.get(container_id).path, {"op": "watch"})
        except (ShimGone, OSError, ProtocolError):
            return False
        live.watcher.close()
        live.watcher = watcher
        return state.get("state") == "running"

    async def _on_exit(self, container_id: str, exit_info: dict[str, Any] | None) -> None:
        async with self._lock(container_id):
            live = self._live.pop(container_id, None)
            record = self._records.find(container_id)
            if record is None:
                return
            container = record.container
            info = exit_info or self._exit_status(container.path)
            await self._blocking(self._release, container)
            code = int(info.get("exit_code", 255))
            restart = not self._closing and policy.restart_on_exit(
                container.config.restart_policy,
                code,
                container.state.restart_count,
                record.manually_stopped,
            )
            finished = str(info.get("finished_at") or rfc3339nano(time.time_ns()))
            ran_for = _seconds_between(container.state.started_at, finished)
            backoff = policy.next_backoff(record.backoff_s, ran_for) if restart else 0.0
            container = self._records.update(
                container_id,
                sandbox_id=None,
                backoff_s=backoff,
                state={
                    "status": "restarting" if restart else "exited",
                    "pid": 0,
                    "exit_code": code,
                    "finished_at": finished,
                    "error": str(info.get("error", "")),
                },
            ).container
            self._execs.container_stopped(container_id)
            self._publish("die", container, exitCode=str(code))
            self._notify(container_id, "exit", code)
            if live is not None:
                live.done.set()
        if restart:
            self._restarts[container_id] = asyncio.create_task(
                self._restart_later(container_id, backoff)
            )
        elif container.config.auto_remove:
            try:
                await self._remove(container_id, force=False)
            except BerthError as err:  # e.g. removed by hand meanwhile
                log.info("container %s: auto-remove: %s", container_id[:12], err)

    @staticmethod
    def _exit_status(path: str) -> dict[str, Any]:
        """The shim's exit.json, when its watch connection ended without an exit event."""
        return read_json(os.path.join(path, EXIT_NAME)) or {
            "exit_code": 255,
            "error": "the container's shim exited without recording the exit status",
        }

    def _release(self, container: Container) -> None:
        """Free the container's own sandbox and endpoints, if any; failures are logged, not
        raised: the exit must be recorded whatever happens (restore retries the cleanup)."""
        try:
            self._net.teardown(container)
        except BerthError as err:
            log.error("container %s: releasing its networking failed: %s", container.name, err)

    async def _restart_later(self, container_id: str, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
            async with self._lock(container_id):
                record = self._records.find(container_id)
                if record is None or record.container.state.status != "restarting":
                    return
                count = record.container.state.restart_count + 1
                self._records.set_state(container_id, restart_count=count)
                try:
                    await self._launch(container_id)
                except Exception as err:  # recorded on the container; the task must not die
                    log.warning("container %s: restart failed: %s", container_id[:12], err)
                    state = self._records.set_state(container_id, status="exited").container
                    self._notify(container_id, "exit", state.state.exit_code)
        finally:
            if self._restarts.get(container_id) is asyncio.current_task():
                del self._restarts[container_id]

    # --- daemon start and stop ------------------------------------------------------------

    async def restore(self) -> None:
        for record in self._records.all():
            container = record.container
            status = container.state.status
            try:
                if status == "running" and await self._reattach(container.id):
                    continue
                if status == "running":
                    await self._on_exit(container.id, None)
                elif status == "removing":
                    await self._remove(container.id, force=True)
                else:
                    await self._restore_stopped(record.container.id, record.manually_stopped)
            except Exception as err:  # one broken container must not stop the others
                log.error("restoring container %s failed: %s", container.name, err)

    async def _reattach(self, container_id: str) -> bool:
        container = self.get(container_id)
        try:
            watcher, state = await ShimStream.open(container.path, {"op": "watch"})
        except (ShimGone, OSError):
            return False
        if state.get("state") != "running":
            watcher.close()
            return False
        spec = read_json(os.path.join(container.path, CONFIG_NAME))
        env = LaunchSpec(**spec).env if spec else []
        self._watch(container_id, Live(watcher, env))
        log.info("container %s: re-attached to its running shim", container.name)
        return True

    async def _restore_stopped(self, container_id: str, manually_stopped: bool) -> None:
        """Clean up after a start the daemon did not finish (a shim holding its process before
        exec, a sandbox), and bring back the containers their restart policy asks for."""
        container = self.get(container_id)
        with contextlib.suppress(ShimGone, OSError, ProtocolError, ValueError):
            state = await request(container.path, {"op": "state"})
            os.kill(int(state["shim_pid"]), signal.SIGKILL)  # its process dies with it
        await self._blocking(self._release, container)
        if container.state.status == "restarting":  # the daemon stopped during the backoff
            self._restarts[container_id] = asyncio.create_task(
                self._restart_later(container_id, 0.0)
            )
        elif container.state.status == "exited" and policy.restart_on_daemon_start(
            container.config.restart_policy, manually_stopped
        ):
            self._background(self._start_on_restore(container_id))

    async def _start_on_restore(self, container_id: str) -> None:
        try:
            await self.start(container_id)
        except Exception as err:  # recorded on the container
            log.warning("container %s: start at daemon start failed: %s", container_id[:12], err)

    async def shutdown(self) -> None:
        """Stop watching; containers and their networking stay as they are."""
        self._closing = True
        tasks = [live.task for live in self._live.values() if live.task is not None]
        tasks += [*self._restarts.values(), *self._tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for live in self._live.values():
            live.watcher.close()
        self._live.clear()
        self._restarts.clear()
        for container_id in list(self._locks):
            await self._close_deferred(container_id)
        await self._blocking(self._shims.close)
        self._records.close()
