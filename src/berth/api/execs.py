"""Exec routes: create a process in a running container, start it (hijacked like attach, or
detached), inspect it, resize its tty."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from berth.api.base import Route, ctx_of, empty_ok, reply
from berth.api.errors import BadRequest, Unsupported
from berth.api.hostconfig import check_console_size
from berth.api.requests import query_uint, read_json
from berth.api.streams import hijack, relay
from berth.runtime.api import ExecConfig, ExecInstance


async def create_exec(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    body = await read_json(request, ctx.max_body, "exec create request")
    cmd = body.strings("Cmd", allow_string=True)
    if not cmd:
        raise BadRequest("No exec command specified")
    if body.flag("Privileged"):
        raise Unsupported("Privileged")
    if body.text("User"):
        raise Unsupported("User")
    check_console_size(body)
    config = ExecConfig(
        cmd=cmd,
        env=body.strings("Env"),
        working_dir=body.text("WorkingDir"),
        tty=body.flag("Tty"),
        attach_stdin=body.flag("AttachStdin"),
        attach_stdout=body.flag("AttachStdout"),
        attach_stderr=body.flag("AttachStderr"),
        detach_keys=body.text("DetachKeys"),
    )
    body.ignore("Detach", "Container")  # sent by clients, meaningless here
    body.done()
    instance = await ctx.containers.exec_create(request.match_info["id"], config)
    return reply({"Id": instance.id}, status=201)


async def start_exec(request: web.Request) -> web.StreamResponse:
    ctx = ctx_of(request)
    body = await read_json(request, ctx.max_body, "exec start request")
    detach = body.flag("Detach")
    body.flag("Tty")  # the exec's own Tty (from create) decides the framing
    check_console_size(body)
    body.done()
    exec_id = request.match_info["id"]
    instance = ctx.containers.exec_inspect(exec_id)
    attachment = await ctx.containers.exec_start(exec_id, detach=detach)
    if detach or attachment is None:
        return empty_ok()
    try:
        hijacked = await hijack(request, multiplexed=not attachment.tty)
    except BaseException:
        await attachment.close()
        raise
    await relay(hijacked, attachment, stdin=instance.config.attach_stdin)
    return hijacked.response


def exec_json(instance: ExecInstance) -> dict[str, Any]:
    cfg = instance.config
    return {
        "ID": instance.id,
        "Running": instance.running,
        "ExitCode": instance.exit_code,
        "ProcessConfig": {
            "tty": cfg.tty,
            "entrypoint": cfg.cmd[0] if cfg.cmd else "",
            "arguments": list(cfg.cmd[1:]),
            "privileged": False,
            "user": "",
        },
        "OpenStdin": cfg.attach_stdin,
        "OpenStderr": cfg.attach_stderr,
        "OpenStdout": cfg.attach_stdout,
        "CanRemove": False,
        "ContainerID": instance.container_id,
        "DetachKeys": cfg.detach_keys,
        "Pid": instance.pid,
    }


async def inspect_exec(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    return reply(exec_json(ctx.containers.exec_inspect(request.match_info["id"])))


async def resize_exec(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    height = query_uint(request, "h", "resize height")
    width = query_uint(request, "w", "resize width")
    await ctx.containers.exec_resize(request.match_info["id"], height, width)
    return empty_ok()


ROUTES = [
    Route("POST", "/containers/{id}/exec", create_exec),
    Route("POST", "/exec/{id}/start", start_exec),
    Route("GET", "/exec/{id}/json", inspect_exec),
    Route("POST", "/exec/{id}/resize", resize_exec),
]
