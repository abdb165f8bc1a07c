"""Exec instances (`docker exec`): recorded on create, started by the container's shim (which
forks them into the container's namespaces), ended by the shim's exit report.

Like Docker, exec instances live in memory only and are dropped with their container.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from berth.events import Event, EventSink
from berth.model.errors import ExecNotFound, InvalidParameter
from berth.model.ids import new_id
from berth.runtime.api import Attachment, Container, ExecConfig, ExecInstance
from berth.runtime.attachments import ShimAttachment
from berth.runtime.errors import ContainerNotRunning, ExecAlreadyStarted, StartFailed
from berth.runtime.launch import ExecSpec, merge_env
from berth.runtime.shimclient import ShimStream, request


class Execs:
    def __init__(
        self,
        *,
        container: Callable[[str], Container],
        running: Callable[[str], bool],
        base_env: Callable[[Container], list[str]],
        events: EventSink,
    ) -> None:
        self._container = container
        self._running = running
        self._base_env = base_env
        self._events = events
        self._execs: dict[str, ExecInstance] = {}

    def inspect(self, exec_id: str) -> ExecInstance:
        try:
            return self._execs[exec_id]
        except KeyError:
            raise ExecNotFound(exec_id) from None

    def create(self, ref: str, config: ExecConfig) -> ExecInstance:
        container = self._container(ref)
        if not self._running(container.id):
            raise ContainerNotRunning(container.id)
        if not config.cmd:
            raise InvalidParameter("No exec command specified")
        instance = ExecInstance(id=new_id(), container_id=container.id, config=config)
        self._execs[instance.id] = instance
        self._publish(f"exec_create: {' '.join(config.cmd)}", instance)
        return instance

    async def start(self, exec_id: str, *, detach: bool) -> Attachment | None:
        instance = self.inspect(exec_id)
        if instance.running or instance.exit_code is not None:
            raise ExecAlreadyStarted(exec_id)
        container = self._container(instance.container_id)
        if not self._running(container.id):
            raise ContainerNotRunning(container.id)
        config = instance.config
        spec = ExecSpec(
            id=exec_id,
            args=list(config.cmd),
            env=merge_env(self._base_env(container), config.env),
            cwd=config.working_dir or container.config.working_dir or "/",
            tty=config.tty,
            stdin=config.attach_stdin and not detach,
        )
        message = {"op": "exec", "spec": spec.to_dict(), "detach": detach}
        stream, reply = await ShimStream.open(container.path, message)
        if not reply.get("ok"):
            stream.close()
            code = int(reply.get("exit_code", 126))
            self._execs[exec_id] = replace(instance, exit_code=code)
            raise StartFailed(f"exec failed: {reply.get('error')}", code)
        # the shim may already have reported the exit (watch connection) while we waited
        current = self._execs[exec_id]
        running = current.exit_code is None
        self._execs[exec_id] = replace(current, running=running, pid=int(reply["pid"]))
        self._publish(f"exec_start: {' '.join(config.cmd)}", instance)
        if detach:
            stream.close()
            return None
        return ShimAttachment(
            stream,
            tty=config.tty,
            stdin=spec.stdin,
            stdout=config.attach_stdout,
            stderr=config.attach_stderr,
            on_exit=lambda code: self.exited(exec_id, code),
        )

    async def resize(self, exec_id: str, height: int, width: int) -> None:
        instance = self.inspect(exec_id)
        container = self._container(instance.container_id)
        message = {"op": "resize", "exec": exec_id, "height": height, "width": width}
        await request(container.path, message)

    def exited(self, exec_id: str, exit_code: int) -> None:
        """The shim's report (through the attachment and the watch connection: first wins)."""
        instance = self._execs.get(exec_id)
        if instance is None or instance.exit_code is not None:
            return
        self._execs[exec_id] = replace(instance, running=False, exit_code=exit_code)
        self._publish("exec_die", instance, exitCode=str(exit_code))

    def container_stopped(self, container_id: str) -> None:
        for instance in list(self._execs.values()):
            if instance.container_id == container_id and instance.running:
                self._execs[instance.id] = replace(instance, running=False)

    def drop(self, container_id: str) -> None:
        for exec_id in [i.id for i in self._execs.values() if i.container_id == container_id]:
            del self._execs[exec_id]

    def _publish(self, action: str, instance: ExecInstance, **extra: str) -> None:
        container = self._container(instance.container_id)
        attributes = {
            "name": container.name,
            "image": container.config.image,
            "execID": instance.id,
            **extra,
        }
        self._events.publish(Event("container", action, container.id, attributes))
