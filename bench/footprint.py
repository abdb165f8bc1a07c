"""Comparison 6: daemon footprint and CLI start-up. RSS of berthd and dockerd (and containerd,
which dockerd needs) idle, measured right after start (Labs.open), and per additional endpoint
(from the scale suite: RSS growth over its N attaches); CLI start-up: `--version` (start-up
alone) and `network ls` (start-up plus one request), berth vs docker, alternating."""

from __future__ import annotations

import subprocess
from typing import Any

from bench.lab import DOCKER
from bench.labs import Labs
from bench.util import VENV_BIN, log, ratio, summary, timed_ms


def _cli_commands(labs: Labs) -> dict[str, tuple[list[str], dict[str, str] | None]]:
    berth = [str(VENV_BIN / "berth"), "-H", f"unix://{labs.berthd.sock}"]
    docker = [DOCKER, "-H", f"unix://{labs.docker.sock}"]
    env = labs.docker.env
    return {
        "berth --version": ([*berth, "--version"], None),
        "docker --version": ([*docker, "--version"], env),
        "berth network ls": ([*berth, "network", "ls"], None),
        "docker network ls": ([*docker, "network", "ls"], env),
    }


def run(labs: Labs, mode: dict[str, Any]) -> dict[str, Any]:
    commands = _cli_commands(labs)
    samples: dict[str, list[float]] = {name: [] for name in commands}
    log(f"CLI start-up, {mode['cli_rounds']} rounds")
    for _ in range(mode["cli_rounds"]):
        for name, (argv, env) in commands.items():
            samples[name].append(
                timed_ms(
                    lambda argv=argv, env=env: subprocess.run(
                        argv, env=env, check=True, stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            )  # fmt: skip
    cli = {name: summary(v) for name, v in samples.items()}
    idle = labs.extra.get("idle_rss_kb", {})
    scale = labs.extra.get("scale", {})
    per_endpoint = {
        "berthd": scale.get("berth API", {}).get("rss_kb_per_endpoint"),
        "dockerd": scale.get("docker API", {}).get("rss_kb_per_endpoint"),
    }
    return {
        "idle_rss_kb": idle,
        "berthd_over_dockerd_idle": ratio(idle.get("berthd"), idle.get("dockerd")),
        "berthd_over_dockerd_plus_containerd_idle": ratio(
            idle.get("berthd"), (idle.get("dockerd") or 0) + (idle.get("containerd") or 0)
        ),
        "rss_kb_per_endpoint": per_endpoint,
        "cli_ms": cli,
        "cli_version_ratio": ratio(
            cli["berth --version"]["median"], cli["docker --version"]["median"]
        ),
        "cli_network_ls_ratio": ratio(
            cli["berth network ls"]["median"], cli["docker network ls"]["median"]
        ),
    }
