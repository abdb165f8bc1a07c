"""A small subset of Go's text/template, enough for Docker's `--format` strings.

Supported: text; `{{.}}`, `{{.Field}}`, `{{.A.B}}` (JSON objects, and row contexts that answer
``template_field``); `{{$}}`; string, number and bool literals; parentheses; pipelines with `|`;
the functions in ``FUNCTIONS`` (json, index, len, join, split, upper, lower, title, pad,
truncate, print, println, eq, ne, lt, le, gt, ge, not, and, or); method calls with arguments
(`{{.Label "k"}}`); `if`/`else if`/`else`/`end`, `range`/`else`/`end`, `with`/`else`/`end`;
trim markers (`{{-`, `-}}`) and comments. Anything else (variables, `define`, `template`,
`block`, `printf`...) is rejected with a TemplateError naming the construct, rather than
silently printing something wrong. Values print the way Go's fmt prints decoded JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from berth.cli import tfuncs
from berth.cli.tfuncs import MISSING, TemplateError, go_str, truth


@dataclass
class Field:
    """`.A.B` applied to ``base`` (None = dot, "$" = the root, or a parenthesised pipeline)."""

    names: tuple[str, ...]
    base: Pipeline | str | None = None


@dataclass
class Literal:
    value: Any


@dataclass
class Ident:
    name: str


Operand = Field | Literal | Ident
Pipeline = list[list["Operand | Pipeline"]]  # commands of operands


@dataclass
class Node:
    kind: str  # "text", "action", "if", "range", "with"
    text: str = ""
    pipe: Pipeline = field(default_factory=list)
    body: list[Node] = field(default_factory=list)
    orelse: list[Node] = field(default_factory=list)


_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>"(?:[^"\\]|\\.)*")
      | (?P<raw>`[^`]*`)
      | (?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
      | (?P<field>\$?(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)
      | (?P<var>\$[A-Za-z0-9_]*)
      | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<punct>[|()]|:?=|,)
    )""",
    re.VERBOSE,
)
_UNSUPPORTED = {
    "define": "define",
    "template": "template",
    "block": "block",
    "break": "break",
    "continue": "continue",
    "printf": "printf",
    "call": "call",
    "slice": "slice",
    "html": "html",
    "js": "js",
    "urlquery": "urlquery",
}


Token = tuple[str, str, bool]  # kind, text, preceded by white space


