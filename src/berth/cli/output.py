"""Docker's list output: `table` formats through a tab writer, `json`, `-q` and custom templates.

The rules are Docker's (cli/command/formatter): a format starting with "table" prints a header
row rendered from the same template against the column names, and aligns cells with Go's
tabwriter (min width 10, padding 3, last cell not padded); "json" means `{{json .}}`; literal
`\\t` and `\\n` in a format become tab and newline. Each row is followed by a newline.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from berth.cli.template import Template
from berth.cli.tfuncs import HEADER_FUNCTIONS

MIN_WIDTH = 10
PADDING = 3


class Header:
    """The header row: every known field answers its column name; labels name themselves."""

    def __init__(self, names: Mapping[str, str]) -> None:
        self.names = names

    def template_field(self, name: str) -> Any:
        if name == "Label":
            return _label_header
        return self.names.get(name, "")

    def template_json(self) -> Any:
        return dict(self.names)


def _label_header(name: str) -> str:
    return name.rsplit(".", maxsplit=1)[-1].replace("-", " ").replace("_", " ")


def resolve_format(fmt: str | None, quiet: bool, default_table: str, quiet_wins: bool) -> str:
    """The effective template for a list command's --format and -q flags. With -q, `ps`
    prints ids whatever the format (``quiet_wins``); `network ls` only replaces "table"."""
    if not fmt or fmt == "table":
        return "{{.ID}}" if quiet else default_table
    if quiet and quiet_wins:
        return "{{.ID}}"
    if fmt == "json":
        return "{{json .}}"
    return fmt


def render_rows(fmt: str, rows: Iterable[Any], headers: Mapping[str, str]) -> str:
    """Render ``rows`` (row contexts) with an already resolved format."""
    table = fmt.startswith("table")
    if table:
        fmt = fmt[len("table") :]
    fmt = fmt.strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    template = Template(fmt)
    body = "".join(template.render(row) + "\n" for row in rows)
    if not table:
        return body
    head = Template(fmt, HEADER_FUNCTIONS).render(Header(headers)) + "\n"
    return tabwrite(head + body)


def tabwrite(text: str) -> str:
    """Go's text/tabwriter with Docker's settings: cells end at tabs, columns are aligned per
    block of consecutive lines that have the cell, and a line's last cell is not padded."""
    lines = [line.split("\t") for line in text.split("\n")]
    trailing = lines.pop() if lines and lines[-1] == [""] else None
    out: list[str] = []
    _format(lines, 0, len(lines), [], out)
    return "\n".join(out) + ("\n" if trailing is not None else "")


def _width(cell: str) -> int:
    return len(cell)


def _format(
    lines: list[list[str]], line0: int, line1: int, widths: list[int], out: list[str]
) -> None:
    column = len(widths)
    this = line0
    while this < line1:
        if column >= len(lines[this]) - 1:
            this += 1
            continue
        _write(lines, line0, this, widths, out)
        line0 = this
        width = MIN_WIDTH
        while this < line1 and column < len(lines[this]) - 1:
            width = max(width, _width(lines[this][column]) + PADDING)
            this += 1
        _format(lines, line0, this, [*widths, width], out)
        line0 = this
    _write(lines, line0, line1, widths, out)


def _write(
    lines: list[list[str]], line0: int, line1: int, widths: list[int], out: list[str]
) -> None:
    for cells in lines[line0:line1]:
        text = ""
        for j, cell in enumerate(cells):
            text += cell
            if j < len(widths):
                text += " " * (widths[j] - _width(cell))
        out.append(text)


def render_inspect(items: Sequence[Any], fmt: str | None) -> str:
    """`inspect` output: an indented JSON array like docker's, or the template once per item."""
    if not fmt or fmt == "json":
        if not items:
            return "[]\n"
        return json.dumps(list(items), indent=4, ensure_ascii=False) + "\n"
    template = Template(fmt)
    return "".join(template.render(item) + "\n" for item in items)


def natural_key(text: str) -> list[Any]:
    """Sort key for Docker's natural order ("net2" before "net10")."""
    key: list[Any] = []
    digits = ""
    for ch in text:
        if ch.isdigit():
            digits += ch
            continue
        if digits:
            key.append((0, int(digits), ""))
            digits = ""
        key.append((1, 0, ch))
    if digits:
        key.append((0, int(digits), ""))
    return key
