"""Container runtime errors, worded like Docker's (clients show them verbatim), each under the
category of berth.model.errors that gives its HTTP status."""

from __future__ import annotations

from berth.model.errors import Conflict, InvalidParameter, NameInUse


class InvalidContainerName(InvalidParameter):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )
        self.name = name


class ContainerNameInUse(NameInUse):
    def __init__(self, name: str, holder: str) -> None:
        Conflict.__init__(
            self,
            f'Conflict. The container name "/{name}" is already in use by container "{holder}". '
            "You have to remove (or rename) that container to be able to reuse that name.",
        )
        self.kind, self.name, self.holder = "container", name, holder


class ContainerNotRunning(Conflict):
    def __init__(self, container_id: str, action: str = "") -> None:
        prefix = f"{action}: " if action else ""
        super().__init__(f"{prefix}Container {container_id} is not running")
        self.container_id = container_id


class ContainerRunning(Conflict):
    def __init__(self, container_id: str) -> None:
        super().__init__(
            f"You cannot remove a running container {container_id}. "
            "Stop the container before attempting removal or force remove"
        )
        self.container_id = container_id


class RemovalInProgress(Conflict):
    def __init__(self, container_id: str) -> None:
        super().__init__(f"removal of container {container_id} is already in progress")


class StartFailed(InvalidParameter):
    """The process could not be started (missing executable, bad working directory, ...).

    ``exit_code`` is what Docker records for it: 127 for "not found", 126 for "cannot execute".
    Clients (docker CLI) turn these messages into exit status 127/126."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class ExecAlreadyStarted(Conflict):
    def __init__(self, exec_id: str) -> None:
        super().__init__(f"Error: Exec command {exec_id} has already run")