def _tokens(src: str) -> list[Token]:
    out: list[Token] = []
    pos = 0
    src = src.rstrip()
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m or m.end() == pos:
            raise TemplateError(f"unexpected {src[pos:].strip()[:20]!r} in {{{{{src}}}}}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind), m.start(kind) > pos))
        pos = m.end()
    return out


class _Parser:
    """Turns one action's tokens into a pipeline (commands of operands)."""

    def __init__(self, tokens: list[Token], src: str) -> None:
        self.toks = tokens
        self.i = 0
        self.src = src

    def pipeline(self, closing: str | None = None) -> Pipeline:
        commands: Pipeline = []
        command: list[Operand | Pipeline] = []
        while self.i < len(self.toks):
            kind, text, _ = self.toks[self.i]
            self.i += 1
            if kind == "punct" and text == ")":
                if closing != ")":
                    raise TemplateError(f"unexpected ')' in {{{{{self.src}}}}}")
                self.i -= 1
                break
            if kind == "punct" and text == "|":
                if not command:
                    raise TemplateError(f"missing command before '|' in {{{{{self.src}}}}}")
                commands.append(command)
                command = []
                continue
            command.append(self._operand(kind, text))
        if not command:
            raise TemplateError(f"empty command in {{{{{self.src}}}}}")
        commands.append(command)
        return commands

    def _operand(self, kind: str, text: str) -> Operand | Pipeline:
        if kind == "str":
            return Literal(_unquote(text))
        if kind == "raw":
            return Literal(text[1:-1])
        if kind == "num":
            return Literal(float(text) if any(c in text for c in ".eE") else int(text))
        if kind == "field":
            return _field(text)
        if kind == "var":
            if text != "$":
                raise TemplateError(f"variables ({text}) are not supported by berth's templates")
            return Field((), "$")
        if kind == "ident":
            if text in ("true", "false"):
                return Literal(text == "true")
            if text == "nil":
                return Literal(None)
            if text in _UNSUPPORTED:
                raise TemplateError(f"{text!r} is not supported by berth's templates")
            return Ident(text)
        if text == "(":
            inner = self.pipeline(closing=")")
            if self.i >= len(self.toks):
                raise TemplateError(f"unclosed left paren in {{{{{self.src}}}}}")
            self.i += 1  # the ')'
            if self.i < len(self.toks):
                kind, chain, spaced = self.toks[self.i]
                if kind == "field" and not spaced and chain.startswith("."):
                    self.i += 1  # "(pipeline).Field"
                    return Field(_field(chain).names, inner)
            return inner
        if text in (":=", "=", ","):
            raise TemplateError(
                f"variables ({self.src.strip()}) are not supported by berth's templates"
            )
        raise TemplateError(f"unexpected {text!r} in {{{{{self.src}}}}}")


def _field(text: str) -> Field:
    if text.startswith("$"):
        return Field(tuple(text[2:].split(".")), "$")
    if text == ".":
        return Field(())
    return Field(tuple(text[1:].split(".")))


def _unquote(text: str) -> str:
    try:
        value = json.loads(text)
    except ValueError as err:
        raise TemplateError(f"bad string literal {text}") from err
    return str(value)


def _trimmed_segments(src: str) -> list[tuple[str, str]]:
    """[("text", s) | ("action", s)], with Go's trim markers applied to the texts."""
    parts: list[tuple[str, str]] = []
    pos = 0
    trim_next = False
    for m in _ACTION.finditer(src):
        text = src[pos : m.start()]
        if trim_next:
            text = text.lstrip()
        if m.group(1):
            text = text.rstrip()
        if text:
            parts.append(("text", text))
        body = m.group(2)
        if not body.strip().startswith("/*"):
            parts.append(("action", body))
        trim_next = bool(m.group(3))
        pos = m.end()
    tail = src[pos:]
    if trim_next:
        tail = tail.lstrip()
    if "{{" in tail:
        raise TemplateError("unclosed action: missing '}}'")
    if tail:
        parts.append(("text", tail))
    return parts


def parse(src: str) -> list[Node]:
    """Parse a template; raises TemplateError for syntax errors and unsupported constructs."""
    segments = _trimmed_segments(src)
    nodes, stop, _ = _block(segments, 0, top=True)
    if stop is not None:
        raise TemplateError(f"unexpected {{{{{stop}}}}}")
    return nodes


def _block(
    segs: list[tuple[str, str]], i: int, top: bool = False
) -> tuple[list[Node], str | None, int]:
    """Nodes up to a closing `end`/`else`; returns (nodes, the closing keyword action, next)."""
    nodes: list[Node] = []
    while i < len(segs):
        kind, body = segs[i]
        i += 1
        if kind == "text":
            nodes.append(Node("text", text=body))
            continue
        words = body.split(None, 1)
        word = words[0] if words else ""
        if word in ("end", "else"):
            if top:
                raise TemplateError(f"unexpected {{{{{body.strip()}}}}}")
            return nodes, body.strip(), i
        if word in ("if", "range", "with"):
            node, i = _control(word, words[1] if len(words) > 1 else "", segs, i)
            nodes.append(node)
            continue
        nodes.append(Node("action", pipe=_pipe(body)))
    if not top:
        raise TemplateError("unexpected end of template: missing {{end}}")
    return nodes, None, i


def _control(word: str, rest: str, segs: list[tuple[str, str]], i: int) -> tuple[Node, int]:
    if not rest.strip():
        raise TemplateError(f"missing value for {word}")
    node = Node(word, pipe=_pipe(rest))
    node.body, stop, i = _block(segs, i)
    if stop and stop != "end":
        tail = stop[len("else") :].strip()
        if tail:  # "else if ..." / "else with ...": the else branch is one nested node
            inner_word, _, inner_rest = tail.partition(" ")
            if inner_word not in ("if", "with"):
                raise TemplateError(f"unexpected {{{{{stop}}}}}")
            inner, i = _control(inner_word, inner_rest, segs, i)
            node.orelse = [inner]
            return node, i
        node.orelse, stop, i = _block(segs, i)
        if stop != "end":
            raise TemplateError(f"unexpected {{{{{stop}}}}} after {{{{else}}}}")
    return node, i


def _pipe(src: str) -> Pipeline:
    return _Parser(_tokens(src), src).pipeline()


class Template:
    """A parsed template; ``render(data)`` returns the text."""

    def __init__(self, src: str, functions: Mapping[str, Callable[..., Any]] | None = None):
        self.src = src
        self.nodes = parse(src)
        self.functions = dict(tfuncs.FUNCTIONS if functions is None else functions)
        self._check(self.nodes)

    def _check(self, nodes: Sequence[Node]) -> None:
        for node in nodes:
            self._check_pipe(node.pipe)
            self._check(node.body)
            self._check(node.orelse)

    def _check_pipe(self, pipe: Pipeline) -> None:
        for command in pipe:
            for arg in command:
                if isinstance(arg, Ident) and arg.name not in self.functions:
                    raise TemplateError(f'function "{arg.name}" not defined')
                if isinstance(arg, list):
                    self._check_pipe(arg)
                if isinstance(arg, Field) and isinstance(arg.base, list):
                    self._check_pipe(arg.base)

    def render(self, data: Any) -> str:
        out: list[str] = []
        self._walk(self.nodes, data, data, out)
        return "".join(out)

    def _walk(self, nodes: Sequence[Node], dot: Any, root: Any, out: list[str]) -> None:
        for node in nodes:
            if node.kind == "text":
                out.append(node.text)
            elif node.kind == "action":
                out.append(go_str(self._pipeline(node.pipe, dot, root)))
            elif node.kind == "if":
                branch = node.body if truth(self._pipeline(node.pipe, dot, root)) else node.orelse
                self._walk(branch, dot, root, out)
            elif node.kind == "with":
                value = self._pipeline(node.pipe, dot, root)
                if truth(value):
                    self._walk(node.body, value, root, out)
                else:
                    self._walk(node.orelse, dot, root, out)
            else:
                self._range(node, dot, root, out)

    def _range(self, node: Node, dot: Any, root: Any, out: list[str]) -> None:
        value = self._pipeline(node.pipe, dot, root)
        if isinstance(value, Mapping):
            items = [value[k] for k in sorted(value)]
        elif isinstance(value, list | tuple):
            items = list(value)
        elif value is None or value is MISSING:
            items = []
        else:
            raise TemplateError(f"range can't iterate over {go_str(value)}")
        if not items:
            self._walk(node.orelse, dot, root, out)
        for item in items:
            self._walk(node.body, item, root, out)

    def _pipeline(self, pipe: Pipeline, dot: Any, root: Any) -> Any:
        value: Any = MISSING
        for n, command in enumerate(pipe):
            extra = [value] if n else []
            value = self._command(command, extra, dot, root)
        return value

    def _command(
        self, command: list[Operand | Pipeline], extra: list[Any], dot: Any, root: Any
    ) -> Any:
        head, rest = command[0], command[1:]
        args = [self._operand(a, dot, root) for a in rest] + extra
        if isinstance(head, Ident):
            try:
                return self.functions[head.name](*args)
            except TemplateError:
                raise
            except (TypeError, ValueError, KeyError, IndexError) as err:
                raise TemplateError(f"error calling {head.name}: {err}") from None
        if isinstance(head, Field) and head.names:
            return self._field(head, dot, root, args)
        if args:
            raise TemplateError("can't give arguments to a non-function value")
        return self._operand(head, dot, root)

    def _operand(self, arg: Operand | Pipeline, dot: Any, root: Any) -> Any:
        if isinstance(arg, Literal):
            return arg.value
        if isinstance(arg, Field):
            return self._field(arg, dot, root, [])
        if isinstance(arg, Ident):
            return self._command([arg], [], dot, root)
        return self._pipeline(arg, dot, root)

    def _field(self, ref: Field, dot: Any, root: Any, args: list[Any]) -> Any:
        if ref.base == "$":
            value = root
        elif isinstance(ref.base, list):
            value = self._pipeline(ref.base, dot, root)
        else:
            value = dot
        last = len(ref.names) - 1
        for n, name in enumerate(ref.names):
            value = tfuncs.lookup(value, name, args if n == last else [])
        return value
