"""Errors the CLI reports as one line on stderr and an exit status (see main.py).

Kept free of imports so that main.py can catch them without loading the HTTP client.
"""

from __future__ import annotations


class CliError(Exception):
    """An error the CLI reports as one line and an exit status."""

    status = 1


class ApiError(CliError):
    """The daemon answered with an error status; ``message`` is its `{"message"}`."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"Error response from daemon: {self.message}"


class DaemonUnreachable(CliError):
    """No daemon at the socket (or not allowed to talk to it)."""

    def __init__(self, host: str, reason: str = "") -> None:
        super().__init__(host)
        self.host = host
        self.reason = reason

    def __str__(self) -> str:
        if self.reason == "permission":
            return (
                "permission denied while trying to connect to the berth daemon socket at "
                f"{self.host}"
            )
        if self.reason:
            return f"error during connect: {self.reason}"
        return f"Cannot connect to the berth daemon at {self.host}: Is berthd running?"


class OptError(CliError, ValueError):
    """A flag value the docker CLI would refuse before talking to the daemon."""


class TemplateError(CliError):
    """A format string berth cannot parse or execute; the message says which part."""

    def __str__(self) -> str:
        return f"template parsing error: {self.args[0]}"


class StreamError(CliError):
    """The daemon's stream broke Docker's framing or reported an error inside the stream."""
