"""Restart-policy decisions and signal names: pure functions, no I/O.

Docker's rules (moby's restartmanager): an explicit stop or kill never restarts; ``always`` and
``unless-stopped`` restart after any exit; ``on-failure[:max]`` restarts after a non-zero exit
until it has restarted ``max`` times (0 = no limit). When the daemon starts, ``always`` brings
back even a container that was stopped by hand, ``unless-stopped`` only one that was not.
"""

from __future__ import annotations

import signal as _signal

from berth.model.errors import InvalidParameter
from berth.runtime.api import RestartPolicy

POLICIES = ("no", "on-failure", "always", "unless-stopped")

# Docker's backoff: 100 ms doubling per restart, capped at one minute, back to the start once a
# run lasted 10 s.
BACKOFF_START_S = 0.1
BACKOFF_MAX_S = 60.0
BACKOFF_RESET_AFTER_S = 10.0


def validate_policy(policy: RestartPolicy, auto_remove: bool) -> None:
    if policy.name not in POLICIES:
        raise InvalidParameter(f"invalid restart policy: unknown policy '{policy.name}'")
    if policy.maximum_retry_count < 0:
        raise InvalidParameter("invalid restart policy: maximum retry count cannot be negative")
    if policy.maximum_retry_count and policy.name != "on-failure":
        raise InvalidParameter(
            "invalid restart policy: maximum retry count can only be used with 'on-failure'"
        )
    if auto_remove and policy.name != "no":
        raise InvalidParameter("can't create 'AutoRemove' container with restart policy")


def parse_restart_policy(text: str) -> RestartPolicy:
    """The CLI form: "no", "always", "unless-stopped", "on-failure", "on-failure:3"."""
    name, _, count = text.partition(":")
    if count and name != "on-failure":
        raise InvalidParameter(f"invalid restart policy format: {text!r}")
    try:
        retries = int(count) if count else 0
    except ValueError:
        raise InvalidParameter(
            f"invalid restart policy format: maximum retry count must be an integer: {text!r}"
        ) from None
    policy = RestartPolicy(name=name or "no", maximum_retry_count=retries)  # type: ignore[arg-type]
    validate_policy(policy, auto_remove=False)
    return policy


def restart_on_exit(
    policy: RestartPolicy, exit_code: int, restart_count: int, manually_stopped: bool
) -> bool:
    """Whether a container whose process just exited is started again."""
    if manually_stopped:
        return False
    if policy.name in ("always", "unless-stopped"):
        return True
    if policy.name == "on-failure":
        limit = policy.maximum_retry_count
        return exit_code != 0 and (limit == 0 or restart_count < limit)
    return False


def restart_on_daemon_start(policy: RestartPolicy, manually_stopped: bool) -> bool:
    """Whether a container that was already stopped when the daemon started is started."""
    return policy.name == "always" or (policy.name == "unless-stopped" and not manually_stopped)


def next_backoff(previous: float, ran_for_s: float) -> float:
    """The delay before the next restart, given the last delay and how long the run lasted."""
    if previous <= 0 or ran_for_s >= BACKOFF_RESET_AFTER_S:
        return BACKOFF_START_S
    return min(previous * 2, BACKOFF_MAX_S)


def parse_signal(text: str | int) -> int:
    """ "SIGKILL", "KILL", "kill", "9" or 9 -> 9; InvalidParameter otherwise."""
    if isinstance(text, int) or text.isdigit():
        number = int(text)
        if 0 < number < _signal.NSIG:
            return number
        raise InvalidParameter(f"Invalid signal: {text}")
    name = text.upper()
    name = name if name.startswith("SIG") else f"SIG{name}"
    value = _signal.Signals.__members__.get(name)
    if value is None:
        raise InvalidParameter(f"Invalid signal: {text}")
    return int(value)
