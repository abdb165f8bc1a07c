"""Values and functions for berth's template subset (see template.py): field lookup, Go-style
printing of decoded JSON (`map[k:v]`, `[a b]`, `<no value>`), truthiness, and the functions
Docker's CLI registers (json, join, split, upper, lower, title, pad, truncate) plus Go's
built-ins that format strings commonly use (index, len, print, println, eq..., not, and, or).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from berth.cli.errors import TemplateError

__all__ = ["FUNCTIONS", "HEADER_FUNCTIONS", "MISSING", "TemplateError", "go_str", "lookup", "truth"]


class _Missing:
    """Go's invalid reflect.Value: what a missing map key evaluates to."""

    def __repr__(self) -> str:
        return "<no value>"


MISSING: Any = _Missing()


def lookup(value: Any, name: str, args: list[Any]) -> Any:
    """``value.name`` (called with ``args`` when it is a method), Go-template style."""
    if value is MISSING or value is None:
        return MISSING
    getter = getattr(value, "template_field", None)
    if getter is not None:
        got = getter(name)
        if got is None:
            raise TemplateError(f"can't evaluate field {name} in type {type(value).__name__}")
        if callable(got):
            try:
                return got(*args)
            except TypeError as err:
                raise TemplateError(f"wrong arguments for .{name}: {err}") from None
    elif isinstance(value, Mapping):
        got = value.get(name, MISSING)
    else:
        raise TemplateError(f"can't evaluate field {name} in type {go_type(value)}")
    if args:
        raise TemplateError(f".{name} is not a method but has arguments")
    return got


def go_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "[]interface {}"
    return type(value).__name__


def go_str(value: Any, nested: bool = False) -> str:
    """Print like Go's fmt %v does for JSON decoded into interface{} values."""
    if value is MISSING or (value is None and not nested):
        return "<no value>"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str | int):
        return str(value)
    if isinstance(value, Mapping):
        inner = " ".join(f"{k}:{go_str(value[k], True)}" for k in sorted(value))
        return f"map[{inner}]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_str(v, True) for v in value) + "]"
    return str(value)


def _go_float(value: float) -> str:
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mantissa, _, exp = text.partition("e")
        sign = "-" if exp.startswith("-") else "+"
        text = f"{mantissa}e{sign}{exp.lstrip('+-').zfill(2)}"
    return text


def truth(value: Any) -> bool:
    """Go's template truth: false, 0, nil, and empty strings/lists/maps are false."""
    if value is MISSING or value is None:
        return False
    if isinstance(value, bool | int | float | str | list | tuple | Mapping):
        return bool(value)
    return True


def to_json(value: Any) -> str:
    """Docker's `json` function: compact, no HTML escaping, keys in the order received.
    Row contexts (`{{json .}}` in `ls --format json`) are marshalled by Docker's own
    MarshalJSON first, which does escape <, > and &; so are they here."""
    if value is MISSING:
        return "null"
    as_json = getattr(value, "template_json", None)
    if as_json is None:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = json.dumps(as_json(), ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _index(value: Any, *keys: Any) -> Any:
    for key in keys:
        if value is MISSING or value is None:
            raise TemplateError("index of untyped nil")
        if isinstance(value, Mapping):
            value = value.get(key, MISSING)
        elif isinstance(value, list | tuple | str):
            if not isinstance(key, int) or not 0 <= key < len(value):
                raise TemplateError(f"error calling index: index out of range: {key}")
            value = value[key]
        else:
            raise TemplateError(f"can't index item of type {go_type(value)}")
    return value


def _len(value: Any) -> int:
    if isinstance(value, str | list | tuple | Mapping):
        return len(value)
    raise TemplateError(f"error calling len: len of type {go_type(value)}")


def _sprint(*args: Any) -> str:
    """Go's fmt.Sprint: a space between operands when neither is a string."""
    out = ""
    for n, arg in enumerate(args):
        if n and not isinstance(arg, str) and not isinstance(args[n - 1], str):
            out += " "
        out += go_str(arg, True)
    return out


def _cmp(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        if isinstance(a, str) != isinstance(b, str):
            raise TemplateError(f"incompatible types for comparison: {go_str(a)} and {go_str(b)}")
        return op(a, b)

    return compare


def _and(*args: Any) -> Any:
    for arg in args:
        if not truth(arg):
            return arg
    return args[-1]


def _or(*args: Any) -> Any:
    for arg in args:
        if truth(arg):
            return arg
    return args[-1]


def _title(value: str) -> str:
    return " ".join(w[:1].upper() + w[1:] for w in go_str(value).split(" "))


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "json": to_json,
    "index": _index,
    "len": _len,
    "join": lambda items, sep: sep.join(go_str(i, True) for i in (items or [])),
    "split": lambda value, sep: go_str(value).split(sep),
    "upper": lambda value: go_str(value).upper(),
    "lower": lambda value: go_str(value).lower(),
    "title": _title,
    "pad": lambda value, before, after: " " * before + go_str(value) + " " * after,
    "truncate": lambda value, n: go_str(value)[: int(n)],
    "print": _sprint,
    "println": lambda *args: " ".join(go_str(a, True) for a in args) + "\n",
    "eq": lambda a, *bs: any(a == b for b in bs),
    "ne": _cmp(lambda a, b: a != b),
    "lt": _cmp(lambda a, b: a < b),
    "le": _cmp(lambda a, b: a <= b),
    "gt": _cmp(lambda a, b: a > b),
    "ge": _cmp(lambda a, b: a >= b),
    "not": lambda value: not truth(value),
    "and": _and,
    "or": _or,
}

# Table headers render the same template against header names: Docker's functions there
# return their first argument unchanged, so `{{upper .Name}}` still heads its column NAME.
HEADER_FUNCTIONS: dict[str, Callable[..., Any]] = {
    **FUNCTIONS,
    **{
        name: (lambda value, *_rest: value)
        for name in ("json", "join", "split", "upper", "lower", "title", "pad", "truncate")
    },
}
